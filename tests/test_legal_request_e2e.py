"""Legal requests end to end on the Temporal dev server: HTTP API -> workflow -> records store ->
PDF packet -> SMTP -> ledger, and the one-time download link."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import uuid

import httpx
import pytest_asyncio
from pypdf import PdfReader

from domain.clinic import ClinicDirectory, hash_api_key
from infra.records_db import RecordsStore
from infra.settings import Settings
from intake.app import create_app
from tests.conftest import make_worker
from tests.people import People
from tests.support import code_from_mail, demo_clinic, eventually, legal_request_body

KEY = "legal-key-" + uuid.uuid4().hex
OTHER_KEY = "legal-other-" + uuid.uuid4().hex
PEOPLE = People()  # tasks are completed by people signed in as themselves
VALID = {
    "signed": True,
    "issuer_has_jurisdiction": True,
    "names_psychotherapy_notes": False,
    "part2_compliant_order": False,
}


@pytest_asyncio.fixture
async def legal(dev_env, smtp, ledger, task_queue):
    """(http client, records store): the intake app over ASGI and a worker on the dev server."""
    records = RecordsStore(ledger.url)
    records.migrate()
    records.seed_demo("demo-clinic", "P-301")
    demo = PEOPLE.sign(demo_clinic())
    demo.api_key_sha256 = [hash_api_key(KEY)]
    other = demo.model_copy(
        update={"id": "other-clinic", "api_key_sha256": [hash_api_key(OTHER_KEY)]}
    )
    settings = Settings.from_env().model_copy(update={"task_queue": task_queue})
    app = create_app(
        settings,
        ClinicDirectory(clinics=[demo, other]),
        dev_env.client,
        ledger=ledger,
        records=records,
    )
    async with make_worker(dev_env.client, task_queue, smtp[0].port, ledger, records=records):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://intake",
            headers={"Authorization": f"Bearer {KEY}"},
        ) as http:
            yield http, records


async def open_task(http, case_id: str, kind: str) -> dict:
    async def find():
        case = (await http.get(f"/v1/cases/{case_id}")).json()
        return next((t for t in case["tasks"] if t["kind"] == kind), None)

    return await eventually(find)


async def test_court_order_packet_matches_its_manifest_the_ledger_and_opens(legal, mail, ledger):
    http, records = legal
    body = legal_request_body(request_id=f"L-{uuid.uuid4().hex[:8]}", instrument="court_order")
    r = await http.post("/v1/legal-requests", json=body)
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    assert case_id == f"demo-clinic.{body['request_id']}"
    assert (await http.post("/v1/legal-requests", json=body)).status_code == 200

    task = await open_task(http, case_id, "classify_request")
    r = await http.post(
        f"/v1/cases/{case_id}/tasks/{task['task_id']}",
        json={
            "actor": "po-diaz",
            "outcome": "valid",
            "data": {**VALID, "instrument": "court_order"},
        },
        headers=PEOPLE.as_("po-diaz"),
    )
    assert r.status_code == 200, r.text
    approval = await open_task(http, case_id, "release_approval")
    code = await code_from_mail(mail, "diaz@demo-clinic.test", approval["task_id"])
    r = await http.post(
        f"/v1/cases/{case_id}/tasks/{approval['task_id']}",
        json={
            "actor": "po-diaz",
            "outcome": "approve",
            "code": code,
            "data": approval["example"]["data"] | {"reason": "order of the court"},
        },
        headers=PEOPLE.as_("po-diaz"),
    )
    assert r.status_code == 200, r.text

    delivered = await eventually(lambda: mail.to("attorney@law.test"))
    [attachment] = list(delivered[0].iter_attachments())
    pdf = attachment.get_content()
    case = await eventually(
        lambda: _closed(http, case_id),
    )
    packet = case["legal"]["packet"]
    # The delivered bytes are the packet the manifest describes ...
    assert hashlib.sha256(pdf).hexdigest() == packet["sha256"]
    # ... and each listed document's hash is the hash of the record's bytes in the store.
    for d in packet["documents"]:
        _, content = records.fetch("demo-clinic", d["id"])
        assert hashlib.sha256(content).hexdigest() == d["sha256"]
    # The PDF opens, states every hash in its manifest, and page 1 renders.
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == packet["pages"]
    text = "".join(p.extract_text() for p in reader.pages).replace("\n", "")
    for d in packet["documents"]:
        assert d["sha256"] in text
    assert "dr-lee" not in text  # authors by their roster names, not their ids
    assert shutil.which("pdftoppm"), "apt-get install poppler-utils (pdftoppm renders the PDF)"
    png = subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    # The ledger rows are the manifest.
    [row] = ledger.for_case(case_id)
    assert [d.model_dump(mode="json") for d in row.documents] == packet["documents"]
    assert row.manifest_sha256 == packet["sha256"]
    assert case["disclosures"][0]["documents"] == packet["documents"]
    assert "Jordan" not in delivered[0]["Subject"]

    # The packet downloads once through a short-lived link, then the link is spent.
    link = (await http.post(f"/v1/cases/{case_id}/packet-link")).json()
    path = httpx.URL(link["url"]).path
    first = await http.get(path, headers={"Authorization": ""})
    assert first.status_code == 200 and first.content == pdf
    again = await http.get(path)
    assert again.status_code == 410 and "already used" in again.json()["error"]
    # Once in all: no second link is offered for a packet already fetched.
    second = await http.post(f"/v1/cases/{case_id}/packet-link")
    assert second.status_code == 409 and "already downloaded" in second.json()["error"]


async def _closed(http, case_id):
    case = (await http.get(f"/v1/cases/{case_id}")).json()
    return case if case["status"] == "closed" else None


async def test_legal_request_errors_name_the_field_without_echoing_values(legal):
    http, _ = legal
    bad = legal_request_body(request_id="L-BAD", instrument="subpena-by-Jordan")
    bad["scope"]["to"] = "2023-01-01"
    bad["requester"]["email"] = "A. Attorney at home"
    r = await http.post("/v1/legal-requests", json=bad)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"instrument", "requester.email"} <= fields
    assert "Jordan" not in r.text and "at home" not in r.text

    body = legal_request_body(request_id="L-RANGE")
    body["scope"]["to"] = "2023-01-01"
    r = await http.post("/v1/legal-requests", json=body)
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "scope.to", "problem": "Value error, is before scope.from"}
    ]

    part2 = legal_request_body(request_id="L-P2")
    part2["scope"]["part2_compliant_order"] = True
    r = await http.post("/v1/legal-requests", json=part2)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scope"
    assert "only a court order" in r.text

    late = legal_request_body(request_id="L-LATE", response_due="2026-11-01T09:00:00-08:00")
    r = await http.post("/v1/legal-requests", json=late)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "response_due"
    assert "must be after served_at" in r.text

    future = legal_request_body(
        request_id="L-FUT",
        served_at="2099-01-01T09:00:00-08:00",
        response_due="2099-02-01T09:00:00-08:00",
    )
    r = await http.post("/v1/legal-requests", json=future)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "served_at"

    foreign = legal_request_body(request_id="L-FOREIGN", clinic_id="other-clinic")
    assert (await http.post("/v1/legal-requests", json=foreign)).status_code == 403


async def test_same_request_id_with_another_body_is_a_conflict(legal):
    http, _ = legal
    request_id = f"L-{uuid.uuid4().hex[:8]}"
    body = legal_request_body(request_id=request_id)
    assert (await http.post("/v1/legal-requests", json=body)).status_code == 202
    changed = legal_request_body(request_id=request_id, response_due="2026-12-28T17:00:00-08:00")
    r = await http.post("/v1/legal-requests", json=changed)
    assert r.status_code == 409 and "different body" in r.json()["error"]
    view = (await http.get(f"/v1/cases/demo-clinic.{request_id}")).json()
    assert view["path"] == "legal_request" and view["legal"]["instrument"] == "attorney_subpoena"
