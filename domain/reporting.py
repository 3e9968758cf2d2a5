"""Mandated-reporting rules (child abuse; elder and dependent-adult abuse) as data, and the
deadline arithmetic they need.

Shapes the reference must not lose (legal-facts.md §11.3) are modelled, not flattened: an oral
bound in hours or "immediately"; a written report that is required, only on request, or not
required; its deadline in hours or working days, running from knowledge or from the oral
report, possibly excluding weekends and holidays or extended to the next working day; agencies
that depend on who the alleged abuser is or where the victim lives; whether the duty may be
delegated or routed through the person in charge; conditional duties; "unverified" kept visible.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.clinic import AgencyKind

CHILD_BASIS = "45 CFR 164.512(b)(1)(ii) (report of child abuse or neglect)"
ADULT_BASIS = "45 CFR 164.512(c) (report of abuse, neglect or domestic violence)"


class Clock(StrEnum):
    """What a written-report deadline runs from."""

    knowledge = "knowledge"  # first suspicion / the triggering contact
    oral_report = "oral_report"  # the initial (oral) report


class Unit(StrEnum):
    """How a deadline is counted."""

    hours = "hours"
    working_days = "working_days"


class Deadline(BaseModel):
    """A statutory deadline: amount, unit, the clock it runs from, and calendar rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    amount: int = Field(gt=0)
    unit: Unit
    clock: Clock = Clock.knowledge
    # MN child: "72 hours, exclusive of weekends and holidays" — only working-day hours count.
    excludes_weekends_holidays: bool = False
    # SC elder "24 hours or the next working day"; AZ elder (older text) "48 hours, or the next
    # working day if they expire on a weekend or holiday".
    or_next_working_day: bool = False


class WrittenReport(StrEnum):
    """Whether the reporter must file a written report."""

    required = "required"
    if_requested = "if_requested"
    not_required = "not_required"
    unverified = "unverified"


class Delegation(StrEnum):
    """Whether someone else may discharge the reporter's duty."""

    non_delegable = "non_delegable"  # the reporter personally; telling a supervisor is not enough
    person_in_charge = "person_in_charge"  # staff notify the person in charge, who reports
    also_notify_person_in_charge = "also_notify_person_in_charge"  # own duty + notify
    institutional_procedure = "institutional_procedure"  # reporting per an approved procedure
    unverified = "unverified"


class AgencyRoute(BaseModel):
    """A receiving agency, and when it is the right one."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: AgencyKind
    description: str
    # When this route applies; "always" unless the statute routes by circumstance.
    when: Literal[
        "always", "caretaker_abuser", "non_caretaker_abuser", "facility", "community", "death"
    ] = "always"


class ReportingRule(BaseModel):
    """One jurisdiction's mandated-reporting rule for one kind of abuse."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    jurisdiction: str
    kind: Literal["child_abuse", "elder_abuse"]
    statute: str
    oral: str
    # None = "immediately" with no numeric bound (Confide then applies its own short SLA).
    oral_deadline: Deadline | None = None
    written: WrittenReport
    written_deadline: Deadline | None = None
    written_form: str | None = None
    written_note: str | None = None
    agencies: list[AgencyRoute] = Field(min_length=1)
    agencies_reference: list[str] = []
    delegation: Delegation = Delegation.unverified
    delegation_note: str | None = None
    supervisor_rule: str | None = None
    # 164.512(c)(2): adults must be told of the report unless that risks serious harm or the
    # representative is the suspected abuser. Not for child reports (164.512(b)).
    inform_individual: bool = False
    conditional: str | None = None
    universal: bool = False
    covers: str | None = None
    penalty: str | None = None
    sources: list[str] = Field(min_length=1)
    unverified: list[str] = []
    notes: str | None = None
    # True for the conservative default applied where the reference has no data.
    default: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ReportingRule:
        if (
            self.written == WrittenReport.required
            and self.written_deadline is None
            and ("written_deadline" not in self.unverified)
        ):
            raise ValueError(
                f"{self.jurisdiction} {self.kind}: required written report "
                "needs a deadline or 'written_deadline' in unverified"
            )
        return self

    @property
    def legal_basis(self) -> str:
        """Statute plus the HIPAA permission the disclosure rests on."""
        federal = CHILD_BASIS if self.kind == "child_abuse" else ADULT_BASIS
        return f"{self.statute}; {federal}"


