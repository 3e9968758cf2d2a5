"""Court orders and subpoenas on the time-skipping server, at the real windows and due dates:
nothing leaves on a subpoena before assurance, an objection holds everything, a due date never
releases anything, and an order releases exactly what it names."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.legal_request import LegalRequest
from infra.records_db import RecordsStore
from intake.cases import start_legal_request
from tests.conftest import make_worker
from tests.support import CODE_PATTERN, demo_clinic, eventually, legal_request_body, task_of
from tests.support import env_now as now
from tests.test_duty_to_warn_workflow import complete
from workflows.legal_request import LegalRequestWorkflow

PO = "diaz@demo-clinic.test"
COUNSEL = "ng@demo-clinic.test"
REQUESTER = "attorney@law.test"
VALID = {
    "instrument": "attorney_subpoena",
    "signed": True,
    "issuer_has_jurisdiction": True,
    "names_psychotherapy_notes": False,
    "part2_compliant_order": False,
}


def request(served: datetime, instrument: str = "attorney_subpoena", **kw) -> LegalRequest:
    return LegalRequest.model_validate(
        legal_request_body(
            request_id=kw.pop("request_id", f"L-{instrument}"),
            instrument=instrument,
            served_at=served.isoformat(),
            response_due=(served + timedelta(days=20)).isoformat(),
            **kw,
        )
    )


async def refused(message: str, attempt) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await attempt
    assert message in str(err.value.cause), err.value.cause


def approval_code(mail, task_id: str = "") -> str:
    msg = next(
        m for m in reversed(mail.to(PO)) if f"approval code for task {task_id}" in m.get_content()
    )
    return re.search(CODE_PATTERN, msg.get_content()).group(1)


def expected_2024_progress_notes(records: RecordsStore) -> list[str]:
    docs = records.list_documents("demo-clinic", "P-301")
    return [
        d.id
        for d in docs
        if d.category == "progress_note"
        and d.date.year == 2024
        and not d.is_part2
        and not d.is_psychotherapy_note
    ]


async def classify_valid(client, handle, **data):
    await complete(
        client,
        await task_of(handle, "classify_request"),
        actor="po-diaz",
        outcome="valid",
        data={**VALID, **data},
    )


async def approve_all(client, handle, mail, records):
    approval = await task_of(handle, "release_approval")
    reviewed = any(c in approval.choice_notes for c in approval.choices)
    mine = f"approval code for task {approval.task_id}:"
    await eventually(lambda: any(mine in m.get_content() for m in mail.to(PO)))
    await complete(
        client,
        approval,
        actor="po-diaz",
        outcome="approve",
        code=approval_code(mail, approval.task_id + ":"),
        data={"documents": approval.choices, "redactions_reviewed": reviewed, "reason": "ok"},
    )
    return approval


def packet_mail(mail):
    return [
        m
        for m in mail.to(REQUESTER)
        if any(p.get_content_type() == "application/pdf" for p in m.iter_attachments())
    ]


async def test_subpoena_asserts_privilege_notifies_patient_and_releases_after_the_window(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    req = request(await now(ts_env))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_legal_request(client, task_queue, req, demo_clinic())
        handle = started.handle
        await eventually(
            lambda: any("classifying" in m["Subject"] for m in mail.to(PO)) or mail.to(PO)
        )
        # A classification that contradicts the intake is refused before history records it.
        await refused(
            "data.instrument contradicts the request as received",
            complete(
                client,
                await task_of(handle, "classify_request"),
                actor="po-diaz",
                outcome="valid",
                data={**VALID, "instrument": "court_order"},
            ),
        )
        await classify_valid(client, handle)

        letter = await task_of(handle, "send_letter")
        assert "Cal. Evid. Code 1014" in letter.document
        await complete(client, letter, actor="po-diaz", outcome="send", data={"reviewed": True})
        sent = await eventually(lambda: mail.to(REQUESTER))
        assert "psychotherapist-patient privilege" in sent[0].get_content()
        assert "Jordan" not in sent[0]["Subject"]
        notice = await eventually(lambda: mail.to("jordan@example.org"))
        assert "object" in notice[0].get_content() and "Jordan" not in notice[0]["Subject"]

        assurance = await task_of(handle, "record_assurance")
        window_ends = req.response_due - timedelta(days=5)  # CA CCP 1985.3(g)
        assert assurance.outcome_not_before["notice_given_no_objection"] == window_ends
        given = {"received_at": (await now(ts_env)).isoformat(), "document": "statement"}
        await refused(
            "is not possible before",
            complete(
                client, assurance, actor="po-diaz", outcome="notice_given_no_objection", data=given
            ),
        )
        # Nothing has left while the window runs.
        await ts_env.sleep(window_ends - await now(ts_env) + timedelta(minutes=1))
        assert not packet_mail(mail) and ledger.for_case(started.case_id) == []
        given["received_at"] = (await now(ts_env)).isoformat()
        await complete(
            client, assurance, actor="po-diaz", outcome="notice_given_no_objection", data=given
        )

        await approve_all(client, handle, mail, records)
        status = await handle.result()
    assert status.legal.outcome == "released"
    released = [d.id for d in status.legal.packet.documents]
    assert released == expected_2024_progress_notes(records)
    [row] = ledger.for_case(started.case_id)
    assert [d.id for d in row.documents] == released
    assert row.manifest_sha256 == status.legal.packet.sha256
    assert "164.512(e)(1)(ii)" in row.legal_basis
    [pdf] = [p for m in packet_mail(mail) for p in m.iter_attachments()]
    assert hashlib.sha256(pdf.get_content()).hexdigest() == row.manifest_sha256


async def test_patient_objection_holds_everything_until_a_ruling(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    req = request(await now(ts_env), request_id="L-OBJECT")
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_legal_request(client, task_queue, req, demo_clinic())
        handle = started.handle
        await classify_valid(client, handle)
        await complete(
            client,
            await task_of(handle, "send_letter"),
            actor="po-diaz",
            outcome="send",
            data={"reviewed": True},
        )
        await complete(
            client,
            await task_of(handle, "record_assurance"),
            actor="po-diaz",
            outcome="patient_objected",
            data={"received_at": (await now(ts_env)).isoformat(), "document": "motion to quash"},
        )
        ruling = await task_of(handle, "record_ruling")
        # Past the response date: still held. No packet, no ledger row, no "respond" task.
        await ts_env.sleep(req.response_due - await now(ts_env) + timedelta(days=3))
        kinds = {t.kind for t in await handle.query(LegalRequestWorkflow.tasks)}
        assert kinds == {"record_ruling"}
        assert (await handle.query(LegalRequestWorkflow.status)).status == "held"
        assert not packet_mail(mail) and ledger.for_case(started.case_id) == []

        await complete(
            client,
            ruling,
            actor="counsel-ng",
            outcome="objection_overruled",
            data={"ruled_at": (await now(ts_env)).isoformat(), "summary": "motion denied"},
        )
        await approve_all(client, handle, mail, records)
        status = await handle.result()
    assert status.legal.outcome == "released"
    assert len(ledger.for_case(started.case_id)) == 1


async def test_due_date_without_assurance_escalates_and_releases_nothing(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    req = request(await now(ts_env), request_id="L-DUE")
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_legal_request(client, task_queue, req, demo_clinic())
        handle = started.handle
        await classify_valid(client, handle)
        await complete(
            client,
            await task_of(handle, "send_letter"),
            actor="po-diaz",
            outcome="send",
            data={"reviewed": True},
        )
        await task_of(handle, "record_assurance")
        await ts_env.sleep(req.response_due - await now(ts_env) + timedelta(minutes=1))
        respond = await task_of(handle, "respond_when_due")
        assert set(respond.allowed_roles) == {"privacy_officer", "counsel"}
        for who in (PO, COUNSEL):
            await eventually(
                lambda w=who: any("due without assurance" in m["Subject"] for m in mail.to(w))
            )
        assert not packet_mail(mail) and ledger.for_case(started.case_id) == []
        await complete(
            client,
            respond,
            actor="counsel-ng",
            outcome="objection_sent",
            data={"done_at": (await now(ts_env)).isoformat(), "details": "objection served"},
        )
        status = await handle.result()
    assert status.legal.outcome == "objected" and status.legal.packet is None
    assert status.tasks == [] and ledger.for_case(started.case_id) == []


async def test_court_order_for_2024_progress_notes_releases_exactly_those(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    req = request(await now(ts_env), instrument="court_order", request_id="L-ORDER")
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_legal_request(client, task_queue, req, demo_clinic())
        handle = started.handle
        # Asking counsel records the question; the decision reopens with the same deadline.
        first = await task_of(handle, "classify_request")
        await complete(
            client,
            first,
            actor="po-diaz",
            outcome="ask_counsel",
            note="Is the Alameda order valid here?",
        )
        counsel = await task_of(handle, "counsel_review")
        again = await task_of(handle, "classify_request", not_id=first.task_id)
        assert again.due_at == first.due_at
        await complete(client, counsel, actor="counsel-ng", data={"advice": "valid, comply"})
        await classify_valid(client, handle, instrument="court_order")

        approval = await task_of(handle, "release_approval")
        assert approval.choices == expected_2024_progress_notes(records)
        note = next(
            e
            for e in (await handle.query(LegalRequestWorkflow.status)).legal.selection.excluded
            if "psychotherapy" in e.reason
        )
        await eventually(lambda: any("approval code" in m.get_content() for m in mail.to(PO)))
        await refused(
            "outside the computed release scope: a psychotherapy note",
            complete(
                client,
                approval,
                actor="po-diaz",
                outcome="approve",
                code=approval_code(mail),
                data={"documents": [note.document_id], "reason": "x"},
            ),
        )
        await approve_all(client, handle, mail, records)
        status = await handle.result()
    docs = {d.id: d for d in records.list_documents("demo-clinic", "P-301")}
    released = [docs[d.id] for d in status.legal.packet.documents]
    assert [d.id for d in released] == expected_2024_progress_notes(records)
    assert not any(d.is_psychotherapy_note or d.is_part2 for d in released)
    assert status.legal.counsel[0].advice == "valid, comply"
    [row] = ledger.for_case(started.case_id)
    assert "164.512(e)(1)(i)" in row.legal_basis and row.recipient_name == "A. Attorney"


async def test_refused_packet_mail_becomes_a_delivery_task_and_the_ledger_says_mail(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    req = request(await now(ts_env), instrument="court_order", request_id="L-REFUSED")
    mail.script[REQUESTER] = ["550 5.1.1 mailbox unavailable"]
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_legal_request(client, task_queue, req, demo_clinic())
        handle = started.handle
        await classify_valid(client, handle, instrument="court_order")
        await approve_all(client, handle, mail, records)
        deliver = await task_of(handle, "record_action")
        assert deliver.task_id == "l-deliver_packet" and "packet-link" in deliver.instructions
        assert ledger.for_case(started.case_id) == []  # nothing has left yet
        await complete(
            client,
            deliver,
            actor="po-diaz",
            outcome="done",
            data={"done_at": (await now(ts_env)).isoformat(), "details": "certified mail"},
        )
        status = await handle.result()
    [row] = ledger.for_case(started.case_id)
    assert row.channel == "mail" and row.recipient_address == req.requester.address
    assert status.notifications[-1].status == "refused"


async def test_defective_instrument_is_answered_with_an_objection_and_nothing_leaves(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    req = request(await now(ts_env), request_id="L-DEFECT")
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_legal_request(client, task_queue, req, demo_clinic())
        handle = started.handle
        classify = await task_of(handle, "classify_request")
        await refused(
            "valid needs data.signed",
            complete(
                client, classify, actor="po-diaz", outcome="valid", data={**VALID, "signed": False}
            ),
        )
        await complete(
            client, classify, actor="po-diaz", outcome="defective", data={**VALID, "signed": False}
        )
        letter = await task_of(handle, "send_letter")
        await complete(client, letter, actor="po-diaz", outcome="send", data={"reviewed": True})
        status = await handle.result()
    assert status.legal.outcome == "defective" and status.legal.packet is None
    assert "will produce no records" in mail.to(REQUESTER)[0].get_content()
    assert ledger.for_case(started.case_id) == []


async def test_an_extension_moves_the_response_date_and_the_window_and_still_waits(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    req = request(await now(ts_env), request_id="L-EXTEND")
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_legal_request(client, task_queue, req, demo_clinic())
        handle = started.handle
        await classify_valid(client, handle)
        await complete(
            client,
            await task_of(handle, "send_letter"),
            actor="po-diaz",
            outcome="send",
            data={"reviewed": True},
        )
        first = await task_of(handle, "record_assurance")
        await ts_env.sleep(req.response_due - await now(ts_env) + timedelta(minutes=1))
        respond = await task_of(handle, "respond_when_due")
        new_due = req.response_due + timedelta(days=14)
        await complete(
            client,
            respond,
            actor="po-diaz",
            outcome="extension_obtained",
            data={
                "done_at": (await now(ts_env)).isoformat(),
                "details": "stipulated",
                "new_response_due": new_due.isoformat(),
            },
        )
        second = await task_of(handle, "record_assurance", not_id=first.task_id)
        assert second.due_at == new_due
        # California counts the window back from production: it moved with the new date.
        assert second.outcome_not_before["notice_given_no_objection"] == new_due - timedelta(days=5)
        view = (await handle.query(LegalRequestWorkflow.status)).legal
        assert view.response_due == new_due and view.phase == "awaiting_assurance"
        # Even a protective order waits for the patient's window (CA CCP 1985.3).
        qpo = {"received_at": (await now(ts_env)).isoformat(), "document": "QPO"}
        await refused(
            "qpo is not possible before",
            complete(client, second, actor="po-diaz", outcome="qpo", data=qpo),
        )
        await ts_env.sleep(new_due - timedelta(days=5) - await now(ts_env) + timedelta(minutes=1))
        await complete(
            client,
            second,
            actor="po-diaz",
            outcome="qpo",
            data={"received_at": (await now(ts_env)).isoformat(), "document": "QPO"},
        )
        await approve_all(client, handle, mail, records)
        status = await handle.result()
    assert status.legal.outcome == "released"


async def test_a_record_reflagged_after_approval_is_not_released_on_that_approval(
    ts_env, mail, smtp, ledger, records, task_queue
):
    """The EHR re-flags an approved note as Part 2 (new text, new hash) before the packet is
    built: the build refuses, a person decides, and the new approval no longer offers it."""
    import hashlib as h

    from sqlalchemy import update

    from infra.records_db import records as records_table

    client = ts_env.client
    req = request(await now(ts_env), instrument="court_order", request_id="L-REFLAG")
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_legal_request(client, task_queue, req, demo_clinic())
        handle = started.handle
        await classify_valid(client, handle, instrument="court_order")
        approval = await task_of(handle, "release_approval")
        changed = approval.choices[0]
        text = b"SUD program note, rewritten after listing"
        with records.engine.begin() as conn:
            conn.execute(
                update(records_table)
                .where(records_table.c.id == changed)
                .values(content=text, sha256=h.sha256(text).hexdigest(), part2=True)
            )
        await approve_all(client, handle, mail, records)
        trouble = await task_of(handle, "record_action")
        assert trouble.task_id.startswith("l-records_trouble")
        assert f"document {changed} changed after the release set was approved" in (
            trouble.instructions
        )
        assert not packet_mail(mail) and ledger.for_case(started.case_id) == []
        await complete(
            client,
            trouble,
            actor="po-diaz",
            outcome="done",
            data={"done_at": (await now(ts_env)).isoformat(), "details": "EHR checked"},
        )
        again = await task_of(handle, "release_approval", not_id=approval.task_id)
        assert changed not in again.choices and "Part 2" in again.choice_notes[changed]
        await approve_all(client, handle, mail, records)
        status = await handle.result()
    released = [d.id for d in status.legal.packet.documents]
    assert status.legal.outcome == "released" and changed not in released
    [row] = ledger.for_case(started.case_id)
    assert changed not in [d.id for d in row.documents]
