"""The archiving workflow a Temporal Schedule starts (every hour by default): one pass of
`archive_closed_runs`. Its history stays small and bounded: one activity per run."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.archive import ArchiveActivities, ArchiveOutcome, ArchivePass


@workflow.defn(name="ArchiveWorkflow")
class ArchiveWorkflow:
    """Export closed workflows' histories into the ledger database."""

    @workflow.run
    async def run(self, inp: ArchivePass) -> ArchiveOutcome:
        return await workflow.execute_activity_method(
            ArchiveActivities.archive_closed_runs,
            inp,
            # A first pass over years of cases takes a while; the heartbeat proves progress.
            start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
