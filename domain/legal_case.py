"""A legal request's workflow input and what its case view shows."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.clinic import Clinic
from domain.legal_request import LegalRequest, LegalRequestPolicy
from domain.records import DisclosedDocument
from domain.release import Selection


class LegalRequestInput(BaseModel):
    """Everything a legal request needs, resolved at intake: the request, clinic, rules."""

    case_id: str
    request: LegalRequest
    clinic: Clinic
    policy: LegalRequestPolicy


class CounselAdvice(BaseModel):
    """A question put to counsel and the advice recorded on the case."""

    task_id: str
    asked_by: str
    question: str
    asked_at: datetime
    advice: str | None = None
    advised_by: str | None = None
    advised_at: datetime | None = None


class PacketInfo(BaseModel):
    """The release packet: its id, the SHA-256 its manifest states, what it holds."""

    packet_id: str
    sha256: str
    pages: int
    documents: list[DisclosedDocument]


class LegalRequestView(BaseModel):
    """The legal-request part of `GET /v1/cases/{id}` (no record text, no patient data)."""

    instrument: str
    issuer: str
    issuer_case_number: str
    served_at: datetime
    response_due: datetime
    objection_window_ends: datetime | None = None
    phase: str
    # released | objected | quashed | declined | defective | nothing_releasable, once closed.
    outcome: str | None = None
    selection: Selection | None = None
    counsel: list[CounselAdvice] = []
    packet: PacketInfo | None = None
    problems: list[str] = []
