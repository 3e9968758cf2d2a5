"""Safe deploys: the "task resolved" notice ships behind workflow.patched(), and a case in flight
across the deploy finishes on the new code without a nondeterminism error.

Time-skipping server, the policy's real durations: the CA risk assessment is due 4 hours after the
flag and escalates every hour after that.
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from audit.replay import replay_histories
from domain.flags import Flag
from domain.tasks import TaskStatus
from infra.temporal import data_converter
from intake.cases import start_case
from tests.changed_workflows import UnguardedResolvedNotice
from tests.conftest import make_worker
from tests.support import demo_clinic, env_now, eventually, flag_body
from tests.test_duty_to_warn_workflow import NO_THREAT, complete, open_task
from tests.test_tasks import risk_task
from worker import WORKFLOWS
from workflows.abuse_report import DUTY_BEFORE_MAIL
from workflows.mail import STAFF_AT_ONCE
from workflows.task_board import TASK_RESOLVED_NOTICE, TaskBoard

HISTORIES = Path(__file__).parent / "histories"
THREAT = {"serious_threat": True, "identifiable_victims": True, "imminent": True}
# Two overdue rounds: at 4 h (to the supervisor) and at 5 h (up the ladder).
PAST_TWO_ROUNDS = timedelta(hours=5, minutes=30)


def the_old_rule(self: TaskBoard, task) -> bool:
    """TaskBoard._tell_resolved as the code before the change behaved: no patched() call (so no
    marker) and no notice. Patched in for the "old" worker only; both workers run unsandboxed
    so the patch reaches the workflow code."""
    return False


def overdue_and_resolved(mail, task_id: str) -> tuple[set[str], set[str]]:
    """Addresses told the task was overdue, and told it was resolved."""
    about = [m for m in mail.messages if f"(task id {task_id})" in m.get_content()]
    overdue = {m["To"] for m in about if "OVERDUE task" in m["Subject"]}
    resolved = {m["To"] for m in about if "task resolved" in m["Subject"]}
    return overdue, resolved


async def waiting_a_week(handle) -> bool:
    """Whether the concern sleeps until its re-assessment (read from its history: a query or
    describe needs a worker or trips over the test server's unset ConfideDueAt)."""
    history = await handle.fetch_history()
    return any(
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == timedelta(days=7)
        for e in history.events
        if e.HasField("timer_started_event_attributes")
    )


async def week_due(handle):
    """When the concern's week-long wait for its re-assessment ends."""
    history = await handle.fetch_history()
    started = next(
        e
        for e in history.events
        if e.HasField("timer_started_event_attributes")
        and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        == timedelta(days=7)
    )
    return started.event_time.ToDatetime(tzinfo=UTC) + timedelta(days=7)


def patch_markers(history: WorkflowHistory, patch_id: str = TASK_RESOLVED_NOTICE) -> list[bytes]:
    """The recorded markers of one patch (they carry their patch id in plain text); other
    patches and local activities record markers too."""
    return [
        marker
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
        and patch_id.encode() in (marker := e.marker_recorded_event_attributes.SerializeToString())
    ]


async def test_a_case_in_flight_survives_the_deploy(
    ts_env, mail, smtp, ledger, records, task_queue, monkeypatch
):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id="DEPLOY-1"))
    # Both workers run without a workflow cache: the time-skipping server never hands a task
    # that sits on a stopped worker's sticky queue back to the shared queue (a real server does
    # after the sticky timeout), so a cached old worker would strand the case.
    with monkeypatch.context() as old_code:
        old_code.setattr(TaskBoard, "_tell_resolved", the_old_rule)
        async with make_worker(
            client,
            task_queue,
            smtp[0].port,
            ledger,
            records=records,
            workflow_runner=UnsandboxedWorkflowRunner(),
            max_cached_workflows=0,
        ):
            started = await start_case(client, task_queue, flag, demo_clinic())
            task = await open_task(started.handle, "risk_assessment")
            await ts_env.sleep(PAST_TWO_ROUNDS)
            await eventually(lambda: len(overdue_and_resolved(mail, task.task_id)[0]) == 3)
            # The supervisor does the overdue assessment: a threat, so the duty is carried out
            # and the re-assessment a week on is still to come when the old worker stops.
            await complete(client, task, actor="sup-kim", data=THREAT)
            await eventually(lambda: mail.to("police@agency.test"))
            await eventually(lambda: len(ledger.for_case(started.case_id)) == 2)
            await eventually(lambda: waiting_a_week(client.get_workflow_handle(task.workflow_id)))
    assert overdue_and_resolved(mail, task.task_id)[1] == set(), "the old code sends none"

    # The deploy: a new worker with today's code and an empty cache, so its first workflow
    # task replays the history from the start, including the escalated task completed under
    # the old code. (With no cache at all, the re-assessment's workflow task, which runs a
    # local activity for its code e-mail, timed out here attempt after attempt, the local
    # activity never started: a worker without a cache is a test's device, not a deployment's.)
    async with make_worker(
        client,
        task_queue,
        smtp[0].port,
        ledger,
        records=records,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        # To the re-assessment's time and no further: past it, the time-skipping server would
        # jump over the 10 s workflow-task timeout while the worker runs that task's local
        # activity (its code e-mail), a jump no real server makes.
        await ts_env.sleep(
            await week_due(client.get_workflow_handle(task.workflow_id)) - await env_now(ts_env)
        )
        reassess = await open_task(started.handle, "reassessment")
        await complete(client, reassess, actor="dr-lee", data=NO_THREAT)
        result = await started.handle.result()
    assert result.status == "closed"
    assert len(result.disclosures) == 2
    # The replayed run stays on the old path: no resolved notice late, no patch marker.
    assert overdue_and_resolved(mail, task.task_id)[1] == set()
    child = client.get_workflow_handle(task.workflow_id)
    histories = [await started.handle.fetch_history(), await child.fetch_history()]
    assert patch_markers(histories[1]) == []
    assert await replay_histories(histories) == [
        (started.case_id, None),
        (task.workflow_id, None),
    ]


async def test_new_code_tells_those_paged_that_the_task_is_resolved(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id="DEPLOY-2"))
    async with make_worker(client, task_queue, smtp[0].port, ledger, records=records):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await open_task(started.handle, "risk_assessment")
        await ts_env.sleep(PAST_TWO_ROUNDS)
        await eventually(lambda: len(overdue_and_resolved(mail, task.task_id)[0]) == 3)
        # No threat: the assessment is the concern's last step, so the run would end at once;
        # it waits for the resolved notice instead of cutting it off.
        await complete(client, task, actor="sup-kim", data=NO_THREAT)
        result = await started.handle.result()
        assert result.status == "closed" and not result.disclosures
    overdue, resolved = overdue_and_resolved(mail, task.task_id)
    assert overdue == {"lee@demo-clinic.test", "kim@demo-clinic.test", "diaz@demo-clinic.test"}
    assert resolved == overdue
    notice = next(m for m in mail.messages if "task resolved" in m["Subject"])
    body = notice.get_content()
    assert f'task "Risk assessment (threat to others)" (task id {task.task_id})' in body
    # Who completed it, and when in the clinic's time, as the people paged read it.
    assert re.search(
        r"was completed by Kim \(clinical supervisor\) \(sup-kim\) on "
        r"\w{3}, \w{3} \d{1,2}, \d{4}, \d{1,2}:\d\d [AP]M P[SD]T\.",
        body,
    ), body
    for phi in ("Jordan", "Casey", "coworker", "+1-555"):
        assert phi not in body and phi not in notice["Subject"]

    history = await client.get_workflow_handle(task.workflow_id).fetch_history()
    [marker] = patch_markers(history)
    assert TASK_RESOLVED_NOTICE.encode() in marker
    [(_, error)] = await replay_histories([history])
    assert error is None


