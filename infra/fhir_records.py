"""A patient's records read from the clinic's EHR over FHIR (issue 15): `DocumentReference`
search by patient (and, for the caller who wants it, category and date), `Binary` reads, with
the clinic's SMART Backend Services token. Implements `infra.records_db.RecordsSource`, so the
court-order and authorization paths select from the EHR's real documents; a clinic without a
FHIR source keeps the built-in store (`fallback`).

What Confide must know of each document comes from standard places where FHIR has one:
- its category: a coding in `type` or `category` from Confide's system
  (`urn:confide:record-category`, codes = `RecordCategory`) or one of the LOINC document codes
  in `LOINC_CATEGORY`. A document with neither is not listed (and counted in the log): Confide
  cannot tell whether it may leave, so it never does;
- a psychotherapy note: the security label PSYTHPN (v3-ActCode), or the category;
- a 42 CFR Part 2 record: the security label 42CFRPart2 or ETH (substance abuse information
  sensitivity), or the category `sud_treatment`;
- a record naming other people: the label `third-party` in `urn:confide:record-flag`.
The SHA-256 is of the bytes as read (the listing reads them: Confide's manifest and the
packet's check rest on it).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime
from typing import Any

import structlog
from fhir.resources.R4B.documentreference import DocumentReference
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound

from domain.documents import DocumentMeta, RecordCategory
from infra.fhir_common import confide_key, fhir_id, split_reference, tolerant
from infra.fhir_ehr import Ehrs
from infra.records_db import DocumentNotFound, RecordsSource

log = structlog.get_logger()

CATEGORY_SYSTEM = "urn:confide:record-category"
FLAG_SYSTEM = "urn:confide:record-flag"
LOINC = "http://loinc.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# LOINC document type codes with one clear Confide category.
LOINC_CATEGORY = {
    "11506-3": RecordCategory.progress_note,  # Progress note
    "51848-0": RecordCategory.assessment,  # Evaluation note
    "11488-4": RecordCategory.assessment,  # Consult note
    "18776-5": RecordCategory.treatment_plan,  # Plan of care note
    "10160-0": RecordCategory.medication,  # History of Medication use Narrative
    "11502-2": RecordCategory.lab,  # Laboratory report
}
PSYCHOTHERAPY_LABELS = {"PSYTHPN"}
PART2_LABELS = {"42CFRPart2", "ETH"}


def _category(doc: DocumentReference) -> RecordCategory | None:
    concepts = [doc.type, *(doc.category or [])]
    codings = [c for concept in concepts if concept for c in concept.coding or []]
    for coding in codings:
        if coding.system == CATEGORY_SYSTEM and coding.code in RecordCategory.__members__:
            return RecordCategory(str(coding.code))
    for coding in codings:
        if coding.system == LOINC and coding.code in LOINC_CATEGORY:
            return LOINC_CATEGORY[str(coding.code)]
    return None


def _labels(doc: DocumentReference) -> set[tuple[str, str]]:
    return {(str(c.system), str(c.code)) for c in (doc.meta.security if doc.meta else None) or []}


def _day(doc: DocumentReference) -> date | None:
    period = doc.context.period if doc.context else None
    when = (period.start if period else None) or doc.date
    if isinstance(when, datetime):
        return when.date()
    return when if isinstance(when, date) else None


class FhirRecordsSource:
    def __init__(self, ehrs: Ehrs, fallback: RecordsSource) -> None:
        self._ehrs = ehrs
        self._fallback = fallback

    def _client(self, clinic_id: str) -> SyncFHIRClient | None:
        ehr = self._ehrs.get(clinic_id)
        return ehr.sync_client() if ehr and ehr.source.records else None

    def list_documents(self, clinic_id: str, patient_ref: str) -> list[DocumentMeta]:
        client = self._client(clinic_id)
        if client is None:
            return self._fallback.list_documents(clinic_id, patient_ref)
        found = (
            client.resources("DocumentReference")
            .search(patient=f"Patient/{fhir_id(patient_ref)}", status="current")
            .fetch_all()
        )
        metas, unknown = [], 0
        for resource in found:
            meta = self._meta(client, clinic_id, resource.serialize())[0]
            if meta is None:
                unknown += 1
            else:
                metas.append(meta)
        if unknown:
            log.warning(
                "ehr documents not listed (no known category, date, subject or content)",
                count=unknown,
            )
        return sorted(metas, key=lambda m: (m.date, m.id))

    def fetch(self, clinic_id: str, document_id: str) -> tuple[DocumentMeta, bytes]:
        client = self._client(clinic_id)
        if client is None:
            return self._fallback.fetch(clinic_id, document_id)
        try:
            data = client.reference("DocumentReference", document_id).to_resource().serialize()
        except ResourceNotFound:
            raise DocumentNotFound(document_id) from None
        meta, content = self._meta(client, clinic_id, data)
        if meta is None:
            raise DocumentNotFound(document_id)
        return meta, content

    def _meta(
        self, client: SyncFHIRClient, clinic_id: str, data: dict[str, Any]
    ) -> tuple[DocumentMeta | None, bytes]:
        doc = tolerant(DocumentReference, data)[0]
        category = _category(doc)
        day = _day(doc)
        subject = split_reference(doc.subject.reference if doc.subject else None)
        if category is None or day is None or subject is None or not doc.content:
            # Not listed (so never released): Confide cannot tell what it is or whose.
            return None, b""
        attachment = doc.content[0].attachment
        content = self._content(client, attachment)
        if content is None:
            return None, b""
        labels = _labels(doc)
        codes = {code for system, code in labels if system == ACT_CODE}
        author = split_reference(doc.author[0].reference) if doc.author else None
        meta = DocumentMeta(
            id=str(doc.id),
            clinic_id=clinic_id,
            patient_ref=confide_key(subject[1]),
            category=category,
            date=day,
            author=confide_key(author[1]) if author else "unknown",
            title=str(doc.description or attachment.title or (doc.type and doc.type.text) or ""),
            psychotherapy_note=bool(codes & PSYCHOTHERAPY_LABELS),
            part2=bool(codes & PART2_LABELS),
            third_party=(FLAG_SYSTEM, "third-party") in labels,
            content_type=str(attachment.contentType or "application/octet-stream"),
            sha256=hashlib.sha256(content).hexdigest(),
        )
        return meta, content

    def _content(self, client: SyncFHIRClient, attachment: Any) -> bytes | None:
        """The document's bytes; None for content Confide cannot read (a URL outside the
        EHR's Binary resources): such a document is not listed, so never released."""
        if attachment.data is not None:
            # fhir.resources has decoded the base64 already.
            data = attachment.data
            return data if isinstance(data, bytes) else base64.b64decode(data)
        ref = split_reference(attachment.url)
        if ref is None or ref[0] != "Binary":
            return None
        # JSON, not the raw bytes: servers (sekmet among them) serve Binary as FHIR JSON.
        binary = client.reference("Binary", ref[1]).to_resource().serialize()
        return base64.b64decode(binary.get("data") or "")
