"""A Flag raised in a real FHIR server opens a Confide case (issue 15), end to end: sekmet-fhir
(R4, SMART Backend Services, Subscriptions Backport) delivers its notifications to Confide's
endpoint served by uvicorn; the feed workflow on the dev server reads the Flag, its patient,
encounter, author and victim with Confide's own SMART token and starts the case the same way
`POST /v1/flags` does; the clinician gets the case's first e-mail. A lost notification is
noticed from the counter and the missed Flag is found by a catch-up search."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid

import httpx
import pytest
import pytest_asyncio
import uvicorn
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from activities.fhir_intake import flags_to_read
from activities.fhir_write_back import WriteBackPass
from audit.fhir_audit_events import audit_event_id
from audit.fhir_communications import communication_id
from cli.dev_ehr import FLAG_TOPIC, confide_source, flag_topic, subscription
from domain.case import CaseInput
from domain.clinic import ClinicDirectory
from domain.fhir_feed import FeedNotice, FhirIntakeInput, FhirIntakeResult
from harness import free_port
from infra.fhir_ehr import Ehr
from infra.settings import Settings
from intake.app import create_app
from intake.fhir_endpoint import feed_id
from intake.fhir_flags import CONCERN_SYSTEM, VICTIM
from tests.conftest import make_worker
from tests.fhir_server import FhirServer, sekmet
from tests.people import People
from tests.support import demo_clinic, eventually
from worker import WORKFLOWS
from workflows.fhir_feed import FhirFeedWorkflow
from workflows.fhir_write_back import FhirWriteBackWorkflow

SECRET = secrets.token_urlsafe(24)
# What Confide reads, and writes back (AuditEvents, and copies of notices for the chart).
CONFIDE_SCOPES = " ".join(
    [
        *(
            f"system/{t}.rs"
            for t in ["Flag", "Patient", "Encounter", "Task", "RelatedPerson", "Practitioner"]
        ),
        "system/AuditEvent.cu",
        "system/Communication.cu",
    ]
)
PEOPLE = People()


@pytest.fixture(scope="module")
def ehr(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ehr")
    with sekmet(tmp, {"confide": CONFIDE_SCOPES}) as server:
        # A topic for Flags (sekmet has none built in), as the EHR's administrator would add:
        # the one the dev stack's stand-in EHR gets.
        server.put(flag_topic())
        key = tmp / "smart.pem"
        key.write_text(server.pem)
        yield server, key


@pytest_asyncio.fixture
async def confide(ehr, dev_env, smtp, ledger, task_queue):
    """The intake API on a real port (the EHR posts to it) and a worker, both knowing the EHR."""
    server, key = ehr
    clinic = PEOPLE.sign(demo_clinic())
    sources = confide_source(server.base, key, CONFIDE_SCOPES, secret=SECRET)
    directory = ClinicDirectory(clinics=[clinic])
    settings = Settings.from_env().model_copy(update={"task_queue": task_queue})
    app = create_app(settings, directory, dev_env.client, ledger=ledger, fhir_sources=sources)
    port = free_port()
    api = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(api.serve())
    await eventually(lambda: api.started)
    worker = make_worker(
        dev_env.client, task_queue, smtp[0].port, ledger, fhir_sources=sources, clinics=directory
    )
    async with worker:
        yield f"http://127.0.0.1:{port}/fhir/demo-clinic/notifications"
    api.should_exit = True
    await serving


async def subscribe(server: FhirServer, endpoint: str, topic: str = FLAG_TOPIC) -> dict:
    """A Subscription to Confide's Flag topic, as the dev stack makes it; returned once the EHR
    made it active (it does after Confide answered the handshake)."""
    sub = subscription(f"confide-{uuid.uuid4().hex[:8]}", topic, endpoint, SECRET)
    server.put(sub)
    await eventually(lambda: server.get(f"/Subscription/{sub['id']}")["status"] == "active")
    return sub


def raise_flag(
    server: FhirServer,
    *,
    kind: str = "threat_to_others",
    confide: bool = True,
    encounter_status: str = "finished",
    author: str = "dr-lee",
) -> str:
    """A session in the EHR with a Flag raised on it; the Flag's id."""
    n = uuid.uuid4().hex[:8]
    server.put(
        {
            "resourceType": "Practitioner",
            "id": author,
            "name": [{"given": ["Avery"], "family": "Lee"}],
        }
    )
    server.put(
        {
            "resourceType": "Patient",
            "id": f"pat.{n}",
            "name": [{"given": ["Jordan"], "family": f"Fhirpatient{n}"}],
            "birthDate": "1990-04-02",
            "telecom": [{"system": "email", "value": f"jordan-{n}@example.org"}],
        }
    )
    server.put(
        {
            "resourceType": "Encounter",
            "id": f"enc-{n}",
            "status": encounter_status,
            "class": {"code": "AMB"},
            "subject": {"reference": f"Patient/pat.{n}"},
        }
    )
    server.put(
        {
            "resourceType": "RelatedPerson",
            "id": f"victim-{n}",
            "patient": {"reference": f"Patient/pat.{n}"},
            "name": [{"text": f"Casey Fhirvictim{n}"}],
            "telecom": [{"system": "email", "value": f"casey-{n}@example.org"}],
            "relationship": [{"text": "coworker"}],
        }
    )
    code = (
        {"coding": [{"system": CONCERN_SYSTEM, "code": kind}], "text": "Stated intent to harm"}
        if confide
        else {"text": "Fall risk"}
    )
    server.put(
        {
            "resourceType": "Flag",
            "id": f"flag-{n}",
            "status": "active",
            "code": code,
            "subject": {"reference": f"Patient/pat.{n}"},
            "encounter": {"reference": f"Encounter/enc-{n}"},
            "author": {"reference": f"Practitioner/{author}"},
            "period": {"start": "2026-12-05T10:15:00-08:00"},
            "extension": [
                {"url": VICTIM, "valueReference": {"reference": f"RelatedPerson/victim-{n}"}}
            ],
        }
    )
    return f"flag-{n}"


