"""What every workflow with human tasks shares (the `complete_task` Update and the `tasks`
query), and what concern workflows add: the `status` query and keeping search attributes,
current details and the parent case up to date."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from domain.case import ConcernInput, ConcernStatus, Phase
    from domain.policy import DutyDecision
    from domain.records import Disclosure, NoticeRecord
    from domain.tasks import TaskCompletion, TaskView, render_details
    from workflows import search_attributes as sa
    from workflows.task_board import TaskBoard


class TaskWorkflowBase:
    """A workflow whose human steps live on a TaskBoard (set up in its `@workflow.init`)."""

    board: TaskBoard

    @workflow.update
    async def complete_task(self, done: TaskCompletion) -> TaskView:
        """Complete one of this workflow's tasks (same rules in the UI, the CLI and the API)."""
        return await self.board.complete(done)

    @complete_task.validator
    def _check_task(self, done: TaskCompletion) -> None:
        self.board.validate(done)

    @workflow.query
    def tasks(self) -> list[TaskView]:
        """Open tasks."""
        return self.board.views()

    async def _settle(self) -> None:
        """Before the run ends (or continues as new): every Update handler finished and every
        "task resolved" notice sent, so the end of the run cuts neither off."""
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and self.board.settled()
        )

    # Workflows recorded before upserts were de-duplicated keep upserting on every change (their
    # histories must replay); newer ones set this and upsert only when a value changes.
    _upsert_only_changes = False
    _last_upsert: tuple | None = None

    def _publish_board(self, status: str, header: str, unverified: bool) -> None:
        """Search attributes and current details from the board's open tasks."""
        waiting = self.board.waiting_on()
        next_due = self.board.next_due()
        workflow.set_current_details(
            render_details(header, list(self.board.tasks.values()), clinic=self.board.clinic)
        )
        values = (status, tuple(waiting), next_due, self.board.overdue(), unverified)
        if self._upsert_only_changes and values == self._last_upsert:
            return
        self._last_upsert = values
        workflow.upsert_search_attributes(
            [
                sa.STATUS.value_set(status),
                sa.WAITING_ON.value_set(waiting) if waiting else sa.WAITING_ON.value_unset(),
                sa.DUE_AT.value_set(next_due) if next_due else sa.DUE_AT.value_unset(),
                sa.OVERDUE.value_set(self.board.overdue()),
                sa.POLICY_UNVERIFIED.value_set(unverified),
            ]
        )


def tells_case_if_failed(
    run: Callable[[Any, ConcernInput], Awaitable[ConcernStatus]],
) -> Callable[[Any, ConcernInput], Awaitable[ConcernStatus]]:
    """A concern's run that fails (or is cancelled) tells its case first (history version 3).

    A case that continued as new holds no handle on its concerns: it hears a concern's end
    from the concern's final signal. A run that fails without one would leave its case open
    for ever; this sends it, phase `failed`, and lets the failure go on. (A terminated concern
    can send nothing: terminate its case too.)
    """

    @functools.wraps(run)
    async def wrapped(self: ConcernWorkflowBase, inp: ConcernInput) -> ConcernStatus:
        try:
            return await run(self, inp)
        except (FailureError, asyncio.CancelledError) as e:
            # A worker evicting the run from its cache (or a replayer reaching the end of a
            # running case's history) cancels its tasks too, with no cancel request behind
            # it: that is no end of the concern, and must not read as one (the audit report
            # showed running concerns as failed).
            evicted = isinstance(e, asyncio.CancelledError) and (
                workflow.cancellation_reason() is None
            )
            if inp.history_version >= 3 and inp.parent_workflow_id and not evicted:
                self.phase = Phase.failed
                await self._publish_now()
            raise

    return wrapped


