"""A patient's records read from a real FHIR server (sekmet-fhir) with Confide's SMART token
(infra/fhir_records.py, issue 15): DocumentReference search by patient, Binary reads, the
categories and sensitivity labels Confide decides releases on; and an authorization that
releases what the EHR holds, on the time-skipping server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid

import pytest
from typer.testing import CliRunner

from cli import main
from cli.dev_ehr import confide_source
from domain.authorization_case import Revocation
from infra.fhir_ehr import Ehrs
from infra.fhir_records import ACT_CODE, CATEGORY_SYSTEM, FLAG_SYSTEM, LOINC, FhirRecordsSource
from infra.records_db import DocumentNotFound
from intake.cases import start_authorization
from tests.conftest import make_worker
from tests.fhir_server import sekmet
from tests.support import demo_clinic, eventually, task_of
from tests.support import env_now as now
from tests.test_authorization_workflow import VERIFIED, approve, authorization
from tests.test_duty_to_warn_workflow import complete
from workflows.authorization import AuthorizationWorkflow

SCOPES = "system/DocumentReference.rs system/Binary.rs"


def document(doc_id, patient, coding, day, text, *, labels=(), inline=False, server=None):
    content = text.encode()
    attachment: dict = {"contentType": "text/plain", "title": f"Document {doc_id}"}
    if inline:
        attachment["data"] = base64.b64encode(content).decode()
    else:
        server.put(
            {
                "resourceType": "Binary",
                "id": f"bin-{doc_id}",
                "contentType": "text/plain",
                "data": base64.b64encode(content).decode(),
            }
        )
        attachment["url"] = f"Binary/bin-{doc_id}"
    return {
        "resourceType": "DocumentReference",
        "id": doc_id,
        "status": "current",
        "meta": {"security": [{"system": s, "code": c} for s, c in labels]},
        "type": {"coding": [coding]},
        "subject": {"reference": f"Patient/{patient}"},
        "date": f"{day}T10:00:00-08:00",
        "author": [{"reference": "Practitioner/dr.lee"}],
        "content": [{"attachment": attachment}],
    }


@pytest.fixture(scope="module")
def ehr(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ehr")
    with sekmet(tmp, {"confide": SCOPES}) as server:
        patient = f"pat.{uuid.uuid4().hex[:6]}"
        server.put({"resourceType": "Patient", "id": patient, "name": [{"text": "Jordan Example"}]})
        docs = [
            document(
                "d-assess",
                patient,
                {"system": LOINC, "code": "51848-0"},
                "2024-03-02",
                "Assessment: stable, engaged in care.",
                server=server,
            ),
            document(
                "d-progress",
                patient,
                {"system": LOINC, "code": "11506-3"},
                "2024-05-10",
                "Progress: discussed sleep.",
                server=server,
            ),
            document(
                "d-psy",
                patient,
                {"system": CATEGORY_SYSTEM, "code": "progress_note"},
                "2024-06-01",
                "Process notes.",
                labels=[(ACT_CODE, "PSYTHPN")],
                inline=True,
            ),
            document(
                "d-sud",
                patient,
                {"system": LOINC, "code": "11506-3"},
                "2024-07-01",
                "SUD program note.",
                labels=[(ACT_CODE, "42CFRPart2"), (FLAG_SYSTEM, "third-party")],
                inline=True,
            ),
            document(
                "d-unknown",
                patient,
                {"system": LOINC, "code": "34109-9"},
                "2024-08-01",
                "Uncategorised.",
                inline=True,
            ),
            document(
                "d-other",
                "someone-else",
                {"system": LOINC, "code": "51848-0"},
                "2024-03-02",
                "Another patient's.",
                inline=True,
            ),
        ]
        for doc in docs:
            server.put(doc)
        key = tmp / "smart.pem"
        key.write_text(server.pem)
        yield server, patient, confide_source(server.base, key, SCOPES)


def test_documents_are_listed_and_fetched_from_the_ehr(ehr, records):
    _, patient, sources = ehr
    source = FhirRecordsSource(Ehrs(sources.sources), records)
    listed = source.list_documents("demo-clinic", patient.replace(".", "_"))
    by_id = {m.id: m for m in listed}
    # Another patient's document is not listed; one Confide cannot categorise is not either.
    assert list(by_id) == ["d-assess", "d-progress", "d-psy", "d-sud"]
    assert (
        by_id["d-assess"].category == "assessment"
        and by_id["d-progress"].category == "progress_note"
    )
    assert by_id["d-psy"].is_psychotherapy_note and not by_id["d-progress"].is_psychotherapy_note
    assert by_id["d-sud"].is_part2 and by_id["d-sud"].third_party
    assert by_id["d-assess"].author == "dr_lee" and by_id[
        "d-assess"
    ].patient_ref == patient.replace(".", "_")
    meta, content = source.fetch("demo-clinic", "d-assess")
    assert content == b"Assessment: stable, engaged in care."
    assert meta == by_id["d-assess"] and meta.sha256 == hashlib.sha256(content).hexdigest()
    with pytest.raises(DocumentNotFound):
        source.fetch("demo-clinic", "no-such-document")
    # A clinic without a FHIR source keeps the built-in store.
    assert source.list_documents("other-clinic", "P-301") == records.list_documents(
        "other-clinic", "P-301"
    )
    assert source.list_documents("demo-clinic", "P-301") != records.list_documents(
        "demo-clinic", "P-301"
    )


async def test_an_authorization_releases_what_the_ehr_holds(
    ehr, ts_env, mail, smtp, ledger, task_queue
):
    server, patient, sources = ehr
    client = ts_env.client
    auth, found = authorization(
        (await now(ts_env)).date(),
        f"A-FHIR-{uuid.uuid4().hex[:6]}",
        patient={
            "ref": patient.replace(".", "_"),
            "name": "Jordan Example",
            "email": "jordan@example.org",
        },
    )
    async with make_worker(client, task_queue, smtp[0].port, ledger, fhir_sources=sources):
        started = await start_authorization(client, task_queue, auth, found, demo_clinic())
        handle = client.get_workflow_handle_for(AuthorizationWorkflow.run, started.case_id)
        verify = await task_of(handle, "verify_authorization")
        await complete(client, verify, actor="po-diaz", outcome="verified", data=VERIFIED)
        await approve(client, handle, mail)
        [row] = await eventually(lambda: ledger.for_case(started.case_id))
        # The authorization as a FHIR Consent, from `confide audit consent` (a query).
        target = client.service_client.config.target_host
        result = await asyncio.to_thread(
            CliRunner().invoke,
            main.app,
            ["audit", "consent", started.case_id],
            env={"TEMPORAL_ADDRESS": target},
        )
        assert result.exit_code == 0, result.output
        active = json.loads(result.output)
        await handle.execute_update(
            "revoke", Revocation(received_at=await now(ts_env), received_by="po-diaz")
        )
        await handle.result()
        revoked = await asyncio.to_thread(
            CliRunner().invoke,
            main.app,
            ["audit", "consent", started.case_id],
            env={"TEMPORAL_ADDRESS": target},
        )
        not_auth = await asyncio.to_thread(
            CliRunner().invoke,
            main.app,
            ["audit", "consent", "demo-clinic.NOPE"],
            env={"TEMPORAL_ADDRESS": target},
        )
    assert not_auth.exit_code != 0 and "no workflow demo-clinic.NOPE" in not_auth.output
    assert active["status"] == "active" and json.loads(revoked.output)["status"] == "inactive"
    # The EHR takes it as a valid R4 Consent: permit disclosing assessments of 2024-2025.
    server.put(active)
    stored = server.get(f"/Consent/{active['id']}")
    assert stored["patient"]["reference"] == f"Patient/{patient}"
    provision = stored["provision"]
    assert (
        provision["type"] == "permit"
        and provision["actor"][0]["reference"]["display"] == "Dr. Park"
    )
    assert provision["dataPeriod"] == {"start": "2024-01-01", "end": "2025-12-31"}
    assert [c["coding"][0]["code"] for c in provision["code"]] == ["assessment"]
    # The authorization names assessments of 2024-2025: the EHR's one assessment, its bytes.
    [released] = row.documents
    assert released.id == "d-assess" and released.category == "assessment"
    assert released.sha256 == hashlib.sha256(b"Assessment: stable, engaged in care.").hexdigest()
    [packet] = await eventually(lambda: mail.to("park@clinic.test"))
    assert any(part.get_content_type() == "application/pdf" for part in packet.iter_attachments())
