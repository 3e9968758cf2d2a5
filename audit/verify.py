"""`confide audit verify`: recompute the ledger's and the archive's hash chains."""

from __future__ import annotations

from typing import Any

from infra import hash_chain
from infra.archive_db import archived_histories
from infra.ledger_db import Ledger, accounting_suspensions, disclosures

SOURCES = {
    "ledger": [disclosures, accounting_suspensions],
    "archive": [archived_histories],
}


def verify_all(ledger: Ledger) -> list[hash_chain.ChainCheck]:
    """Both chains, each recomputed from its rows; a break names the first bad link."""
    return [hash_chain.verify(ledger.engine, chain, tables) for chain, tables in SOURCES.items()]


def ledger_head(ledger: Ledger) -> dict[str, Any]:
    """The ledger chain's head as recorded (what an auditor notes to compare later)."""
    from sqlalchemy import select

    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(hash_chain.chain_heads).where(hash_chain.chain_heads.c.chain == "ledger")
        ).first()
    return {"links": row.seq, "head_sha256": row.head_hash} if row else {}
