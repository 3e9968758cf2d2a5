"""Build v2's CaseWorkflow for tests/test_worker_versioning.py, in a module of its own so the
workflow sandbox imports nothing else: same name, different commands (a timer first, no
child). A v1 case replayed on it would fail with a nondeterminism error at its first task."""

from __future__ import annotations

from typing import Any

from temporalio import workflow


@workflow.defn(name="CaseWorkflow")
class IncompatibleCase:
    @workflow.run
    async def run(self, inp: dict[str, Any]) -> str:
        await workflow.sleep(0.1)
        return "v2"
