"""Policy data loading (intake.policy_store) and duty-to-warn evaluation (domain.policy)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.policy import (
    FEDERAL_DEFAULT_SELF,
    FEDERAL_DEFAULT_THREAT,
    Action,
    Category,
    DecisionMode,
    DutyToWarnRule,
    Timers,
    decide_self_harm,
    decide_threat,
)
from intake.policy_store import (
    UnknownJurisdiction,
    duty_to_warn_rule,
    jurisdictions,
    resolve_policy,
)
from tests.support import ROOT, reference_file

REFERENCE = reference_file()
POLICY_DATA = ROOT / "domain" / "policy_data" / "duty_to_warn.json"

STATES_AND_DC = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
).split()

# tools/build_policy_data.py overrides the reference's category for these states.
CATEGORY_OVERRIDES = {"FL": Category.mandatory, "NY": Category.mandatory}
REFERENCE_CATEGORY = {
    "mandatory (statute)": Category.mandatory,
    "mandatory (common law)": Category.mandatory,
    "permissive": Category.permissive,
    "no statute/common-law guidance": Category.none,
}
# The reference field -> the name `unverified` uses for it.
UNVERIFIED_NAMES = {"trigger": "trigger", "statute": "statute", "discharge_logic": "discharge"}

requires_reference = pytest.mark.skipif(
    not REFERENCE.exists(), reason=f"reference file {REFERENCE} is not present"
)


def us_jurisdictions() -> list[str]:
    """The US states and DC (the packs beyond the US are tested in test_policy_properties)."""
    return [j for j in jurisdictions() if j.startswith("US-")]


def rule(code: str) -> DutyToWarnRule:
    return duty_to_warn_rule(f"US-{code}")


def threat(
    code: str, serious: bool = True, victims: bool = True, imminent: bool = True, plan: int = 0
):
    return decide_threat(
        rule(code),
        serious_threat=serious,
        identifiable_victims=victims,
        imminent=imminent,
        plan=plan,
    )


def rule_data(**overrides) -> dict:
    """A minimal valid rule, for validator tests."""
    data = {
        "jurisdiction": "US-ZZ",
        "name": "Testland",
        "category": "mandatory",
        "category_basis": "statute",
        "category_reference": "mandatory (statute)",
        "trigger": "a serious threat",
        "discharge_plans": [["warn_victim"]],
        "discharge_reference": {"logic": "all_of", "actions": ["warn_victim"]},
        "statute": "Test Code 1",
        "sources": ["https://example.test/statute"],
    }
    data.update(overrides)
    return data


# ----------------------------------------------------------------------------- loading


def test_policy_data_covers_exactly_the_50_states_and_dc():
    assert us_jurisdictions() == sorted(f"US-{s}" for s in STATES_AND_DC)
    assert len(us_jurisdictions()) == 51


def test_every_jurisdiction_entry_validates_and_is_keyed_by_its_own_code():
    raw = json.loads(POLICY_DATA.read_text())["jurisdictions"]
    for code, entry in raw.items():
        parsed = DutyToWarnRule.model_validate(entry)
        assert parsed.jurisdiction == code
        assert duty_to_warn_rule(code) == parsed


def test_every_rule_cites_at_least_one_source_url():
    for code in us_jurisdictions():
        sources = duty_to_warn_rule(code).sources
        assert sources, code
        assert all(s.startswith(("https://", "http://")) for s in sources), (code, sources)


def test_unknown_jurisdiction_raises_unknown_jurisdiction():
    for code in ("US-PR", "CA", "us-ca", ""):
        with pytest.raises(UnknownJurisdiction, match="no policy data"):
            duty_to_warn_rule(code)


@requires_reference
def test_every_reference_value_marked_unverified_is_listed_in_the_rules_unverified():
    reference = json.loads(REFERENCE.read_text())["duty_to_warn"]
    assert sorted(f"US-{s}" for s in reference) == us_jurisdictions()
    for state, fact in reference.items():
        listed = rule(state).unverified
        for field, name in UNVERIFIED_NAMES.items():
            if fact[field] == "unverified":
                assert name in listed, (state, field)


@requires_reference
def test_rules_mark_nothing_unverified_that_the_reference_or_encoding_confirms():
    reference = json.loads(REFERENCE.read_text())["duty_to_warn"]
    for state, fact in reference.items():
        r = rule(state)
        for field in ("trigger", "statute"):
            assert (field in r.unverified) == (fact[field] == "unverified"), (state, field)
        assert ("discharge" in r.unverified) == (r.discharge_plans == "unverified"), state


@requires_reference
def test_policy_data_is_what_the_build_tool_makes_from_the_reference():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_policy_data", ROOT / "tools" / "build_policy_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build(json.loads(REFERENCE.read_text()))
    assert built == json.loads(POLICY_DATA.read_text())


def test_rule_validator_rejects_a_plan_that_uses_a_forbidden_action():
    with pytest.raises(ValidationError, match="forbidden"):
        DutyToWarnRule.model_validate(rule_data(forbidden_actions=["warn_victim"]))


def test_rule_validator_rejects_an_empty_discharge_plan():
    with pytest.raises(ValidationError, match="empty discharge plan"):
        DutyToWarnRule.model_validate(rule_data(discharge_plans=[["warn_victim"], []]))


def test_rule_validator_requires_unverified_discharge_to_be_listed():
    with pytest.raises(ValidationError, match="'discharge' must be listed"):
        DutyToWarnRule.model_validate(rule_data(discharge_plans="unverified"))
    with pytest.raises(ValidationError, match="'discharge' must be listed"):
        DutyToWarnRule.model_validate(rule_data(unverified=["discharge"]))
    ok = DutyToWarnRule.model_validate(
        rule_data(discharge_plans="unverified", unverified=["discharge"])
    )
    assert ok.discharge_plans == "unverified"


def test_rule_validator_rejects_a_rule_without_sources():
    with pytest.raises(ValidationError, match="sources"):
        DutyToWarnRule.model_validate(rule_data(sources=[]))


# ----------------------------------------------------------------------------- categories


def test_category_counts_match_the_encoded_data():
    counts = Counter(duty_to_warn_rule(j).category for j in us_jurisdictions())
    assert counts == {Category.mandatory: 36, Category.permissive: 9, Category.none: 6}


@requires_reference
def test_categories_follow_the_reference_except_the_encoded_overrides():
    reference = json.loads(REFERENCE.read_text())["duty_to_warn"]
    for state, fact in reference.items():
        expected = CATEGORY_OVERRIDES.get(state, REFERENCE_CATEGORY[fact["category"]])
        assert rule(state).category == expected, state


@pytest.mark.parametrize(
    ("state", "category"),
    [
        ("CA", Category.mandatory),
        ("TX", Category.permissive),
        ("AR", Category.none),
        ("FL", Category.mandatory),
        ("NY", Category.mandatory),
        ("IL", Category.permissive),
    ],
)
def test_known_states_have_their_category(state, category):
    assert rule(state).category == category


# ----------------------------------------------------------------------------- decide_threat


def test_california_mandatory_duty_acts_with_warning_and_police_under_civ_code_43_92():
    decision = threat("CA", imminent=False)
    assert decision.mode == DecisionMode.act
    assert decision.required == [Action.warn_victim, Action.notify_law_enforcement]
    assert decision.permitted == []
    assert "Civ. Code 43.92" in decision.legal_basis
    assert "164.512(j)" in decision.legal_basis
    assert decision.unverified is False


def test_texas_asks_a_supervisor_and_never_permits_warning_the_victim():
    for victims in (True, False):
        for imminent in (True, False):
            decision = threat("TX", victims=victims, imminent=imminent)
            assert Action.warn_victim not in decision.permitted
            assert decision.required == []
    decision = threat("TX")
    assert decision.mode == DecisionMode.ask
    assert decision.permitted == [Action.notify_law_enforcement, Action.notify_medical_personnel]
    assert "611.004" in decision.legal_basis


def test_illinois_asks_with_every_action_of_its_discharge_plans_permitted():
    decision = threat("IL")
    assert decision.mode == DecisionMode.ask
    assert decision.required == []
    assert decision.permitted == [
        Action.warn_victim,
        Action.notify_law_enforcement,
        Action.initiate_hospitalization,
    ]
    assert decision.reason == "disclosure permitted by state law; a supervisor decides"


def test_mandatory_state_with_unverified_discharge_asks_with_the_federal_default():
    georgia = rule("GA")
    assert georgia.category == Category.mandatory
    assert georgia.discharge_plans == "unverified"
    decision = threat("GA")
    assert decision.mode == DecisionMode.ask
    assert decision.required == []
    assert decision.permitted == FEDERAL_DEFAULT_THREAT
    assert decision.permitted == [Action.warn_victim, Action.notify_law_enforcement]
    assert "164.512(j)" in decision.legal_basis
    assert decision.unverified is True


def test_unverified_discharge_with_a_known_statute_cites_both_the_statute_and_164_512j():
    decision = threat("OH")
    assert decision.mode == DecisionMode.ask
    assert decision.legal_basis.startswith(rule("OH").statute)
    assert "164.512(j)" in decision.legal_basis
    assert decision.unverified is True


@pytest.mark.parametrize("state", ["CA", "TX", "IL", "GA", "AR", "FL"])
def test_no_serious_threat_closes_without_any_action(state):
    for victims in (True, False):
        for imminent in (True, False):
            decision = threat(state, serious=False, victims=victims, imminent=imminent)
            assert decision.mode == DecisionMode.close
            assert decision.required == []
            assert decision.permitted == []


def test_serious_threat_without_victim_and_not_imminent_closes():
    decision = threat("CA", victims=False, imminent=False)
    assert decision.mode == DecisionMode.close
    assert decision.required == []
    assert decision.permitted == []


@pytest.mark.parametrize("state", ["CA", "IL", "GA", "AR", "MI", "TX"])
def test_imminent_threat_without_identifiable_victim_asks_without_warning_anyone(state):
    decision = threat(state, victims=False, imminent=True)
    assert decision.mode == DecisionMode.ask
    assert decision.required == []
    assert Action.warn_victim not in decision.permitted
    assert Action.notify_parent_or_guardian not in decision.permitted
    assert Action.notify_law_enforcement in decision.permitted
    assert "164.512(j)" in decision.legal_basis


def test_pennsylvania_imminent_threat_without_victim_offers_at_least_one_action():
    decision = threat("PA", victims=False, imminent=True)
    assert decision.mode == DecisionMode.ask
    assert decision.permitted


def test_new_york_imminent_threat_without_victim_still_permits_notifying_police():
    assert Action.notify_law_enforcement in rule("NY").optional_actions
    decision = threat("NY", victims=False, imminent=True)
    assert decision.mode == DecisionMode.ask
    assert Action.notify_law_enforcement in decision.permitted


@pytest.mark.parametrize(
    ("state", "plan", "required"),
    [
        ("CO", 0, [Action.warn_victim, Action.notify_law_enforcement]),
        ("CO", 1, [Action.warn_victim, Action.other_appropriate_action]),
        ("MI", 0, [Action.initiate_hospitalization]),
        ("MI", 1, [Action.warn_victim, Action.notify_law_enforcement]),
    ],
)
def test_plan_index_chooses_the_required_actions_in_a_multi_plan_state(state, plan, required):
    decision = threat(state, plan=plan)
    assert decision.mode == DecisionMode.act
    assert decision.required == required


@pytest.mark.parametrize(("state", "plan"), [("CO", 2), ("MI", 2), ("CA", 1), ("CO", -1)])
def test_out_of_range_plan_index_raises_value_error(state, plan):
    with pytest.raises(ValueError, match="discharge_plan must be between 0 and"):
        threat(state, plan=plan)


def test_florida_mandatory_police_report_permits_warning_the_victim_as_optional():
    decision = threat("FL")
    assert decision.mode == DecisionMode.act
    assert decision.required == [Action.notify_law_enforcement]
    assert decision.permitted == [Action.warn_victim]


def test_new_york_mandatory_county_report_permits_warning_and_police_as_optional():
    decision = threat("NY")
    assert decision.mode == DecisionMode.act
    assert decision.required == [Action.report_to_county_director_of_community_services]
    assert decision.permitted == [Action.warn_victim, Action.notify_law_enforcement]


def test_optional_actions_already_in_the_chosen_plan_are_not_offered_again():
    custom = DutyToWarnRule.model_validate(
        rule_data(
            discharge_plans=[["warn_victim", "notify_law_enforcement"], ["warn_victim"]],
            optional_actions=["notify_law_enforcement"],
        )
    )
    first = decide_threat(
        custom, serious_threat=True, identifiable_victims=True, imminent=True, plan=0
    )
    second = decide_threat(
        custom, serious_threat=True, identifiable_victims=True, imminent=True, plan=1
    )
    assert first.permitted == []
    assert second.permitted == [Action.notify_law_enforcement]


def test_a_rule_offering_a_forbidden_action_as_optional_is_rejected_at_load():
    with pytest.raises(ValidationError, match="optional_actions has forbidden"):
        DutyToWarnRule.model_validate(
            rule_data(
                discharge_plans=[["notify_law_enforcement"]],
                optional_actions=["warn_victim"],
                forbidden_actions=["warn_victim"],
            )
        )


def test_maine_reason_does_not_claim_its_verified_rule_is_unverified():
    decision = threat("ME")
    assert decision.unverified is False
    assert "unverified" not in decision.reason


# ----------------------------------------------------------------------------- self-harm


@pytest.mark.parametrize("state", ["CA", "TX", "GA", "AR"])
@pytest.mark.parametrize("level", ["low", "moderate"])
def test_low_or_moderate_self_harm_risk_closes(state, level):
    decision = decide_self_harm(rule(state), risk_level=level)
    assert decision.mode == DecisionMode.close
    assert decision.permitted == []
    assert decision.required == []


@pytest.mark.parametrize("level", ["high", "imminent"])
def test_high_or_imminent_self_harm_risk_asks_with_the_federal_default(level):
    decision = decide_self_harm(rule("CA"), risk_level=level)
    assert decision.mode == DecisionMode.ask
    assert decision.required == []
    assert decision.permitted == FEDERAL_DEFAULT_SELF
    assert "164.512(j)" in decision.legal_basis
    assert level in decision.reason


def test_texas_self_harm_disclosure_is_limited_to_its_permitted_recipients():
    decision = decide_self_harm(rule("TX"), risk_level="imminent")
    assert decision.mode == DecisionMode.ask
    assert decision.permitted == [Action.notify_law_enforcement, Action.notify_medical_personnel]
    assert Action.notify_emergency_contact not in decision.permitted


def test_self_harm_decision_carries_the_rules_unverified_flag():
    assert decide_self_harm(rule("GA"), risk_level="high").unverified is True
    assert decide_self_harm(rule("CA"), risk_level="high").unverified is False
    assert decide_self_harm(rule("GA"), risk_level="low").unverified is True


# ----------------------------------------------------------------------------- resolve_policy


def test_policy_version_is_stable_for_the_same_input():
    first = resolve_policy("US-CA")
    again = resolve_policy("US-CA", Timers())
    assert first.version == again.version
    assert first.version.startswith("sha256:")
    assert len(first.version) == len("sha256:") + 16


def test_policy_version_changes_when_the_timers_change():
    default = resolve_policy("US-CA")
    tighter = resolve_policy("US-CA", Timers(decision_due=timedelta(hours=1)))
    assert tighter.version != default.version
    assert tighter.timers.decision_due == timedelta(hours=1)


def test_policy_version_differs_between_jurisdictions():
    versions = {resolve_policy(j).version for j in jurisdictions()}
    assert len(versions) == len(jurisdictions())


def test_snapshot_carries_the_rule_and_reports_unverified():
    ca = resolve_policy("US-CA")
    assert ca.jurisdiction == "US-CA"
    assert ca.duty_to_warn == rule("CA")
    assert ca.unverified is False
    assert resolve_policy("US-GA").unverified is True


def test_resolve_policy_rejects_an_unknown_jurisdiction():
    with pytest.raises(UnknownJurisdiction):
        resolve_policy("US-XX")


# ----------------------------------------------------------------------------- properties


@st.composite
def threat_cases(draw):
    code = draw(st.sampled_from(jurisdictions()))
    r = duty_to_warn_rule(code)
    plans = r.discharge_plans
    plan = draw(st.integers(0, len(plans) - 1)) if isinstance(plans, list) and plans else 0
    return r, draw(st.booleans()), draw(st.booleans()), draw(st.booleans()), plan


@settings(max_examples=300, deadline=None)
@given(threat_cases())
def test_decide_threat_never_uses_a_forbidden_action_and_acts_only_on_mandatory_plans(case):
    r, serious, victims, imminent, plan = case
    decision = decide_threat(
        r, serious_threat=serious, identifiable_victims=victims, imminent=imminent, plan=plan
    )
    forbidden = set(r.forbidden_actions)
    assert not forbidden & set(decision.required)
    assert not forbidden & set(decision.permitted)
    if decision.mode == DecisionMode.act:
        assert r.category == Category.mandatory
        assert isinstance(r.discharge_plans, list)
        assert decision.required == r.discharge_plans[plan]
    else:
        assert decision.required == []
    should_act = (
        serious
        and victims
        and r.category == Category.mandatory
        and isinstance(r.discharge_plans, list)
    )
    assert (decision.mode == DecisionMode.act) == should_act
    if not serious:
        assert decision.mode == DecisionMode.close
    assert decision.unverified == bool(r.unverified)
