"""The disclosure ledger: append-only tables on SQLite (default) or PostgreSQL (by URL): the
disclosures, and the suspensions of a patient's accounting of them (164.528(a)(2)).

Append-only twice over: the code has no update or delete path, and triggers in the database
refuse UPDATE and DELETE, so a mistake elsewhere cannot rewrite history either. And each row is
linked into the `ledger` hash chain as it is written (infra.hash_chain), so a change made
around both (by hand, in the database) is found by `confide audit verify`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from domain.accounting import Suspension
from domain.records import Disclosure
from infra import hash_chain

metadata = MetaData()

disclosures = Table(
    "disclosures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(200), nullable=False, index=True),
    Column("step", String(200), nullable=False),
    Column("recipient_key", String(200), nullable=False),
    Column("clinic_id", String(64), nullable=False),
    Column("patient_ref", String(64), nullable=False, index=True),
    Column("disclosed_at", DateTime(timezone=True), nullable=False),
    Column("recipient_name", Text, nullable=False),
    Column("recipient_address", Text, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("description", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("task_ref", String(200)),
    Column("accountable", Boolean, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # Records released (legal requests): JSON list of {id, category, date, sha256}.
    Column("documents", Text),
    Column("manifest_sha256", String(64)),
    UniqueConstraint("case_id", "step", "recipient_key", name="uq_disclosure_once"),
)

# A suspension (164.528(a)(2)) is documentation 164.530(j) requires kept: append-only as well.
accounting_suspensions = Table(
    "accounting_suspensions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("patient_ref", String(64), nullable=False, index=True),
    Column("agency", Text, nullable=False),
    Column("official", Text, nullable=False),
    Column("statement", String(10), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("statement IN ('written', 'oral')", name="ck_suspension_statement"),
)


def _utc(ts: datetime) -> datetime:
    # SQLite drops the offset; store UTC everywhere and read it back as UTC.
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


class Ledger:
    """Reads and appends disclosure rows."""

    def __init__(self, url: str) -> None:
        self.url = url
        # hide_parameters: a database error's message must not quote the row (it holds PHI).
        self.engine: Engine = create_engine(url, hide_parameters=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def migrate(self) -> None:
        """Bring the database to the newest schema (Alembic; see infra/migrations)."""
        from infra.migrate import upgrade

        upgrade(self.engine)

    def record(self, d: Disclosure) -> bool:
        """Append one disclosure; False when (case, step, recipient) was already recorded."""
        values = d.model_dump()
        values["disclosed_at"] = _utc(d.disclosed_at)
        values["documents"] = (
            json.dumps([doc.model_dump(mode="json") for doc in d.documents])
            if d.documents
            else None
        )
        values["recorded_at"] = datetime.now(UTC)
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(disclosures)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["case_id", "step", "recipient_key"])
            .returning(disclosures.c.id)
        )
        # RETURNING, not rowcount: psycopg 3 reports -1 for this statement.
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return False
            hash_chain.append(conn, "ledger", disclosures, row.id)
            return True

    def for_case(self, case_id: str) -> list[Disclosure]:
        """Every disclosure of one case, oldest first."""
        q = select(disclosures).where(disclosures.c.case_id == case_id)
        return self._read(q.order_by(disclosures.c.id))

    def for_patient(self, clinic_id: str, patient_ref: str) -> list[Disclosure]:
        """Every disclosure about one patient, oldest first (the 164.528 accounting's input)."""
        q = select(disclosures).where(
            disclosures.c.clinic_id == clinic_id, disclosures.c.patient_ref == patient_ref
        )
        return self._read(q.order_by(disclosures.c.disclosed_at))

    def record_suspension(self, s: Suspension) -> int:
        """Append one suspension of the accounting; returns its row id.

        No idempotency key: each statement received is its own record, and a written one that
        follows an oral one is a second row, not a change to the first.
        """
        values = s.model_dump()
        values["received_at"] = _utc(s.received_at)
        values["until"] = _utc(s.until)
        values["recorded_at"] = datetime.now(UTC)
        stmt = accounting_suspensions.insert().values(**values)
        with self.engine.begin() as conn:
            new_id = conn.execute(stmt.returning(accounting_suspensions.c.id)).scalar_one()
            hash_chain.append(conn, "ledger", accounting_suspensions, new_id)
            return new_id

    def suspensions_for(self, clinic_id: str, patient_ref: str) -> list[Suspension]:
        """Every suspension recorded for one patient, in the order received."""
        t = accounting_suspensions
        q = (
            select(t)
            .where(t.c.clinic_id == clinic_id, t.c.patient_ref == patient_ref)
            .order_by(t.c.received_at, t.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            Suspension.model_validate(
                {
                    **{k: v for k, v in r.items() if k not in ("id", "recorded_at")},
                    "received_at": _utc(r["received_at"]),
                    "until": _utc(r["until"]),
                }
            )
            for r in rows
        ]

    def _read(self, q) -> list[Disclosure]:
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [disclosure(r) for r in rows]


def disclosure(row) -> Disclosure:
    """A `disclosures` row (a mapping) as the Disclosure it records."""
    return Disclosure.model_validate(
        {
            **row,
            "disclosed_at": _utc(row["disclosed_at"]),
            "documents": json.loads(row["documents"]) if row["documents"] else [],
        }
    )


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    # Without this, INSERT OR REPLACE deletes a row without firing the no-delete trigger.
    cur.execute("PRAGMA recursive_triggers=ON")
    cur.close()
