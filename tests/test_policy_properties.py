"""Properties every jurisdiction's rules must have, US states and packs beyond the US alike:
each rule loads, cites a source, resolves to deadlines that are never before the case starts,
and names only agency kinds a clinic can configure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.clinic import AgencyKind
from domain.reporting import Clock, due_at
from intake.policy_store import (
    calendar_for,
    duty_to_warn_rule,
    jurisdictions,
    legal_rule,
    packs,
    reporting_rule,
)

ALL = jurisdictions()
KINDS = ("child_abuse", "elder_abuse")
# The zone a clinic in each jurisdiction would use: any US zone will do for a US state (the
# property is about the rule, not the zone); a pack says its own.
ZONES = {code: pack["zone"] for code, pack in packs().items()}
STARTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


def zone(code: str) -> str:
    return ZONES.get(code, "America/Chicago")


def test_the_us_and_the_packs_are_all_here():
    us = [c for c in ALL if c.startswith("US-")]
    assert len(us) == 51
    assert {"CA-ON", "GB-ENG"} <= set(ALL)


@pytest.mark.parametrize("code", ALL)
def test_every_rule_of_every_path_loads_and_cites_a_source(code):
    assert duty_to_warn_rule(code).sources
    for kind in KINDS:
        rule = reporting_rule(code, kind)
        assert rule.jurisdiction == code and rule.sources and rule.agencies
        for extra in rule.additional:
            assert extra.sources and extra.statute
    legal = legal_rule(code)
    assert legal.sources and legal.jurisdiction == code


# Still on Confide's conservative default, waiting for their statute research (issue 13): the
# test fails both when one of these gains a rule (shrink the set) and when any other
# jurisdiction falls back to a default.
STILL_ON_DEFAULT = {
    "legal_requests": set(),
}


@pytest.mark.parametrize("code", ALL)
def test_only_the_jurisdictions_awaiting_research_run_on_a_default(code):
    state = code.removeprefix("US-")
    for kind in KINDS:
        expected = state in STILL_ON_DEFAULT.get(kind, set())
        assert reporting_rule(code, kind).default is expected, (code, kind)
    assert legal_rule(code).default is (state in STILL_ON_DEFAULT["legal_requests"]), code


@pytest.mark.parametrize("code", ALL)
def test_every_agency_is_a_kind_a_clinic_can_configure(code):
    kinds = set(AgencyKind)
    for kind in KINDS:
        rule = reporting_rule(code, kind)
        assert {r.kind for r in rule.agencies} <= kinds
        assert {a.agency.kind for a in rule.additional} <= kinds


@settings(max_examples=60, deadline=None)
@given(start=STARTS, index=st.integers(min_value=0, max_value=len(ALL) * len(KINDS) - 1))
def test_no_deadline_is_ever_before_the_case_starts(start, index):
    code, kind = ALL[index // len(KINDS)], KINDS[index % len(KINDS)]
    rule = reporting_rule(code, kind)
    cal = calendar_for(code, zone(code), start.year - 1)
    # The oral report, then the written one from whichever clock it runs on (knowledge, or an
    # oral report made at the last moment), then each further report.
    oral = due_at(rule.oral_deadline, start, cal) if rule.oral_deadline else start
    assert oral >= start
    if rule.written_deadline is not None:
        from_ = start if rule.written_deadline.clock == Clock.knowledge else oral
        assert due_at(rule.written_deadline, from_, cal) >= from_ >= start
    for extra in rule.additional:
        if extra.deadline is not None:
            assert due_at(extra.deadline, start, cal) > start


@pytest.mark.parametrize("code", ALL)
def test_legal_windows_are_positive_and_end_before_the_response(code):
    legal = legal_rule(code)
    served = datetime(2027, 3, 1, 9, tzinfo=UTC)
    due = served + timedelta(days=30)
    assert served < legal.objection.ends(served, due) <= due
    if isinstance(legal.response_min_days, int):
        assert legal.response_min_days > 0
