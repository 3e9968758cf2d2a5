"""Duty-to-warn path on the time-skipping server, at the policy's real durations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.clinic import Role, StaffLinks, StaffMember
from domain.flags import Flag
from domain.tasks import TaskCompletion
from intake.cases import start_case
from tests.conftest import make_worker
from tests.support import CODE_PATTERN, demo_clinic, eventually, flag_body, task_of, with_code
from workflows import search_attributes as sa
from workflows.case import CaseWorkflow


def code_in(message) -> str:
    return re.search(CODE_PATTERN, message.get_content()).group(1)


async def open_task(handle, kind: str):
    async def find():
        tasks = await handle.query(CaseWorkflow.tasks)
        return next((t for t in tasks if t.kind == kind), None)

    return await eventually(find)


NO_THREAT = {"serious_threat": False, "identifiable_victims": False, "imminent": False}


async def close_after_reassessment(
    env, client, handle, kind: str = "reassessment", data: dict | None = None, actor="dr-lee"
):
    """A week on, the follow-up re-assessment (by the flag's clinician, its assignee, who alone
    has its code) finds the threat over; the case's result."""
    await env.sleep(timedelta(days=7))
    await complete(
        client,
        await open_task(handle, kind),
        actor=actor,
        data=NO_THREAT if data is None else data,
    )
    return await handle.result()


async def complete(client, task, **kw):
    """Complete a task as `actor`, with the code e-mailed to them where the task needs one
    (unless the test gives its own `code`, or None for none)."""
    answer = with_code(task, {"task_id": task.task_id, **kw})
    return await client.get_workflow_handle(task.workflow_id).execute_update(
        "complete_task", TaskCompletion(**answer)
    )


async def test_ca_warns_victim_and_police_and_records_both(ts_env, mail, smtp, ledger, task_queue):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id="CA-1"))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await open_task(started.handle, "risk_assessment")
        await complete(
            client,
            task,
            actor="dr-lee",
            data={
                "serious_threat": True,
                "identifiable_victims": True,
                "imminent": True,
                "notes": "plans to confront coworker",
            },
        )
        await eventually(lambda: mail.to("casey@example.org") and mail.to("police@agency.test"))
        rows = await eventually(
            lambda: len(ledger.for_case(started.case_id)) == 2 and ledger.for_case(started.case_id)
        )
        assert {r.recipient_key for r in rows} == {"victim-1", "agency-law_enforcement"}
        assert all("43.92" in r.legal_basis for r in rows)
        # The supervisor is informed, not asked.
        assert any("For your information" in m["Subject"] for m in mail.to("kim@demo-clinic.test"))
        status = await started.handle.query(CaseWorkflow.status)
        assert not any(t.kind == "release_decision" for t in status.tasks)
        # After the policy's re-assessment interval (7 days) a follow-up task appears.
        assert not any(t.kind == "reassessment" for t in status.tasks)
        await ts_env.sleep(timedelta(days=7))
        reassess = await open_task(started.handle, "reassessment")
        assert reassess.created_at - task.created_at >= timedelta(days=7)
        await complete(
            client,
            reassess,
            actor="dr-lee",
            data={"serious_threat": False, "identifiable_victims": False, "imminent": False},
        )
        result = await started.handle.result()
        assert result.status == "closed"
        assert len(result.disclosures) == 2


