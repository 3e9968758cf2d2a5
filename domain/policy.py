"""Jurisdiction policy as data: the rule models, the per-case snapshot, and duty-to-warn
evaluation.

The facts come from shared/reference/jurisdictions.json, encoded by tools/build_policy_data.py
into domain/policy_data/. Reading them is intake's work (intake.policy_store, which workflows
never import): `resolve_policy` there produces a snapshot (with a version hash) that travels in
the workflow input, so replay does not depend on today's files, holidays or tzdata. This module
holds only models and pure functions, safe to pass through the workflow sandbox.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.reporting import Calendar, ReportingRule

FEDERAL_BASIS = "45 CFR 164.512(j) (serious and imminent threat to health or safety)"
FEDERAL_SOURCE = "https://www.hhs.gov/hipaa/for-professionals/faq/520/index.html"


class Action(StrEnum):
    """What discharging a duty may take; the reference's discharge tokens plus contacts."""

    warn_victim = "warn_victim"
    notify_law_enforcement = "notify_law_enforcement"
    initiate_hospitalization = "initiate_hospitalization"
    voluntary_admission = "voluntary_admission"
    arrange_voluntary_admission = "arrange_voluntary_admission"
    notify_parent_or_guardian = "notify_parent_or_guardian"
    notify_child_protective_agency = "notify_child_protective_agency"
    notify_medical_personnel = "notify_medical_personnel"
    prevent_violence_until_law_enforcement_custody = (
        "prevent_violence_until_law_enforcement_custody"
    )
    continue_therapy_in_session = "continue_therapy_in_session"
    report_to_employer_designated_physician_or_psychologist = (
        "report_to_employer_designated_physician_or_psychologist"
    )
    report_to_county_director_of_community_services = (
        "report_to_county_director_of_community_services"
    )
    other_reasonable_precautions = "other_reasonable_precautions"
    other_appropriate_action = "other_appropriate_action"
    other_course_consistent_with_professional_standards = (
        "other_course_consistent_with_professional_standards"
    )

    # Self-harm: tell someone able to prevent or lessen the threat (164.512(j), HHS FAQ 520).
    notify_emergency_contact = "notify_emergency_contact"


# Each action as a person reads it (notices, decisions, `policy show`): the one place its words
# live, so no reader meets a code word like `warn_victim`.
ACTION_WORDS: dict[Action, str] = {
    Action.warn_victim: "warn the person at risk",
    Action.notify_law_enforcement: "notify law enforcement",
    Action.initiate_hospitalization: "start hospitalization",
    Action.voluntary_admission: "admit the patient voluntarily",
    Action.arrange_voluntary_admission: "arrange a voluntary admission",
    Action.notify_parent_or_guardian: "notify a parent or guardian",
    Action.notify_child_protective_agency: "notify child protective services",
    Action.notify_medical_personnel: "notify medical personnel",
    Action.prevent_violence_until_law_enforcement_custody: (
        "prevent violence until law enforcement takes custody"
    ),
    Action.continue_therapy_in_session: "continue therapy and address the threat in session",
    Action.report_to_employer_designated_physician_or_psychologist: (
        "report to the employer's designated physician or psychologist"
    ),
    Action.report_to_county_director_of_community_services: (
        "report to the county director of community services"
    ),
    Action.other_reasonable_precautions: "take other reasonable precautions",
    Action.other_appropriate_action: "take other appropriate action",
    Action.other_course_consistent_with_professional_standards: (
        "take another course consistent with professional standards"
    ),
    Action.notify_emergency_contact: "notify the patient's emergency contacts",
}


class Category(StrEnum):
    """Whether state law requires, permits, or says nothing about a warning."""

    mandatory = "mandatory"
    permissive = "permissive"
    none = "none"


