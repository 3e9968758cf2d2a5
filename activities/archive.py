"""Archive closed workflows' histories into the ledger database (six-year record, 164.530(j)).

One pass lists every closed run the archive does not hold yet and copies its history as the
server exports it (payloads still encrypted). Each run is its own transaction and the archive
is keyed by (workflow id, run id), so a pass that crashes half-way and is retried picks up where
it stopped and never duplicates an entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client

from infra.archive_db import ArchivedRun, ArchiveStore

ARCHIVE_WORKFLOW_TYPE = "ArchiveWorkflow"
# Visibility is eventually consistent and close times of runs closed in the same second can
# arrive out of order: each pass looks back this far past the newest run it holds.
LOOK_BACK = timedelta(days=1)


class ArchivePass(BaseModel):
    """One archiving pass: `everything` ignores the look-back window (first run, audits)."""

    everything: bool = False


class ArchiveOutcome(BaseModel):
    """What one pass did: runs seen closed, newly archived, and the newest close time held."""

    seen: int
    archived: int
    newest_close: datetime | None


class ArchiveActivities:
    """Holds the Temporal client (to list and export) and the archive (to append)."""

    def __init__(self, client: Client, store: ArchiveStore) -> None:
        self.client = client
        self.store = store

    @activity.defn(name="archive_closed_runs")
    async def archive_closed_runs(self, inp: ArchivePass) -> ArchiveOutcome:
        """Copy every closed run not yet archived; heartbeats with its progress."""
        query = f"ExecutionStatus != 'Running' AND WorkflowType != '{ARCHIVE_WORKFLOW_TYPE}'"
        newest = None if inp.everything else self.store.latest_close_time()
        if newest is not None:
            query += f" AND CloseTime >= '{(newest - LOOK_BACK).isoformat()}'"
        seen = archived = 0
        async for wf in self.client.list_workflows(query):
            seen += 1
            if wf.close_time is None or self.store.has(wf.id, wf.run_id):
                continue
            history = await self.client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
            added = self.store.add(
                ArchivedRun(
                    workflow_id=wf.id,
                    run_id=wf.run_id,
                    workflow_type=wf.workflow_type,
                    status=wf.status.name if wf.status else "UNKNOWN",
                    start_time=wf.start_time,
                    close_time=wf.close_time,
                    events=len(history.events),
                    history_json=history.to_json(),
                )
            )
            archived += added
            # Opaque ids and counts only: heartbeat details are stored in history.
            activity.heartbeat({"seen": seen, "archived": archived})
        return ArchiveOutcome(
            seen=seen, archived=archived, newest_close=self.store.latest_close_time()
        )
