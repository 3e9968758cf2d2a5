"""Archive closed workflows' histories into the ledger database (six-year record, 164.530(j)).

One pass lists the closed runs of the window and copies each one the archive does not hold yet,
as the server exports it (payloads still encrypted). Each run is its own transaction and the
archive is keyed by (workflow id, run id), so a pass that crashes half-way and is retried picks
up where it stopped and never duplicates an entry.

The window starts where the last *complete* pass started (less a margin for visibility lag):
a pass that crashed, or could not archive some run, records nothing, so the next pass looks at
the same runs again. No run is skipped because a later one was archived first (Temporal lists
the newest first).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client

from infra.archive_db import ArchivedRun, ArchiveStore

ARCHIVE_WORKFLOW_TYPE = "ArchiveWorkflow"
# Visibility is eventually consistent: a run closed just before the last complete pass started
# may have reached the index only after that pass listed. Look back this far before it.
LOOK_BACK = timedelta(days=1)


class ArchivePass(BaseModel):
    """One archiving pass: `everything` ignores the window (first run, or an audit of it)."""

    everything: bool = False


class ArchiveOutcome(BaseModel):
    """What one pass did: closed runs seen, newly archived, and those it could not archive
    (by workflow id and run id: opaque, no PHI). A pass with failures is not complete."""

    seen: int
    archived: int
    failed: list[str] = []


class ArchiveActivities:
    """Holds the Temporal client (to list and export) and the archive (to append)."""

    def __init__(self, client: Client, store: ArchiveStore) -> None:
        self.client = client
        self.store = store

    @activity.defn(name="archive_closed_runs")
    async def archive_closed_runs(self, inp: ArchivePass) -> ArchiveOutcome:
        """Copy every closed run of the window not yet archived; heartbeats as it goes."""
        started = datetime.now(UTC)
        query = f"ExecutionStatus != 'Running' AND WorkflowType != '{ARCHIVE_WORKFLOW_TYPE}'"
        since = None if inp.everything else await asyncio.to_thread(self.store.last_complete_pass)
        if since is not None:
            query += f" AND CloseTime >= '{(since - LOOK_BACK).isoformat()}'"
        seen = archived = 0
        failed: list[str] = []
        async for wf in self.client.list_workflows(query):
            seen += 1
            # Opaque ids and counts only: heartbeat details are stored in history.
            activity.heartbeat({"seen": seen, "archived": archived})
            if wf.close_time is None or await asyncio.to_thread(self.store.has, wf.id, wf.run_id):
                continue
            try:
                history = await self.client.get_workflow_handle(
                    wf.id, run_id=wf.run_id
                ).fetch_history()
                run = ArchivedRun(
                    workflow_id=wf.id,
                    run_id=wf.run_id,
                    workflow_type=wf.workflow_type,
                    status=wf.status.name if wf.status else "UNKNOWN",
                    start_time=wf.start_time,
                    close_time=wf.close_time,
                    events=len(history.events),
                    history_json=history.to_json(),
                )
                archived += await asyncio.to_thread(self.store.add, run)
            except Exception as e:  # noqa: BLE001 (one bad run must not stop the others)
                failed.append(f"{wf.id}/{wf.run_id}")
                activity.logger.warning(
                    "run not archived",
                    extra={"workflow_id": wf.id, "run_id": wf.run_id, "error": type(e).__name__},
                )
        if not failed:
            await asyncio.to_thread(self.store.record_complete_pass, started, seen, archived)
        return ArchiveOutcome(seen=seen, archived=archived, failed=failed)
