"""Distinctive fake PHI goes through whole cases on a dev server with a file database; then
nothing outside the encrypted payloads and the notices themselves may contain it."""

from __future__ import annotations

import io
import logging
import re
import uuid
from datetime import UTC, datetime

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.clinic import ClinicDirectory, hash_api_key
from infra.ledger_db import Ledger
from infra.settings import Settings
from infra.temporal import data_converter
from intake.app import create_app
from tests.conftest import make_worker
from tests.people import People
from tests.support import BIN, CODE_PATTERN, code_from_mail, demo_clinic, eventually
from workflows import search_attributes as sa

KEY = "leak-key-" + uuid.uuid4().hex
PEOPLE = People()  # tasks are completed by people signed in as themselves
PHI = [
    "Zebediah",
    "Quuxworth",
    "zeb.quux@example.org",
    "555-0177",
    "1977-07-07",
    "Philomena",
    "Grisewold",
    "philomena.g@example.org",
    "555-0188",
    "Wallaby",
    "Bartholomew",
    "Snickersnee",
    "555-0166",
    "XYZZY",
    "PLUGH",
    "FROTZ",
    "refused.victim",
]


def database_bytes(db) -> bytes:
    """The Temporal database and its WAL/journal files as they are now (a journal may vanish
    between listing and reading while the server runs)."""
    out = b""
    for path in db.parent.glob("temporal.db*"):
        try:
            out += path.read_bytes()
        except FileNotFoundError:
            continue
    return out


def leak_flag(flag_id: str, jurisdiction: str, concerns: list[dict]) -> dict:
    return {
        "clinic_id": "demo-clinic",
        "flag_id": flag_id,
        "session_id": "S-9",
        "jurisdiction": jurisdiction,
        "flagged_at": "2026-11-27T10:15:00-08:00",
        "clinician": {"id": "dr-lee"},
        "patient": {
            "ref": "P-777",
            "name": "Zebediah Quuxworth",
            "birth_date": "1977-07-07",
            "email": "zeb.quux@example.org",
            "phone": "+1-555-0177",
        },
        "concerns": concerns,
    }


THREAT = {
    "kind": "threat_to_others",
    "summary": "XYZZY threatened a neighbour with a crowbar",
    "victims": [
        {
            "name": "Philomena Grisewold",
            "email": "philomena.g@example.org",
            "phone": "+1-555-0188",
            "address": "42 Wallaby Way",
        },
        {"name": "Bartholomew Snickersnee", "phone": "+1-555-0166"},
        {"name": "Refused Victim", "email": "refused.victim@example.org"},
    ],
}
SELF = {
    "kind": "self_harm",
    "summary": "FROTZ plan disclosed",
    "contacts": [{"name": "Philomena Grisewold", "email": "philomena.g@example.org"}],
}
ASSESS = {
    "serious_threat": True,
    "identifiable_victims": True,
    "imminent": True,
    "notes": "PLUGH assessment notes",
}


@pytest_asyncio.fixture
async def file_stack(tmp_path, smtp, task_queue):
    db = tmp_path / "temporal.db"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=data_converter(),
        search_attributes=sa.ALL,
        dev_server_database_filename=str(db),
        dev_server_extra_args=["--log-level", "error"],
    )
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    clinic = PEOPLE.sign(demo_clinic())
    clinic.api_key_sha256 = [hash_api_key(KEY)]
    settings = Settings.from_env().model_copy(update={"task_queue": task_queue})
    app = create_app(settings, ClinicDirectory(clinics=[clinic]), env.client, ledger=ledger)
    try:
        async with make_worker(env.client, task_queue, smtp[0].port, ledger):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://intake",
                headers={"Authorization": f"Bearer {KEY}"},
            ) as http:
                yield http, env.client, ledger, db
    finally:
        await env.shutdown()


async def _task(http, case_id, kind):
    async def find():
        case = (await http.get(f"/v1/cases/{case_id}")).json()
        return next((t for t in case.get("tasks", []) if t["kind"] == kind), None)

    return await eventually(find)


async def _do(http, case_id, task, **body):
    r = await http.post(
        f"/v1/cases/{case_id}/tasks/{task['task_id']}",
        json=body,
        headers=PEOPLE.as_(body["actor"]),
    )
    assert r.status_code == 200, r.text


