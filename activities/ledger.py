"""Ledger writes as an activity (the database call runs in a thread: SQLAlchemy is sync)."""

from __future__ import annotations

import asyncio

from temporalio import activity

from domain.records import Disclosure
from infra.ledger_db import Ledger


class LedgerActivities:
    """Appends disclosures to the ledger it was built with."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @activity.defn(name="record_disclosure")
    async def record_disclosure(self, d: Disclosure) -> bool:
        """Append one disclosure; idempotent on (case, step, recipient)."""
        return await asyncio.to_thread(self._ledger.record, d)
