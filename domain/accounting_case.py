"""An accounting request (POST /v1/accounting-requests), its workflow input and case view."""

from __future__ import annotations

import datetime as dt
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from domain.accounting import Accounting
from domain.clinic import Clinic
from domain.flags import Email, OpaqueKey, aware

# 45 CFR 164.528(c)(1): act on the request within 60 days of receiving it.
RESPONSE_DAYS = timedelta(days=60)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)


class AccountingPatient(_Strict):
    """The patient by reference, and where the accounting goes."""

    ref: OpaqueKey
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    email: Email | None = None
    address: Annotated[str, StringConstraints(max_length=400)] | None = None


class AccountingRequest(_Strict):
    """A patient's request for the accounting of disclosures (164.528)."""

    model_config = ConfigDict(populate_by_name=True)
    clinic_id: OpaqueKey
    request_id: OpaqueKey
    patient: AccountingPatient
    # When the patient asked; left out, the time the request reaches Confide.
    requested_at: Annotated[datetime, AfterValidator(aware)] | None = None
    # A shorter period the patient asked for (never more than six years back).
    period_from: dt.date | None = None
    # One line per disclosure instead of summaries of repeated ones.
    itemized: bool = False

    def digest(self) -> str:
        """A fingerprint of the whole body, to tell a re-sent request from another."""
        import hashlib
        import json

        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class AccountingInput(BaseModel):
    """Everything an accounting request needs (its `requested_at` always set)."""

    case_id: str
    request: AccountingRequest
    clinic: Clinic


class AccountingView(BaseModel):
    """The accounting part of `GET /v1/cases/{id}`."""

    requested_at: datetime
    due_at: datetime
    extended_to: datetime | None = None
    extension_reason: str | None = None
    period_from: dt.date | None = None
    period_to: dt.date | None = None
    entries: list[dict] = Field(default_factory=list)
    packet_id: str | None = None
    sha256: str | None = None
    delivered_at: datetime | None = None
    delivered_by: str | None = None
    prepared: Accounting | None = None
