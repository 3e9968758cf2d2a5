"""Deliberately incompatible versions of Confide workflows, to prove replay catches changes.

Kept apart from the tests: workflow modules are re-imported inside the sandbox, so they must not
do I/O at import time.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

# Passed through, as the workflow modules import them: a model class re-imported inside the
# sandbox is a different class from the one the workflow code builds its status from.
with workflow.unsafe.imports_passed_through():
    from domain.case import ConcernInput
    from domain.tasks import Task, TaskStatus
    from workflows.duty_to_warn import DutyToWarnWorkflow
    from workflows.task_board import TaskBoard


@workflow.defn(name="DutyToWarnWorkflow")
class ChangedDutyToWarn(DutyToWarnWorkflow):
    """The same path with one extra timer up front: an incompatible change."""

    @workflow.run
    async def run(self, inp: ConcernInput):
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)


class UnguardedTaskBoard(TaskBoard):
    """The "task resolved" notice shipped without its workflow.patched() guard."""

    def _tell_resolved(self, task: Task) -> bool:
        return task.status == TaskStatus.done


@workflow.defn(name="DutyToWarnWorkflow")
class UnguardedResolvedNotice(DutyToWarnWorkflow):
    """Today's path with the unguarded board: sends "task resolved" even when replaying a run
    that completed an escalated task before the change, which has no such activity."""

    @workflow.init
    def __init__(self, inp: ConcernInput) -> None:
        super().__init__(inp)
        self.board = UnguardedTaskBoard(inp.case_id, inp.clinic, self._publish)

    @workflow.run
    async def run(self, inp: ConcernInput):
        return await super().run(inp)