async def test_unguarded_change_breaks_replay_of_a_case_escalated_before_it():
    # CA-OVERDUE: the risk assessment went overdue, escalated and was completed by the
    # supervisor under the code before the notice existed.
    path = HISTORIES / "demo-clinic.HIST-CA-OVERDUE.c1-threat_to_others.json"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    unguarded = Replayer(workflows=[UnguardedResolvedNotice], data_converter=data_converter())
    result = await unguarded.replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, workflow.NondeterminismError)
    guarded = Replayer(workflows=WORKFLOWS, data_converter=data_converter())
    result = await guarded.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


def test_checked_in_histories_replay_both_sides_of_the_patch():
    # CA-OVERDUE completed an escalated task before the change (no marker: the old path);
    # CA-SELF-HARM did after it (marker and notice: the new path). test_replay replays both.
    def markers(name: str) -> list[bytes]:
        path = HISTORIES / name
        return patch_markers(WorkflowHistory.from_json(path.stem, path.read_text()))

    assert markers("demo-clinic.HIST-CA-OVERDUE.c1-threat_to_others.json") == []
    [marker] = markers("demo-clinic.HIST-CA-SELF-HARM.c1-self_harm.json")
    assert TASK_RESOLVED_NOTICE.encode() in marker


def test_a_cancelled_task_gets_no_resolved_notice():
    # Decided before patched() is consulted, so this holds outside a workflow too.
    board = TaskBoard("C-1", demo_clinic(), on_change=None)  # type: ignore[arg-type]
    assert board._tell_resolved(risk_task(status=TaskStatus.cancelled, overdue=True)) is False


def test_checked_in_histories_replay_both_sides_of_the_newer_patches():
    # Version 3 recordings took the new paths (one staff-notice activity for several people;
    # the abuse duty on the board before its e-mails); the version 1 and 2 recordings the old.
    def markers(name: str, patch_id: str) -> list[bytes]:
        path = HISTORIES / name
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        return patch_markers(history, patch_id)

    overdue = "demo-clinic.HIST-{}-CA-OVERDUE.c1-threat_to_others.json"
    assert markers(overdue.format("V3"), STAFF_AT_ONCE)
    assert not markers(overdue.replace("{}-", ""), STAFF_AT_ONCE)
    abuse = "demo-clinic.HIST-{}-CA-CHILD-ABUSE.c1-child_abuse-v1-dr-lee.json"
    assert markers(abuse.format("V3"), DUTY_BEFORE_MAIL)
    assert not markers(abuse.format("V2"), DUTY_BEFORE_MAIL)