async def case_input(client, case_id: str) -> CaseInput | None:
    """The case's input as started; None while there is no such case."""
    handle = client.get_workflow_handle(case_id)
    try:
        history = await handle.fetch_history()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    started = history.events[0].workflow_execution_started_event_attributes
    [inp] = await client.data_converter.decode(started.input.payloads, [CaseInput])
    return inp


async def test_a_flag_raised_in_the_ehr_opens_its_case_and_its_disclosures_go_back(
    ehr, confide, dev_env, mail, ledger, task_queue
):
    server, _ = ehr
    sub = await subscribe(server, confide)
    flag_id = raise_flag(server)
    n = flag_id.removeprefix("flag-")
    case_id = f"demo-clinic.fhir-{flag_id}"

    inp = await eventually(lambda: case_input(dev_env.client, case_id), timeout=30)
    flag = inp.flag
    assert flag.clinician.id == "dr-lee" and flag.jurisdiction == "US-CA"
    assert flag.patient.ref == f"pat_{n}" and flag.patient.name == f"Jordan Fhirpatient{n}"
    assert flag.session_id == f"enc-{n}"
    assert flag.flagged_at.isoformat() == "2026-12-05T10:15:00-08:00"
    [concern] = flag.concerns
    assert concern.kind == "threat_to_others" and concern.summary == "Stated intent to harm"
    [victim] = concern.victims
    assert victim.name == f"Casey Fhirvictim{n}" and victim.relationship == "coworker"

    # The case runs as any other: the clinician's assessment, then the warnings.
    api = confide.split("/fhir/")[0]
    async with httpx.AsyncClient(base_url=api, headers=PEOPLE.as_("dr-lee")) as http:

        async def assessment():
            case = (await http.get(f"/v1/cases/{case_id}")).json()
            return next((t for t in case.get("tasks", []) if t["kind"] == "risk_assessment"), None)

        task = await eventually(assessment, timeout=30)
        r = await http.post(
            f"/v1/cases/{case_id}/tasks/{task['task_id']}",
            json={"actor": "dr-lee", "outcome": "completed", "data": task["example"]["data"]},
        )
        assert r.status_code == 200, r.text
    await eventually(lambda: mail.to(f"casey-{n}@example.org"))
    rows = await eventually(lambda: len(ledger.for_case(case_id)) == 2 and ledger.for_case(case_id))

    # The feed: one workflow per subscription, its id naming no EHR address or resource.
    feed = dev_env.client.get_workflow_handle(
        feed_id("demo-clinic", f"{server.base}/Subscription/{sub['id']}")
    )
    state = await eventually(lambda: _opened(feed, 1))
    assert state.last_event >= 1 and state.catch_ups == 0
    assert "127.0.0.1" not in feed.id and flag_id not in feed.id

    # The write-back pass puts both disclosures into the chart of the EHR's own patient.
    outcome = await dev_env.client.execute_workflow(
        FhirWriteBackWorkflow.run,
        WriteBackPass(),
        id=f"write-back-{n}",
        task_queue=task_queue,
    )
    assert outcome.written == 2 and outcome.copies_refused == []
    for row in rows:
        event = server.get(f"/AuditEvent/{audit_event_id(row)}")
        assert event["subtype"][0]["code"] == "disclose"
        copy = server.get(f"/Communication/{communication_id(row)}")
        assert copy["subject"]["reference"] == f"Patient/pat.{n}"
        assert copy["recipient"][0]["display"] == row.recipient_name