def default_rule(jurisdiction: str, kind: Literal["child_abuse", "elder_abuse"]) -> ReportingRule:
    """The conservative default where no source was found: report now, written within 24 h
    of knowledge, to the agency the clinic configured; everything marked unverified."""
    agency = (
        AgencyKind.child_protective_services
        if kind == "child_abuse"
        else AgencyKind.adult_protective_services
    )
    return ReportingRule(
        jurisdiction=jurisdiction,
        kind=kind,
        statute="unverified",
        oral="immediately (Confide conservative default; no source seen)",
        written=WrittenReport.required,
        written_deadline=Deadline(amount=24, unit=Unit.hours, clock=Clock.knowledge),
        agencies=[AgencyRoute(kind=agency, description="the clinic's configured agency")],
        delegation=Delegation.non_delegable,
        inform_individual=kind == "elder_abuse",
        sources=["shared/reference/jurisdictions.json _meta.todo (no entry for this state)"],
        unverified=[
            "statute",
            "oral_deadline",
            "written",
            "written_deadline",
            "agencies",
            "delegation",
        ],
        notes="Conservative default: no sourced rule for this jurisdiction. A privacy officer "
        "must confirm the actual requirements.",
        default=True,
    )


@cache
def _table(kind: str) -> dict[str, ReportingRule]:
    raw = json.loads(resources.files("domain").joinpath(f"policy_data/{kind}.json").read_text())
    return {k: ReportingRule.model_validate(v) for k, v in raw["jurisdictions"].items()}


def reporting_rule(jurisdiction: str, kind: Literal["child_abuse", "elder_abuse"]) -> ReportingRule:
    """The sourced rule, or the conservative default when the reference has none."""
    return _table(kind).get(jurisdiction) or default_rule(jurisdiction, kind)


def covered(kind: Literal["child_abuse", "elder_abuse"]) -> list[str]:
    """Jurisdictions with a sourced rule of this kind."""
    return sorted(_table(kind))


# ------------------------------------------------------------------------ deadline arithmetic


class Calendar(BaseModel):
    """The clinic's time zone and the holidays in force, fixed into the policy snapshot."""

    model_config = ConfigDict(frozen=True)
    timezone: str
    holidays: list[date] = []

    def working(self, day: date) -> bool:
        """Monday to Friday and not a holiday."""
        return day.weekday() < 5 and day not in self.holidays


def due_at(deadline: Deadline, start: datetime, cal: Calendar) -> datetime:
    """When a deadline that starts at `start` expires.

    Hours are elapsed hours (computed in UTC, so a daylight-saving change neither adds nor
    removes one). Working days: the end (23:59:59 local) of the Nth working day after the
    start day, since a report filed any time that day is within "N working days". Hours
    excluding weekends and holidays: only hours on working days count. "Or the next working
    day": an hours deadline that ends on a non-working day moves to the end of the next
    working day.
    """
    tz = ZoneInfo(cal.timezone)
    start = start.astimezone(UTC)
    if deadline.unit == Unit.working_days:
        day, left = start.astimezone(tz).date(), deadline.amount
        while left:
            day += timedelta(days=1)
            left -= cal.working(day)
        return _end_of(day, tz)
    if deadline.excludes_weekends_holidays:
        remaining = timedelta(hours=deadline.amount)
        cursor = start
        while True:
            local_day = cursor.astimezone(tz).date()
            next_midnight = _midnight(local_day + timedelta(days=1), tz)
            if cal.working(local_day):
                if cursor + remaining <= next_midnight:
                    return (cursor + remaining).astimezone(tz)
                remaining -= next_midnight - cursor
            cursor = next_midnight
    end = (start + timedelta(hours=deadline.amount)).astimezone(tz)
    if deadline.or_next_working_day and not cal.working(end.date()):
        day = end.date()
        while not cal.working(day):
            day += timedelta(days=1)
        return _end_of(day, tz)
    return end


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _end_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz)


def holidays_for(state: str, years: range) -> list[date]:
    """Public holidays of a US state (federal + state) from the maintained `holidays` library."""
    import holidays as holidays_lib

    return sorted(holidays_lib.country_holidays("US", subdiv=state, years=list(years)))
