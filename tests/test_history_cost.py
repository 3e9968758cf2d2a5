"""History is cost: a California duty-to-warn case, from the flag to both warnings and both
ledger rows, in a bounded number of events (case and concern together), and the concern tells
its case only what the case shows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner

from audit.replay import replay_histories
from domain.case import HISTORY_VERSION, Phase
from domain.flags import Flag
from domain.tasks import TaskCompletion
from intake.cases import start_case
from tests.conftest import make_worker
from tests.support import demo_clinic, eventually, flag_body, task_of, with_code
from workflows.case import CASE_RUN_EVENTS

THREAT = {"serious_threat": True, "identifiable_victims": True, "imminent": True}
NO_THREAT = {"serious_threat": False, "identifiable_victims": False, "imminent": False}


async def _complete(client, task, data) -> None:
    await client.get_workflow_handle(task.workflow_id).execute_update(
        "complete_task",
        TaskCompletion(
            **with_code(task, {"task_id": task.task_id, "actor": "dr-lee", "data": data})
        ),
    )


# Issue 10's target is 60. Version 1 took 119 here, version 2 54-72, version 3 56-62 (the
# concern's workflow tasks vary with how its activity completions batch), version 4 (the risk
# assessment asks for the clinician's e-mailed code, issued as a local activity: one marker)
# 57-63. The budget leaves room for that variance and still catches a regression of one more
# signal or activity.
BUDGET = 66


async def test_a_ca_case_to_warnings_and_ledger_rows_stays_within_its_event_budget(
    dev_env, smtp, mail, ledger, task_queue
):
    client = dev_env.client
    assert HISTORY_VERSION == 5
    flag = Flag.model_validate(flag_body(flag_id=f"COST-{uuid.uuid4().hex[:8]}"))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await task_of(started.handle, "risk_assessment")
        await client.get_workflow_handle(task.workflow_id).execute_update(
            "complete_task",
            TaskCompletion(
                **with_code(task, {"task_id": task.task_id, "actor": "dr-lee", "data": THREAT})
            ),
        )
        await eventually(lambda: len(ledger.for_case(started.case_id)) == 2)
        concern = client.get_workflow_handle(task.workflow_id)

        async def followed_up():
            # The concern has moved on to its re-assessment timer: everything up to the
            # warnings and the ledger rows is in both histories.
            h = await concern.fetch_history()
            return (
                any(
                    e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
                    and e.timer_started_event_attributes.start_to_fire_timeout.seconds == 7 * 86400
                    for e in h.events
                )
                and h
            )

        concern_history = await eventually(followed_up)
        case_history = await started.handle.fetch_history()
    signals = [
        e
        for e in concern_history.events
        if e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
    ]
    # Told when the task opened, when it closed and the warnings went out, when it moved on
    # to follow-up: not once per notice or ledger row.
    assert len(signals) <= 3
    total = len(case_history.events) + len(concern_history.events)
    print(f"CA case to warnings and ledger rows: {total} events (case {len(case_history.events)})")
    assert total <= BUDGET, f"{total} events (case {len(case_history.events)})"


async def _sleep_to_follow_up(ts_env, client, workflow_id: str) -> None:
    """Skip time to the instant the week's follow-up timer fires, not past it.

    The re-assessment it opens e-mails its code as a local activity. Were the skip still
    running then (a skip of a flat 7 days ends a little after a timer started a moment before
    it), the time-skipping server could jump over the 10 s workflow-task timeout while the
    local activity ran, and the task's retries then stalled the skip for good (seen once in a
    loaded fresh-clone run: "Timeout expired" after 3 minutes on a 7-day skip).
    """
    concern = client.get_workflow_handle(workflow_id)

    async def follow_up_due():
        # The latest run's 7-day timer (the first run's, then each new run's).
        h = await concern.fetch_history()
        starts = [
            e
            for e in h.events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
            and e.timer_started_event_attributes.start_to_fire_timeout.seconds == 7 * 86400
        ]
        if not starts:
            return None
        fires_at = starts[-1].event_time.ToDatetime(tzinfo=UTC) + timedelta(days=7)
        # Until the run continues as new, the latest run's timer is last week's, long fired.
        now = await ts_env.get_current_time()
        return (fires_at, now) if fires_at > now else None

    fires_at, now = await eventually(follow_up_due)
    await ts_env.sleep(fires_at - now)


async def _runs(client, workflow_id: str) -> list:
    """Every run of a workflow, oldest first, walking back from the latest through each run's
    `continued_execution_run_id` (the time-skipping server has no visibility list)."""
    histories = []
    run_id = None
    while True:
        h = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(h)
        run_id = h.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not run_id:
            return list(reversed(histories))


# Events in any one run of a concern whose threat is renewed each week: the warnings, their
# ledger rows, the week's timer and the re-assessment task (66-72 measured).
RUN_BOUND = 80


async def test_a_threat_renewed_weekly_for_a_year_stays_bounded(
    ts_env, smtp, mail, ledger, task_queue
):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id=f"YEAR-{uuid.uuid4().hex[:8]}"))
    weeks = 52
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await task_of(started.handle, "risk_assessment")
        await _complete(client, task, THREAT)
        for week in range(weeks + 1):
            await _sleep_to_follow_up(ts_env, client, task.workflow_id)
            task = await task_of(started.handle, "reassessment", not_id=task.task_id)
            # Renewed every week for a year; then the threat has passed.
            await _complete(client, task, THREAT if week < weeks else NO_THREAT)
        result = await started.handle.result()
        runs = await _runs(client, task.workflow_id)
        case_runs = await _runs(client, started.case_id)
    assert result.status == "closed" and [c.phase for c in result.concerns] == [Phase.closed]
    # Each renewal warned the victim and the police again, each on record in the ledger.
    assert len(ledger.for_case(started.case_id)) == 2 * (weeks + 1)
    assert len(runs) == weeks + 1
    longest = max(len(h.events) for h in runs)
    case_longest = max(len(h.events) for h in case_runs)
    print(
        f"concern runs {len(runs)}, longest {longest} events; "
        f"case runs {len(case_runs)}, longest {case_longest} events"
    )
    assert longest <= RUN_BOUND, f"a run of {longest} events"
    # The case too continues as new (about 770 events a year of this under version 3): each
    # run stops at CASE_RUN_EVENTS, give or take the signal that crossed it.
    assert len(case_runs) >= 2
    assert case_longest <= CASE_RUN_EVENTS + 10, f"a case run of {case_longest} events"
    # Every run, the case's and the concern's, replays on today's code.
    assert {error for _, error in await replay_histories([*case_runs, *runs])} == {None}


# A task left open for a year: 6 overdue rounds in its first 48 hours, daily to day 30, weekly
# after (workflows/task_board.py). About 80 rounds of ~11 events each.
ABANDONED_YEAR_BOUND = 1_100


async def test_a_task_abandoned_for_a_year_keeps_reminding_weekly_within_a_bound(
    ts_env, smtp, mail, ledger, task_queue
):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id=f"LEFT-{uuid.uuid4().hex[:8]}"))

    def overdue() -> int:
        return len([m for m in mail.to("kim@demo-clinic.test") if "OVERDUE task" in m["Subject"]])

    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await task_of(started.handle, "risk_assessment")
        await ts_env.sleep(timedelta(days=300))
        by_day_300 = await eventually(overdue)
        await ts_env.sleep(timedelta(days=65))
        # Still reminded, once a week: 65 days hold 9 or 10 weekly rounds (daily would be 65).
        await eventually(lambda: overdue() >= by_day_300 + 9)
        in_last_65_days = overdue() - by_day_300
        history = await client.get_workflow_handle(task.workflow_id).fetch_history()
        events = len(history.events)
        await _complete(client, task, NO_THREAT)
        await started.handle.result()
    print(f"a year abandoned: {events} events, {by_day_300 + in_last_65_days} overdue rounds")
    assert in_last_65_days in (9, 10)
    assert 60 < by_day_300 < 90  # daily for a month (about 35 rounds), weekly after (about 38)
    assert events <= ABANDONED_YEAR_BOUND, f"{events} events"


async def test_a_concern_failing_after_its_case_continued_as_new_closes_the_case(
    ts_env, smtp, mail, ledger, task_queue, monkeypatch
):
    # A case that continued as new holds no handle on its concern: the concern's failure must
    # reach it as a signal, or the case would stay open for ever. Unsandboxed, so the patches
    # below reach the workflow code: a tiny run limit, and a decision that fails the concern.
    import workflows.case
    from workflows.duty_to_warn import DutyToWarnWorkflow

    def broken(self, assessment):
        raise ApplicationError("a rule the code cannot apply", non_retryable=True)

    monkeypatch.setattr(workflows.case, "CASE_RUN_EVENTS", 10)
    monkeypatch.setattr(DutyToWarnWorkflow, "_decide", broken)
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id=f"FAIL-{uuid.uuid4().hex[:8]}"))
    async with make_worker(
        client, task_queue, smtp[0].port, ledger, workflow_runner=UnsandboxedWorkflowRunner()
    ):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await task_of(started.handle, "risk_assessment")
        await eventually(lambda: _runs_of(client, started.case_id, at_least=2))
        await _complete(client, task, THREAT)
        # Without the concern's last word the case would wait for ever: fail instead.
        result = await asyncio.wait_for(started.handle.result(), timeout=60)
    assert result.status == "needs_attention"
    assert [c.phase for c in result.concerns] == [Phase.failed]


async def _runs_of(client, workflow_id: str, at_least: int) -> bool:
    return len(await _runs(client, workflow_id)) >= at_least


async def test_a_case_continued_just_as_its_concern_ended_still_closes(
    ts_env, smtp, mail, ledger, task_queue, monkeypatch
):
    # The race: the first run holds the concern's final signal but not yet the handle's
    # result when it continues as new (crossing CASE_RUN_EVENTS at that moment). The new run
    # must count that concern as ended, or it would wait for a signal that never comes.
    import workflows.case

    def long_once_a_concern_ended(self) -> bool:
        return self.inp.carry is None and any(
            c.phase in workflows.case.FINAL for c in self.concerns.values()
        )

    monkeypatch.setattr(workflows.case.CaseWorkflow, "_long", long_once_a_concern_ended)
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id=f"RACE-{uuid.uuid4().hex[:8]}"))
    async with make_worker(
        client, task_queue, smtp[0].port, ledger, workflow_runner=UnsandboxedWorkflowRunner()
    ):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await task_of(started.handle, "risk_assessment")
        await _complete(client, task, NO_THREAT)
        result = await asyncio.wait_for(started.handle.result(), timeout=60)
        runs = await _runs(client, started.case_id)
    assert len(runs) == 2
    assert result.status == "closed" and [c.phase for c in result.concerns] == [Phase.closed]
