"""A court order, subpoena, warrant or administrative request for a patient's records
(POST /v1/legal-requests, DESIGN.md §3), and the per-jurisdiction rules that answer it.

The rules are data (domain/policy_data/legal_requests.json), each value with its source and
"unverified" where no source confirmed it; `resolve_legal_rule` fixes them into a hashed
snapshot at intake so a request in flight keeps the rules it started with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from domain.documents import RecordCategory
from domain.flags import Email, Jurisdiction, OpaqueKey, ShortText, aware


class Instrument(StrEnum):
    """What was served."""

    court_order = "court_order"
    judge_subpoena = "judge_subpoena"
    attorney_subpoena = "attorney_subpoena"
    warrant = "warrant"
    administrative = "administrative"


# Instruments that carry a court's own authority (45 CFR 164.512(e)(1)(i): "an order of a court",
# and 164.512(f)(1)(ii)(A): a court-ordered warrant or a subpoena issued by a judicial officer):
# they release exactly what they name. Everything else is "other lawful process" under
# 164.512(e)(1)(ii): nothing leaves without satisfactory assurance. An administrative request is
# treated as lawful process too (conservative: its 164.512(f)(1)(ii)(C) three-part test is a
# judgement Confide leaves to counsel).
ORDER_LIKE = {Instrument.court_order, Instrument.judge_subpoena, Instrument.warrant}

INSTRUMENT_TITLE = {
    Instrument.court_order: "court order",
    Instrument.judge_subpoena: "subpoena signed by a judge",
    Instrument.attorney_subpoena: "subpoena (attorney- or clerk-issued)",
    Instrument.warrant: "warrant",
    Instrument.administrative: "administrative request",
}

ORDER_BASIS = "45 CFR 164.512(e)(1)(i) (order of a court; only the information it expressly names)"
# Each instrument with a court's authority states its own basis in the ledger.
INSTRUMENT_BASIS = {
    Instrument.court_order: ORDER_BASIS,
    Instrument.judge_subpoena: (
        "45 CFR 164.512(e)(1)(i) (a subpoena signed by a judge, read as an order of a court; "
        "only the information it expressly names)"
    ),
    Instrument.warrant: (
        "45 CFR 164.512(f)(1)(ii)(A) (a court-ordered warrant; only the information it names)"
    ),
}
SUBPOENA_BASIS = (
    "45 CFR 164.512(e)(1)(ii) (subpoena or other lawful process with satisfactory assurance)"
)


def short_notice(rule: LegalRequestRule, served_at: datetime, response_due: datetime) -> str:
    """A sentence for the classifier when a subpoena allows less time than the jurisdiction's
    shortest lawful response time ("" when it does not, or the rule does not say)."""
    days = rule.response_min_days
    if not isinstance(days, int) or response_due - served_at >= timedelta(days=days):
        return ""
    return (
        f" It allows less than the {days} days {rule.jurisdiction} requires between service and "
        f"production ({rule.response_basis or 'see the policy'}): that may make it defective."
    )


def release_basis(rule: LegalRequestRule, instrument: Instrument) -> str:
    """The basis a release under this instrument records: HIPAA's in the US, else the
    jurisdiction's privacy law (its rule's `privacy_basis`) naming the instrument."""
    if rule.privacy_basis:
        return f"{rule.privacy_basis} ({INSTRUMENT_TITLE[instrument]})"
    return INSTRUMENT_BASIS.get(instrument, SUBPOENA_BASIS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)


class Issuer(_Strict):
    """The court or agency that issued the instrument."""

    name: ShortText
    case_number: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Requester(_Strict):
    """Who asks for the records and where the answer goes."""

    name: ShortText
    email: Email | None = None
    address: Annotated[str, StringConstraints(min_length=1, max_length=400)]


class RequestPatient(_Strict):
    """The patient by opaque reference, plus where a notice can reach them (optional)."""

    ref: OpaqueKey
    name: ShortText | None = None
    email: Email | None = None
    address: Annotated[str, StringConstraints(max_length=400)] | None = None


class RequestScope(_Strict):
    """What the instrument asks for: a date range, record categories, and whether it names
    psychotherapy notes or is a Part 2-compliant order."""

    model_config = ConfigDict(populate_by_name=True)
    from_: dt.date = Field(alias="from")
    to: dt.date
    categories: Annotated[list[RecordCategory], Field(min_length=1)]
    psychotherapy_notes: bool = False
    part2_compliant_order: bool = False

    # Field validators, not one model check: each error names the field it is about.
    @field_validator("to")
    @classmethod
    def _after_from(cls, to: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("from_")
        if start is not None and to < start:
            raise ValueError("is before scope.from")
        return to

    @field_validator("categories")
    @classmethod
    def _once(cls, categories: list[RecordCategory]) -> list[RecordCategory]:
        if len(set(categories)) != len(categories):
            raise ValueError("lists a category more than once")
        return categories

    @field_validator("psychotherapy_notes")
    @classmethod
    def _names_notes(cls, named: bool, info: ValidationInfo) -> bool:
        listed = RecordCategory.psychotherapy_note in info.data.get("categories", [])
        if listed != named:
            raise ValueError("must be true exactly when scope.categories names psychotherapy_note")
        return named


class ServedDocument(_Strict):
    """A document that was served (the order, the subpoena), by name and content hash."""

    name: ShortText
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


When = Annotated[datetime, AfterValidator(aware)]


class LegalRequest(_Strict):
    """POST /v1/legal-requests: the contract's field names (DESIGN.md §3)."""

    clinic_id: OpaqueKey
    request_id: OpaqueKey
    jurisdiction: Jurisdiction
    instrument: Instrument
    issuer: Issuer
    served_at: When
    response_due: When
    requester: Requester
    patient: RequestPatient
    scope: RequestScope
    documents: Annotated[list[ServedDocument], Field(max_length=20)] = []

    @field_validator("response_due")
    @classmethod
    def _after_service(cls, due: datetime, info: ValidationInfo) -> datetime:
        served = info.data.get("served_at")
        if served is not None and due <= served:
            raise ValueError("must be after served_at")
        return due

    @field_validator("scope")
    @classmethod
    def _part2_needs_order(cls, scope: RequestScope, info: ValidationInfo) -> RequestScope:
        if scope.part2_compliant_order and info.data.get("instrument") != Instrument.court_order:
            raise ValueError(
                "part2_compliant_order: only a court order can authorize Part 2 records "
                "(42 CFR 2.64)"
            )
        return scope

    def digest(self) -> str:
        """A fingerprint of the whole body, to tell a re-sent request from a different one."""
        canonical = json.dumps(
            self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


# ----------------------------------------------------------------------------- the rules


class ObjectionWindow(BaseModel):
    """How long the patient has to object to a subpoena for their records.

    `after_service`: N days from service of the subpoena (FRCP 45(d)(2)(B): 14 days, or the
    compliance date if earlier). `before_production`: ends N days before the production date
    (CA CCP 1985.3(g): a motion to quash at least 5 days before production).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    days: int = Field(gt=0)
    counted: Literal["after_service", "before_production"]
    basis: str
    source: str

    def ends(self, served_at: datetime, response_due: datetime) -> datetime:
        """When the window closes; never after the response is due."""
        if self.counted == "before_production":
            return response_due - timedelta(days=self.days)
        return min(served_at + timedelta(days=self.days), response_due)


class LegalRequestRule(BaseModel):
    """One jurisdiction's rules for answering a subpoena or order for mental-health records."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    jurisdiction: str
    objection: ObjectionWindow
    # The citation a privilege letter gives, e.g. "Cal. Evid. Code 1014-1015".
    privilege: str
    # Whether the therapist must claim the privilege for the patient (CA Evid. Code 1015).
    therapist_must_claim: bool | Literal["unverified"]
    # Whether a subpoena alone can ever reach a mental-health record in this state.
    court_order_required: bool | Literal["unverified"]
    sources: list[str] = Field(min_length=1)
    unverified: list[str] = []
    notes: str | None = None
    default: bool = False
    # Added with the data for every state (issue 13); None in rules recorded before.
    # Who must tell the patient of a subpoena for their records, and how long before production.
    patient_notice: str | None = None
    # The statute behind court_order_required.
    court_order_basis: str | None = None
    # The shortest lawful time from service of a records subpoena to its production date.
    response_min_days: int | Literal["unverified"] | None = None
    response_basis: str | None = None
    # Outside the US: the privacy law a release rests on, in place of 45 CFR 164.512(e)
    # (e.g. Data Protection Act 2018 Sch. 2 para 5).
    privacy_basis: str | None = None


class LegalRequestPolicy(BaseModel):
    """The rules a legal request runs under, fixed at intake; `version` hashes them."""

    model_config = ConfigDict(frozen=True)
    rule: LegalRequestRule
    timezone: str
    version: str

    @property
    def unverified(self) -> bool:
        """True when a value the request relies on is not confirmed by a source."""
        return bool(self.rule.unverified or self.rule.default)