async def feed_state(feed):
    try:
        return await feed.query(FhirFeedWorkflow.state)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _opened(feed, n: int):
    state = await feed_state(feed)
    return state if state and state.opened >= n else None


async def test_a_lost_notification_is_noticed_and_the_missed_flag_found(ehr, confide, dev_env):
    server, _ = ehr
    # Raised before Confide subscribed: no notification ever carries it.
    missed = raise_flag(server, kind="threat_to_others")
    not_ours = raise_flag(server, confide=False)
    sub = await subscribe(server, confide)
    sub_url = f"{server.base}/Subscription/{sub['id']}"
    seen = raise_flag(server)
    feed = dev_env.client.get_workflow_handle(feed_id("demo-clinic", sub_url))
    await eventually(lambda: _opened(feed, 1), timeout=30)
    # A heartbeat whose count is ahead of what the feed saw: events were lost.
    heartbeat = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [
            {
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "subscription", "valueReference": {"reference": sub_url}},
                        {"name": "topic", "valueCanonical": FLAG_TOPIC},
                        {"name": "status", "valueCode": "active"},
                        {"name": "type", "valueCode": "heartbeat"},
                        {"name": "events-since-subscription-start", "valueString": "3"},
                    ],
                }
            }
        ],
    }
    async with httpx.AsyncClient() as http:
        r = await http.post(
            confide,
            content=json.dumps(heartbeat),
            headers={
                "Authorization": f"Bearer {SECRET}",
                "Content-Type": "application/fhir+json",
            },
        )
    assert r.status_code == 200, r.text
    state = await eventually(lambda: _caught_up(feed), timeout=30)
    assert state.last_event == 3
    for flag_id in (missed, seen):
        await eventually(lambda f=flag_id: case_input(dev_env.client, f"demo-clinic.fhir-{f}"))
    # The Flag that is no Confide concern opened nothing.
    assert await case_input(dev_env.client, f"demo-clinic.fhir-{not_ours}") is None
    assert state.skipped == 0  # the catch-up searched Confide's Flags only
    # The feed's history replays on the worker's code (as the auditor's replay does).
    replayer = Replayer(workflows=WORKFLOWS, data_converter=dev_env.client.data_converter)
    await replayer.replay_workflow(await feed.fetch_history())


async def _caught_up(feed):
    state = await feed_state(feed)
    return state if state and state.catch_ups >= 1 and state.opened >= 2 else None