class ConcernWorkflowBase(TaskWorkflowBase):
    """Subclasses set up the fields below in their `@workflow.init` and supply `_header` and
    `_policy_unverified`."""

    inp: ConcernInput
    phase: Phase
    decision: DutyDecision | None = None
    notifications: list[NoticeRecord]
    disclosures: list[Disclosure]
    _revision: int = 0

    @workflow.query
    def status(self) -> ConcernStatus:
        """Phase, decision, tasks, notices and disclosures."""
        return self._status()

    def _header(self) -> str:
        raise NotImplementedError

    def _policy_unverified(self) -> bool:
        raise NotImplementedError

    def _status(self) -> ConcernStatus:
        return ConcernStatus(
            case_id=self.inp.case_id,
            index=self.inp.index,
            kind=self.inp.concern.kind.value,
            workflow_id=workflow.info().workflow_id,
            phase=self.phase,
            policy_version=self.inp.policy.version,
            policy_unverified=self._policy_unverified(),
            decision=self.decision,
            tasks=self.board.views(),
            notifications=list(self.notifications),
            disclosures=list(self.disclosures),
            overdue=self.board.overdue(),
            next_due=self.board.next_due(),
            updated_at=workflow.now(),
            revision=self._revision,
            patient_consent=getattr(self, "consent", None),
        )

    _last_told: tuple | None = None

    def _lean(self) -> bool:
        """History version 2 (domain.case.HISTORY_VERSION): publish only what changed."""
        return self.inp.history_version >= 2

    def _case_sees(self) -> tuple:
        """What the case shows of this concern from its own state: phase, the open tasks with
        who may act and by when, overdue. Notices and disclosures are read from the concern.
        History version 3: the phase only once it is final (a case showed "notifying" for the
        second the warnings took, then "follow_up": a signal each, and the case's events)."""
        phase: Phase | None = self.phase
        if self.inp.history_version >= 3 and phase not in (Phase.closed, Phase.failed):
            phase = None
        return (
            phase,
            tuple(
                (t.task_id, t.due_at, t.overdue, tuple(t.allowed_roles))
                for t in self.board.open_tasks()
            ),
        )

    # History version 2 coalesces: every change in one workflow task (an Update completing a
    # task, then the path moving on) becomes one upsert and at most one signal, sent by a
    # flusher once the workflow's coroutines have all run as far as they can.
    _dirty = False
    _flushing = False
    _flusher: asyncio.Task | None = None

    async def _publish(self) -> None:
        """Search attributes, current details, and the new status signalled to the case."""
        if not self._lean():
            await self._publish_now()
            return
        self._dirty = True
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._dirty)
            self._dirty, self._flushing = False, True
            try:
                await self._publish_now()
            except Exception:  # noqa: BLE001 (a dead flusher would leave _settle waiting forever)
                workflow.logger.exception("publishing the concern's state failed")
            finally:
                self._flushing = False

    async def _settle(self) -> None:
        """As TaskWorkflowBase, and the last change told to the case before the run ends."""
        await super()._settle()
        await workflow.wait_condition(lambda: not self._dirty and not self._flushing)

    async def _publish_now(self) -> None:
        if self._lean():
            self._upsert_only_changes = True
        self._publish_board(self.phase.value, self._header(), self._policy_unverified())
        if self.inp.parent_workflow_id:
            if self._lean():
                seen = self._case_sees()
                if seen == self._last_told:
                    return
                self._last_told = seen
            self._revision += 1
            try:
                status = self._status()
                if self.inp.history_version >= 3 and self.phase not in (
                    Phase.closed,
                    Phase.failed,
                ):
                    # The case reads notices and disclosures from the concern (by query): the
                    # signal carries only what changed shape. The last one carries them all,
                    # for a case that continued as new has no handle to read the result from.
                    status = status.model_copy(update={"notifications": [], "disclosures": []})
                await workflow.get_external_workflow_handle(self.inp.parent_workflow_id).signal(
                    "concern_changed", status
                )
            except Exception:  # noqa: BLE001 (any failure to reach the case)
                # The case may be gone (terminated by an operator): the duty goes on.
                workflow.logger.warning("case not reachable", extra={"case_id": self.inp.case_id})