async def test_overdue_assessment_escalates_at_the_policys_time(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id="CA-OVERDUE"))
    due_after = timedelta(hours=4)  # Timers.assessment_due, the policy's window
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        links = StaffLinks(work="https://confide.example", ui="https://ui.example")
        clinic = demo_clinic().model_copy(update={"links": links})
        started = await start_case(client, task_queue, flag, clinic)
        task = await open_task(started.handle, "risk_assessment")
        assert task.due_at - task.created_at == due_after
        assert task.allowed_roles == ["clinician"]

        await ts_env.sleep(due_after - timedelta(minutes=1))
        # The reminder went to the assignee before the deadline; nothing is overdue yet.
        await eventually(
            lambda: any("due soon" in m["Subject"] for m in mail.to("lee@demo-clinic.test"))
        )
        before = await open_task(started.handle, "risk_assessment")
        assert not before.overdue and not mail.to("kim@demo-clinic.test")

        await ts_env.sleep(timedelta(minutes=2))
        after = await eventually(lambda: _overdue_task(started.handle))
        assert after.allowed_roles == ["clinician", "supervisor"]
        paged = await eventually(
            lambda: [m for m in mail.to("kim@demo-clinic.test") if "OVERDUE task" in m["Subject"]]
        )
        # The deadline as the supervisor reads it: the clinic's time with its zone, not UTC ISO.
        assert re.search(
            r"has been overdue since \w{3}, \w{3} \d{1,2}, \d{4}, \d{1,2}:\d\d [AP]M P[SD]T\.",
            paged[0].get_content(),
        )
        # Where to do it: the task's page, and the work list of each role that may now act.
        body = paged[0].get_content()
        assert f"https://ui.example/namespaces/default/workflows/{task.workflow_id}" in body
        for role in ("clinician", "supervisor"):
            assert f"https://confide.example/work/demo-clinic/{role}" in body
        child = client.get_workflow_handle(task.workflow_id)
        desc = await eventually(lambda: _described_overdue(child))
        assert "supervisor" in desc.typed_search_attributes.get(sa.WAITING_ON)
        # The supervisor may now do the assessment the clinician did not.
        await complete(
            client,
            after,
            actor="sup-kim",
            data={"serious_threat": False, "identifiable_victims": False, "imminent": False},
        )
        result = await started.handle.result()
        assert result.status == "closed" and not result.disclosures


async def _overdue_task(handle):
    tasks = await handle.query(CaseWorkflow.tasks)
    return next((t for t in tasks if t.overdue), None)


async def _described_overdue(handle):
    desc = await handle.describe()
    return desc if desc.typed_search_attributes.get(sa.OVERDUE) else None


async def _accepted_updates(handle) -> int:
    history = await handle.fetch_history()
    return sum(
        1
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    )


async def _assert_the_decision_reads_without_a_manual(client, case, decision):
    """The supervisor's page shows what they decide on and answers ready to send as
    themselves; the case page links the concern and carries the same answer. Current Details
    hold no patient data (the Web UI loads that panel by URL): the report, the notes and the
    names are in the `brief` query, decrypted in the browser."""
    child = client.get_workflow_handle(decision.workflow_id)
    details = (await child.query("__temporal_workflow_metadata")).current_details
    assert "Query Type `brief`" in details
    assert "**Assessment by Dr. Both (dr-both) on " in details and " PST:**" in details
    assert "- Imminent: yes" in details and "Notes" not in details
    assert (
        "- `notify_law_enforcement`: notify law enforcement — "
        "Demo City Police Department (police@agency.test)"
    ) in details
    assert "- decline: nothing is disclosed" in details
    for phi in ("Jordan", "Casey", "coworker", "casey@example.org", "555-01"):
        assert phi not in details, phi
    # Approve and decline, each as the one supervisor who may decide (not the assessor).
    assert "may be completed by: `sup-kim`\n" in details
    assert details.count('"actor": "sup-kim"') == 2 and '"outcome": "decline"' in details
    assert "<supervisor id>" not in details and '"actor": "dr-both"' not in details
    (brief,) = await child.query("brief")
    assert brief["task_id"] == decision.task_id
    assert brief["what_was_reported"] == "Stated intent to hurt a coworker tomorrow"
    assert brief["assessed_by"] == "Dr. Both (dr-both)"
    assert brief["assessment"]["Imminent"] == "yes" and brief["assessment"]["Notes"] == "none"
    assert brief["options"]["notify_law_enforcement"].startswith("notify law enforcement: Demo")

    async def case_page():
        text = (await case.query("__temporal_workflow_metadata")).current_details
        return text if "release_decision" in text else None

    text = await eventually(case_page)
    # Links open in the whole window: the UI shows Current Details in an iframe.
    link = f'<a href="/namespaces/default/workflows/{decision.workflow_id}" target="_top">'
    assert f"{link}{decision.workflow_id}</a>" in text
    assert f"open {link}the concern's page</a>" in text and '"actor": "sup-kim"' in text
    assert "concern 1, threat to others: **open**" in text


