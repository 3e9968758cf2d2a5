"""The clinic zone's UTC offsets frozen into the policy snapshot (domain.reporting.FrozenZone).

Inside the snapshot's horizon the frozen zone answers exactly as zoneinfo does today, fold
included; deadlines come out the same; and when tzdata has changed since the case started, the
deadline a replay computes is the one the frozen offsets give, not today's tzdata.
"""

from __future__ import annotations

import json
import pickle
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowHistory

from domain.case import CaseInput
from domain.policy import PolicySnapshot
from domain.reporting import Calendar, Clock, Deadline, FrozenZone, Unit, due_at
from infra.temporal import data_converter
from intake.policy_store import (
    HORIZON_YEARS,
    calendar_for,
    covered,
    frozen_offsets,
    reporting_rule,
    resolve_policy,
)

ZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "America/Phoenix",
    "Pacific/Honolulu",
    "Europe/London",
    "America/Toronto",
    "Australia/Lord_Howe",  # daylight saving time of 30 minutes
]
START = 2026
YEARS = range(START, START + HORIZON_YEARS)
FIRST = datetime(START, 1, 1)
LAST = datetime(START + HORIZON_YEARS, 1, 1)
HISTORIES = Path(__file__).parent / "histories"


def frozen(key: str) -> FrozenZone:
    rows, until = frozen_offsets(key, YEARS)
    return FrozenZone(key, rows, until)


def local(naive: datetime, zone, fold: int) -> tuple:
    dt = naive.replace(tzinfo=zone, fold=fold)
    return dt.utcoffset(), dt.dst(), dt.tzname()


def from_utc(moment: datetime, zone) -> tuple:
    dt = moment.astimezone(zone)
    return dt.replace(tzinfo=None), dt.fold, dt.utcoffset(), dt.dst(), dt.tzname()


def transitions(key: str) -> list[tuple[int, int, int]]:
    """(utc epoch s, offset before, offset after) of each transition in the frozen rows."""
    rows, _ = frozen_offsets(key, YEARS)
    return [(row[0], before[1], row[1]) for before, row in zip(rows, rows[1:], strict=False)]


@pytest.mark.parametrize("key", ZONES)
def test_frozen_zone_equals_zoneinfo_every_hour_of_the_horizon(key):
    fz, zi = frozen(key), ZoneInfo(key)
    # Half-hourly: Lord Howe's offsets and transitions fall on the half hour.
    step = timedelta(minutes=30)
    at = FIRST - timedelta(hours=12)
    while at < LAST + timedelta(hours=12):
        for fold in (0, 1):
            assert local(at, fz, fold) == local(at, zi, fold), (key, at, fold)
        moment = at.replace(tzinfo=UTC)
        assert from_utc(moment, fz) == from_utc(moment, zi), (key, moment)
        at += step


@pytest.mark.parametrize("key", ZONES)
def test_frozen_zone_equals_zoneinfo_around_every_transition(key):
    fz, zi = frozen(key), ZoneInfo(key)
    found = transitions(key)
    if key in ("America/Phoenix", "Pacific/Honolulu"):
        assert found == []  # no daylight saving time: one row, no transition
    else:
        assert len(found) == 2 * HORIZON_YEARS, found
    for utc, before, after in found:
        # Every minute of the three hours about it, and every second of the minutes about it,
        # in UTC (fromutc: the fold of the repeated hour) ...
        seconds = [*range(-3 * 3600, 3 * 3600, 60), *range(-90, 91)]
        for s in seconds:
            moment = datetime.fromtimestamp(utc + s, UTC)
            assert from_utc(moment, fz) == from_utc(moment, zi), (key, moment)
        # ... and in local time about both wall times, both folds: the gap (spring) or the
        # ambiguous hour (autumn), and its edges to the second.
        for wall in {utc + before, utc + after}:
            for s in seconds:
                naive = datetime.fromtimestamp(wall + s, UTC).replace(tzinfo=None)
                for fold in (0, 1):
                    assert local(naive, fz, fold) == local(naive, zi, fold), (key, naive, fold)


