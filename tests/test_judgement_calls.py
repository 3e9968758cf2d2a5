"""The judgement calls of the first encoding, re-read against their statutes (issue 13).

Each row is the value the statute gives, as tools/reference/supplement/judgement_calls.json
records the reading (with its sources); the builder applies the changed ones and says why in the
rule's notes. The rows are written out here, not read from that file, so a change to the research
that flips a value fails a test someone has to look at.
"""

from __future__ import annotations

import json

import pytest

from domain.clinic import AgencyKind
from domain.reporting import Clock, WrittenReport
from intake.policy_store import reporting_rule
from tests.support import ROOT

CALLS = json.loads((ROOT / "tools/reference/supplement/judgement_calls.json").read_text())
NOT_REQ = WrittenReport.not_required


def deadline(rule, field: str):
    d = getattr(rule, field)
    return None if d is None else (d.amount, d.unit.value, d.clock)


@pytest.mark.parametrize(
    ("state", "kind", "written", "written_deadline"),
    [
        # Tex. Fam. Code 261.101-261.104: one report in any form; no written follow-up.
        ("TX", "child_abuse", NOT_REQ, None),
        # Va. Code 63.2-1509: the writing duty is the local department's, not the reporter's.
        ("VA", "child_abuse", NOT_REQ, None),
        # 325 ILCS 5/7 as amended by P.A. 103-0624: the 48-hour confirmation repealed (2025).
        ("IL", "child_abuse", NOT_REQ, None),
        # 320 ILCS 20/4(a-5): one report within 24 hours, in any manner the agency provides.
        ("IL", "elder_abuse", NOT_REQ, None),
        # M.G.L. c.119 s.51A / c.19A s.15: 48 hours, not anchored to the oral report.
        ("MA", "child_abuse", WrittenReport.required, (48, "hours", Clock.knowledge)),
        ("MA", "elder_abuse", WrittenReport.required, (48, "hours", Clock.knowledge)),
        # Iowa Code 232.70(1), current wording: "shall be oral".
        ("IA", "child_abuse", NOT_REQ, None),
        # Unchanged on re-reading: 23 Pa.C.S. 6313 written within 48 h of an oral report.
        ("PA", "child_abuse", WrittenReport.required, (48, "hours", Clock.oral_report)),
        ("PA", "elder_abuse", WrittenReport.required, (48, "hours", Clock.oral_report)),
        # La. Ch.C. art. 610: "5 days" kept as 120 h after the oral report, the shorter reading.
        ("LA", "child_abuse", WrittenReport.required, (120, "hours", Clock.oral_report)),
        # N.D.C.C. 50-25.1-04: written only if the department asks.
        ("ND", "child_abuse", WrittenReport.if_requested, (48, "hours", Clock.oral_report)),
    ],
)
def test_each_judgement_call_has_the_statutes_value(state, kind, written, written_deadline):
    rule = reporting_rule(f"US-{state}", kind)
    assert rule.written == written
    assert deadline(rule, "written_deadline") == written_deadline
    assert "written" not in rule.unverified


def test_a_changed_value_says_why_and_cites_what_was_read():
    changed = [c for c in CALLS if c["changed"]]
    assert len(changed) == 10
    for call in changed:
        rule = reporting_rule(call["jurisdiction"], call["kind"])
        assert f"Re-read ({call['field']}, {call['statute']})" in (rule.notes or "")
        assert set(call["sources"]) <= set(rule.sources), call["jurisdiction"]


def test_virginia_reports_an_abuse_death_to_the_medical_examiner_and_police_still_unverified():
    # Va. Code 63.2-1606: a suspected abuse or neglect death goes at once to the medical
    # examiner and law enforcement; read on an agency page, so agencies stay unverified.
    rule = reporting_rule("US-VA", "elder_abuse")
    on_death = {a.kind for a in rule.agencies if a.when == "death"}
    assert on_death == {AgencyKind.medical_examiner, AgencyKind.law_enforcement}
    assert "agencies" in rule.unverified
