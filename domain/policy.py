"""Jurisdiction policy as data: loading, the per-case snapshot, and duty-to-warn evaluation.

The facts come from shared/reference/jurisdictions.json, encoded by tools/build_policy_data.py
into domain/policy_data/. A case never reads these files after it starts: `resolve_policy`
produces a snapshot (with a version hash) that travels in the workflow input, so replay does not
depend on today's files.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.reporting import Calendar, ReportingRule, holidays_for, reporting_rule

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

    Holidays are resolved into `calendar` here, so replay never depends on the holidays
    library's data of the day.
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


class UnknownJurisdiction(ValueError):
    """The jurisdiction code is not one Confide has policy for."""


@cache
def _duty_to_warn_table() -> dict[str, DutyToWarnRule]:
    raw = json.loads(
        resources.files("domain").joinpath("policy_data/duty_to_warn.json").read_text()
    )
    return {k: DutyToWarnRule.model_validate(v) for k, v in raw["jurisdictions"].items()}


def jurisdictions() -> list[str]:
    """Every jurisdiction with policy data, e.g. 'US-CA'."""
    return sorted(_duty_to_warn_table())


def duty_to_warn_rule(jurisdiction: str) -> DutyToWarnRule:
    """The duty-to-warn rule of one jurisdiction."""
    try:
        return _duty_to_warn_table()[jurisdiction]
    except KeyError:
        raise UnknownJurisdiction(f"no policy data for jurisdiction {jurisdiction!r}") from None


def resolve_policy(
    jurisdiction: str,
    timers: Timers | None = None,
    *,
    kinds: list[str] | None = None,
    timezone: str = "America/Los_Angeles",
    year: int | None = None,
) -> PolicySnapshot:
    """Resolve everything a case needs from the policy data into one hashed snapshot."""
    rule = duty_to_warn_rule(jurisdiction)
    timers = timers or Timers()
    state = jurisdiction.removeprefix("US-")
    start = year or datetime.now(UTC).year
    child = reporting_rule(jurisdiction, "child_abuse")
    elder = reporting_rule(jurisdiction, "elder_abuse")
    # Three years from `year` cover any statutory deadline measured in days or working days.
    calendar = Calendar(timezone=timezone, holidays=holidays_for(state, range(start, start + 3)))
    body = {
        "dtw": rule.model_dump(mode="json"),
        "child": child.model_dump(mode="json"),
        "elder": elder.model_dump(mode="json"),
        "calendar": calendar.model_dump(mode="json"),
        "timers": timers.model_dump(mode="json"),
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    version = "sha256:" + hashlib.sha256(canonical).hexdigest()[:16]
    return PolicySnapshot(
        jurisdiction=jurisdiction,
        duty_to_warn=rule,
        timers=timers,
        version=version,
        child_abuse=child,
        elder_abuse=elder,
        calendar=calendar,
        kinds=list(kinds or []),
    )


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


def _basis(rule: DutyToWarnRule) -> str:
    if rule.statute == "unverified":
        return FEDERAL_BASIS
    return f"{rule.statute}; {FEDERAL_BASIS}"


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
            legal_basis=FEDERAL_BASIS,
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
        legal_basis=FEDERAL_BASIS,
        reason=f"risk level {risk_level}: disclosure permitted; a supervisor decides",
        unverified=bool(rule.unverified),
    )