async def test_no_phi_outside_encrypted_payloads(file_stack, mail, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    http, client, ledger, db = file_stack
    mail.script["refused.victim@example.org"] = ["550 5.1.1 <refused.victim@example.org> gone"]
    cases = []

    r = await http.post("/v1/flags", json=leak_flag("LEAK-CA", "US-CA", [THREAT, SELF]))
    ca = r.json()["case_id"]
    cases.append(ca)
    # A rejected completion that carries PHI in its data must not leave it anywhere either.
    task = await _task(http, ca, "risk_assessment")
    bad = await http.post(
        f"/v1/cases/{ca}/tasks/{task['task_id']}",
        json={"actor": "dr-lee", "data": {**ASSESS, "victim": "Philomena"}},
        headers=PEOPLE.as_("dr-lee"),
    )
    assert bad.status_code == 422 and "Philomena" not in bad.text
    await _do(http, ca, task, actor="dr-lee", data=ASSESS)
    call = await _task(http, ca, "call_person")
    await _do(
        http,
        ca,
        call,
        actor="dr-lee",
        outcome="reached",
        data={
            "called_at": datetime.now(UTC).isoformat(),
            "number_called": "+1-555-0166",
            "notes": "PLUGH call notes",
        },
    )
    refused = await _task(http, ca, "delivery_failed")
    await _do(
        http,
        ca,
        refused,
        actor="dr-lee",
        outcome="not_delivered",
        data={"delivered_by": "none", "details": "PLUGH no other contact"},
    )
    sh = await _task(http, ca, "self_harm_assessment")
    await _do(
        http,
        ca,
        sh,
        actor="dr-lee",
        data={"risk_level": "high", "safety_plan_in_place": False, "notes": "PLUGH"},
    )
    decision = await _task(http, ca, "release_decision")
    code = await code_from_mail(mail, "kim@demo-clinic.test", decision["task_id"])
    await _do(
        http,
        ca,
        decision,
        actor="sup-kim",
        outcome="approve",
        code=code,
        data={"actions": ["notify_emergency_contact"], "reason": "PLUGH reason"},
    )
    await eventually(lambda: len(ledger.for_case(ca)) == 4)

    r = await http.post("/v1/flags", json=leak_flag("LEAK-TX", "US-TX", [THREAT]))
    tx = r.json()["case_id"]
    cases.append(tx)
    await _do(http, tx, await _task(http, tx, "risk_assessment"), actor="dr-lee", data=ASSESS)
    decision = await _task(http, tx, "release_decision")
    await _do(
        http,
        tx,
        decision,
        actor="sup-kim",
        outcome="decline",
        code=await code_from_mail(mail, "kim@demo-clinic.test", decision["task_id"]),
        data={"reason": "PLUGH declined"},
    )
    await eventually(lambda: _phase(http, tx, "closed"))

    # The notices did carry the PHI they needed (so the search below is meaningful).
    assert "Zebediah Quuxworth" in mail.to("philomena.g@example.org")[0].get_content()

    exposed: dict[str, str] = {}
    stored = database_bytes(db)
    assert len(stored) > 100_000
    ids = []
    for case_id in cases:
        status = (await http.get(f"/v1/cases/{case_id}")).json()
        ids += [case_id] + [c["workflow_id"] for c in status["concerns"]]
    for wid in ids:
        desc = await client.get_workflow_handle(wid).describe()
        exposed[f"search attributes of {wid}"] = " ".join(
            str(p.value) for p in desc.typed_search_attributes
        )
    exposed["workflow ids"] = " ".join(ids)
    exposed["e-mail subjects"] = " ".join(m["Subject"] for m in mail.messages)
    rows = [r for c in cases for r in ledger.for_case(c)]
    assert rows
    exposed["ledger non-PHI columns"] = " ".join(
        f"{r.case_id} {r.step} {r.recipient_key} {r.clinic_id} {r.patient_ref} {r.channel} "
        f"{r.description} {r.purpose} {r.legal_basis} {r.task_ref}"
        for r in rows
    )
    out, err = capfd.readouterr()
    # Every log record but the test's own SMTP server's (mail.log: it stands in for the
    # recipient's mail system, which receives the notice by design).
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    exposed["log output"] = (
        "\n".join(f"{r.name} {r.getMessage()} {r.__dict__}" for r in ours) + out + err
    )
    for phi in PHI:
        assert phi.encode() not in stored, f"{phi!r} is in the Temporal database"
        for where, text in exposed.items():
            assert phi not in text, f"{phi!r} leaked into {where}"


async def _phase(http, case_id, status):
    return (await http.get(f"/v1/cases/{case_id}")).json()["status"] == status


async def test_a_released_legal_request_leaves_no_phi_in_temporal(file_stack, mail, caplog):
    """The records' text, the patient's name and address and the requester's reach the packet
    and the letters, never Temporal's database, search attributes, subjects or logs."""
    caplog.set_level(logging.DEBUG)
    http, client, ledger, db = file_stack
    from infra.records_db import RecordsStore
    from tests.support import legal_request_body

    store = RecordsStore(ledger.url)
    store.migrate()
    store.seed_demo("demo-clinic", "P-777")
    body = legal_request_body(request_id="LEAK-L", instrument="court_order")
    body["patient"] = {
        "ref": "P-777",
        "name": "Zebediah Quuxworth",
        "email": "zeb.quux@example.org",
    }
    body["requester"]["address"] = "42 Wallaby Way"
    r = await http.post("/v1/legal-requests", json=body)
    case_id = r.json()["case_id"]
    await _do(
        http,
        case_id,
        await _task(http, case_id, "classify_request"),
        actor="po-diaz",
        outcome="valid",
        data={
            "instrument": "court_order",
            "signed": True,
            "issuer_has_jurisdiction": True,
            "names_psychotherapy_notes": False,
            "part2_compliant_order": False,
            "notes": "PLUGH classification notes",
        },
    )
    approval = await _task(http, case_id, "release_approval")
    await _do(
        http,
        case_id,
        approval,
        actor="po-diaz",
        outcome="approve",
        code=await code_from_mail(mail, "diaz@demo-clinic.test", approval["task_id"]),
        data={**approval["example"]["data"], "reason": "PLUGH approved"},
    )
    await eventually(lambda: _phase(http, case_id, "closed"))
    [packet] = [p for m in mail.to("attorney@law.test") for p in m.iter_attachments()]
    assert ledger.for_case(case_id)[0].documents
    record_text = ["Jordan Example", "Zebediah Quuxworth"]
    # The packet did carry the records' text (so the search below is meaningful).
    from pypdf import PdfReader

    pages = "".join(p.extract_text() for p in PdfReader(io.BytesIO(packet.get_content())).pages)
    assert "Jordan Example" in pages
    stored = database_bytes(db)
    desc = await client.get_workflow_handle(case_id).describe()
    exposed = {
        "search attributes": " ".join(str(p.value) for p in desc.typed_search_attributes),
        "e-mail subjects": " ".join(m["Subject"] for m in mail.messages),
        "log output": "\n".join(
            f"{r.getMessage()} {r.__dict__}"
            for r in caplog.records
            if not r.name.startswith("mail.log")
        ),
    }
    for phi in [*PHI, *record_text]:
        assert phi.encode() not in stored, f"{phi!r} is in the Temporal database"
        for where, text in exposed.items():
            assert phi not in text, f"{phi!r} leaked into {where}"


async def test_an_authorization_release_leaves_no_phi_outside_payloads(file_stack, mail, caplog):
    """The patient's own words (purpose), names and addresses reach the packet and the notice,
    not Temporal's database, search attributes, subjects, logs or the ledger's non-PHI columns."""
    caplog.set_level(logging.DEBUG)
    http, client, ledger, db = file_stack
    from infra.records_db import RecordsStore
    from tests.support import authorization_body

    store = RecordsStore(ledger.url)
    store.migrate()
    store.seed_demo("demo-clinic", "P-777")
    body = authorization_body(
        "LEAK-A",
        patient={"ref": "P-777", "name": "Zebediah Quuxworth", "email": "zeb.quux@example.org"},
        recipient={
            "name": "Philomena Grisewold",
            "email": "philomena.g@example.org",
            "address": "42 Wallaby Way",
        },
        purpose="PLUGH because of FROTZ",
        signed_by={"name": "Zebediah Quuxworth", "relationship": "self"},
    )
    case_id = (await http.post("/v1/authorizations", json=body)).json()["case_id"]
    await _do(
        http,
        case_id,
        await _task(http, case_id, "verify_authorization"),
        actor="po-diaz",
        outcome="verified",
        data={"identity_verified": True, "discloser_is_this_clinic": True, "method": "ID"},
    )
    approval = await _task(http, case_id, "release_approval")
    mine = f"approval code for task {approval['task_id']}:"
    code_mail = await eventually(
        lambda: [m for m in mail.to("diaz@demo-clinic.test") if mine in m.get_content()]
    )
    await _do(
        http,
        case_id,
        approval,
        actor="po-diaz",
        outcome="approve",
        code=re.search(CODE_PATTERN, code_mail[-1].get_content()).group(1),
        data={**approval["example"]["data"], "reason": "XYZZY as authorized"},
    )
    [row] = await eventually(lambda: ledger.for_case(case_id))
    # The packet did go to the recipient named in the authorization (PHI where it belongs).
    assert await eventually(lambda: mail.to("philomena.g@example.org"))
    stored = database_bytes(db)
    desc = await client.get_workflow_handle(case_id).describe()
    exposed = {
        "search attributes": " ".join(str(p.value) for p in desc.typed_search_attributes),
        "e-mail subjects": " ".join(m["Subject"] for m in mail.messages),
        "ledger non-PHI columns": (
            f"{row.case_id} {row.step} {row.recipient_key} {row.clinic_id} {row.patient_ref} "
            f"{row.channel} {row.description} {row.purpose} {row.legal_basis} {row.task_ref}"
        ),
        "log output": "\n".join(
            f"{r.getMessage()} {r.__dict__}"
            for r in caplog.records
            if not r.name.startswith("mail.log")
        ),
    }
    for phi in PHI:
        assert phi.encode() not in stored, f"{phi!r} is in the Temporal database"
        for where, text in exposed.items():
            assert phi not in text, f"{phi!r} leaked into {where}"
