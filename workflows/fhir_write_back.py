"""The FHIR write-back workflow a Temporal Schedule starts (every 5 minutes by default): one
pass of `write_back_to_ehr`. One activity per run: its history stays small and bounded."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.fhir_write_back import (
        FhirWriteBackActivities,
        WriteBackOutcome,
        WriteBackPass,
    )


@workflow.defn(name="FhirWriteBackWorkflow")
class FhirWriteBackWorkflow:
    """Copy the ledger's new disclosures into each clinic's EHR as AuditEvents."""

    @workflow.run
    async def run(self, inp: WriteBackPass) -> WriteBackOutcome:
        return await workflow.execute_activity_method(
            FhirWriteBackActivities.write_back_to_ehr,
            inp,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=2),
            # An EHR that is down: a few tries, then the next scheduled pass.
            retry_policy=RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(minutes=1)),
        )
