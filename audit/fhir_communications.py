"""A copy of each disclosure's notice for the patient's chart, as a FHIR `Communication`
(issue 15): who was told, when, by what channel, what was said of it, why and on what legal
basis. Written into the EHR beside the AuditEvent where the EHR accepts Communications; the
id is derived from (case, step, recipient) like the AuditEvent's, so a repeat overwrites."""

from __future__ import annotations

import uuid

from fhir.resources.R4B.communication import Communication

from domain.records import Disclosure
from infra.fhir_common import fhir_id

# Namespace of the Communication ids (uuid5); changing it re-identifies them.
IDS = uuid.UUID("0b8e6d52-93a1-4f0c-8d77-5c1e2f9a4b63")
DISCLOSURE_SYSTEM = "urn:confide:disclosure"
# v3 ParticipationMode: how the notice went.
MEDIUM = {"email": ("EMAILWRIT", "email"), "phone": ("PHONE", "telephone")}
MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"


def communication_id(d: Disclosure) -> str:
    return str(uuid.uuid5(IDS, f"{d.case_id}|{d.step}|{d.recipient_key}"))


def notice_communication(d: Disclosure) -> Communication:
    text = (
        f"Confide disclosure (case {d.case_id}): {d.description}. "
        f"Sent to {d.recipient_name} ({d.recipient_address}) by {d.channel}. "
        f"Purpose: {d.purpose}. Legal basis: {d.legal_basis}."
    )
    if d.documents:
        text += " Records released: " + ", ".join(
            f"{doc.category.replace('_', ' ')} of {doc.date.isoformat()}" for doc in d.documents
        )
    body: dict = {
        "resourceType": "Communication",
        "id": communication_id(d),
        "identifier": [
            {"system": DISCLOSURE_SYSTEM, "value": f"{d.case_id}/{d.step}/{d.recipient_key}"}
        ],
        "status": "completed",
        "category": [{"text": "Disclosure of protected health information"}],
        "subject": {"reference": f"Patient/{fhir_id(d.patient_ref)}"},
        "sent": d.disclosed_at.isoformat(),
        "recipient": [{"display": d.recipient_name}],
        "payload": [{"contentString": text}],
    }
    if medium := MEDIUM.get(d.channel):
        body["medium"] = [{"coding": [{"system": MODE, "code": medium[0], "display": medium[1]}]}]
    return Communication.model_validate(body)
