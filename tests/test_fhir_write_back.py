"""AuditEvents written into a real FHIR server (sekmet-fhir, an R4 server run locally on
127.0.0.1 with its simulator off) with a SMART Backend Services token: stored once however
often they are sent; a client registered without the AuditEvent write scope gets the server's
403, which Confide reports in one sentence naming the scope (issue 15)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.client import WorkflowFailureError

from activities.fhir_write_back import WriteBackPass
from audit.fhir_audit_events import audit_event, audit_event_id
from audit.fhir_communications import communication_id
from cli.dev_ehr import confide_source
from domain.records import Disclosure
from infra.fhir_audit_writer import FhirWriteRefused, send_audit_events
from infra.fhir_sources import FhirSources
from infra.fhir_writes import unwritten
from infra.smart_auth import SmartClient, SmartClientConfig, SmartTokenRefused
from tests.conftest import make_worker
from tests.fhir_server import ADMIN_TOKEN, KID, sekmet
from workflows.fhir_write_back import FhirWriteBackWorkflow


@pytest.fixture(scope="module")
def fhir_server(tmp_path_factory):
    """Two registered clients sharing one key: `confide` may write AuditEvents,
    `confide-readonly` may only read."""
    clients = {
        "confide": "system/AuditEvent.cruds",
        "confide-readonly": "system/AuditEvent.rs",
        "confide-chart": "system/AuditEvent.cruds system/Communication.cruds",
    }
    tmp = tmp_path_factory.mktemp("fhir")
    with sekmet(tmp, clients) as server:
        (tmp / "smart.pem").write_text(server.pem)
        yield server.base, server.token_url, server.pem


def _smart(token_url: str, pem: str, client_id: str, scopes: str) -> SmartClient:
    return SmartClient(
        SmartClientConfig(
            token_url=token_url, client_id=client_id, private_key_pem=pem, key_id=KID, scopes=scopes
        )
    )


def _events():
    base = {
        "case_id": "demo-clinic.F-1",
        "clinic_id": "demo-clinic",
        "patient_ref": "P-301",
        "disclosed_at": datetime(2026, 12, 5, 10, tzinfo=UTC),
        "channel": "email",
        "description": "The threat communicated and the patient's identity",
        "purpose": "prevent or lessen a serious and imminent threat",
        "legal_basis": "Cal. Civ. Code 43.92; 45 CFR 164.512(j)",
    }
    return [
        audit_event(
            Disclosure(
                **base,
                step=f"c1.{step}",
                recipient_key=key,
                recipient_name=name,
                recipient_address=address,
            ),
            "Demo Clinic",
        )
        for step, key, name, address in [
            ("warn_victim", "victim-1", "Casey Rivera", "casey@example.org"),
            (
                "notify_law_enforcement",
                "agency-law_enforcement",
                "Demo Police",
                "police@agency.test",
            ),
        ]
    ]


async def _stored(base: str, smart: SmartClient) -> list[dict]:
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{base}/AuditEvent",
            headers={
                "Authorization": f"Bearer {await smart.token()}",
                "Accept": "application/fhir+json",
            },
        )
    r.raise_for_status()
    return [
        e["resource"]
        for e in r.json().get("entry", [])
        if e.get("resource", {}).get("resourceType") == "AuditEvent"
    ]


async def test_audit_events_are_written_once_with_a_smart_token(fhir_server):
    base, token_url, pem = fhir_server
    smart = _smart(token_url, pem, "confide", "system/AuditEvent.cruds")
    events = _events()
    ids = await send_audit_events(base, smart, events)
    assert ids == [e.id for e in events]
    again = await send_audit_events(base, smart, events)  # a retry, or a second export
    assert again == ids
    stored = await _stored(base, smart)
    assert sorted(e["id"] for e in stored) == sorted(ids)
    victim = next(e for e in stored if e["id"] == ids[0])
    assert victim["type"]["code"] == "110106" and victim["subtype"][0]["code"] == "disclose"
    # Each token request carried a fresh assertion: a reused jti would have been refused.
    assert smart.assertion() != smart.assertion()
    await smart.aclose()


async def test_a_token_without_the_write_scope_gets_the_403_and_confide_says_which_scope(
    fhir_server,
):
    base, token_url, pem = fhir_server
    readonly = _smart(token_url, pem, "confide-readonly", "system/AuditEvent.rs")
    with pytest.raises(
        FhirWriteRefused, match=r"HTTP 403\): grant Confide's client the scope system/AuditEvent.c"
    ):
        await send_audit_events(base, readonly, _events())
    await readonly.aclose()


async def test_an_unknown_client_is_refused_a_token_in_one_sentence(fhir_server):
    _, token_url, pem = fhir_server
    stranger = _smart(token_url, pem, "nobody", "system/AuditEvent.rs")
    with pytest.raises(SmartTokenRefused, match="refused client 'nobody'"):
        await stranger.token()
    await stranger.aclose()


def _source(base: str, pem_dir, client_id: str, scopes: str) -> FhirSources:
    return confide_source(base, pem_dir / "smart.pem", scopes, client_id=client_id)


async def _resources(base: str, kind: str) -> dict[str, dict]:
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{base}/{kind}",
            params={"_count": "500"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Accept": "application/fhir+json"},
        )
    r.raise_for_status()
    return {e["resource"]["id"]: e["resource"] for e in r.json().get("entry", [])}


def _disclosure(case: str, step: str, clinic: str = "demo-clinic") -> Disclosure:
    return Disclosure(
        case_id=f"{clinic}.{case}",
        clinic_id=clinic,
        patient_ref="pat_9",
        step=step,
        recipient_key="victim-1",
        recipient_name="Casey Rivera",
        recipient_address="casey@example.org",
        disclosed_at=datetime(2026, 12, 5, 10, tzinfo=UTC),
        channel="email",
        description="The threat communicated and the patient's identity",
        purpose="prevent or lessen a serious and imminent threat",
        legal_basis="Cal. Civ. Code 43.92",
    )


async def test_the_schedule_pass_writes_each_disclosure_into_the_ehr_once(
    fhir_server, tmp_path_factory, dev_env, smtp, ledger, task_queue
):
    base, _, pem = fhir_server
    keys = tmp_path_factory.mktemp("keys")
    (keys / "smart.pem").write_text(pem)
    # A case the EHR's Flag opened, and one a clinic system sent through POST /v1/flags.
    case = f"fhir-F-{uuid.uuid4().hex[:6]}"
    mine = [_disclosure(case, "c1.warn_victim"), _disclosure(case, "c1.notify_police")]
    sent_by_api = _disclosure(f"F-{uuid.uuid4().hex[:6]}", "c1.warn_victim")
    for d in [*mine, sent_by_api, _disclosure(case, "c1.warn_victim", clinic="other-clinic")]:
        ledger.record(d)
    sources = _source(base, keys, "confide-chart", "system/AuditEvent.cu system/Communication.cu")

    async def run_pass():
        return await dev_env.client.execute_workflow(
            FhirWriteBackWorkflow.run,
            WriteBackPass(),
            id=f"write-back-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )

    async with make_worker(dev_env.client, task_queue, smtp[0].port, ledger, fhir_sources=sources):
        first = await run_pass()
        again = await run_pass()
    assert first.written == 3 and first.copies_refused == [] and again.written == 0
    events = await _resources(base, "AuditEvent")
    assert {audit_event_id(d) for d in [*mine, sent_by_api]} <= set(events)
    notes = await _resources(base, "Communication")
    # A copy in the chart only where the patient reference is surely the EHR's Patient id.
    assert communication_id(sent_by_api) not in notes
    copy = notes[communication_id(mine[0])]
    assert copy["subject"]["reference"] == "Patient/pat.9"
    assert "Cal. Civ. Code 43.92" in copy["payload"][0]["contentString"]
    # The other clinic has no EHR: its row was not sent anywhere.
    other = _disclosure(case, "c1.warn_victim", clinic="other-clinic")
    assert audit_event_id(other) not in events


async def _failing_pass(base, pem, keys, dev_env, smtp, ledger, task_queue, client_id, scopes):
    """A write-back pass with this SMART client, one row waiting: what its failure says."""
    (keys / "smart.pem").write_text(pem)
    ledger.record(_disclosure(f"F-{uuid.uuid4().hex[:6]}", "c1.warn_victim"))
    sources = _source(base, keys, client_id, scopes)
    async with make_worker(dev_env.client, task_queue, smtp[0].port, ledger, fhir_sources=sources):
        with pytest.raises(WorkflowFailureError) as e:
            await dev_env.client.execute_workflow(
                FhirWriteBackWorkflow.run,
                WriteBackPass(),
                id=f"write-back-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
            )
    return str(e.value.cause.cause)


async def test_a_pass_without_the_write_scope_fails_saying_which_scope_and_writes_nothing(
    fhir_server, tmp_path_factory, dev_env, smtp, ledger, task_queue
):
    base, _, pem = fhir_server
    said = await _failing_pass(
        base,
        pem,
        tmp_path_factory.mktemp("keys"),
        dev_env,
        smtp,
        ledger,
        task_queue,
        "confide-readonly",
        "system/AuditEvent.rs",
    )
    assert "grant Confide's client the scope system/AuditEvent.c" in said
    assert unwritten(ledger.engine, "demo-clinic", 10)  # still waiting for the next pass


async def test_a_pass_whose_client_the_ehr_does_not_know_says_so(
    fhir_server, tmp_path_factory, dev_env, smtp, ledger, task_queue
):
    base, _, pem = fhir_server
    said = await _failing_pass(
        base,
        pem,
        tmp_path_factory.mktemp("keys"),
        dev_env,
        smtp,
        ledger,
        task_queue,
        "nobody",
        "system/AuditEvent.cu",
    )
    assert "demo-clinic: the EHR's token endpoint refused client 'nobody'" in said
    assert "check its registered key and scopes" in said
    assert unwritten(ledger.engine, "demo-clinic", 10)
