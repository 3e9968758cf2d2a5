"""What a case records about itself: notices sent, disclosures made (the ledger's rows)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Recipient(BaseModel):
    """Where a notice goes. `key` is an opaque, stable id used in Message-IDs and ledger keys."""

    key: str
    name: str
    email: str | None = None
    phone: str | None = None
    address: str | None = None


class Disclosure(BaseModel):
    """One accounting entry (45 CFR 164.528(b)(2)): date, recipient, what, why.

    Idempotent on (case_id, step, recipient_key): a retried write adds nothing.
    """

    case_id: str
    step: str
    recipient_key: str
    clinic_id: str
    patient_ref: str
    disclosed_at: datetime
    recipient_name: str
    recipient_address: str
    channel: str
    description: str
    purpose: str
    legal_basis: str
    task_ref: str | None = None
    accountable: bool = True


class NoticeRecord(BaseModel):
    """A notice as the case status shows it (no PHI beyond the recipient's role)."""

    step: str
    recipient_key: str
    recipient_role: str
    channel: str
    message_id: str | None = None
    sent_at: datetime | None = None
    status: str
