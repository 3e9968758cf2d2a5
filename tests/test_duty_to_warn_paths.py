"""The other branches of the duty-to-warn path: self-harm, phone warnings, refused mail."""

from __future__ import annotations

from datetime import timedelta

from domain.flags import Flag
from intake.cases import fresh_concerns, start_case
from tests.conftest import make_worker
from tests.support import code_from_mail, demo_clinic, eventually, flag_body
from tests.test_duty_to_warn_workflow import (
    close_after_reassessment,
    complete,
    open_task,
)
from workflows.case import CaseWorkflow

THREAT = {"serious_threat": True, "identifiable_victims": True, "imminent": True}


def threat_flag(flag_id: str, victim: dict) -> Flag:
    body = flag_body(flag_id=flag_id)
    body["concerns"][0]["victims"] = [victim]
    return Flag.model_validate(body)


async def test_victim_without_email_gets_a_call_task_and_the_call_is_recorded(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    flag = threat_flag("CA-CALL", {"name": "Robin Noemail", "phone": "+1-555-0199"})
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        await complete(
            client, await open_task(started.handle, "risk_assessment"), actor="dr-lee", data=THREAT
        )
        call = await open_task(started.handle, "call_person")
        assert call.assignee == "dr-lee" and "Robin" not in call.instructions
        # The case view as the API shows it: notices are read from the concern (a case of
        # history version 3 is not sent them).
        status = await fresh_concerns(client, await started.handle.query(CaseWorkflow.status))
        assert [n.status for n in status.notifications if n.recipient_role == "victim"] == [
            "call_pending"
        ]
        await complete(
            client,
            call,
            actor="dr-lee",
            outcome="reached",
            data={
                "called_at": (await ts_env.get_current_time()).isoformat(),
                "number_called": "+1-555-0199",
            },
        )
        rows = await eventually(
            lambda: len(ledger.for_case(started.case_id)) == 2 and ledger.for_case(started.case_id)
        )
        by_key = {r.recipient_key: r for r in rows}
        assert by_key["victim-1"].channel == "phone"
        assert by_key["victim-1"].recipient_address == "+1-555-0199"
        await close_after_reassessment(ts_env, client, started.handle)


async def test_permanent_smtp_refusal_becomes_a_task_and_is_not_recorded_until_delivered(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    mail.script["gone@example.org"] = ["550 5.1.1 no such user"]
    flag = threat_flag(
        "CA-REFUSED", {"name": "Sam Gone", "email": "gone@example.org", "phone": "+1-555-0142"}
    )
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        await complete(
            client, await open_task(started.handle, "risk_assessment"), actor="dr-lee", data=THREAT
        )
        failed = await open_task(started.handle, "delivery_failed")
        assert "gone@example.org" not in failed.instructions
        # Police were notified meanwhile: one refusal does not hold up the other notice.
        await eventually(lambda: mail.to("police@agency.test"))
        # The ledger row follows the send (recorded by its own activity); only the police's.
        rows = await eventually(lambda: ledger.for_case(started.case_id))
        assert [r.recipient_key for r in rows] == ["agency-law_enforcement"]
        await complete(
            client,
            failed,
            actor="dr-lee",
            outcome="delivered",
            data={
                "delivered_by": "phone call to her mobile, then a text message",
                "details": "reached on mobile",
            },
        )
        rows = await eventually(
            lambda: len(ledger.for_case(started.case_id)) == 2 and ledger.for_case(started.case_id)
        )
        victim_row = next(r for r in rows if r.recipient_key == "victim-1")
        assert victim_row.channel == "other" and victim_row.recipient_address == "+1-555-0142"
        assert "delivered by: phone call to her mobile" in victim_row.description
        await close_after_reassessment(ts_env, client, started.handle)


async def test_self_harm_high_risk_asks_supervisor_then_tells_the_emergency_contact(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    body = flag_body(flag_id="CA-SELF")
    body["concerns"] = [
        {
            "kind": "self_harm",
            "summary": "Disclosed a plan to overdose",
            "contacts": [
                {"name": "Pat Sibling", "email": "pat@example.org", "relationship": "sibling"}
            ],
        }
    ]
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, Flag.model_validate(body), demo_clinic())
        await complete(
            client,
            await open_task(started.handle, "self_harm_assessment"),
            actor="dr-lee",
            data={"risk_level": "imminent", "safety_plan_in_place": False},
        )
        decision = await open_task(started.handle, "release_decision")
        assert decision.choices == ["notify_emergency_contact", "notify_medical_personnel"]
        code = await code_from_mail(mail, "kim@demo-clinic.test", decision.task_id)
        assert not mail.to("pat@example.org")
        await complete(
            client,
            decision,
            actor="sup-kim",
            outcome="approve",
            code=code,
            data={"actions": ["notify_emergency_contact"], "reason": "imminent"},
        )
        contact = await eventually(lambda: mail.to("pat@example.org"))
        assert "Jordan Example" in contact[0].get_content()
        assert "overdose" not in contact[0].get_content(), "minimum necessary: no clinical detail"
        rows = await eventually(lambda: ledger.for_case(started.case_id))
        assert [r.recipient_key for r in rows] == ["contact-1"]
        assert "164.512(j)" in rows[0].legal_basis
        result = await close_after_reassessment(
            ts_env,
            client,
            started.handle,
            "self_harm_reassessment",
            {"risk_level": "low", "safety_plan_in_place": True},
        )
    assert result.status == "closed"


async def test_low_self_harm_risk_closes_with_the_assessment_on_record(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    body = flag_body(flag_id="CA-SELF-LOW")
    body["concerns"] = [{"kind": "self_harm", "summary": "Passive ideation"}]
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, Flag.model_validate(body), demo_clinic())
        await complete(
            client,
            await open_task(started.handle, "self_harm_assessment"),
            actor="dr-lee",
            data={"risk_level": "low", "safety_plan_in_place": True},
        )
        result = await started.handle.result()
    assert result.status == "closed" and not result.disclosures
    assert result.concerns[0].decision.mode == "close"
    assert not ledger.for_case(started.case_id)


async def test_supervisor_decline_discloses_nothing(ts_env, mail, smtp, ledger, task_queue):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id="TX-DECLINE", jurisdiction="US-TX"))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        await complete(
            client, await open_task(started.handle, "risk_assessment"), actor="dr-lee", data=THREAT
        )
        decision = await open_task(started.handle, "release_decision")
        code = await code_from_mail(mail, "kim@demo-clinic.test", decision.task_id)
        await complete(
            client,
            decision,
            actor="sup-kim",
            outcome="decline",
            code=code,
            data={"reason": "threat retracted, patient hospitalised voluntarily"},
        )
        result = await started.handle.result()
    assert not result.disclosures and not ledger.for_case(started.case_id)
    assert not mail.to("police@agency.test")


