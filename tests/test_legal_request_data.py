"""Each state's subpoena rules as its research file read them (tools/reference/supplement/
legal_requests/<ST>.json, quoting the rule or statute): a table of the values a letter, a
patient's window or a response date depends on. Values no source confirmed stay unverified."""

from __future__ import annotations

import pytest

from intake.policy_store import legal_rule


@pytest.mark.parametrize(
    ("state", "days", "counted", "court_order_required", "response_min_days", "privilege"),
    [
        # CCP 1985.3(g): a motion to quash at least 5 days before production; 1985.3: 20 days.
        ("CA", 5, "before_production", False, 20, "Evid. Code 1014"),
        # Ark. R. Civ. P. 45: written objection within 10 days after service.
        ("AR", 10, "after_service", "unverified", "unverified", "R. Evid. 503"),
        # Fla. R. Civ. P. 1.351(b): 10 days' notice of intent; a court order for psychiatric
        # records (FMA guidance, with Fla. Stat. 491.0147 and 490.0147).
        ("FL", 10, "after_service", True, "unverified", "90.503"),
        # Pa.R.C.P. 4009.21/4009.24: 20 days to object; 55 Pa. Code 5100.35: a court order.
        ("PA", 20, "after_service", True, 20, "5944"),
        # R.I. Gen. Laws 5-37.3-6.1(b): 20 days to move to quash; then a subpoena suffices.
        ("RI", 20, "after_service", False, "unverified", "5-37.3-6"),
        # CPLR 3122(a): an authorization or a court-issued subpoena; CPLR 3120(2): 20 days.
        ("NY", 14, "after_service", True, 20, "CPLR 4507"),
        # Tenn. R. Civ. P. 45.07: 21 days to object and to respond; 33-3-105(3) and In re
        # Centerstone: a court order after a hearing, not a subpoena.
        ("TN", 21, "after_service", True, 21, "24-1-207"),
        # Va. Code 32.1-127.1:03(H): a subpoena may issue with notice; return date >= 15 days.
        ("VA", 14, "after_service", False, 15, "8.01-400.2"),
        # 18 V.S.A. 7103(a)(3): only as a court directs; V.R.C.P. 45(c)-(d) not read.
        ("VT", 14, "after_service", True, "unverified", "12 V.S.A. 1612"),
        # Utah R. Civ. P. 45 read only to (b)(2): nothing beyond the privilege confirmed.
        ("UT", 14, "after_service", "unverified", "unverified", "R. Evid. 506"),
    ],
)
def test_each_states_subpoena_rule_has_the_value_its_source_gives(
    state, days, counted, court_order_required, response_min_days, privilege
):
    rule = legal_rule(f"US-{state}")
    assert not rule.default and rule.sources
    assert (rule.objection.days, rule.objection.counted) == (days, counted)
    # Where no source gave the state's own window the FRCP model is used, and marked.
    assert ("objection" in rule.unverified) == (state in {"NY", "VA", "VT", "UT"})
    assert rule.court_order_required == court_order_required
    assert rule.response_min_days == response_min_days
    assert privilege in rule.privilege


def test_a_value_no_source_confirmed_is_named_as_unverified():
    sd = legal_rule("US-SD")  # SDCL 19-19-503 read; no objection window, no court-order rule
    assert {"objection", "court_order_required", "response_min_days"} <= set(sd.unverified)
    assert sd.therapist_must_claim is True  # "presumed to have authority to claim the privilege"