class DutyToWarnRule(BaseModel):
    """One jurisdiction's duty-to-warn rule, with its sources and what is unverified."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    jurisdiction: str
    name: str
    category: Category
    category_basis: Literal["statute", "common_law", "none"]
    category_reference: str
    category_assessment: str | None = None
    trigger: str
    discharge_plans: list[list[Action]] | Literal["unverified"]
    optional_actions: list[Action] = []
    permitted_actions: list[Action] = []
    forbidden_actions: list[Action] = []
    discharge_reference: dict
    statute: str
    sources: list[str] = Field(min_length=1)
    unverified: list[str] = []
    notes: str | None = None
    # Outside the US: the privacy law a warning rests on, in place of 45 CFR 164.512(j) (e.g.
    # Ontario PHIPA s.40(1)). None for US jurisdictions; older snapshots lack it.
    privacy_basis: str | None = None
    # The whole legal basis a disclosure names, where `statute; privacy_basis` would repeat
    # itself: England's common-law permission is both its "statute" and its privacy basis.
    # None: built from the two. A data field, so a case started before it keeps its wording.
    disclosure_basis: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DutyToWarnRule:
        # A rule that both requires and forbids an action is a data error, caught at load.
        if isinstance(self.discharge_plans, list):
            for plan in self.discharge_plans:
                if not plan:
                    raise ValueError(f"{self.jurisdiction}: empty discharge plan")
                clash = set(plan) & set(self.forbidden_actions)
                if clash:
                    raise ValueError(f"{self.jurisdiction}: plan uses forbidden {sorted(clash)}")
        for field in ("optional_actions", "permitted_actions"):
            clash = set(getattr(self, field)) & set(self.forbidden_actions)
            if clash:
                raise ValueError(f"{self.jurisdiction}: {field} has forbidden {sorted(clash)}")
        if (self.discharge_plans == "unverified") != ("discharge" in self.unverified):
            raise ValueError(f"{self.jurisdiction}: 'discharge' must be listed as unverified")
        return self


class Timers(BaseModel):
    """How long each human step may take before reminders and escalation.

    These are clinical service levels, not statutory deadlines (no source sets them); a clinic
    can tighten them. Statutory deadlines (abuse reports) live in their own rules; where a
    statute says only "immediately", `oral_immediately` is the bound Confide holds it to.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    oral_immediately: timedelta = timedelta(hours=1)
    inform_due: timedelta = timedelta(hours=24)
    # Reminders before a statutory deadline, each sent only if the window is longer.
    statutory_reminders: tuple[timedelta, ...] = (
        timedelta(hours=12),
        timedelta(hours=4),
        timedelta(hours=1),
    )
    assessment_due: timedelta = timedelta(hours=4)
    decision_due: timedelta = timedelta(hours=2)
    call_due: timedelta = timedelta(hours=2)
    action_due: timedelta = timedelta(hours=4)
    reminder_before: timedelta = timedelta(hours=1)
    escalate_every: timedelta = timedelta(hours=1)
    reassessment_after: timedelta = timedelta(days=7)
    source: str = "Confide clinical default (not statutory)"


class PolicySnapshot(BaseModel):
    """The rules a case runs under, fixed at case start; `version` hashes all of it.

    Holidays and the zone's UTC offsets are resolved into `calendar` here, so replay never
    depends on the holidays library's or tzdata's data of the day.
    """

    model_config = ConfigDict(frozen=True)
    jurisdiction: str
    duty_to_warn: DutyToWarnRule
    timers: Timers
    version: str
    child_abuse: ReportingRule | None = None
    elder_abuse: ReportingRule | None = None
    calendar: Calendar | None = None
    # The concern kinds of the case: which of the rules above it relies on.
    kinds: list[str] = []

    def reporting(self, kind: str) -> ReportingRule:
        """The reporting rule for a child, elder or dependent-adult abuse concern."""
        rule = self.child_abuse if kind == "child_abuse" else self.elder_abuse
        if rule is None:
            raise ValueError(f"no reporting rule resolved for {kind}")
        return rule

    def unverified_rules(self) -> list[str]:
        """The rules this case relies on that a source did not fully confirm."""
        out = []
        if {"threat_to_others", "self_harm"} & set(self.kinds) and self.duty_to_warn.unverified:
            out.append("duty_to_warn")
        for kind in ("child_abuse", "elder_abuse"):
            rule = getattr(self, kind)
            used = kind in self.kinds or (
                kind == "elder_abuse" and "dependent_adult_abuse" in self.kinds
            )
            if rule is not None and used and (rule.unverified or rule.default):
                out.append(kind)
        return out

    @property
    def unverified(self) -> bool:
        """True when any rule this case relies on is not confirmed by a source."""
        if not self.kinds:  # snapshots recorded before `kinds` existed: duty to warn only
            return bool(self.duty_to_warn.unverified)
        return bool(self.unverified_rules())


def describe_plans(rule: DutyToWarnRule) -> str:
    """The discharge plans as one line: '(a AND b) OR (c)'."""
    if rule.discharge_plans == "unverified":
        return "unverified"
    return (
        " OR ".join(
            "(" + " AND ".join(a.value for a in plan) + ")" for plan in rule.discharge_plans
        )
        or "-"
    )


# ----------------------------------------------------------------------------- evaluation


class DecisionMode(StrEnum):
    """What follows an assessment."""

    act = "act"  # a mandatory duty is triggered: act now, inform the supervisor
    ask = "ask"  # disclosure is permitted: a supervisor decides (with an approval code)
    close = "close"  # nothing to disclose: the assessment stays on record


class DutyDecision(BaseModel):
    """The outcome of applying a rule to an assessment: what happens next and why."""

    mode: DecisionMode
    required: list[Action] = []
    permitted: list[Action] = []
    legal_basis: str
    reason: str
    unverified: bool = False


