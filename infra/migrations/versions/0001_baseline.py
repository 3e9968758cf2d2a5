"""Baseline: the schema as it stood before Alembic (ledger, suspensions, records store).

Revision ID: 0001
Revises:
Create Date: 2026-12-04

Idempotent on purpose: a database made by the pre-Alembic code (create_all, then ADD COLUMN)
already has some or all of this, and upgrading it must neither fail nor touch a row. Each table
is created only if missing, each column added only if missing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _tables() -> dict[str, list[sa.schema.SchemaItem]]:
    return {
        "disclosures": [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("case_id", sa.String(200), nullable=False, index=True),
            sa.Column("step", sa.String(200), nullable=False),
            sa.Column("recipient_key", sa.String(200), nullable=False),
            sa.Column("clinic_id", sa.String(64), nullable=False),
            sa.Column("patient_ref", sa.String(64), nullable=False, index=True),
            sa.Column("disclosed_at", TZ, nullable=False),
            sa.Column("recipient_name", sa.Text, nullable=False),
            sa.Column("recipient_address", sa.Text, nullable=False),
            sa.Column("channel", sa.String(20), nullable=False),
            sa.Column("description", sa.Text, nullable=False),
            sa.Column("purpose", sa.Text, nullable=False),
            sa.Column("legal_basis", sa.Text, nullable=False),
            sa.Column("task_ref", sa.String(200)),
            sa.Column("accountable", sa.Boolean, nullable=False),
            sa.Column("recorded_at", TZ, nullable=False),
            sa.Column("documents", sa.Text),
            sa.Column("manifest_sha256", sa.String(64)),
            sa.UniqueConstraint("case_id", "step", "recipient_key", name="uq_disclosure_once"),
        ],
        "accounting_suspensions": [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("clinic_id", sa.String(64), nullable=False),
            sa.Column("patient_ref", sa.String(64), nullable=False, index=True),
            sa.Column("agency", sa.Text, nullable=False),
            sa.Column("official", sa.Text, nullable=False),
            sa.Column("statement", sa.String(10), nullable=False),
            sa.Column("received_at", TZ, nullable=False),
            sa.Column("until", TZ, nullable=False),
            sa.Column("recorded_at", TZ, nullable=False),
            sa.CheckConstraint("statement IN ('written', 'oral')", name="ck_suspension_statement"),
        ],
        "records": [
            sa.Column("id", sa.String(200), primary_key=True),
            sa.Column("clinic_id", sa.String(64), nullable=False),
            sa.Column("patient_ref", sa.String(64), nullable=False, index=True),
            sa.Column("category", sa.String(32), nullable=False),
            sa.Column("date", sa.Date, nullable=False),
            sa.Column("author", sa.String(64), nullable=False),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("psychotherapy_note", sa.Boolean, nullable=False),
            sa.Column("part2", sa.Boolean, nullable=False),
            sa.Column("third_party", sa.Boolean, nullable=False),
            sa.Column("content_type", sa.String(100), nullable=False),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("content", sa.LargeBinary, nullable=False),
        ],
        "packets": [
            sa.Column("packet_id", sa.String(300), primary_key=True),
            sa.Column("case_id", sa.String(200), nullable=False, index=True),
            sa.Column("created_at", TZ, nullable=False),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("pages", sa.Integer, nullable=False),
            sa.Column("pdf", sa.LargeBinary, nullable=False),
        ],
        "packet_links": [
            sa.Column("token_sha256", sa.String(64), primary_key=True),
            sa.Column("packet_id", sa.String(300), nullable=False, index=True),
            sa.Column("expires_at", TZ, nullable=False),
            sa.Column("used_at", TZ),
        ],
    }


# Added to `disclosures` after it first shipped (records released by legal requests).
LATE_COLUMNS: dict[str, list[tuple[str, Any]]] = {
    "disclosures": [("documents", sa.Text), ("manifest_sha256", sa.String(64))]
}

APPEND_ONLY = ("disclosures", "accounting_suspensions")


def upgrade() -> None:
    bind = op.get_bind()
    have = set(sa.inspect(bind).get_table_names())
    for name, items in _tables().items():
        if name not in have:
            op.create_table(name, *items)
    for table, columns in LATE_COLUMNS.items():
        existing = {c["name"] for c in sa.inspect(bind).get_columns(table)}
        for column, type_ in columns:
            if column not in existing:
                op.add_column(table, sa.Column(column, type_))
    append_only(APPEND_ONLY, "the disclosure ledger is append-only")


def append_only(tables: tuple[str, ...], message: str) -> None:
    """Triggers that refuse UPDATE and DELETE, so no code path can rewrite the record."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION confide_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'the % table is append-only', TG_TABLE_NAME; END; "
            "$$ LANGUAGE plpgsql"
        )
        for table in tables:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION confide_append_only()"
            )
        return
    for table in tables:
        for statement in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{statement.lower()} "
                f"BEFORE {statement} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )


def downgrade() -> None:
    # The ledger is a legal record: Confide migrates forward only.
    raise NotImplementedError("Confide's schema is migrated forward only")