def clinic_with_dual_role():
    clinic = demo_clinic()
    both = StaffMember(
        id="dr-both",
        name="Dr. Both",
        email="both@demo-clinic.test",
        roles=[Role.clinician, Role.supervisor],
    )
    return clinic.model_copy(update={"staff": [*clinic.staff, both]})


async def test_tx_waits_for_supervisor_rejects_bad_completions_and_never_warns_victim(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    flag = Flag.model_validate(
        flag_body(flag_id="TX-1", jurisdiction="US-TX", clinician={"id": "dr-both"})
    )
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, clinic_with_dual_role())
        task = await open_task(started.handle, "risk_assessment")
        await complete(
            client,
            task,
            actor="dr-both",
            data={"serious_threat": True, "identifiable_victims": True, "imminent": True},
        )
        decision = await open_task(started.handle, "release_decision")
        assert decision.requires_code and decision.choices == [
            "notify_law_enforcement",
            "notify_medical_personnel",
        ]
        mine = f"approval code for task {decision.task_id}:"
        code_mail = await eventually(
            lambda: [m for m in mail.to("kim@demo-clinic.test") if mine in m.get_content()]
        )
        code = code_in(code_mail[0])
        assert not [m for m in mail.to("both@demo-clinic.test") if mine in m.get_content()], (
            "the requester gets no code"
        )
        await _assert_the_decision_reads_without_a_manual(client, started.handle, decision)

        # Time passes: the case waits on the supervisor and notifies no one.
        await ts_env.sleep(timedelta(minutes=90))
        assert not mail.to("police@agency.test") and not mail.to("casey@example.org")

        child = client.get_workflow_handle(decision.workflow_id)
        accepted_before = await _accepted_updates(child)
        rejected = {
            "needs the role supervisor": dict(actor="dr-lee", outcome="approve", code=code),
            "may not also decide": dict(actor="dr-both", outcome="approve", code=code),
            "needs the approval code": dict(actor="sup-kim", outcome="approve", code=None),
            "not permitted in this case: warn_victim": dict(
                actor="sup-kim",
                outcome="approve",
                code=code,
                data={"actions": ["warn_victim"], "reason": "warn"},
            ),
            "not a roster id": dict(actor="mallory", outcome="approve", code=code),
        }
        for message, kw in rejected.items():
            kw.setdefault("data", {"actions": ["notify_law_enforcement"], "reason": "imminent"})
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await complete(client, decision, **kw)
            assert message in str(err.value.cause), (message, err.value.cause)
        assert await _accepted_updates(child) == accepted_before, "rejections stay out"
        # A wrong code reaches the handler, which counts it (five lock the task): the Update
        # is refused with what to do and how many tries remain.
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await complete(
                client,
                decision,
                actor="sup-kim",
                outcome="approve",
                code="AAAA-BBBB-CCCC-DDDD",
                data={"actions": ["notify_law_enforcement"], "reason": "imminent"},
            )
        assert "not the one e-mailed to sup-kim" in str(err.value.cause)
        assert "4 tries remain" in str(err.value.cause)
        counted = await task_of(child, "release_decision")
        assert counted.wrong_codes == 1 and [t.actor for t in counted.failed_tries] == ["sup-kim"]

        await complete(
            client,
            decision,
            actor="sup-kim",
            outcome="approve",
            code=code,
            data={"actions": ["notify_law_enforcement"], "reason": "imminent"},
        )
        police = await eventually(lambda: mail.to("police@agency.test"))
        assert "Jordan Example" in police[0].get_content()
        assert "Jordan" not in police[0]["Subject"]
        rows = await eventually(lambda: ledger.for_case(started.case_id))
        assert [r.recipient_key for r in rows] == ["agency-law_enforcement"]
        assert "611.004" in rows[0].legal_basis
        result = await close_after_reassessment(ts_env, client, started.handle, actor="dr-both")
    assert not mail.to("casey@example.org"), "Texas never notifies the victim"
    assert [d.recipient_key for d in result.disclosures] == ["agency-law_enforcement"]


