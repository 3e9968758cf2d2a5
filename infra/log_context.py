"""Bind Temporal identifiers to every log line an activity writes (structlog contextvars)."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)


def case_id_of(workflow_id: str) -> str:
    """Concern workflow ids extend their case's id with '.c<n>-<kind>'."""
    head, sep, tail = workflow_id.rpartition(".c")
    return head if sep and tail[:1].isdigit() else workflow_id


class LogContextInterceptor(Interceptor):
    """Worker interceptor: case, workflow, run and activity ids on each activity's log lines."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityLogContext(next)


class _ActivityLogContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            case_id=case_id_of(info.workflow_id or ""),
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            activity_id=info.activity_id,
            activity=info.activity_type,
            attempt=info.attempt,
        ):
            return await super().execute_activity(input)
