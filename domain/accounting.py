"""The accounting of disclosures (45 CFR 164.528): which ledger rows a patient is told about.

Pure: the ledger rows and the suspensions come in, the accounting goes out. Rows are dropped,
never marked: nothing in an accounting may let a patient infer that a disclosure was held back
(a suspended law-enforcement disclosure above all).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    field_validator,
    model_validator,
)

from domain.flags import OpaqueKey
from domain.records import Disclosure

# 164.528(a)(1): "disclosures ... in the six years prior to the date on which the accounting is
# requested" (jurisdictions.json federal.hipaa_accounting.lookback_years; GPO 45 CFR 164.528).
LOOKBACK_YEARS = 6
# 164.528(a)(2)(ii): an oral statement from an agency or official suspends the accounting for
# "no longer than 30 days from the date of the oral statement" unless a written one follows.
ORAL_SUSPENSION_MAX = timedelta(days=30)


class Suspension(BaseModel):
    """A health-oversight agency's or law-enforcement official's statement that an accounting
    would impede its work (164.528(a)(2)): disclosures TO that agency stay out until it ends.

    A written statement that follows an oral one is recorded as a suspension of its own.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)
    clinic_id: OpaqueKey
    patient_ref: OpaqueKey
    # The agency whose statement it is, named as the ledger names the recipient.
    agency: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    # The official's name and title: (a)(2)(ii) requires documenting who made an oral one.
    official: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    statement: Literal["written", "oral"]
    received_at: AwareDatetime
    until: AwareDatetime

    @model_validator(mode="after")
    def _until_after_received(self) -> Suspension:
        if self.until <= self.received_at:
            raise ValueError("a suspension must end after it was received")
        return self

    def ends(self) -> datetime:
        """When the suspension ends: the stated time for a written statement; for an oral one
        that time, but at most 30 days after it was received."""
        if self.statement == "written":
            return self.until
        return min(self.until, self.received_at + ORAL_SUSPENSION_MAX)


class AccountingQuery(BaseModel):
    """A patient's request for an accounting."""

    clinic_id: str
    patient_ref: str
    requested_at: AwareDatetime
    # A shorter period the patient asked for (its first day); None means the full six years.
    period_from: date | None = None
    # Repeated disclosures to one recipient for one purpose as one entry (164.528(b)(3)).
    summarize: bool = True
    # The clinic's zone: it decides which calendar day an instant falls on (the period's
    # bounds, the dates in a summary's frequency).
    timezone: str = "UTC"
    # When the accounting is given: a suspension is judged in force at that moment (one that
    # arrived or ended between the request and the delivery counts as it stands then).
    # None: at requested_at.
    in_force_at: AwareDatetime | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


class AccountingEntry(BaseModel):
    """One line of the accounting (164.528(b)(2)); a summary of several when `count` > 1."""

    # The disclosure's date, or the first one's in a summary.
    date: datetime
    recipient: str
    recipient_address: str
    description: str
    # Purpose and legal basis as one brief statement (164.528(b)(2)(iv)).
    basis: str
    count: int = 1
    last_date: datetime | None = None
    # Plain words: "4 disclosures between 2026-01-05 and 2026-03-02" (164.528(b)(3)(ii)).
    frequency: str | None = None


class Accounting(BaseModel):
    """The accounting as given to the patient: the period covered and its entries."""

    clinic_id: str
    patient_ref: str
    requested_at: datetime
    period_from: date
    period_to: date
    # Oldest first.
    entries: list[AccountingEntry]
    summarized: bool


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # February 29 in a year that has none
        return day.replace(year=day.year - years, day=28)


def _normal(name: str) -> str:
    """A recipient's name for comparison: case and spacing do not make another recipient."""
    return " ".join(name.split()).casefold()


def period_for(inp: AccountingQuery) -> tuple[date, date]:
    """The calendar days (in the clinic's zone) the accounting covers, first and last.

    Counted in days, as the rule is ("six years prior to the date on which the accounting is
    requested"), so the whole first day is in and the printed period is the one applied.
    """
    zone = ZoneInfo(inp.timezone)
    last = inp.requested_at.astimezone(zone).date()
    earliest = _years_before(last, LOOKBACK_YEARS)
    if inp.period_from is not None and inp.period_from > last:
        raise ValueError("the period asked for starts after the request")
    first = max(inp.period_from, earliest) if inp.period_from is not None else earliest
    return first, last


def _suspended(row: Disclosure, suspensions: Iterable[Suspension], at: datetime) -> bool:
    """Whether a suspension still in force when the accounting is made covers this row."""
    for s in suspensions:
        end = s.ends()
        if (
            s.clinic_id == row.clinic_id
            and s.patient_ref == row.patient_ref
            and _normal(s.agency) == _normal(row.recipient_name)
            and row.disclosed_at < end
            and end > at
        ):
            return True
    return False


def _basis(row: Disclosure) -> str:
    purpose = row.purpose.strip()
    purpose = purpose[:1].upper() + purpose[1:]
    legal = row.legal_basis.strip()
    return f"{purpose} (under {legal})" if legal else purpose


def build_accounting(
    inp: AccountingQuery, rows: list[Disclosure], suspensions: list[Suspension]
) -> Accounting:
    """The accounting for one patient from the ledger's rows.

    Kept: this clinic's and patient's accountable rows (authorizations, TPO and the other
    164.528(a)(1) exemptions are recorded with `accountable` False) disclosed within the period,
    less those to an agency whose suspension is still in force at `requested_at`.
    """
    zone = ZoneInfo(inp.timezone)
    first, last = period_for(inp)
    start = datetime.combine(first, time(0), zone)
    kept = sorted(
        (
            r
            for r in rows
            if r.clinic_id == inp.clinic_id
            and r.patient_ref == inp.patient_ref
            and r.accountable
            and start <= r.disclosed_at <= inp.requested_at
            and not _suspended(r, suspensions, inp.in_force_at or inp.requested_at)
        ),
        key=lambda r: r.disclosed_at,
    )
    groups: list[list[Disclosure]]
    if inp.summarize:
        by_key: dict[tuple[str, str, str], list[Disclosure]] = {}
        for r in kept:
            by_key.setdefault((_normal(r.recipient_name), r.purpose, r.legal_basis), []).append(r)
        groups = list(by_key.values())
    else:
        groups = [[r] for r in kept]
    entries = [_entry(group, zone) for group in groups]
    entries.sort(key=lambda e: e.date)
    return Accounting(
        clinic_id=inp.clinic_id,
        patient_ref=inp.patient_ref,
        requested_at=inp.requested_at,
        period_from=first,
        period_to=last,
        entries=entries,
        summarized=inp.summarize,
    )


def _entry(group: list[Disclosure], zone: ZoneInfo) -> AccountingEntry:
    head = group[0]
    entry = AccountingEntry(
        date=head.disclosed_at,
        recipient=head.recipient_name,
        recipient_address=head.recipient_address,
        description=head.description,
        basis=_basis(head),
    )
    if len(group) == 1:
        return entry
    # 164.528(b)(3): the first disclosure's details, the number made and the date of the last.
    tail = group[-1].disclosed_at
    return entry.model_copy(
        update={
            "count": len(group),
            "last_date": tail,
            "frequency": (
                f"{len(group)} disclosures between "
                f"{head.disclosed_at.astimezone(zone).date().isoformat()} and "
                f"{tail.astimezone(zone).date().isoformat()}"
            ),
        }
    )