async def test_an_abandoned_task_keeps_escalating_but_backs_off_to_daily(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id="CA-ABANDONED"))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await open_task(started.handle, "risk_assessment")
        await ts_env.sleep(timedelta(hours=48) - timedelta(minutes=1))

        def overdue_to(address):
            return [m for m in mail.to(address) if "OVERDUE task" in m["Subject"]]

        # Due at 4 h: supervisor (4 h), privacy officer (5 h), then after 2, 4, 8 and 16 h
        # (7, 11, 19, 35 h); the next would be 24 h later, past the 48 h slept. Hourly
        # escalation would have sent 44.
        await eventually(lambda: len(overdue_to("kim@demo-clinic.test")) == 6)
        assert len(overdue_to("diaz@demo-clinic.test")) == 5
        late = await _overdue_task(started.handle)
        assert late.allowed_roles == ["clinician", "supervisor", "privacy_officer"]
        await complete(
            client,
            task,
            actor="po-diaz",
            data={"serious_threat": False, "identifiable_victims": False, "imminent": False},
        )
        await started.handle.result()


async def test_a_reassessment_finding_the_threat_renewed_warns_again(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    threat = {"serious_threat": True, "identifiable_victims": True, "imminent": True}
    flag = Flag.model_validate(flag_body(flag_id="CA-RENEWED"))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        await complete(
            client, await open_task(started.handle, "risk_assessment"), actor="dr-lee", data=threat
        )
        await eventually(lambda: len(mail.to("casey@example.org")) == 1)
        await ts_env.sleep(timedelta(days=7))
        await complete(
            client, await open_task(started.handle, "reassessment"), actor="dr-lee", data=threat
        )
        # A second round of warnings: new messages, new ledger rows.
        second = await eventually(
            lambda: len(mail.to("casey@example.org")) == 2 and mail.to("casey@example.org")
        )
        assert second[0]["Message-ID"] != second[1]["Message-ID"]
        rows = await eventually(
            lambda: len(ledger.for_case(started.case_id)) == 4 and ledger.for_case(started.case_id)
        )
        assert sorted(r.step for r in rows) == [
            "c1.notify_law_enforcement",
            "c1.warn_victim",
            "c1r2.notify_law_enforcement",
            "c1r2.warn_victim",
        ]
        result = await close_after_reassessment(ts_env, client, started.handle)
    assert result.status == "closed" and len(result.disclosures) == 4


async def test_cancelling_a_concern_is_never_silent_and_cancelling_a_case_stops_no_duty(
    ts_env, mail, smtp, ledger, task_queue
):
    """What the README says of "Request Cancellation": a cancelled concern marks its case
    needs_attention; a cancelled case leaves its concerns running."""
    client = ts_env.client
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        first = await start_case(
            client, task_queue, Flag.model_validate(flag_body(flag_id="CXL-1")), demo_clinic()
        )
        task = await open_task(first.handle, "risk_assessment")
        await client.get_workflow_handle(task.workflow_id).cancel()
        result = await first.handle.result()
        assert result.status == "needs_attention"

        second = await start_case(
            client, task_queue, Flag.model_validate(flag_body(flag_id="CXL-2")), demo_clinic()
        )
        task = await open_task(second.handle, "risk_assessment")
        await second.handle.cancel()
        concern = client.get_workflow_handle(task.workflow_id)
        await eventually(lambda: _status_of(second.handle, "CANCELED"))
        assert [t["task_id"] for t in await concern.query("tasks")] == [task.task_id]
        assert (await concern.describe()).status.name == "RUNNING"
        await concern.terminate("test done")


async def _status_of(handle, name: str) -> bool:
    return (await handle.describe()).status.name == name
