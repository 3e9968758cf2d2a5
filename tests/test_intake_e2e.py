"""End to end on the Temporal dev server: HTTP API -> workflows -> SMTP -> ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from domain.clinic import ClinicDirectory, Role, StaffMember, hash_api_key
from infra.settings import Settings
from intake.app import MAX_BODY, create_app
from tests.conftest import make_worker
from tests.people import People
from tests.support import demo_clinic, eventually, flag_body

KEY = "test-key-" + uuid.uuid4().hex
OTHER_KEY = "other-key-" + uuid.uuid4().hex
# Tasks are completed by people signed in as themselves (intake/identity.py).
PEOPLE = People()


@pytest_asyncio.fixture
async def api(dev_env, smtp, ledger, task_queue):
    """The intake app over ASGI, a worker on the dev server, both on a fresh task queue."""
    demo = PEOPLE.sign(demo_clinic())
    demo.api_key_sha256 = [hash_api_key(KEY)]
    other = demo.model_copy(
        update={"id": "other-clinic", "api_key_sha256": [hash_api_key(OTHER_KEY)]}
    )
    settings = Settings.from_env().model_copy(update={"task_queue": task_queue})
    app = create_app(
        settings, ClinicDirectory(clinics=[demo, other]), dev_env.client, ledger=ledger
    )
    async with make_worker(dev_env.client, task_queue, smtp[0].port, ledger):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://intake",
            headers={"Authorization": f"Bearer {KEY}"},
        ) as http:
            yield http


async def test_ca_flag_to_warnings_and_ledger_through_the_api(api, dev_env, mail, ledger):
    flag_id = f"E2E-{uuid.uuid4().hex[:8]}"
    body = flag_body(flag_id=flag_id)
    r = await api.post("/v1/flags", json=body)
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    assert case_id == f"demo-clinic.{flag_id}" == r.json()["workflow_id"]
    assert r.json()["web_ui"].endswith(f"/namespaces/default/workflows/{case_id}")

    async def open_assessment():
        case = (await api.get(f"/v1/cases/{case_id}")).json()
        return next((t for t in case["tasks"] if t["kind"] == "risk_assessment"), None)

    task = await eventually(open_assessment)
    assert task["example"]["task_id"] == task["task_id"] and task["role"] == "clinician"

    # A wrong role is refused with the validator's message.
    r = await api.post(
        f"/v1/cases/{case_id}/tasks/{task['task_id']}",
        json={"actor": "sup-kim", "data": task["example"]["data"]},
        headers=PEOPLE.as_("sup-kim"),
    )
    assert r.status_code == 422 and "needs the role clinician" in r.json()["reason"]

    r = await api.post(
        f"/v1/cases/{case_id}/tasks/{task['task_id']}",
        json={
            "actor": "dr-lee",
            "outcome": "completed",
            "data": {
                "serious_threat": True,
                "identifiable_victims": True,
                "imminent": True,
                "notes": "threatened coworker",
            },
        },
        headers=PEOPLE.as_("dr-lee"),
    )
    assert r.status_code == 200, r.text

    victim = await eventually(lambda: mail.to("casey@example.org"))
    police = await eventually(lambda: mail.to("police@agency.test"))
    assert "Stated intent to hurt a coworker" in victim[0].get_content()
    for m in (victim[0], police[0]):
        assert "Jordan" not in m["Subject"] and "Casey" not in m["Subject"]
    rows = await eventually(lambda: len(ledger.for_case(case_id)) == 2 and ledger.for_case(case_id))
    assert {(r.recipient_name, r.recipient_address) for r in rows} == {
        ("Casey Rivera", "casey@example.org"),
        ("Demo City Police Department", "police@agency.test"),
    }

    case = await eventually(lambda: _with_disclosures(api, case_id, 2))
    assert {n["status"] for n in case["notifications"]} == {"sent"}

    await assert_no_phi_outside_payloads(api, dev_env.client, case_id, mail)

    # The same flag again finds the same case; a different body under that id conflicts.
    again = await api.post("/v1/flags", json=body)
    assert again.status_code == 200 and again.json()["case_id"] == case_id
    changed = flag_body(flag_id=flag_id, session_id="S-OTHER")
    assert (await api.post("/v1/flags", json=changed)).status_code == 409


PHI = [
    "Jordan",
    "Example",
    "Casey",
    "Rivera",
    "jordan@example.org",
    "casey@example.org",
    "555-01",
    "1990-04-02",
    "coworker",
    "threatened",
]


async def assert_no_phi_outside_payloads(api, client, case_id, mail):
    """Workflow ids, search attributes and e-mail subjects carry opaque references only."""
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    ids = [case_id] + [c["workflow_id"] for c in case["concerns"]]
    exposed = list(ids)
    for wid in ids:
        desc = await client.get_workflow_handle(wid).describe()
        exposed += [str(pair.value) for pair in desc.typed_search_attributes]
    exposed += [m["Subject"] for m in mail.messages]
    for text in exposed:
        for phi in PHI:
            assert phi not in text, f"{phi!r} leaked into {text!r}"


async def _with_disclosures(api, case_id, n):
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    return case if len(case["disclosures"]) == n else None


async def test_malformed_flag_is_422_naming_each_field_without_echoing_phi(api):
    body = flag_body(flag_id="BAD-1")
    body["concerns"][0]["victims"][0]["email"] = "Casey Rivera at home"
    body["flagged_at"] = "2026-11-27T10:15:00"
    del body["session_id"]
    r = await api.post("/v1/flags", json=body)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"concerns[0].victims[0].email", "flagged_at", "session_id"}
    assert "Casey" not in r.text and "Traceback" not in r.text


async def test_invalid_json_is_422_not_a_stack_trace(api):
    r = await api.post(
        "/v1/flags", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["problem"] == "body is not valid JSON"


async def test_api_keys_are_checked_per_clinic(api):
    assert (
        await api.post("/v1/flags", json=flag_body(), headers={"Authorization": ""})
    ).status_code == 401
    assert (
        await api.post("/v1/flags", json=flag_body(), headers={"Authorization": "Bearer wrong"})
    ).status_code == 401
    # A valid key of another clinic may neither send this clinic's flags nor read its cases.
    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    assert (await api.post("/v1/flags", json=flag_body(), headers=other)).status_code == 403
    assert (await api.get("/v1/cases/demo-clinic.F-1001", headers=other)).status_code == 403


async def test_unknown_case_is_404(api):
    assert (await api.get("/v1/cases/demo-clinic.NOPE")).status_code == 404


async def test_oversized_body_is_413(api):
    big = flag_body(flag_id="BIG")
    big["concerns"][0]["summary"] = "x" * (MAX_BODY + 1)
    assert (await api.post("/v1/flags", json=big)).status_code == 413


async def test_people_who_must_act_must_be_clinicians_on_the_roster(api):
    body = flag_body(flag_id="ROSTER-1", clinician={"id": "dr-nobody"})
    body["concerns"].append(
        {
            "kind": "child_abuse",
            "summary": "disclosed abuse",
            "victims": [{"name": "A Child", "age": 7}],
            "reporters": ["dr-lee", "sup-kim"],
        }
    )
    r = await api.post("/v1/flags", json=body)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"clinician.id", "concerns[1].reporters[1]"}


async def test_child_abuse_end_to_end_every_reporter_files_and_the_case_closes_last(
    dev_env, smtp, ledger, task_queue, mail
):
    """Two clinicians heard the disclosure: each has a personal duty; the case closes only
    when both have reported, and the written reports reach the agency by e-mail."""
    demo = demo_clinic()
    demo.api_key_sha256 = [hash_api_key(KEY)]
    ray = StaffMember(
        id="dr-ray", name="Dr. Ray", email="ray@demo-clinic.test", roles=[Role.clinician]
    )
    demo.staff.append(ray)
    demo = PEOPLE.sign(demo)
    settings = Settings.from_env().model_copy(update={"task_queue": task_queue})
    app = create_app(settings, ClinicDirectory(clinics=[demo]), dev_env.client, ledger=ledger)
    flag_id = f"CHILD-{uuid.uuid4().hex[:6]}"
    body = flag_body(flag_id=flag_id)
    body["concerns"] = [
        {
            "kind": "child_abuse",
            "summary": "Child disclosed being hit",
            "victims": [{"name": "Robin Child", "age": 9}],
            "alleged_abuser": {"name": "Pat Parent"},
            "abuser_is_caretaker": True,
            "reporters": ["dr-lee", "dr-ray"],
        }
    ]
    async with make_worker(dev_env.client, task_queue, smtp[0].port, ledger):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://intake",
            headers={"Authorization": f"Bearer {KEY}"},
        ) as http:
            r = await http.post("/v1/flags", json=body)
            assert r.status_code == 202, r.text
            case_id = r.json()["case_id"]
            for reporter in ("dr-lee", "dr-ray"):
                oral = await eventually(
                    lambda rep=reporter: _task(http, case_id, "oral_report", rep)
                )
                r = await http.post(
                    f"/v1/cases/{case_id}/tasks/{oral['task_id']}",
                    json={
                        "actor": reporter,
                        "outcome": "reported",
                        "data": {
                            "agency": "County CWS",
                            "number_called": "+1-555-0300",
                            "called_at": datetime.now(UTC).isoformat(),
                            "taken_by": "Intake A",
                        },
                    },
                    headers=PEOPLE.as_(reporter),
                )
                assert r.status_code == 200, r.text
                written = await eventually(
                    lambda rep=reporter: _task(http, case_id, "written_report", rep)
                )
                assert "SS 8572" in written["document"]
                r = await http.post(
                    f"/v1/cases/{case_id}/tasks/{written['task_id']}",
                    json={"actor": reporter, "outcome": "submit", "data": {"reviewed": True}},
                    headers=PEOPLE.as_(reporter),
                )
                assert r.status_code == 200, r.text
                if reporter == "dr-lee":
                    await eventually(lambda: len(mail.to("cps@agency.test")) == 1)
                    case = (await http.get(f"/v1/cases/{case_id}")).json()
                    assert case["status"] != "closed", "one reporter's duty remains"
            await eventually(lambda: len(mail.to("cps@agency.test")) == 2)
            case = await eventually(lambda: _closed(http, case_id))
    rows = ledger.for_case(case_id)
    assert len(rows) == 4 and {r.recipient_address for r in rows} == {
        "+1-555-0300",
        "cps@agency.test",
    }
    assert len(case["disclosures"]) == 4


async def _task(http, case_id, kind, assignee):
    case = (await http.get(f"/v1/cases/{case_id}")).json()
    return next((t for t in case["tasks"] if t["kind"] == kind and t["assignee"] == assignee), None)


async def _closed(http, case_id):
    case = (await http.get(f"/v1/cases/{case_id}")).json()
    return case if case["status"] == "closed" else None


async def test_openapi_document_is_served(api):
    doc = (await api.get("/openapi.json")).json()
    assert {"/v1/flags", "/v1/cases/{case_id}", "/v1/cases/{case_id}/tasks/{task_id}"} <= set(
        doc["paths"]
    )


@pytest.mark.parametrize("path", ["/v1/cases/demo-clinic.X/tasks/t1"])
async def test_task_completion_body_is_validated(api, path):
    r = await api.post(path, json={"actor": 5, "data": {}}, headers=PEOPLE.as_("dr-lee"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "actor"


async def test_unknown_jurisdiction_is_422_naming_the_field(api):
    r = await api.post("/v1/flags", json=flag_body(flag_id="ZZ-1", jurisdiction="US-ZZ"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jurisdiction"


async def test_oversized_chunked_body_is_413(api):
    async def chunks():
        for _ in range(MAX_BODY // 1024 + 2):
            yield b"x" * 1024

    r = await api.post("/v1/flags", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


async def test_a_concern_workflow_id_is_not_a_case(api):
    r = await api.get("/v1/cases/demo-clinic.F-1001.c1-threat_to_others")
    assert r.status_code == 404


async def test_completing_a_task_that_is_not_open_is_422(api):
    flag_id = f"DONE-{uuid.uuid4().hex[:6]}"
    case_id = (await api.post("/v1/flags", json=flag_body(flag_id=flag_id))).json()["case_id"]

    async def open_assessment():
        case = (await api.get(f"/v1/cases/{case_id}")).json()
        return next((t for t in case["tasks"] if t["kind"] == "risk_assessment"), None)

    task = await eventually(open_assessment)
    body = {
        "actor": "dr-lee",
        "data": {"serious_threat": False, "identifiable_victims": False, "imminent": False},
    }
    url = f"/v1/cases/{case_id}/tasks/{task['task_id']}"
    lee = PEOPLE.as_("dr-lee")
    assert (await api.post(url, json=body, headers=lee)).status_code == 200
    again = await api.post(url, json=body, headers=lee)
    assert again.status_code == 422 and "not open" in again.json()["reason"]


async def test_a_flag_id_of_a_case_gone_from_temporal_but_on_record_is_refused(api, ledger):
    from datetime import UTC, datetime

    from domain.records import Disclosure

    # A case whose history Temporal no longer keeps, but whose disclosure the ledger does.
    ledger.record(
        Disclosure(
            case_id="demo-clinic.OLD-1",
            step="c1.warn_victim",
            recipient_key="victim-1",
            clinic_id="demo-clinic",
            patient_ref="P-301",
            disclosed_at=datetime.now(UTC),
            recipient_name="someone",
            recipient_address="x@example.org",
            channel="email",
            description="d",
            purpose="p",
            legal_basis="b",
        )
    )
    r = await api.post("/v1/flags", json=flag_body(flag_id="OLD-1"))
    assert r.status_code == 409 and "earlier case on record" in r.json()["error"]
