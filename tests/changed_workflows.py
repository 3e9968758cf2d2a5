"""Deliberately incompatible versions of Confide workflows, to prove replay catches changes.

Kept apart from the tests: workflow modules are re-imported inside the sandbox, so they must not
do I/O at import time.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from domain.case import ConcernInput
from workflows.duty_to_warn import DutyToWarnWorkflow


@workflow.defn(name="DutyToWarnWorkflow")
class ChangedDutyToWarn(DutyToWarnWorkflow):
    """The same path with one extra timer up front: an incompatible change."""

    @workflow.run
    async def run(self, inp: ConcernInput):
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)
