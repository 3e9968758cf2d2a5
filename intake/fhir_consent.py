"""A patient's authorization (45 CFR 164.508) as a FHIR R4 `Consent` (issue 15), for the EHR's
record of what the patient allowed: a privacy consent (scope patient-privacy, LOINC 64292-6
"Release of information consent") that permits disclosing the named categories of records
from the named period to the named recipient, for the stated purpose, until it expires; its
status follows the authorization's phase (proposed while verified or on hold, active while
releases may be made, inactive once revoked or expired, rejected if not verified).

The authorization comes from the workflow (`AuthorizationWorkflow.authorization` query): it
lives only in the workflow's input, never in the ledger.
"""

from __future__ import annotations

import uuid

from fhir.resources.R4B.consent import Consent

from domain.authorization import Authorization
from domain.case import Phase
from infra.fhir_common import fhir_id
from infra.fhir_records import ACT_CODE, CATEGORY_SYSTEM

STATUS = {
    Phase.on_hold: "proposed",
    Phase.verifying: "proposed",
    Phase.active: "active",
    # A release under way is still under an authorization in force.
    Phase.awaiting_approval: "active",
    Phase.releasing: "active",
    Phase.revoked: "inactive",
    Phase.expired: "inactive",
    Phase.not_verified: "rejected",
}
HIPAA_AUTHORIZATION = "https://www.ecfr.gov/current/title-45/section-164.508"
CASE_SYSTEM = "urn:confide:case"
# Namespace of the Consent ids (uuid5 of the case id): exporting again gives the same id.
IDS = uuid.UUID("5d2f7a1e-6c3b-4e8f-9a0d-1b7c4e2f8a36")


def consent(auth: Authorization, phase: str, case_id: str, clinic_name: str) -> Consent:
    info = auth.information
    provision: dict = {
        "type": "permit",
        "action": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                        "code": "disclose",
                    }
                ]
            }
        ],
    }
    period = {
        k: v.isoformat()
        for k, v in (("start", auth.signed_at), ("end", auth.expires_at))
        if v is not None
    }
    if period:
        provision["period"] = period
    if auth.recipient and auth.recipient.name:
        provision["actor"] = [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ]
                },
                "reference": {"display": auth.recipient.name},
            }
        ]
    if auth.purpose:
        # The patient's own words: no code was confirmed to mean them.
        provision["purpose"] = [{"display": auth.purpose}]
    if info:
        data_period = {
            k: v.isoformat() for k, v in (("start", info.from_), ("end", info.to)) if v is not None
        }
        if data_period:
            provision["dataPeriod"] = data_period
        provision["code"] = [
            {"coding": [{"system": CATEGORY_SYSTEM, "code": c.value}]} for c in info.categories
        ]
        if info.psychotherapy_notes:
            # Named expressly (164.508(a)(2)): the label the EHR's notes carry.
            provision["securityLabel"] = [{"system": ACT_CODE, "code": "PSYTHPN"}]
    body: dict = {
        "resourceType": "Consent",
        "id": str(uuid.uuid5(IDS, case_id)),
        "identifier": [{"system": CASE_SYSTEM, "value": case_id}],
        "status": STATUS.get(Phase(phase), "proposed"),
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://loinc.org",
                        "code": "64292-6",
                        "display": "Release of information consent",
                    }
                ]
            }
        ],
        "patient": {"reference": f"Patient/{fhir_id(auth.patient.ref)}"},
        "organization": [{"display": clinic_name}],
        "policy": [{"uri": HIPAA_AUTHORIZATION}],
        "provision": provision,
    }
    if auth.signed_at:
        body["dateTime"] = auth.signed_at.isoformat()
    if auth.signed_by and auth.signed_by.name:
        body["performer"] = [{"display": auth.signed_by.name}]
    return Consent.model_validate(body)
