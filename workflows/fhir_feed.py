"""One workflow per FHIR subscription (issue 15): the notification endpoint signals each event
notification to it (signal-with-start, so the EHR gets its 2xx at once and nothing is lost if
the API dies after answering), and it opens the cases.

It keeps the last event number seen. A number that skips ahead, or a heartbeat whose count is
ahead of it, means a notification was lost: the next activity also searches the EHR for the
active Confide Flags changed since the last notification heard (all of them, if none was
heard). Opening is idempotent per Flag, so reading one twice costs a read and nothing else.

History: one signal per notification, one activity per batch of notifications that arrived
together; continue-as-new when Temporal suggests it or after `RUN_BATCHES` batches.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.fhir_feed import (
        MAX_FOCUS,
        FeedInput,
        FeedNotice,
        FeedState,
        FhirIntakeInput,
        FhirIntakeResult,
    )

# The activity by name: its module reads the EHR and starts cases (intake, the policy store,
# holidays), none of which a workflow module may load.
OPEN_CASES = "open_cases_from_fhir"

# About 12 history events a batch: a run stays far below Temporal's suggestion threshold.
RUN_BATCHES = 500
READ_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


@workflow.defn(name="FhirSubscriptionFeed")
class FhirFeedWorkflow:
    @workflow.init
    def __init__(self, inp: FeedInput) -> None:
        self._state = inp.state
        self._pending: list[FeedNotice] = list(inp.pending)

    @workflow.signal
    def notified(self, notice: FeedNotice) -> None:
        self._pending.append(notice)

    @workflow.query
    def last_event(self) -> int:
        return self._state.last_event

    @workflow.query
    def state(self) -> FeedState:
        return self._state

    def _take(self) -> tuple[list[str], bool]:
        """The focus references of the new events waiting, and whether one was missed."""
        focus: list[str] = []
        gap = False
        notices, self._pending = self._pending, []
        for notice in notices:
            for event in sorted(notice.events, key=lambda e: e.number):
                if event.number <= self._state.last_event:
                    continue  # sent again: already handled
                if event.number > self._state.last_event + 1:
                    gap = True
                self._state.last_event = event.number
                if event.focus and event.focus not in focus:
                    focus.append(event.focus)
            if (notice.events_since_start or 0) > self._state.last_event:
                gap = True
                self._state.last_event = notice.events_since_start or 0
        return focus, gap

    @workflow.run
    async def run(self, inp: FeedInput) -> None:
        for _ in range(RUN_BATCHES):
            await workflow.wait_condition(lambda: bool(self._pending))
            since = self._state.heard_at
            focus, gap = self._take()
            self._state.heard_at = workflow.now()
            while focus or gap:
                batch, focus = focus[:MAX_FOCUS], focus[MAX_FOCUS:]
                result = await workflow.execute_activity(
                    OPEN_CASES,
                    FhirIntakeInput(
                        clinic_id=self._state.clinic_id, focus=batch, catch_up=gap, since=since
                    ),
                    # A catch-up reads every active Confide Flag changed since: minutes, at worst.
                    start_to_close_timeout=timedelta(minutes=10),
                    retry_policy=READ_RETRY,
                    result_type=FhirIntakeResult,
                )
                if gap:
                    self._state.catch_ups += 1
                gap = False
                self._state.opened += len(result.opened)
                self._state.skipped += len(result.skipped)
                self._state.refused += len(result.refused)
            if workflow.info().is_continue_as_new_suggested():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(FeedInput(state=self._state, pending=self._pending))
