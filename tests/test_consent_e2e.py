"""Authorizations and accounting requests through the HTTP API on the Temporal dev server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest_asyncio

from domain.clinic import ClinicDirectory, hash_api_key
from infra.records_db import RecordsStore
from infra.settings import Settings
from intake.app import create_app
from tests.conftest import make_worker
from tests.support import authorization_body, demo_clinic, eventually

KEY = "consent-key-" + uuid.uuid4().hex


@pytest_asyncio.fixture
async def api(dev_env, smtp, ledger, task_queue):
    records = RecordsStore(ledger.url)
    records.migrate()
    records.seed_demo("demo-clinic", "P-301")
    demo = demo_clinic()
    demo.api_key_sha256 = [hash_api_key(KEY)]
    settings = Settings.from_env().model_copy(update={"task_queue": task_queue})
    app = create_app(
        settings, ClinicDirectory(clinics=[demo]), dev_env.client, ledger=ledger, records=records
    )
    async with make_worker(dev_env.client, task_queue, smtp[0].port, ledger, records=records):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://intake",
            headers={"Authorization": f"Bearer {KEY}"},
        ) as http:
            yield http


async def case(http, case_id: str, status: str | None = None):
    async def fetch():
        body = (await http.get(f"/v1/cases/{case_id}")).json()
        return body if status is None or body.get("status") == status else None

    return await eventually(fetch)


async def test_a_defective_authorization_is_held_named_and_resumed_by_its_correction(api, mail):
    auth_id = f"A-{uuid.uuid4().hex[:8]}"
    broken = authorization_body(auth_id, purpose=None, statements={"right_to_revoke": True})
    r = await api.post("/v1/authorizations", json=broken)
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    held = await case(api, case_id, "on_hold")
    fields = [p.split(":")[0] for p in held["problems"]]
    assert fields == ["purpose", "statements.conditioning", "statements.redisclosure"]
    notice = await eventually(lambda: mail.to("park@clinic.test"))
    assert "statements.redisclosure" in notice[0].get_content()
    assert (await api.post("/v1/authorizations", json=broken)).status_code == 200  # same body

    fixed = await api.post("/v1/authorizations", json=authorization_body(auth_id))
    assert fixed.status_code == 200, fixed.text
    resumed = await case(api, case_id, "verifying")
    assert resumed["problems"] == [] and resumed["tasks"][0]["kind"] == "verify_authorization"
    # The correction sent again (a retry) is the same request: 200, nothing changes.
    again = await api.post("/v1/authorizations", json=authorization_body(auth_id))
    assert again.status_code == 200, again.text
    # Once it is no longer on hold, a changed body needs a new id.
    other = authorization_body(auth_id, purpose="something else")
    assert (await api.post("/v1/authorizations", json=other)).status_code == 409

    r = await api.post(
        f"/v1/cases/{case_id}/revoke",
        json={"received_at": datetime.now(UTC).isoformat(), "received_by": "po-diaz"},
    )
    assert r.status_code == 200, r.text
    await case(api, case_id, "revoked")
    # A re-sent revocation is the same revocation.
    r = await api.post(
        f"/v1/cases/{case_id}/revoke",
        json={"received_at": datetime.now(UTC).isoformat(), "received_by": "po-diaz"},
    )
    assert r.status_code == 200
    r = await api.post(f"/v1/cases/{case_id}/releases", json={"requested_by": "Dr. Park"})
    assert r.status_code == 422 and "revoked" in r.json()["reason"]


async def test_authorization_input_errors_name_fields(api):
    bad = authorization_body("A-BAD", expires_at="not-a-date")
    bad["information"]["categories"] = ["diary"]
    r = await api.post("/v1/authorizations", json=bad)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "expires_at",
        "information.categories[0]",
    }
    r = await api.post(
        "/v1/cases/demo-clinic.F-NOPE/revoke",
        json={"received_at": "2026-12-01T10:00:00-08:00", "received_by": "po-diaz"},
    )
    assert r.status_code == 404


async def test_an_accounting_request_through_the_api_and_a_suspension(api, ledger):
    request_id = f"R-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    body = {
        "clinic_id": "demo-clinic",
        "request_id": request_id,
        "patient": {"ref": "P-301", "email": "jordan@example.org"},
        "requested_at": now.isoformat(),
    }
    r = await api.post("/v1/accounting-requests", json=body)
    assert r.status_code == 202, r.text
    view = await eventually(lambda: _prepared(api, r.json()["case_id"]))
    assert view["accounting"] == [] and view["tasks"][0]["kind"] == "accounting_review"
    assert view["accounting_request"]["due_at"].startswith(
        (now + timedelta(days=60)).date().isoformat()
    )

    # Undated: dated on arrival, and the same body again finds the same case.
    undated = {k: v for k, v in body.items() if k != "requested_at"} | {"request_id": "R-UND"}
    first = await api.post("/v1/accounting-requests", json=undated)
    assert first.status_code == 202
    assert (await api.post("/v1/accounting-requests", json=undated)).status_code == 200

    future = {**body, "request_id": "R-FUT", "requested_at": "2099-01-01T00:00:00+00:00"}
    r = await api.post("/v1/accounting-requests", json=future)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "requested_at"

    suspension = {
        "clinic_id": "demo-clinic",
        "patient_ref": "P-301",
        "agency": "Demo City Police Department",
        "official": "Det. Example",
        "statement": "oral",
        "received_at": now.isoformat(),
        "until": (now + timedelta(days=90)).isoformat(),
    }
    r = await api.post("/v1/accounting-suspensions", json=suspension)
    assert r.status_code == 201, r.text
    # An oral statement suspends for 30 days at most (164.528(a)(2)(ii)).
    assert datetime.fromisoformat(r.json()["ends"]) == now + timedelta(days=30)
    assert ledger.suspensions_for("demo-clinic", "P-301")[0].agency == suspension["agency"]


async def _prepared(api, case_id):
    body = (await api.get(f"/v1/cases/{case_id}")).json()
    return body if body.get("accounting") is not None and body.get("tasks") else None


async def test_an_authorization_ending_on_an_event_ends_when_the_event_is_recorded(api):
    auth_id = f"A-{uuid.uuid4().hex[:8]}"
    body = authorization_body(auth_id, expires_at=None, expiry_event="end of the custody case")
    case_id = (await api.post("/v1/authorizations", json=body)).json()["case_id"]
    await case(api, case_id, "verifying")
    event = {"occurred_at": datetime.now(UTC).isoformat(), "recorded_by": "po-diaz"}
    r = await api.post(f"/v1/cases/{case_id}/expiry-event", json=event)
    assert r.status_code == 200, r.text
    ended = await case(api, case_id, "expired")
    assert ended["tasks"] == []
    # A dated authorization has no event to record.
    dated = (await api.post("/v1/authorizations", json=authorization_body(f"{auth_id}-D"))).json()
    await case(api, dated["case_id"], "verifying")
    r = await api.post(f"/v1/cases/{dated['case_id']}/expiry-event", json=event)
    assert r.status_code == 422 and "names no expiry event" in r.json()["reason"]
