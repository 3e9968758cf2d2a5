"""The sent log: what the mail server accepted, by (Message-ID, recipient).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

A worker killed after the server's 250 but before Temporal heard of it used to send the
message again on retry (tests/chaos/test_worker_kill.py counted 10 such duplicates in 50
cases); the notice activities now look here first (activities/notify.py SentLog).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sent_notices",
        sa.Column("message_id", sa.String(200), primary_key=True),
        sa.Column("recipient", sa.String(320), primary_key=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sent_notices")
