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

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.clinic import AgencyKind
from domain.flags import Circumstance

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


class Duty(StrEnum):
    """Whether the law requires a report or only permits one.

    England has no general statutory duty to report child abuse: a referral to children's
    social care is a disclosure in the public interest that someone decides on, not a duty
    on a clock. The workflow follows the data: a permissive rule opens a supervisor decision
    first, and only an approved referral becomes a report.
    """

    mandatory = "mandatory"
    permissive = "permissive"


class AgencyRoute(BaseModel):
    """A receiving agency, and when it is the right one."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: AgencyKind
    description: str
    # When this route applies; "always" unless the statute routes by circumstance.
    when: Literal[
        "always", "caretaker_abuser", "non_caretaker_abuser", "facility", "community", "death"
    ] = "always"


class AdditionalReport(BaseModel):
    """A second report the same facts require, to another agency, usually on a shorter clock:
    CA W&I 15630(b)(1)(A) (serious bodily injury in a long-term care facility: law enforcement
    within 2 hours); England's FGM duty (police, within one month) where child abuse itself
    carries no duty. It applies when the concern's setting and circumstances match."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    agency: AgencyRoute
    # None = immediately, with no numeric bound (Confide applies `Timers.oral_immediately`).
    deadline: Deadline | None = None
    setting: Literal["any", "facility", "community"] = "any"
    circumstance: Circumstance | None = None
    # Who the duty falls on, where narrower than the rule's reporters (England's FGM duty:
    # regulated health and social care professionals and teachers).
    reporters: str | None = None
    statute: str
    sources: list[str] = Field(min_length=1)
    unverified: list[str] = []
    note: str | None = None

    def applies(self, setting: str | None, circumstances: Sequence[str]) -> bool:
        """Whether a concern with this setting and these circumstances triggers it."""
        if self.setting != "any" and setting != self.setting:
            return False
        return self.circumstance is None or self.circumstance in circumstances


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
    # Fields added for statutes the first schema could not say (issue 13). Defaults keep the
    # rules recorded in earlier case histories valid and their meaning unchanged.
    duty: Duty = Duty.mandatory
    additional: list[AdditionalReport] = []
    # Who must report where the statute names them (professions, exemptions); and where any
    # person must report but only in some cases (SC: actual knowledge), what that part is.
    reporters: str | None = None
    universal_scope: str | None = None
    # The privacy law a disclosure rests on outside the US (it replaces the HIPAA permission):
    # e.g. "UK GDPR Art. 6(1)(e), 9(2)(g); Data Protection Act 2018 Sch. 1 para 18".
    privacy_basis: str | None = None
    # Where the duty does not end with the report: Ontario's CYFSA s.125(2) asks for a further
    # report on each new ground. Said in the reporter's e-mail; None where no statute says so.
    further_reports: str | None = None

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
        federal = self.privacy_basis or (CHILD_BASIS if self.kind == "child_abuse" else ADULT_BASIS)
        return f"{self.statute}; {federal}"

    def additional_for(
        self, setting: str | None, circumstances: Sequence[str]
    ) -> list[AdditionalReport]:
        """The further reports a concern with this setting and these circumstances needs."""
        return [a for a in self.additional if a.applies(setting, circumstances)]


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


# ------------------------------------------------------------------------ deadline arithmetic


# The frozen zone answers inside its horizon with this margin kept from the rows' ends: no UTC
# offset is a day or more, so within it neither a transition just outside the rows (whose local
# wall time or fold could reach in) nor the offset before the first row can change an answer.
ZONE_MARGIN = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _seconds(dt: datetime) -> int:
    """A datetime's wall fields as whole seconds since 1970 (microseconds ignored, as zoneinfo
    does)."""
    return (dt.toordinal() - _EPOCH_ORDINAL) * 86400 + dt.hour * 3600 + dt.minute * 60 + dt.second


