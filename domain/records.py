"""What a case records about itself: notices sent, disclosures made (the ledger's rows)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Recipient(BaseModel):
    """Where a notice goes. `key` is an opaque, stable id used in Message-IDs and ledger keys."""

    model_config = ConfigDict(hide_input_in_errors=True)  # names and addresses are PHI

    key: str
    name: str
    email: str | None = None
    phone: str | None = None
    address: str | None = None


class DisclosedDocument(BaseModel):
    """One record released in a disclosure, as the packet's manifest and the ledger name it."""

    id: str
    category: str
    date: dt.date
    sha256: str


class Disclosure(BaseModel):
    """One accounting entry (45 CFR 164.528(b)(2)): date, recipient, what, why.

    Idempotent on (case_id, step, recipient_key): a retried write adds nothing.
    """

    model_config = ConfigDict(hide_input_in_errors=True)  # names, addresses, descriptions

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
    # Records released (court orders, subpoenas, authorizations): what left, by content hash.
    documents: list[DisclosedDocument] = []
    # The SHA-256 of the packet these documents left in, as its manifest states it.
    manifest_sha256: str | None = None


class NoticeRecord(BaseModel):
    """A notice as the case status shows it (no PHI beyond the recipient's role)."""

    step: str
    recipient_key: str
    recipient_role: str
    channel: str
    message_id: str | None = None
    sent_at: datetime | None = None
    status: str