async def test_the_endpoint_refuses_a_wrong_secret_and_a_body_that_is_no_notification(confide):
    async with httpx.AsyncClient() as http:
        wrong = await http.post(
            confide, json={"resourceType": "Bundle"}, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        assert "shared secret" in wrong.json()["error"]
        garbage = await http.post(
            confide,
            content=b'{"resourceType": "Patient", "name": [{"text": "Jordan Secret"}]}',
            headers={"Authorization": f"Bearer {SECRET}"},
        )
        assert garbage.status_code == 400
        assert garbage.json()["error"] == "the body is not a FHIR Bundle"
        for shapeless in (
            {"resourceType": "Bundle", "entry": 5},
            {
                "resourceType": "Bundle",
                "type": "history",
                "entry": [{"resource": {"resourceType": "Parameters", "parameter": {"name": "x"}}}],
            },
        ):
            bad = await http.post(
                confide, json=shapeless, headers={"Authorization": f"Bearer {SECRET}"}
            )
            assert bad.status_code == 400, bad.text
            assert "Traceback" not in bad.text and bad.json()["error"].startswith("the ")
        other = await http.post(
            confide.replace("demo-clinic", "no-clinic"),
            json={},
            headers={"Authorization": f"Bearer {SECRET}"},
        )
        assert other.status_code == 404


async def test_a_signed_off_encounter_opens_the_case_of_the_flags_raised_in_it(
    ehr, confide, dev_env
):
    """The fallback for EHRs without a Flag topic: the session's Encounter becoming finished."""
    server, _ = ehr
    sub = await subscribe(
        server, confide, "http://sekmet.dev/fhir/SubscriptionTopic/encounter-complete"
    )
    flag_id = raise_flag(server, encounter_status="in-progress")
    n = flag_id.removeprefix("flag-")
    encounter = server.get(f"/Encounter/enc-{n}")
    server.put({**encounter, "status": "finished"})
    inp = await eventually(lambda: case_input(dev_env.client, f"demo-clinic.fhir-{flag_id}"))
    assert inp.flag.session_id == f"enc-{n}"
    # Opened by this subscription's feed (the Encounter's notification), no other.
    feed = dev_env.client.get_workflow_handle(
        feed_id("demo-clinic", f"{server.base}/Subscription/{sub['id']}")
    )
    assert (await eventually(lambda: _opened(feed, 1))).catch_ups == 0


async def test_a_confide_flag_that_cannot_open_a_case_is_told_to_the_privacy_officer(
    ehr, confide, dev_env, mail
):
    """A clinician's concern must not vanish: a Flag whose author is not on the roster opens
    no case, and the privacy officer is e-mailed which Flag and why (no PHI)."""
    server, _ = ehr
    sub = await subscribe(server, confide)
    flag_id = raise_flag(server, author="dr-visiting")
    [alert] = await eventually(lambda: mail.to("diaz@demo-clinic.test"), timeout=30)
    assert "could not open a Confide case" in alert["Subject"]
    body = alert.get_content()
    assert f"Flag/{flag_id}" in body and "'dr-visiting' is not a clinician on the roster" in body
    for phi in ("Jordan", "Fhirpatient", "Casey", "Stated intent"):
        assert phi not in body and phi not in alert["Subject"]
    feed = dev_env.client.get_workflow_handle(
        feed_id("demo-clinic", f"{server.base}/Subscription/{sub['id']}")
    )
    state = await eventually(lambda: _refused(feed))
    assert state.opened == 0
    assert await case_input(dev_env.client, f"demo-clinic.fhir-{flag_id}") is None
    # What the feed's history holds, decoded: references and reasons, no PHI.
    said = []
    for event in (await feed.fetch_history()).events:
        if event.HasField("activity_task_completed_event_attributes"):
            payloads = event.activity_task_completed_event_attributes.result.payloads
            [result] = await dev_env.client.data_converter.decode(payloads, [FhirIntakeResult])
            said += result.refused + result.skipped + result.opened
        if event.HasField("workflow_execution_signaled_event_attributes"):
            payloads = event.workflow_execution_signaled_event_attributes.input.payloads
            [notice] = await dev_env.client.data_converter.decode(payloads, [FeedNotice])
            said += [e.focus or "" for e in notice.events]
    assert any("dr-visiting" in line for line in said)
    for phi in ("Jordan", "Fhirpatient", "Casey", "Fhirvictim", "Stated intent", "example.org"):
        assert not [line for line in said if phi in line]


async def test_a_task_leads_to_its_flag_or_to_the_flags_of_its_encounter(ehr):
    """The Task fallback: a Task whose focus is the Flag, or one naming only the session."""
    server, key = ehr
    flag_id = raise_flag(server)
    n = flag_id.removeprefix("flag-")
    for task_id, extra in (
        (f"t1-{n}", {"focus": {"reference": f"Flag/{flag_id}"}}),
        (f"t2-{n}", {"encounter": {"reference": f"Encounter/enc-{n}"}}),
    ):
        server.put(
            {
                "resourceType": "Task",
                "id": task_id,
                "status": "requested",
                "intent": "order",
                **extra,
            }
        )
    [source] = confide_source(server.base, key, CONFIDE_SCOPES).sources
    fhir = await Ehr(source).client()
    for task_id in (f"t1-{n}", f"t2-{n}"):
        found = await flags_to_read(
            fhir, FhirIntakeInput(clinic_id="demo-clinic", focus=[f"Task/{task_id}"])
        )
        assert found == [flag_id]


async def _refused(feed):
    state = await feed_state(feed)
    return state if state and state.refused >= 1 else None