@pytest.mark.parametrize("key", ["America/Los_Angeles", "Europe/London", "Australia/Lord_Howe"])
def test_gap_and_ambiguous_times_follow_zoneinfo_fold_semantics(key):
    fz = frozen(key)
    for utc, before, after in transitions(key):
        # A local time inside the gap (spring) or the repeated span (autumn), at its middle.
        naive = datetime.fromtimestamp(utc + (before + after) // 2, UTC).replace(tzinfo=None)
        # Either way fold=0 reads the offset before the transition, fold=1 the one after: in a
        # gap the time does not exist (zoneinfo's reading), in the repeated span fold=0 is the
        # first pass and fold=1 the second.
        assert naive.replace(tzinfo=fz, fold=0).utcoffset() == timedelta(seconds=before)
        assert naive.replace(tzinfo=fz, fold=1).utcoffset() == timedelta(seconds=after)
        if after < before:  # converting the second pass from UTC marks it fold=1
            second_pass = datetime.fromtimestamp(utc + 60, UTC).astimezone(fz)
            assert (
                second_pass.replace(tzinfo=None)
                == naive.replace(hour=second_pass.hour, minute=second_pass.minute, second=0)
                and second_pass.fold == 1
            )
            first_pass = datetime.fromtimestamp(utc - (before - after) + 60, UTC).astimezone(fz)
            assert first_pass.replace(tzinfo=None) == second_pass.replace(tzinfo=None)
            assert first_pass.fold == 0


@pytest.mark.parametrize("key", ["America/Los_Angeles", "Australia/Lord_Howe"])
def test_outside_the_horizon_it_defers_to_zoneinfo(key):
    fz, zi = frozen(key), ZoneInfo(key)
    for naive in (datetime(2019, 3, 10, 2, 30), datetime(2019, 11, 3, 1, 30), datetime(2035, 7, 1)):
        for fold in (0, 1):
            assert local(naive, fz, fold) == local(naive, zi, fold)
        moment = naive.replace(tzinfo=UTC)
        assert from_utc(moment, fz) == from_utc(moment, zi)


def test_frozen_zone_behaves_as_a_tzinfo():
    fz = frozen("America/Los_Angeles")
    dt = datetime(2027, 7, 1, 9, 30, tzinfo=fz)
    assert dt.isoformat() == "2027-07-01T09:30:00-07:00"
    assert dt.strftime("%Z") == "PDT" and str(fz) == "America/Los_Angeles"
    assert fz.utcoffset(None) is None and fz.dst(None) is None and fz.tzname(None) is None
    assert pickle.loads(pickle.dumps(dt)) == dt
    with pytest.raises(ValueError, match="not self"):
        fz.fromutc(datetime(2027, 1, 1, tzinfo=ZoneInfo("America/Los_Angeles")))


# ------------------------------------------------------------------------------- deadlines

DEADLINES = sorted(
    {
        d
        for kind in ("child_abuse", "elder_abuse")
        for j in covered(kind)
        for d in (reporting_rule(j, kind).oral_deadline, reporting_rule(j, kind).written_deadline)
        if d is not None
    }
    | {
        Deadline(amount=24, unit=Unit.hours, or_next_working_day=True),
        Deadline(amount=72, unit=Unit.hours, excludes_weekends_holidays=True),
        Deadline(amount=2, unit=Unit.working_days, clock=Clock.oral_report),
    },
    key=lambda d: d.model_dump_json(),
)


@settings(max_examples=400, deadline=None)
@given(
    key=st.sampled_from(ZONES),
    index=st.integers(0, len(DEADLINES) - 1),
    start=st.datetimes(
        min_value=datetime(START, 1, 1), max_value=datetime(START + HORIZON_YEARS - 1, 12, 15)
    ),
)
def test_due_at_is_the_same_with_frozen_offsets_as_with_zoneinfo(key, index, start):
    now = calendar_for("CA", key, START)
    before = Calendar(timezone=key, holidays=now.holidays)  # a snapshot without offsets
    assert isinstance(before.zone(), ZoneInfo) and isinstance(now.zone(), FrozenZone)
    moment = start.replace(tzinfo=UTC)
    frozen_end, tzdata_end = (
        due_at(DEADLINES[index], moment, now),
        due_at(DEADLINES[index], moment, before),
    )
    # The same instant: compared in UTC, since Python's `==` across two tzinfo objects is
    # always False for a time in a fold (hypothesis found 1:00 AM on 2026-11-01 in New York).
    assert frozen_end.astimezone(UTC) == tzdata_end.astimezone(UTC)
    assert frozen_end.isoformat() == tzdata_end.isoformat()  # the same local time and offset


@pytest.mark.parametrize("key", ["America/Los_Angeles", "Europe/London", "Australia/Lord_Howe"])
def test_due_at_around_every_transition_is_the_same(key):
    ca = calendar_for("CA", key, START)
    before = Calendar(timezone=ca.timezone, holidays=ca.holidays)
    for utc, _, _ in transitions(key):
        for minutes in range(-26 * 60, 2 * 60, 30):
            moment = datetime.fromtimestamp(utc + minutes * 60, UTC)
            for deadline in DEADLINES:
                end = due_at(deadline, moment, ca)
                assert end.isoformat() == due_at(deadline, moment, before).isoformat()


# ------------------------------------------------------------------ a changed tzdata, replayed


def without_dst_in(cal: Calendar, year: int) -> Calendar:
    """The calendar as if tzdata, when the case started, had said the zone keeps standard time
    all `year` (a region abolishing daylight saving time): its transitions that year dropped."""
    lo = datetime(year, 1, 1, tzinfo=UTC).timestamp()
    hi = datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()
    return cal.model_copy(update={"offsets": [r for r in cal.offsets if not lo <= r[0] < hi]})


def test_a_snapshot_frozen_under_other_tzdata_keeps_its_deadlines():
    snap = resolve_policy("US-CA", kinds=["elder_abuse"], year=START)
    assert snap.calendar is not None
    edited = without_dst_in(snap.calendar, 2027)
    # The snapshot travels in the workflow input as JSON, and is read back on replay.
    changed = PolicySnapshot.model_validate_json(
        snap.model_copy(update={"calendar": edited}).model_dump_json()
    )
    assert changed.calendar is not None and changed.calendar == edited
    written = snap.reporting("elder_abuse").written_deadline  # CA: two working days
    assert written is not None and written.unit == Unit.working_days
    knowledge = datetime(2027, 7, 14, 17, 0, tzinfo=UTC)  # a Wednesday, 10 a.m. PDT

    replayed = due_at(written, knowledge, changed.calendar)
    today = due_at(written, knowledge, snap.calendar)
    # The frozen offsets say Pacific Standard Time in July 2027; today's tzdata says PDT.
    assert replayed.isoformat() == "2027-07-16T23:59:59-08:00"
    assert today.isoformat() == "2027-07-16T23:59:59-07:00"
    assert replayed - today == timedelta(hours=1)  # a different timer: the replay keeps its own
    assert ZoneInfo("America/Los_Angeles").utcoffset(datetime(2027, 7, 16)) == timedelta(hours=-7)

    # 24 hours "or the next working day" ending about midnight: the local day it ends on, and
    # so whether it moves to Monday, is the frozen zone's.
    next_day = Deadline(amount=24, unit=Unit.hours, or_next_working_day=True)
    start = datetime(2027, 7, 9, 7, 30, tzinfo=UTC)  # Friday 00:30 PDT, Thursday 23:30 PST
    assert due_at(next_day, start, snap.calendar).isoformat() == "2027-07-12T23:59:59-07:00"
    assert due_at(next_day, start, changed.calendar).isoformat() == "2027-07-09T23:30:00-08:00"


# ------------------------------------------------------------------------ snapshot payload


def test_calendar_offsets_are_compact():
    snap = resolve_policy("US-CA", timezone="America/Los_Angeles", year=START)
    assert snap.calendar is not None
    cal = snap.calendar
    raw = json.loads(snap.model_dump_json())
    del raw["calendar"]["offsets"], raw["calendar"]["offsets_until"]  # a snapshot of before
    added = len(snap.model_dump_json()) - len(
        json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
    )
    # One row for the offset in force and one per transition (two a year), ~30 bytes each:
    # 244 bytes on a snapshot of about 7 KB (67 for a zone without daylight saving time).
    assert len(cal.offsets) == 1 + 2 * HORIZON_YEARS
    assert added <= 250, added
    assert json.loads(cal.model_dump_json())["offsets"][1] == [1772964000, -25200, 3600, "PDT"]
    phoenix = calendar_for("AZ", "America/Phoenix", START)
    assert phoenix.offsets == [(1767052800, -25200, 0, "MST")]  # no DST: one row


def test_a_snapshot_without_offsets_still_loads_and_reads_tzdata():
    snap = resolve_policy("US-CA", year=START)
    raw = snap.model_dump(mode="json")
    assert raw["calendar"]["offsets"]
    del raw["calendar"]["offsets"], raw["calendar"]["offsets_until"]
    old = PolicySnapshot.model_validate(raw)
    assert old.calendar is not None and old.calendar.offsets == []
    assert isinstance(old.calendar.zone(), ZoneInfo)
    assert old.version == snap.version  # taken as recorded, never recomputed


async def test_checked_in_histories_snapshots_have_no_offsets_and_load():
    path = HISTORIES / "demo-clinic.HIST-CA-CHILD-ABUSE.json"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    started = history.events[0].workflow_execution_started_event_attributes
    codec = data_converter().payload_codec
    assert codec is not None
    raw = json.loads((await codec.decode(list(started.input.payloads)))[0].data)
    assert "offsets" not in raw["policy"]["calendar"]
    [inp] = await data_converter().decode(list(started.input.payloads), [CaseInput])
    cal = inp.policy.calendar
    assert cal is not None and cal.offsets == [] and isinstance(cal.zone(), ZoneInfo)
    assert cal.holidays and all(isinstance(d, date) for d in cal.holidays)
