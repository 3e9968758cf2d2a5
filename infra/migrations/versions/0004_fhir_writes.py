"""Which ledger rows were written into their clinic's EHR as FHIR AuditEvents (issue 15).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_writes",
        sa.Column("ledger_id", sa.Integer, primary_key=True),
        sa.Column("clinic_id", sa.String(64), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fhir_writes")
