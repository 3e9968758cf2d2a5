"""Ledger writes as an activity (the database call runs in a thread: SQLAlchemy is sync)."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.records import Disclosure
from infra.ledger_db import Ledger


class LedgerActivities:
    """Appends disclosures to the ledger it was built with."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @activity.defn(name="record_disclosure")
    async def record_disclosure(self, d: Disclosure) -> bool:
        """Append one disclosure; idempotent on (case, step, recipient).

        Database errors become a PHI-free failure (type and SQLSTATE only): the driver's own
        message can quote the row, and failures are stored in Temporal unencrypted.
        """
        try:
            return await asyncio.to_thread(self._ledger.record, d)
        except SQLAlchemyError as e:
            code = getattr(getattr(e, "orig", None), "sqlstate", None) or ""
            raise ApplicationError(
                f"ledger write failed ({type(e).__name__} {code})".strip(),
                type="LedgerWriteFailed",
            ) from None
