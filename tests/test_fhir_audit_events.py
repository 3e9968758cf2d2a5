"""`confide audit fhir`: a case's disclosures, read from the real ledger, as one FHIR Bundle of
AuditEvents in the IHE BALP Privacy Disclosure (at source) shape, which fhir.resources' R4B
models accept; stable ids, so a second export names the same resources."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from cli.main import app
from domain.records import DisclosedDocument, Disclosure
from infra.ledger_db import Ledger


def _disclosure(**kw) -> Disclosure:
    base = {
        "case_id": "demo-clinic.F-1",
        "step": "c1.warn_victim",
        "recipient_key": "victim-1",
        "clinic_id": "demo-clinic",
        "patient_ref": "P-301",
        "disclosed_at": datetime(2026, 12, 5, 10, tzinfo=UTC),
        "recipient_name": "Casey Rivera",
        "recipient_address": "casey@example.org",
        "channel": "email",
        "description": "The threat communicated and the patient's identity",
        "purpose": "prevent or lessen a serious and imminent threat",
        "legal_basis": "Cal. Civ. Code 43.92; 45 CFR 164.512(j)",
    }
    return Disclosure(**{**base, **kw})


def _export(tmp_path, case: str) -> tuple[int, str]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    result = CliRunner().invoke(app, ["audit", "fhir", case], env={"CONFIDE_LEDGER_URL": url})
    return result.exit_code, result.output


def test_each_disclosure_is_a_balp_privacy_disclosure_in_one_bundle(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    ledger.record(_disclosure())
    ledger.record(
        _disclosure(
            step="c1.notify_law_enforcement",
            recipient_key="agency-law_enforcement",
            recipient_name="Demo Police",
            recipient_address="+1-555-0100",
            channel="phone",
            disclosed_at=datetime(2026, 12, 5, 9, 30, tzinfo=UTC),
        )
    )
    code, out = _export(tmp_path, "demo-clinic.F-1")
    assert code == 0, out
    bundle = Bundle.model_validate(json.loads(out))  # R4B's models accept it as it is
    assert bundle.type == "collection"
    events = [e.resource for e in bundle.entry]
    assert [e.recorded.isoformat() for e in events] == [
        "2026-12-05T09:30:00+00:00",
        "2026-12-05T10:00:00+00:00",
    ]
    police, victim = events
    assert victim.type.code == "110106" and victim.subtype[0].code == "disclose"
    assert victim.meta.profile[0].endswith("IHE.BasicAudit.PrivacyDisclosure.Source")
    roles = {a.type.coding[0].code: a for a in victim.agent}
    assert roles["110153"].who.display == "Demo Clinic"  # the source: the clinic
    assert roles["110152"].who.display == "Casey Rivera"  # the recipient
    assert roles["110152"].network.address == "casey@example.org"
    assert roles["110152"].network.type == "4"
    assert police.agent[1].network.type == "3"  # a telephone call
    patient, data = victim.entity
    assert (patient.role.code, patient.what.identifier.value) == ("1", "P-301")
    assert data.role.code == "3" and data.detail[0].valueString.startswith("Cal. Civ. Code 43.92")
    assert victim.purposeOfEvent[0].text.startswith("prevent or lessen")
    # Exported again: the same ids, so an importing server updates rather than duplicates.
    assert [
        e.resource.id
        for e in Bundle.model_validate(json.loads(_export(tmp_path, "demo-clinic.F-1")[1])).entry
    ] == [e.id for e in events]


def test_a_release_names_each_record_and_an_authorization_its_purpose_code(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    docs = [
        DisclosedDocument(
            id="d1", category="progress_note", date=date(2024, 3, 1), sha256="a" * 64
        ),
        DisclosedDocument(
            id="d2", category="progress_note", date=date(2024, 4, 1), sha256="b" * 64
        ),
    ]
    ledger.record(
        _disclosure(
            case_id="demo-clinic.A-1",
            step="a.release1",
            recipient_key="requester",
            documents=docs,
            purpose="at the request of the individual",
        )
    )
    code, out = _export(tmp_path, "demo-clinic.A-1")
    assert code == 0, out
    [event] = [e.resource for e in Bundle.model_validate(json.loads(out)).entry]
    data = event.entity[1:]
    assert [d.what.identifier.value for d in data] == ["d1", "d2"]
    assert data[0].description == "progress note of 2024-03-01"
    assert data[1].detail[1].valueString == "b" * 64
    assert event.purposeOfEvent[0].coding[0].code == "PATRQT"


def test_a_case_with_no_disclosure_is_refused_in_one_sentence(tmp_path):
    Ledger(f"sqlite:///{tmp_path / 'ledger.db'}").migrate()
    code, out = _export(tmp_path, "demo-clinic.NOPE")
    assert code == 2 and "the ledger holds no disclosure for demo-clinic.NOPE" in out
    assert "Traceback" not in out
