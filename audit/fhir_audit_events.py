"""Each disclosure in the ledger as a FHIR AuditEvent in the IHE BALP "Privacy Disclosure at
Source" shape (issue 15), and a case's as one `collection` Bundle an EHR or an audit record
repository can import.

The shape follows BALP 1.1.4 (profile IHE.BasicAudit.PrivacyDisclosure.Source and its
examples): type DICOM 110106 Export; subtype ISO 21089 `disclose`; a source agent (DICOM
110153, the clinic) and a recipient agent (110152, who received it); the patient entity
(audit-entity-type 1, object-role 1); one data entity per record released (type 2, role 3
Report), or one describing the notice when no record left; the purpose of the disclosure. The
legal basis has no field of its own in AuditEvent: it is a `detail` of the data entity.

R4B models (fhir.resources): the EHRs Confide meets speak R4, whose AuditEvent R4B shares.
The AuditEvent ids are derived from (case, step, recipient), so exporting twice gives the same
resources and an importing server updates rather than duplicates them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from domain.records import Disclosure
from workflows.authorization import PREFIX as AUTHORIZATION_STEPS

PROFILE = (
    "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PrivacyDisclosure.Source"
)
DCM = "http://dicom.nema.org/resources/ontology/DCM"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
# Identifier systems for what Confide names by its own ids (no FHIR server ids are known here).
PATIENT_SYSTEM = "urn:confide:patient"
DOCUMENT_SYSTEM = "urn:confide:document"
# network-type: 3 telephone number, 4 e-mail address (BALP examples use 1, 2 and 5).
NETWORK_TYPE = {"email": "4", "phone": "3"}
# Namespace of the AuditEvent ids (uuid5): any fixed value; changing it re-identifies them.
IDS = uuid.UUID("6f3c1d9e-2b47-4c8a-9e51-7d0b3a2c4f18")


def _coding(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


def audit_event_id(d: Disclosure) -> str:
    return str(uuid.uuid5(IDS, f"{d.case_id}|{d.step}|{d.recipient_key}"))


def _purpose(d: Disclosure) -> dict:
    concept: dict = {"text": d.purpose}
    # A patient's own authorization: the code BALP's examples use for it. Other purposes
    # (a warning, a mandated report, a court order) keep their words only: no code in
    # v3-ActReason was confirmed to mean them.
    if d.step.startswith(f"{AUTHORIZATION_STEPS}."):
        concept["coding"] = [_coding(ACT_REASON, "PATRQT", "patient requested")]
    return concept


def _data_entities(d: Disclosure) -> list[dict]:
    basis = {"type": "legal basis", "valueString": d.legal_basis}
    if not d.documents:
        return [
            {
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "3", "Report"),
                "description": d.description,
                "detail": [basis],
            }
        ]
    return [
        {
            "what": {"identifier": {"system": f"{DOCUMENT_SYSTEM}:{d.clinic_id}", "value": doc.id}},
            "type": _coding(ENTITY_TYPE, "2", "System Object"),
            "role": _coding(OBJECT_ROLE, "3", "Report"),
            "description": f"{doc.category.replace('_', ' ')} of {doc.date.isoformat()}",
            "detail": [basis, {"type": "sha256", "valueString": doc.sha256}],
        }
        for doc in d.documents
    ]


def audit_event(d: Disclosure, clinic_name: str) -> AuditEvent:
    """One disclosure as a BALP Privacy Disclosure (at source)."""
    recipient: dict = {
        "type": {"coding": [_coding(DCM, "110152", "Destination Role ID")]},
        "who": {"display": d.recipient_name},
        "requestor": False,
    }
    if network := NETWORK_TYPE.get(d.channel):
        recipient["network"] = {"address": d.recipient_address, "type": network}
    return AuditEvent.model_validate(
        {
            "resourceType": "AuditEvent",
            "id": audit_event_id(d),
            "meta": {"profile": [PROFILE]},
            "type": _coding(DCM, "110106", "Export"),
            "subtype": [_coding(LIFECYCLE, "disclose", "Disclose Record Lifecycle Event")],
            "action": "R",
            "recorded": d.disclosed_at.isoformat(),
            "outcome": "0",
            "purposeOfEvent": [_purpose(d)],
            "agent": [
                {
                    "type": {"coding": [_coding(DCM, "110153", "Source Role ID")]},
                    "who": {"display": clinic_name},
                    "requestor": False,
                },
                recipient,
            ],
            "source": {
                "site": d.clinic_id,
                "observer": {"display": "Confide"},
                "type": [_coding(SOURCE_TYPE, "4", "Application Server")],
            },
            "entity": [
                {
                    "what": {
                        "identifier": {
                            "system": f"{PATIENT_SYSTEM}:{d.clinic_id}",
                            "value": d.patient_ref,
                        }
                    },
                    "type": _coding(ENTITY_TYPE, "1", "Person"),
                    "role": _coding(OBJECT_ROLE, "1", "Patient"),
                },
                *_data_entities(d),
            ],
        }
    )


def audit_bundle(disclosures: Sequence[Disclosure], clinic_name: str) -> Bundle:
    """A `collection` Bundle of the disclosures' AuditEvents, oldest first."""
    events = [
        audit_event(d, clinic_name) for d in sorted(disclosures, key=lambda d: d.disclosed_at)
    ]
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{e.id}",
                    "resource": e.model_dump(mode="json", exclude_none=True),
                }
                for e in events
            ],
        }
    )
