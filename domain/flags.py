"""The flagged-session event a clinic system sends (DESIGN.md §3): the contract's field names."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

# Re-exported: legal requests and authorizations import it from here.
from domain.jurisdiction import Jurisdiction as Jurisdiction

# Opaque keys become part of workflow ids and URLs, so they are restricted to a safe alphabet.
OpaqueKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def _check_email(value: str | None, info: ValidationInfo) -> str | None:
    # A deliberately small check: one @, a dot in the domain, no spaces. Delivery proves the rest.
    if value is None:
        return None
    # New input (the intake API and the clinics file validate in python mode) may carry no line
    # break, tab, control or invisible formatting character: a CR/LF would become a header of
    # the notice's e-mail. A recorded payload (the Temporal converter validates JSON) is not
    # re-judged by this newer rule, so a history recorded before it still replays.
    if info.mode == "python" and any(
        c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in value
    ):
        raise ValueError("must not contain spaces, line breaks or control characters")
    local, _, domain = value.partition("@")
    if (
        not local
        or "." not in domain
        or " " in value
        or "@" in domain
        or domain.startswith(".")
        or domain.endswith(".")
    ):
        raise ValueError("is not an e-mail address")
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_check_email)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=4000)]


class _Strict(BaseModel):
    # Unknown fields are rejected so a misspelled field is a 422, not silently dropped data.
    # Errors name the field, never the value: a flag is PHI, and an error's text can reach a
    # log, an HTTP answer or a workflow failure in history.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)


def aware(value: datetime) -> datetime:
    """Reject a datetime without a UTC offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone offset, e.g. 2026-11-27T10:15:00-08:00")
    return value


class Person(_Strict):
    """Someone a notice may go to: a potential victim or an emergency contact."""

    name: ShortText
    email: Email | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    address: Annotated[str, StringConstraints(max_length=400)] | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    relationship: Annotated[str, StringConstraints(max_length=100)] | None = None


class Patient(_Strict):
    """The patient: an opaque reference plus the PHI the notices need."""

    ref: OpaqueKey
    name: ShortText
    birth_date: date | None = None
    email: Email | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None


class ClinicianRef(_Strict):
    """The clinician who flagged the session, by roster id."""

    id: OpaqueKey


class ConcernKind(StrEnum):
    """What the session was flagged for; each kind has its own disclosure path."""

    threat_to_others = "threat_to_others"
    self_harm = "self_harm"
    child_abuse = "child_abuse"
    elder_abuse = "elder_abuse"
    dependent_adult_abuse = "dependent_adult_abuse"


class Circumstance(StrEnum):
    """Facts a flag may name that bring in a further, specific duty (domain.reporting's
    AdditionalReport): a second agency, a shorter clock."""

    serious_bodily_injury = "serious_bodily_injury"  # CA W&I 15630(b)(1)(A): police in 2 h
    female_genital_mutilation = "female_genital_mutilation"  # England: FGM Act 2003 s.5B
    death = "death"


ABUSE_KINDS = {ConcernKind.child_abuse, ConcernKind.elder_abuse, ConcernKind.dependent_adult_abuse}


class Concern(_Strict):
    """One concern raised in the session, with the people it involves."""

    kind: ConcernKind
    summary: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    victims: Annotated[list[Person], Field(max_length=20)] = []
    # For self-harm: people able to prevent or lessen the threat (164.512(j)), e.g. family.
    contacts: Annotated[list[Person], Field(max_length=20)] = []
    # Abuse reports. When the reporter learned of it (the statutory clock); default flagged_at.
    known_at: Annotated[datetime, AfterValidator(aware)] | None = None
    # Every mandated reporter who learned of it; each has a personal duty. Default: the
    # flag's clinician.
    reporters: Annotated[list[OpaqueKey], Field(max_length=10)] = []
    alleged_abuser: Person | None = None
    # Routing depends on these in some states (LA/SC child, CA/AL/AR/NJ/SC/TN elder).
    abuser_is_caretaker: bool | None = None
    setting: Literal["facility", "community"] | None = None
    # Facts that bring in a further report (a second agency, a shorter clock): CA elder abuse
    # with serious bodily injury in a facility; FGM in England.
    circumstances: Annotated[list[Circumstance], Field(max_length=len(Circumstance))] = []

    @model_validator(mode="after")
    def _abuse_needs_victims(self) -> Concern:
        if self.kind in ABUSE_KINDS and not self.victims:
            raise ValueError(f"a {self.kind.value} concern needs at least one victim")
        if len(set(self.reporters)) != len(self.reporters):
            raise ValueError("reporters lists someone more than once")
        return self


class Flag(_Strict):
    """A flagged session: POST /v1/flags."""

    clinic_id: OpaqueKey
    flag_id: OpaqueKey
    session_id: OpaqueKey
    jurisdiction: Jurisdiction
    flagged_at: Annotated[datetime, AfterValidator(aware)]
    clinician: ClinicianRef
    patient: Patient
    concerns: Annotated[list[Concern], Field(min_length=1, max_length=10)]

    @model_validator(mode="after")
    def _knowledge_before_flag(self) -> Flag:
        # Statutory clocks run from knowledge: a known_at after the flag is a typo that
        # would silently extend a deadline.
        for i, c in enumerate(self.concerns):
            if c.known_at and c.known_at > self.flagged_at:
                raise ValueError(f"concerns[{i}].known_at is after flagged_at")
        return self

    def digest(self) -> str:
        """A fingerprint of the whole body, to tell a re-sent flag from a different one."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def case_id_for(clinic_id: str, flag_id: str) -> str:
    """The case id (and case workflow id): the clinic's own keys, so a re-sent flag finds it."""
    return f"{clinic_id}.{flag_id}"
