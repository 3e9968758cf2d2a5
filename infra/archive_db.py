"""The history archive: closed workflows' histories kept in the ledger database for six years
(164.530(j)), past the engine's retention (Temporal Cloud keeps closed workflows at most 90 days).

Histories are stored as Temporal exported them: payloads still encrypted (the archive is no
weaker than the server), gzip-compressed, append-only, and hash-chained (`archive` chain) so
that an altered byte is found at its entry.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    or_,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from temporalio.client import WorkflowHistory

from infra import hash_chain
from infra.ledger_db import _utc

metadata = MetaData()

archived_histories = Table(
    "archived_histories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", String(300), nullable=False, index=True),
    Column("run_id", String(64), nullable=False),
    Column("workflow_type", String(100), nullable=False),
    Column("status", String(30), nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("close_time", DateTime(timezone=True), nullable=False, index=True),
    Column("archived_at", DateTime(timezone=True), nullable=False),
    Column("events", Integer, nullable=False),
    # SHA-256 of the uncompressed history JSON: what `temporal workflow show -o json` prints.
    Column("history_sha256", String(64), nullable=False),
    Column("history_gz", LargeBinary, nullable=False),
    UniqueConstraint("workflow_id", "run_id", name="uq_archived_run"),
)

# One row per archiving pass that finished with every closed run it saw archived: the next pass
# lists runs closed since the last such pass started (less a margin), so a pass that crashed or
# could not archive a run leaves the window open until a later pass succeeds.
archive_passes = Table(
    "archive_passes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("seen", Integer, nullable=False),
    Column("archived", Integer, nullable=False),
)


class ArchivedRun(BaseModel):
    """One closed run, as handed to the archive."""

    workflow_id: str
    run_id: str
    workflow_type: str
    status: str
    start_time: datetime
    close_time: datetime
    events: int
    history_json: str


class ArchiveEntry(BaseModel):
    """One archived run's metadata (the history itself is read on demand)."""

    id: int
    workflow_id: str
    run_id: str
    workflow_type: str
    status: str
    start_time: datetime
    close_time: datetime
    archived_at: datetime
    events: int
    history_sha256: str


class ArchiveStore:
    """Appends closed runs' histories and reads them back for replay and report."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, run: ArchivedRun) -> bool:
        """Archive one run and link it into the chain; False if it is already archived."""
        try:
            return self._add(run)
        except IntegrityError:
            # Another pass (a manual one beside the schedule) archived it a moment ago.
            return False

    def _add(self, run: ArchivedRun) -> bool:
        raw = run.history_json.encode()
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(archived_histories.c.id).where(
                    archived_histories.c.workflow_id == run.workflow_id,
                    archived_histories.c.run_id == run.run_id,
                )
            ).first()
            if exists is not None:
                return False
            new_id = conn.execute(
                archived_histories.insert()
                .values(
                    workflow_id=run.workflow_id,
                    run_id=run.run_id,
                    workflow_type=run.workflow_type,
                    status=run.status,
                    start_time=_utc(run.start_time),
                    close_time=_utc(run.close_time),
                    archived_at=datetime.now(UTC),
                    events=run.events,
                    history_sha256=hashlib.sha256(raw).hexdigest(),
                    # mtime=0: the same history always compresses to the same bytes.
                    history_gz=gzip.compress(raw, mtime=0),
                )
                .returning(archived_histories.c.id)
            ).scalar_one()
            hash_chain.append(conn, "archive", archived_histories, new_id)
        return True

    def has(self, workflow_id: str, run_id: str) -> bool:
        """Whether a run is archived already."""
        t = archived_histories
        q = select(t.c.id).where(t.c.workflow_id == workflow_id, t.c.run_id == run_id)
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def entries(
        self, workflow_id: str | None = None, *, family: bool = False, since: datetime | None = None
    ) -> list[ArchiveEntry]:
        """Archived runs, oldest first: of one workflow id, or (family) of it and every
        workflow whose id extends it (a case's concerns), or all closed since a time."""
        t = archived_histories
        cols = [c for c in t.c if c.name != "history_gz"]
        q = select(*cols)
        if workflow_id is not None:
            q = q.where(
                or_(
                    t.c.workflow_id == workflow_id,
                    # autoescape: ids may hold `_` or `%`, which LIKE would read as wildcards.
                    t.c.workflow_id.startswith(workflow_id + ".", autoescape=True),
                )
                if family
                else t.c.workflow_id == workflow_id
            )
        if since is not None:
            q = q.where(t.c.start_time >= _utc(since))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(t.c.start_time, t.c.id)).mappings().all()
        return [
            ArchiveEntry.model_validate(
                {
                    **r,
                    **{k: _utc(r[k]) for k in ("start_time", "close_time", "archived_at")},
                }
            )
            for r in rows
        ]

    def history(self, entry_id: int) -> WorkflowHistory:
        """One archived run's history, still encrypted, ready for a Replayer."""
        t = archived_histories
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.c.workflow_id, t.c.history_gz).where(t.c.id == entry_id)
            ).one()
        return WorkflowHistory.from_json(row.workflow_id, gzip.decompress(row.history_gz).decode())

    def last_complete_pass(self) -> datetime | None:
        """When the last pass that left nothing behind started (None: never)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(archive_passes.c.started_at)
                .order_by(archive_passes.c.started_at.desc())
                .limit(1)
            ).scalar_one_or_none()
        return _utc(value) if value is not None else None

    def record_complete_pass(self, started_at: datetime, seen: int, archived: int) -> None:
        """Note a pass that archived every closed run it saw."""
        with self.engine.begin() as conn:
            conn.execute(
                archive_passes.insert().values(
                    started_at=_utc(started_at),
                    finished_at=datetime.now(UTC),
                    seen=seen,
                    archived=archived,
                )
            )
