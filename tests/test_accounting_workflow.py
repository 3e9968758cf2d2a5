"""The accounting of disclosures, built from a ledger that the earlier paths filled in the same
run: a duty-to-warn case, a mandated child-abuse report, a court order and an authorization.
The accounting lists the first three and not the authorization's release; a suspension hides
the police disclosure; the 60-day deadline and its one extension hold."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from domain.accounting import Suspension
from domain.accounting_case import AccountingRequest
from domain.flags import Flag
from intake.cases import start_accounting, start_authorization, start_case, start_legal_request
from tests.conftest import make_worker
from tests.support import demo_clinic, eventually, flag_body, task_of
from tests.support import env_now as now
from tests.test_abuse_report_workflow import abuse_flag, oral_data
from tests.test_authorization_workflow import VERIFIED, approve, authorization
from tests.test_duty_to_warn_workflow import complete, open_task
from tests.test_legal_request_workflow import (
    approve_all,
    classify_valid,
    refused,
    request,
)
from workflows.accounting import AccountingWorkflow
from workflows.authorization import AuthorizationWorkflow

THREAT = {"serious_threat": True, "identifiable_victims": True, "imminent": True}
PATIENT = "jordan@example.org"


async def fill_the_ledger(env, client, task_queue, mail, ledger) -> None:
    """Every path that discloses, once, for patient P-301."""
    # Duty to warn (CA): the victim and the police.
    dtw = await start_case(
        client, task_queue, Flag.model_validate(flag_body(flag_id="ACC-DTW")), demo_clinic()
    )
    await complete(
        client, await open_task(dtw.handle, "risk_assessment"), actor="dr-lee", data=THREAT
    )
    await eventually(lambda: len(ledger.for_case(dtw.case_id)) == 2)
    # A mandated child-abuse report (GA: oral only).
    known = await now(env)
    child = await start_case(
        client, task_queue, abuse_flag("ACC-CHILD", "US-GA", "child_abuse", known), demo_clinic()
    )
    await complete(
        client,
        await open_task(child.handle, "oral_report"),
        actor="dr-lee",
        data=oral_data(known),
    )
    await eventually(lambda: len(ledger.for_case(child.case_id)) == 1)
    # A court order.
    order = await start_legal_request(
        client,
        task_queue,
        request(known, instrument="court_order", request_id="ACC-ORDER"),
        demo_clinic(),
    )
    await classify_valid(client, order.handle, instrument="court_order")
    await approve_all(client, order.handle, mail, None)
    await eventually(lambda: len(ledger.for_case(order.case_id)) == 1)
    # An authorization's release (exempt from the accounting).
    auth, found = authorization(known.date(), "ACC-AUTH")
    started = await start_authorization(client, task_queue, auth, found, demo_clinic())
    handle = client.get_workflow_handle_for(AuthorizationWorkflow.run, started.case_id)
    await complete(
        client,
        await task_of(handle, "verify_authorization"),
        actor="po-diaz",
        outcome="verified",
        data=VERIFIED,
    )
    await approve(client, handle, mail)
    await eventually(lambda: len(ledger.for_case(started.case_id)) == 1)


async def test_accounting_lists_what_the_law_counts_and_respects_a_suspension(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        await fill_the_ledger(ts_env, client, task_queue, mail, ledger)
        requested = await now(ts_env)
        req = AccountingRequest(
            clinic_id="demo-clinic",
            request_id="ACC-1",
            patient={"ref": "P-301", "name": "Jordan Example", "email": PATIENT},
            requested_at=requested,
        )
        started = await start_accounting(client, task_queue, req, demo_clinic())
        handle = client.get_workflow_handle_for(AccountingWorkflow.run, started.case_id)
        review = await task_of(handle, "accounting_review")
        assert review.due_at == requested + timedelta(days=60)  # 164.528(c)(1)
        view = (await handle.query(AccountingWorkflow.status)).accounting
        assert {e["recipient"] for e in view.entries} == {
            "Casey Rivera",  # the duty-to-warn victim
            "Demo City Police Department",  # its police notice
            "County CWS",  # the child-abuse report
            "A. Attorney",  # the court order
        }  # not Dr. Park: a release under the patient's authorization is exempt
        # Before delivery the police ask, in writing, that disclosures to them stay out for
        # 90 days: the accounting the patient gets leaves the police notice out, unmentioned.
        ledger.record_suspension(
            Suspension(
                clinic_id="demo-clinic",
                patient_ref="P-301",
                agency="Demo City Police Department",
                official="Det. Example, badge 12",
                statement="written",
                received_at=await now(ts_env),
                until=await now(ts_env) + timedelta(days=90),
            )
        )
        await complete(client, review, actor="po-diaz", outcome="deliver", data={})
        final = await handle.result()
    recipients = {e["recipient"] for e in final.accounting.entries}
    assert recipients == {"Casey Rivera", "County CWS", "A. Attorney"}
    assert "Police" not in str(final.accounting.entries)
    delivered = [m for m in mail.to(PATIENT) if "accounting of disclosures" in m["Subject"]]
    [pdf] = list(delivered[0].iter_attachments())
    assert hashlib.sha256(pdf.get_content()).hexdigest() == final.accounting.sha256
    assert "Jordan" not in delivered[0]["Subject"]
    assert final.status == "closed" and final.accounting.delivered_by == "po-diaz"


async def test_one_extension_only_before_day_60_with_notice_to_the_patient(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        requested = await now(ts_env)
        req = AccountingRequest(
            clinic_id="demo-clinic",
            request_id="ACC-EXT",
            patient={"ref": "P-301", "name": "Jordan Example", "email": PATIENT},
            requested_at=requested,
        )
        started = await start_accounting(client, task_queue, req, demo_clinic())
        handle = client.get_workflow_handle_for(AccountingWorkflow.run, started.case_id)
        review = await task_of(handle, "accounting_review")
        due = review.due_at
        await refused(
            "at most 30 days later",
            complete(
                client,
                review,
                actor="po-diaz",
                outcome="extend",
                data={
                    "reason": "archives offsite",
                    "new_date": (due + timedelta(days=45)).isoformat(),
                },
            ),
        )
        # Reminded a week before and the day before; still within the 60 days.
        await ts_env.sleep(due - await now(ts_env) - timedelta(hours=12))
        reminders = [m for m in mail.to("diaz@demo-clinic.test") if "due soon" in m["Subject"]]
        assert len(reminders) == 2
        new_date = due + timedelta(days=30)
        await complete(
            client,
            review,
            actor="po-diaz",
            outcome="extend",
            data={"reason": "records are in offsite storage", "new_date": new_date.isoformat()},
        )
        notice = await eventually(
            lambda: [m for m in mail.to(PATIENT) if "accounting request" in m["Subject"]]
        )
        text = notice[0].get_content()
        assert "records are in offsite storage" in text and "one such extension" in text
        final_task = await task_of(handle, "accounting_final")
        assert final_task.due_at == new_date and final_task.kind == "accounting_final"
        # No second extension exists: the final task offers only deliver.
        await refused(
            "outcome must be one of deliver",
            complete(client, final_task, actor="po-diaz", outcome="extend", data={}),
        )
        await complete(client, final_task, actor="po-diaz", outcome="deliver", data={})
        final = await handle.result()
    assert final.accounting.extended_to == new_date
    assert final.accounting.entries == []  # nothing disclosed for this patient in this test


async def test_an_extension_after_day_60_is_refused(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        requested = await now(ts_env)
        req = AccountingRequest(
            clinic_id="demo-clinic",
            request_id="ACC-LATE",
            patient={"ref": "P-301"},
            requested_at=requested,
        )
        started = await start_accounting(client, task_queue, req, demo_clinic())
        handle = client.get_workflow_handle_for(AccountingWorkflow.run, started.case_id)
        review = await task_of(handle, "accounting_review")
        await ts_env.sleep(review.due_at - await now(ts_env) + timedelta(hours=1))
        late = await task_of(handle, "accounting_review")
        assert late.overdue
        await refused(
            "the 60 days have passed",
            complete(
                client,
                late,
                actor="po-diaz",
                outcome="extend",
                data={"reason": "late", "new_date": (late.due_at + timedelta(days=10)).isoformat()},
            ),
        )
        await complete(client, late, actor="po-diaz", outcome="deliver", data={})
        # No e-mail address: a task to post it.
        post = await task_of(handle, "record_action")
        await complete(
            client,
            post,
            actor="po-diaz",
            outcome="done",
            data={"done_at": (await now(ts_env)).isoformat(), "details": "first-class mail"},
        )
        final = await handle.result()
    assert final.accounting.delivered_by == "po-diaz"


async def test_a_warning_under_the_patients_written_authorization_is_not_accounted_for(
    ts_env, mail, smtp, ledger, records, task_queue
):
    """The patient agreed in writing to the police being told: the ledger's basis is the
    authorization and the accounting leaves the row out; an oral agreement changes neither."""
    from domain.accounting import AccountingQuery, build_accounting
    from tests.test_duty_to_warn_workflow import code_in

    client = ts_env.client
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        given = (await now(ts_env)).isoformat()
        cases = {}
        for flag_id, written in (("TX-CONSENT", True), ("TX-ORAL", False)):
            flag = Flag.model_validate(flag_body(flag_id=flag_id, jurisdiction="US-TX"))
            started = await start_case(client, task_queue, flag, demo_clinic())
            await complete(
                client,
                await open_task(started.handle, "risk_assessment"),
                actor="dr-lee",
                data=THREAT,
            )
            decision = await open_task(started.handle, "release_decision")
            mine = f"approval code for task {decision.task_id}:"
            code_mail = await eventually(
                lambda m=mine: [x for x in mail.to("kim@demo-clinic.test") if m in x.get_content()]
            )
            consent = {
                "given_by": "the patient",
                "given_at": given,
                "scope": "tell the police about the threat",
                # Covers the police notice, not the medical personnel one also approved.
                "actions": ["notify_law_enforcement"],
                "written": written,
            }
            if written:
                consent["authorization_id"] = "A-77"
            await complete(
                client,
                decision,
                actor="sup-kim",
                outcome="approve",
                code=code_in(code_mail[-1]),
                data={
                    "actions": ["notify_law_enforcement", "notify_medical_personnel"],
                    "reason": "patient agreed",
                    "patient_consent": consent,
                },
            )
            await eventually(lambda c=started.case_id: len(ledger.for_case(c)) == 2)
            cases[written] = started
            status = await started.handle.query("status")
            assert status["concerns"][0]["patient_consent"]["scope"] == consent["scope"]
    rows = {r.recipient_key: r for r in ledger.for_case(cases[True].case_id)}
    written_row = rows["agency-law_enforcement"]
    # The consent does not reach the disclosure it does not cover.
    assert rows["agency-medical_personnel"].accountable
    assert "164.508" not in rows["agency-medical_personnel"].legal_basis
    assert written_row.legal_basis.startswith(
        "45 CFR 164.508 (the patient's written authorization A-77"
    )
    assert not written_row.accountable
    oral_row = next(
        r
        for r in ledger.for_case(cases[False].case_id)
        if r.recipient_key == "agency-law_enforcement"
    )
    assert oral_row.accountable and "agreed orally" in oral_row.legal_basis
    assert "tell the police" not in written_row.legal_basis + oral_row.legal_basis
    accounting = build_accounting(
        AccountingQuery(
            clinic_id="demo-clinic",
            patient_ref="P-301",
            requested_at=datetime.now(UTC),
            summarize=False,
        ),
        ledger.for_patient("demo-clinic", "P-301"),
        [],
    )
    bases = [e.basis for e in accounting.entries]
    assert any("agreed orally" in b for b in bases)
    assert not any("164.508" in b for b in bases)


async def test_an_extension_notice_posted_after_day_60_does_not_extend(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        req = AccountingRequest(
            clinic_id="demo-clinic",
            request_id="ACC-POST",
            patient={"ref": "P-301", "address": "1 Elm St"},
            # Asked 60 days less an hour ago: day 60 ends within the test's hour.
            requested_at=await now(ts_env) - timedelta(days=60) + timedelta(hours=1),
        )
        started = await start_accounting(client, task_queue, req, demo_clinic())
        handle = client.get_workflow_handle_for(AccountingWorkflow.run, started.case_id)
        review = await task_of(handle, "accounting_review")
        due = review.due_at
        await complete(
            client,
            review,
            actor="po-diaz",
            outcome="extend",
            data={"reason": "storage", "new_date": (due + timedelta(days=20)).isoformat()},
        )
        post = await task_of(handle, "record_action")  # no e-mail: post the notice
        await ts_env.sleep(due - await now(ts_env) + timedelta(hours=1))
        await complete(
            client,
            post,
            actor="po-diaz",
            outcome="done",
            data={"done_at": (await now(ts_env)).isoformat(), "details": "posted late"},
        )
        final_task = await task_of(handle, "accounting_final")
        assert final_task.due_at == due  # not extended: the notice came after day 60
        view = (await handle.query(AccountingWorkflow.status)).accounting
        assert view.extended_to is None
        await complete(client, final_task, actor="po-diaz", outcome="deliver", data={})
        mailed = await task_of(handle, "record_action")
        await complete(
            client,
            mailed,
            actor="po-diaz",
            outcome="done",
            data={"done_at": (await now(ts_env)).isoformat(), "details": "first-class mail"},
        )
        final = await handle.result()
    assert final.status == "closed" and final.accounting.extended_to is None
