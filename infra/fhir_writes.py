"""Which ledger rows have been written into their clinic's EHR (issue 15): the write-back pass
(activities/fhir_write_back.py) takes the disclosures of a FHIR clinic that have no row here,
writes them (by id: a repeat overwrites, never duplicates) and then notes them. A crash between
the two writes them again, harmlessly. Migration 0004 makes the table."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.engine import Engine

from domain.records import Disclosure
from infra.ledger_db import disclosure, disclosures

metadata = MetaData()

fhir_writes = Table(
    "fhir_writes",
    metadata,
    Column("ledger_id", Integer, primary_key=True),
    Column("clinic_id", String(64), nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
)


def unwritten(
    engine: Engine, clinic_id: str, limit: int, after: int = 0
) -> list[tuple[int, Disclosure]]:
    """The clinic's disclosures not yet in its EHR with a ledger id above `after`, oldest
    first, with their ids (a pass walks them once, past any the EHR would not take)."""
    written = select(fhir_writes.c.ledger_id)
    q = (
        select(disclosures)
        .where(
            disclosures.c.clinic_id == clinic_id,
            disclosures.c.id > after,
            disclosures.c.id.not_in(written),
        )
        .order_by(disclosures.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [(r["id"], disclosure(r)) for r in rows]


def mark_written(engine: Engine, clinic_id: str, ledger_ids: list[int]) -> None:
    if not ledger_ids:
        return
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            fhir_writes.insert(),
            [{"ledger_id": i, "clinic_id": clinic_id, "written_at": now} for i in ledger_ids],
        )
