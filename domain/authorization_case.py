"""An authorization's workflow input, the state it carries across continue-as-new, its Update
arguments, and what its case view shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from domain.authorization import Authorization
from domain.clinic import Clinic
from domain.records import DisclosedDocument


class ReleaseRecord(BaseModel):
    """One release made under an authorization (the ledger holds the full row)."""

    number: int
    released_at: datetime
    packet_id: str
    sha256: str
    documents: list[DisclosedDocument]


class ExpiryEvent(BaseModel):
    """The event an authorization named as its end has happened (164.508(c)(1)(v))."""

    model_config = ConfigDict(extra="forbid")
    occurred_at: datetime
    recorded_by: str


class Revocation(BaseModel):
    """The patient's revocation (164.508(b)(5)): who at the clinic received it, when, how."""

    model_config = ConfigDict(extra="forbid")
    received_at: datetime
    received_by: str
    method: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "written"
    note: Annotated[str, StringConstraints(max_length=1000)] = ""


class ReleaseRequest(BaseModel):
    """A further request for records under an active authorization."""

    model_config = ConfigDict(extra="forbid")
    requested_by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    note: Annotated[str, StringConstraints(max_length=1000)] = ""


class Correction(BaseModel):
    """A corrected authorization for one on hold, with the problems intake found in it."""

    authorization: Authorization
    problems: list[str]


class AuthorizationCarry(BaseModel):
    """What a run hands the next across continue-as-new: the state, not the history."""

    phase: str
    verified_by: str | None = None
    verified_at: datetime | None = None
    releases_made: int = 0
    pending: int = 0
    # The latest releases only: the ledger has them all, and this must stay small for years.
    recent: list[ReleaseRecord] = []
    run: int = 1


class AuthorizationInput(BaseModel):
    """Everything an authorization needs, resolved at intake."""

    case_id: str
    authorization: Authorization
    problems: list[str]
    clinic: Clinic
    carry: AuthorizationCarry | None = None


class AuthorizationView(BaseModel):
    """The authorization part of `GET /v1/cases/{id}` (no record text)."""

    authorization_id: str
    recipient: str | None
    purpose: str | None
    expires_at: datetime | None
    expiry_event: str | None
    phase: str
    problems: list[str]
    verified_by: str | None
    releases_made: int
    pending_requests: int
    recent_releases: list[ReleaseRecord]
    revocation: Revocation | None
    run: int
    # The digest of the authorization in force (a corrected one replaces the first), so a
    # re-sent correction is recognised as the same request.
    digest: str = ""