FEDERAL_DEFAULT_THREAT = [Action.warn_victim, Action.notify_law_enforcement]
FEDERAL_DEFAULT_SELF = [Action.notify_emergency_contact, Action.notify_medical_personnel]


def _federal(rule: DutyToWarnRule) -> str:
    """The privacy-law permission a warning rests on: HIPAA's, or the jurisdiction's own."""
    return rule.privacy_basis or FEDERAL_BASIS


def _basis(rule: DutyToWarnRule) -> str:
    if rule.disclosure_basis:
        return rule.disclosure_basis
    if rule.statute == "unverified":
        return _federal(rule)
    return f"{rule.statute}; {_federal(rule)}"


def _permitted(rule: DutyToWarnRule, default: list[Action]) -> list[Action]:
    if rule.permitted_actions:
        allowed = list(rule.permitted_actions)
    elif isinstance(rule.discharge_plans, list) and rule.discharge_plans:
        allowed = list(dict.fromkeys(a for plan in rule.discharge_plans for a in plan))
    else:
        allowed = list(default)
    return [a for a in allowed if a not in rule.forbidden_actions]


def decide_threat(
    rule: DutyToWarnRule,
    *,
    serious_threat: bool,
    identifiable_victims: bool,
    imminent: bool,
    plan: int = 0,
) -> DutyDecision:
    """Apply a jurisdiction's rule to a threat-to-others assessment."""
    unverified = bool(rule.unverified)
    if not serious_threat:
        return DutyDecision(
            mode=DecisionMode.close,
            legal_basis="none: no disclosure",
            reason="assessment found no serious threat",
            unverified=unverified,
        )
    if not identifiable_victims:
        if not imminent:
            return DutyDecision(
                mode=DecisionMode.close,
                legal_basis="none: no disclosure",
                reason="serious threat but no identifiable victim and not imminent",
                unverified=unverified,
            )
        # No one to warn, but 164.512(j) still permits telling those able to prevent it:
        # whatever the state allows beyond warning a victim, else law enforcement.
        victim_directed = (Action.warn_victim, Action.notify_parent_or_guardian)
        allowed = [*_permitted(rule, FEDERAL_DEFAULT_THREAT), *rule.optional_actions]
        permitted = [a for a in dict.fromkeys(allowed) if a not in victim_directed]
        if not permitted and Action.notify_law_enforcement not in rule.forbidden_actions:
            permitted = [Action.notify_law_enforcement]
        return DutyDecision(
            mode=DecisionMode.ask,
            permitted=permitted,
            legal_basis=_federal(rule),
            reason="imminent serious threat without an identifiable victim",
            unverified=unverified,
        )
    if rule.category == Category.mandatory and isinstance(rule.discharge_plans, list):
        plans = rule.discharge_plans
        if not 0 <= plan < len(plans):
            raise ValueError(f"discharge_plan must be between 0 and {len(plans) - 1}")
        return DutyDecision(
            mode=DecisionMode.act,
            required=list(plans[plan]),
            permitted=[
                a
                for a in rule.optional_actions
                if a not in plans[plan] and a not in rule.forbidden_actions
            ],
            legal_basis=_basis(rule),
            reason=f"mandatory duty ({rule.category_basis}) triggered",
            unverified=unverified,
        )
    if rule.category == Category.permissive:
        reason = "disclosure permitted by state law; a supervisor decides"
    elif rule.category == Category.none:
        reason = "no state duty to warn: federal 164.512(j) permission, a supervisor decides"
    else:
        reason = (
            "mandatory duty, but how to discharge it is unverified: "
            "federal 164.512(j) permission, a supervisor decides"
        )
    return DutyDecision(
        mode=DecisionMode.ask,
        permitted=_permitted(rule, FEDERAL_DEFAULT_THREAT),
        legal_basis=_basis(rule),
        reason=reason,
        unverified=unverified,
    )


def decide_self_harm(rule: DutyToWarnRule, *, risk_level: str) -> DutyDecision:
    """Apply a jurisdiction's rule to a self-harm assessment (164.512(j) covers danger to self)."""
    if risk_level not in ("high", "imminent"):
        return DutyDecision(
            mode=DecisionMode.close,
            legal_basis="none: no disclosure",
            reason=f"risk level {risk_level}: safety plan on record",
            unverified=bool(rule.unverified),
        )
    # States that restrict recipients (TX: medical or law-enforcement personnel) restrict here too.
    permitted = list(rule.permitted_actions) or list(FEDERAL_DEFAULT_SELF)
    return DutyDecision(
        mode=DecisionMode.ask,
        permitted=[a for a in permitted if a not in rule.forbidden_actions],
        legal_basis=_federal(rule),
        reason=f"risk level {risk_level}: disclosure permitted; a supervisor decides",
        unverified=bool(rule.unverified),
    )