async def test_a_refused_supervisor_address_does_not_fail_the_case_the_decision_escalates(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    mail.script["kim@demo-clinic.test"] = ["550 5.1.1 mailbox gone"] * 50
    flag = Flag.model_validate(flag_body(flag_id="TX-NO-KIM", jurisdiction="US-TX"))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        await complete(
            client, await open_task(started.handle, "risk_assessment"), actor="dr-lee", data=THREAT
        )
        decision = await open_task(started.handle, "release_decision")
        assert not mail.to("kim@demo-clinic.test")
        # Past the 2-hour decision window the privacy officer may decide, with a code.
        await ts_env.sleep(timedelta(hours=2, minutes=1))
        code = await code_from_mail(mail, "diaz@demo-clinic.test", decision.task_id)
        await complete(
            client,
            decision,
            actor="po-diaz",
            outcome="approve",
            code=code,
            data={"actions": ["notify_law_enforcement"], "reason": "imminent"},
        )
        await eventually(lambda: mail.to("police@agency.test"))
        status = await started.handle.query(CaseWorkflow.status)
        assert status.status != "needs_attention"


async def test_a_required_action_recorded_as_not_done_reaches_supervisor_and_privacy_officer(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    # Arizona's plan includes initiating hospitalization, which Confide cannot do itself.
    flag = Flag.model_validate(flag_body(flag_id="AZ-HOSP", jurisdiction="US-AZ"))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        await complete(
            client, await open_task(started.handle, "risk_assessment"), actor="dr-lee", data=THREAT
        )
        hospital = await eventually(
            lambda: _action_task(started.handle, "initiate_hospitalization")
        )
        await complete(
            client,
            hospital,
            actor="dr-lee",
            outcome="not_done",
            data={
                "done_at": (await ts_env.get_current_time()).isoformat(),
                "details": "patient left before transport arrived",
            },
        )
        for boss in ("kim@demo-clinic.test", "diaz@demo-clinic.test"):
            await eventually(lambda b=boss: any("not done" in m["Subject"] for m in mail.to(b)))


async def _action_task(handle, action):
    tasks = await handle.query(CaseWorkflow.tasks)
    return next(
        (t for t in tasks if t.kind == "record_action" and action.replace("_", " ") in t.title),
        None,
    )


async def test_a_concern_that_cannot_answer_is_shown_stale_not_silently_empty(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    flag = threat_flag("CA-STALE", {"name": "Pat Quiet", "phone": "+1-555-0177"})
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        await open_task(started.handle, "risk_assessment")
        status = await started.handle.query(CaseWorkflow.status)
        assert not any(c.stale for c in (await fresh_concerns(client, status)).concerns)
    # No worker now: the concern's query goes unanswered, and the view says so (its notices
    # and disclosures are what the case last heard, which in history version 3 is none).
    view = await fresh_concerns(client, status)
    assert [c.stale for c in view.concerns] == [True]
