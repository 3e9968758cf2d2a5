"""Hash chains over the ledger and the history archive.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Adds the archive of closed workflows' histories, the chain links and heads, and links every
ledger row already on record (oldest first) so the chain covers the whole ledger from day one.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from infra import hash_chain

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "archived_histories",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workflow_id", sa.String(300), nullable=False, index=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("workflow_type", sa.String(100), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("start_time", TZ, nullable=False),
        sa.Column("close_time", TZ, nullable=False, index=True),
        sa.Column("archived_at", TZ, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("history_sha256", sa.String(64), nullable=False),
        sa.Column("history_gz", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("workflow_id", "run_id", name="uq_archived_run"),
    )
    op.create_table(
        "archive_passes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", TZ, nullable=False, index=True),
        sa.Column("finished_at", TZ, nullable=False),
        sa.Column("seen", sa.Integer, nullable=False),
        sa.Column("archived", sa.Integer, nullable=False),
    )
    op.create_table(
        "chain_links",
        sa.Column("chain", sa.String(20), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("source_id", sa.Integer, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("linked_at", TZ, nullable=False),
        sa.UniqueConstraint("source", "source_id", name="uq_chain_link_source"),
    )
    heads = op.create_table(
        "chain_heads",
        sa.Column("chain", sa.String(20), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(
        heads, [{"chain": c, "seq": 0, "head_hash": hash_chain.GENESIS} for c in hash_chain.CHAINS]
    )
    _link_existing_ledger_rows()
    _append_only(("archived_histories", "chain_links"))


def _link_existing_ledger_rows() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    tables = [
        sa.Table(name, meta, autoload_with=conn)
        for name in ("disclosures", "accounting_suspensions")
    ]
    rows = [
        (row.recorded_at, table.name, row.id, table)
        for table in tables
        for row in conn.execute(sa.select(table.c.id, table.c.recorded_at))
    ]
    for _recorded_at, _name, row_id, table in sorted(
        rows, key=lambda r: (_aware(r[0]), r[1], r[2])
    ):
        hash_chain.append(conn, "ledger", table, row_id)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _append_only(tables: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # confide_append_only() was made by revision 0001.
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION confide_append_only()"
            )
        return
    for table in tables:
        for statement in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{statement.lower()} BEFORE {statement} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the {table} table is append-only'); END"
            )


def downgrade() -> None:
    # The ledger is a legal record: Confide migrates forward only.
    raise NotImplementedError("Confide's schema is migrated forward only")
