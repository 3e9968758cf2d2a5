"""A patient's accounting of disclosures (164.528), prepared from the ledger as a stored PDF.

The PDF is kept in the records store like a release packet, so the existing `send_packet`
activity delivers it; the workflow sees the accounting and the packet's hash, never the bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import date
from typing import TypeVar

import structlog
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.accounting import Accounting, AccountingQuery, Suspension, build_accounting
from domain.records import Disclosure
from infra.accounting_pdf import AccountingDocument, render_accounting
from infra.ledger_db import Ledger
from infra.records_db import RecordsStore

log = structlog.get_logger("confide.accounting")
T = TypeVar("T")


class PrepareAccountingInput(BaseModel):
    """One accounting to prepare; (case_id, step) names it, with the rendered content."""

    case_id: str
    step: str
    clinic_id: str
    clinic_name: str
    clinic_reply_to: str
    timezone: str
    patient_ref: str
    patient_name: str | None = None
    requested_at: AwareDatetime
    period_from: date | None = None
    summarize: bool = True
    # When the accounting is given (suspensions judged then); None: at requested_at.
    in_force_at: AwareDatetime | None = None


class PreparedAccounting(BaseModel):
    """The accounting and the stored PDF it was rendered into (for `send_packet`)."""

    accounting: Accounting
    packet_id: str
    sha256: str
    pages: int


def accounting_packet_id(case_id: str, step: str, sha256: str) -> str:
    """The stored PDF's id: (case, step) plus the first 8 hex digits of the PDF's SHA-256.

    A retry over an unchanged ledger renders the same bytes, finds the same id and returns the
    same result. If the ledger changed between attempts (a disclosure recorded, a suspension
    ended) the new bytes get a new id instead of colliding with the old packet forever; the
    old one was never reported to the workflow, so it is never sent.
    """
    return f"{case_id}.{step}.{sha256[:8]}"


class AccountingActivities:
    """Reads the ledger, renders the accounting, keeps the PDF in the records store."""

    def __init__(self, ledger: Ledger, store: RecordsStore) -> None:
        self._ledger = ledger
        self._store = store

    @activity.defn(name="prepare_accounting")
    async def prepare_accounting(self, inp: PrepareAccountingInput) -> PreparedAccounting:
        """Build the accounting from the ledger, render and store its PDF; idempotent.

        Failures are PHI-free (types and SQLSTATEs only): driver and reportlab messages can
        quote a row, and failures are stored in Temporal unencrypted.
        """
        try:
            query = AccountingQuery(
                clinic_id=inp.clinic_id,
                patient_ref=inp.patient_ref,
                requested_at=inp.requested_at,
                period_from=inp.period_from,
                summarize=inp.summarize,
                timezone=inp.timezone,
                in_force_at=inp.in_force_at,
            )
        except ValueError:
            raise ApplicationError(
                "accounting request is invalid (time zone)",
                type="InvalidAccountingRequest",
                non_retryable=True,
            ) from None
        rows, suspensions = await _db(self._read, inp.clinic_id, inp.patient_ref)
        try:
            accounting = build_accounting(query, rows, suspensions)
        except ValueError:
            raise ApplicationError(
                "accounting request is invalid (the period starts after the request)",
                type="InvalidAccountingRequest",
                non_retryable=True,
            ) from None
        try:
            pdf, pages = render_accounting(
                AccountingDocument(
                    accounting=accounting,
                    clinic_name=inp.clinic_name,
                    clinic_reply_to=inp.clinic_reply_to,
                    timezone=inp.timezone,
                    patient_name=inp.patient_name,
                )
            )
        except Exception as e:
            raise ApplicationError(
                f"accounting could not be rendered ({type(e).__name__})",
                type="AccountingRenderFailed",
                non_retryable=True,
            ) from None
        rendered = hashlib.sha256(pdf).hexdigest()
        packet_id = accounting_packet_id(inp.case_id, inp.step, rendered)
        stored = await _db(self._store.save_packet, packet_id, inp.case_id, pdf, pages)
        if stored != rendered:
            # Only two different renders sharing 8 hex digits get here: never describe bytes
            # other than those stored; a retry renders the same, so it is final.
            raise ApplicationError(
                f"packet {packet_id} already exists with different content",
                type="PacketConflict",
                non_retryable=True,
            )
        log.info(
            "accounting prepared",
            packet_id=packet_id,
            entries=len(accounting.entries),
            pages=pages,
        )
        return PreparedAccounting(
            accounting=accounting, packet_id=packet_id, sha256=stored, pages=pages
        )

    def _read(self, clinic_id: str, patient_ref: str) -> tuple[list[Disclosure], list[Suspension]]:
        return (
            self._ledger.for_patient(clinic_id, patient_ref),
            self._ledger.suspensions_for(clinic_id, patient_ref),
        )


async def _db(fn: Callable[..., T], *args: object) -> T:
    """Run a blocking database call in a thread; its errors leave as type and SQLSTATE only."""
    try:
        return await asyncio.to_thread(fn, *args)
    except SQLAlchemyError as e:
        code = getattr(getattr(e, "orig", None), "sqlstate", None) or ""
        raise ApplicationError(
            f"accounting database call failed ({type(e).__name__} {code})".strip(),
            type="AccountingStoreFailed",
        ) from None
