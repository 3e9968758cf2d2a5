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
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.fhir_feed import (
        MAX_FOCUS,
        FeedInput,
        FeedNotice,
        FeedState,
        FhirIntakeInput,
        FhirIntakeResult,
        FhirUnreadInput,
    )
    from workflows.mail import MAIL_RETRY

# The activity by name: its module reads the EHR and starts cases (intake, the policy store,
# holidays), none of which a workflow module may load.
OPEN_CASES = "open_cases_from_fhir"
ALERT_UNREAD = "alert_unread_fhir"

# How far behind the last event number a notification's count may be and still be one that
# a later notification overtook (EHRs send from several threads) rather than a new counter.
REORDER_WINDOW = 16
# About 12 history events a batch: a run stays far below Temporal's suggestion threshold.
RUN_BATCHES = 500
# About an hour of tries (the last ones 5 minutes apart) before the privacy officers are told.
READ_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=16)


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

    def _take(self) -> tuple[list[str], bool, bool]:
        """The focus of every event waiting (each once: opening is idempotent, so an event
        sent again, or late, costs a read and nothing else), whether one was missed, and
        whether the counter moved on."""
        focus: list[str] = []
        gap = False
        advanced = False
        notices, self._pending = self._pending, []
        counts = [n.events_since_start for n in notices if n.events_since_start is not None]
        if counts and max(counts) + REORDER_WINDOW < self._state.last_event:
            # The EHR's counter started again (the Subscription was recreated, the EHR
            # restored): what came between cannot be told, so search for it. (A count a
            # little behind is a notification overtaken by a later one, not a restart.)
            gap = True
            self._state.last_event = 0
        # Every event of the notices that arrived together, in number order.
        for event in sorted((e for n in notices for e in n.events), key=lambda e: e.number):
            if event.focus and event.focus not in focus:
                focus.append(event.focus)
            if event.number > self._state.last_event + 1:
                gap = True
            if event.number > self._state.last_event:
                self._state.last_event = event.number
                advanced = True
        if counts and max(counts) > self._state.last_event:
            gap = True
            self._state.last_event = max(counts)
        return focus, gap, advanced

    @workflow.run
    async def run(self, inp: FeedInput) -> None:
        for _ in range(RUN_BATCHES):
            await workflow.wait_condition(lambda: bool(self._pending))
            # The time before this batch: what a later catch-up searches from, once this
            # batch has been read in full.
            started = workflow.now()
            since = self._state.heard_at
            focus, gap, advanced = self._take()
            # Reads that failed for good earlier: the first batch after them searches too.
            gap = gap or self._state.owed_catch_up
            failed = False
            while focus or gap:
                batch, focus = focus[:MAX_FOCUS], focus[MAX_FOCUS:]
                inp_ = FhirIntakeInput(
                    clinic_id=self._state.clinic_id, focus=batch, catch_up=gap, since=since
                )
                try:
                    result = await workflow.execute_activity(
                        OPEN_CASES,
                        inp_,
                        # A catch-up reads every active Confide Flag changed since: minutes.
                        start_to_close_timeout=timedelta(minutes=10),
                        retry_policy=READ_RETRY,
                        result_type=FhirIntakeResult,
                    )
                except ActivityError as e:
                    # The EHR stayed unreachable (or refused Confide) for an hour: say which
                    # notifications went unread, go on with the next ones, and search for
                    # what these pointed to once a read succeeds again.
                    await self._unread(inp_, e)
                    failed = True
                    gap = False
                    continue
                if gap:
                    self._state.catch_ups += 1
                    self._state.owed_catch_up = False
                gap = False
                self._state.opened += len(result.opened)
                self._state.skipped += len(result.skipped)
                self._state.refused += len(result.refused)
            if failed:
                self._state.owed_catch_up = True
            elif advanced:
                self._state.heard_at = started
            if workflow.info().is_continue_as_new_suggested():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(FeedInput(state=self._state, pending=self._pending))

    async def _unread(self, inp: FhirIntakeInput, e: ActivityError) -> None:
        cause = e.cause
        error = (
            f"{cause.type}: {cause.message}"
            if isinstance(cause, ApplicationError)
            else type(cause).__name__
        )
        self._state.unread += len(inp.focus) or 1
        try:
            await workflow.execute_activity(
                ALERT_UNREAD,
                FhirUnreadInput(
                    clinic_id=inp.clinic_id, focus=inp.focus, catch_up=inp.catch_up, error=error
                ),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=MAIL_RETRY,
            )
        except ActivityError:
            # The feed must go on even if the mail server is down as well.
            workflow.logger.warning("fhir unread notice not sent")
