"""The sent log's table: which messages the mail server accepted, by (Message-ID, recipient).

activities/notify.py (SentLog) reads it before a send and writes it the moment the server's 250
is read, so a retried activity does not send again what the server already took. It lives in
the ledger database, which every worker shares; migration 0003 makes it.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, String, Table

metadata = MetaData()

sent_notices = Table(
    "sent_notices",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("recipient", String(320), primary_key=True),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)