class FrozenZone(tzinfo):
    """A time zone answered from UTC-offset rows fixed into a policy snapshot, not from the
    machine's tzdata: a replay computes the same local times and deadlines as the first run
    even if tzdata has changed since (a region abolished daylight saving time, say).

    `rows` are [utc epoch seconds, utcoffset s, dst s, abbreviation]: the first the offset in
    force when the rows begin, then each transition. Inside the horizon (the rows' span less
    `ZONE_MARGIN` at each end) it reproduces `zoneinfo.ZoneInfo` exactly, fold included: a local
    time is placed against each transition's wall time computed, for fold=0, with the larger
    of the offsets before and after it, for fold=1 with the smaller (CPython's zoneinfo), so
    a time in a gap takes the offset before the gap with fold=0 and after it with fold=1, and
    an ambiguous one the earlier offset with fold=0 and the later with fold=1. `fromutc` sets
    fold=1 on the second pass through an ambiguous hour.

    Outside the horizon it defers to ZoneInfo (the tzdata of the day). That is acceptable: the
    horizon is the years whose holidays the snapshot fixes (intake: from the year before the
    flag to the end of the year after it), so a deadline past it would already be computed
    without its holidays; statutory deadlines fall hours or days after knowledge or the oral
    report, near the case's start, so only a concern still computing deadlines more than a year
    after its flag reaches it; and failing there instead would stall the workflow task.
    """

    def __init__(self, key: str, rows: Sequence[Sequence[int | str]], until: int) -> None:
        self.key = key
        self._rows = tuple((int(r[0]), int(r[1]), int(r[2]), str(r[3])) for r in rows)
        self._until = until
        if not self._rows or self._rows[0][0] + 2 * ZONE_MARGIN > until:
            raise ValueError(f"{key}: frozen offsets need at least {2 * ZONE_MARGIN} s of rows")
        self._utc = [r[0] for r in self._rows]
        self._info = [
            (timedelta(seconds=off), timedelta(seconds=dst), name)
            for _, off, dst, name in self._rows
        ]
        self._wall: tuple[list[int], list[int]] = ([], [])
        for before, row in zip(self._rows, self._rows[1:], strict=False):
            self._wall[0].append(row[0] + max(before[1], row[1]))
            self._wall[1].append(row[0] + min(before[1], row[1]))
        self._from = self._rows[0][0] + ZONE_MARGIN
        self._to = until - ZONE_MARGIN
        self._fallback: ZoneInfo | None = None

    def _zoneinfo(self) -> ZoneInfo:
        if self._fallback is None:
            self._fallback = ZoneInfo(self.key)
        return self._fallback

    def _find(self, dt: datetime) -> tuple[timedelta, timedelta, str] | None:
        """The (utcoffset, dst, abbreviation) of a local time; None outside the horizon."""
        ts = _seconds(dt)
        if not self._from <= ts < self._to:
            return None
        return self._info[bisect_right(self._wall[dt.fold], ts)]

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None
        info = self._find(dt)
        return self._zoneinfo().utcoffset(dt) if info is None else info[0]

    def dst(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None
        info = self._find(dt)
        return self._zoneinfo().dst(dt) if info is None else info[1]

    def tzname(self, dt: datetime | None) -> str | None:
        if dt is None:
            return None
        info = self._find(dt)
        return self._zoneinfo().tzname(dt) if info is None else info[2]

    def fromutc(self, dt: datetime) -> datetime:
        if not isinstance(dt, datetime):
            raise TypeError("fromutc() requires a datetime argument")
        if dt.tzinfo is not self:
            raise ValueError("dt.tzinfo is not self")
        ts = _seconds(dt)
        if not self._from <= ts < self._to:
            zone = self._zoneinfo()
            return zone.fromutc(dt.replace(tzinfo=zone)).replace(tzinfo=self)
        idx = bisect_right(self._utc, ts) - 1
        shift = self._rows[idx - 1][1] - self._rows[idx][1] if idx else 0
        local = dt + self._info[idx][0]
        return local.replace(fold=1) if shift > ts - self._utc[idx] else local

    def __reduce__(self) -> tuple[type[FrozenZone], tuple[str, tuple, int]]:
        return FrozenZone, (self.key, self._rows, self._until)

    def __str__(self) -> str:
        return self.key

    def __repr__(self) -> str:
        return f"FrozenZone({self.key!r}, {len(self._rows)} rows)"


class Calendar(BaseModel):
    """The clinic's time zone, the holidays and the zone's UTC offsets in force, fixed into the
    policy snapshot."""

    model_config = ConfigDict(frozen=True)
    timezone: str
    holidays: list[date] = []
    # The zone's UTC offsets over the same years as `holidays`, resolved from tzdata at case
    # start (intake.policy_store.frozen_offsets): rows [utc epoch s, utcoffset s, dst s,
    # abbreviation] as FrozenZone reads them, and where they end (utc epoch s). Empty in
    # snapshots recorded before they were frozen: those go on reading tzdata (ZoneInfo).
    offsets: list[tuple[int, int, int, str]] = []
    offsets_until: int = 0

    def working(self, day: date) -> bool:
        """Monday to Friday and not a holiday."""
        return day.weekday() < 5 and day not in self.holidays

    def zone(self) -> tzinfo:
        """The zone deadlines are computed in: the frozen offsets when the snapshot has them."""
        if self.offsets:
            return FrozenZone(self.timezone, self.offsets, self.offsets_until)
        return ZoneInfo(self.timezone)


def due_at(deadline: Deadline, start: datetime, cal: Calendar) -> datetime:
    """When a deadline that starts at `start` expires.

    Hours are elapsed hours (computed in UTC, so a daylight-saving change neither adds nor
    removes one). Working days: the end (23:59:59 local) of the Nth working day after the
    start day, since a report filed any time that day is within "N working days". Hours
    excluding weekends and holidays: only hours on working days count. "Or the next working
    day": an hours deadline that ends on a non-working day moves to the end of the next
    working day. Local days and times come from `cal.zone()`: the offsets frozen into the
    snapshot, so a replay after a tzdata change computes the same deadline.
    """
    tz = cal.zone()
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


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _end_of(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz)
