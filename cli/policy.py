"""`confide policy show US-CA`: a jurisdiction's rules in plain language, and the two version
hashes with what each identifies.

Why two hashes. `intake.policy_store.resolve_policy` hashes the whole snapshot a case carries:
the state's rules, the Confide time limits, and a calendar made for the case's clinic (its time
zone, the state's holidays and the zone's UTC offsets for the three years from the year before
the flag). So a case's `policy_version` depends on its clinic's zone and its flag's year, not on
the state alone, and a hash computed here without them could never match one. This command
shows a hash of the rules alone (the same for every clinic and year, changed only by the policy
data) and the `policy_version` a case opened today at a named clinic carries, saying why an
older case, or one at a clinic in another zone, carries another.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from pydantic import BaseModel

from cli.layout import bullet, duration_words, every, fields, para, series
from domain.clinic import Clinic
from domain.legal_request import LegalRequestRule
from domain.policy import ACTION_WORDS, Action, Category, DutyToWarnRule, PolicySnapshot, Timers
from domain.reporting import Delegation, ReportingRule, WrittenReport


class PolicyQuery(BaseModel):
    """What `policy show` was asked: the state, the clinic whose cases it speaks of (None when
    no clinics file is readable), today's date there, and the width to fit."""

    jurisdiction: str
    clinic: Clinic | None = None
    today: date
    width: int = 80


class PolicyFacts(BaseModel):
    """Everything the command prints, resolved once from the policy store."""

    query: PolicyQuery
    snapshot: PolicySnapshot
    legal: LegalRequestRule
    rules_version: str
    # The versions a case and a legal request at the query's clinic carry (None: no clinic).
    case_version: str | None = None
    legal_version: str | None = None


def _short_hash(body: dict[str, Any]) -> str:
    # The same form as the snapshot's version (intake.policy_store), so the two read alike.
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()[:16]


def resolve(q: PolicyQuery) -> PolicyFacts:
    """The rules, the hash of the rules alone, and what a case and a request carry today.
    Raises intake.policy_store.UnknownJurisdiction for a code without policy data."""
    from intake.policy_store import legal_rule, resolve_legal_policy, resolve_policy

    zone = q.clinic.timezone if q.clinic else "America/Los_Angeles"
    # intake.cases.case_input: the calendar starts the year before the flag's.
    snap = resolve_policy(q.jurisdiction, timezone=zone, year=q.today.year - 1)
    legal = legal_rule(q.jurisdiction)
    rules = _short_hash(
        {
            "dtw": snap.duty_to_warn.model_dump(mode="json"),
            "child": snap.reporting("child_abuse").model_dump(mode="json"),
            "elder": snap.reporting("elder_abuse").model_dump(mode="json"),
            "legal": legal.model_dump(mode="json"),
        }
    )
    return PolicyFacts(
        query=q,
        snapshot=snap,
        legal=legal,
        rules_version=rules,
        case_version=snap.version if q.clinic else None,
        legal_version=resolve_legal_policy(q.jurisdiction, zone).version if q.clinic else None,
    )


# ------------------------------------------------------------------------------- in words

# What a field named in `unverified` is, in words (the data's own names otherwise).
UNVERIFIED_WORDS = {
    "discharge": "how the duty is discharged",
    "trigger": "what triggers it",
    "statute": "the statute",
    "category": "whether it is mandatory",
    "objection": "the objection window",
    "privilege": "the privilege's citation",
    "therapist_must_claim": "whether the therapist must claim the privilege",
    "court_order_required": "whether a court order is required",
    "response_min_days": "the shortest lawful time to respond",
    "response_basis": "the basis of the time to respond",
    "patient_notice": "how the patient is told",
    "delegation": "whether the duty may be delegated",
    "oral_deadline": "the oral report's deadline",
    "written": "whether a written report is required",
    "written_deadline": "the written report's deadline",
    "agencies": "which agencies receive it",
    "penalty": "the penalty",
    "universal": "whether everyone is a mandated reporter",
}

CATEGORY_WORDS = {
    Category.mandatory: (
        "Mandatory: when the trigger is met the law requires the steps below; Confide starts "
        "them at once and informs the supervisor."
    ),
    Category.permissive: (
        "Permissive: the law allows a disclosure but does not require one; a supervisor "
        "decides, with an approval code."
    ),
    Category.none: (
        "No state duty: federal law (45 CFR 164.512(j)) permits a disclosure to prevent a "
        "serious and imminent threat; a supervisor decides."
    ),
}

BASIS_WORDS = {"statute": "Set by statute", "common_law": "Set by court decisions (common law)"}

DELEGATION_WORDS = {
    Delegation.non_delegable: (
        "The reporter's own: telling a supervisor does not discharge it, and no one may "
        "approve or delay the report."
    ),
    Delegation.person_in_charge: "Staff tell the person in charge, who reports.",
    Delegation.also_notify_person_in_charge: (
        "The reporter's own, and the person in charge is told as well."
    ),
    Delegation.institutional_procedure: "Reported under the institution's approved procedure.",
    Delegation.unverified: (
        "Not confirmed by a source; Confide treats it as the reporter's own, which no one may "
        "approve or delay."
    ),
}


def _confirmed(unverified: list[str]) -> str:
    if not unverified:
        return "Yes: a source confirms every part of this rule."
    named = [UNVERIFIED_WORDS.get(u, u.replace("_", " ")) for u in unverified]
    return f"No: no source confirmed {series(named)}."


def _actions(actions: list[Action], last: str = "and") -> str:
    return series([ACTION_WORDS[a] for a in actions], last)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _discharge(rule: DutyToWarnRule) -> str:
    plans = rule.discharge_plans
    if plans == "unverified":
        return "Not confirmed by a source: a supervisor chooses among the permitted steps."
    if not plans:
        return "No step is required."
    if len(plans) == 1:
        return f"By doing all of: {_actions(plans[0])}."
    options = [f"({i}) {_actions(p)}" for i, p in enumerate(plans, 1)]
    return f"By any one of: {'; '.join(options)}."


def _yes_no(value: bool | str, yes: str, no: str, what: str) -> str:
    if value == "unverified":
        return f"Unverified: no source confirmed {what}."
    return f"Yes: {yes}" if value else f"No: {no}"


def _sources(sources: list[str]) -> str:
    # One per line: a URL is one word and stays whole (cli.layout).
    return "\n".join(sources)


# -------------------------------------------------------------------------------- sections


def _heading(title: str, width: int) -> list[str]:
    return ["", *para(title, width)]


def _versions(f: PolicyFacts) -> list[str]:
    q = f.query
    width = q.width
    out = _heading("Two version hashes, and why a case's may differ", width)
    rules = (
        "The rules alone, as this release of Confide encodes them: duty to warn, child and "
        "elder abuse reporting, court orders and subpoenas. The same for every clinic and "
        "every year; it changes only when that data changes."
    )
    rows = [("rules", f"{f.rules_version}\n{rules}")]
    if q.clinic is not None and f.case_version and f.legal_version:
        cal = f.snapshot.calendar
        years = f"{q.today.year - 1} to {q.today.year + 1}"
        case = (
            f"The policy_version of a case {q.clinic.name} ({q.clinic.id}) opens in "
            f"{q.today.year}: the rules above and the time limits below, with a calendar for "
            f"the clinic's time zone ({cal.timezone if cal else q.clinic.timezone}): the "
            f"state's holidays and the zone's UTC offsets for {years}, which working-day "
            "deadlines are counted in. A case's own policy_version differs when it was "
            "flagged in another year, at a clinic in another time zone, or before the policy "
            "data last changed: each case keeps the snapshot it started with, so its deadlines "
            "never move."
        )
        legal = (
            f"The policy_version of a court order or subpoena {q.clinic.name} receives: the "
            "subpoena rules below and the clinic's time zone."
        )
        rows += [("case", f"{f.case_version}\n{case}"), ("request", f"{f.legal_version}\n{legal}")]
    else:
        rows.append(
            (
                "case",
                "No clinic is configured (CONFIDE_CLINICS), so no case version is shown: a "
                "case's policy_version also covers its clinic's time zone and holidays.",
            )
        )
    return out + fields(rows, width)


def _duty_to_warn(rule: DutyToWarnRule, width: int) -> list[str]:
    duty = CATEGORY_WORDS[rule.category]
    if rule.category == Category.mandatory and rule.discharge_plans == "unverified":
        duty = (
            "Mandatory, but how to discharge it is unverified: a supervisor decides under "
            "federal permission (45 CFR 164.512(j))."
        )
    basis = BASIS_WORDS.get(rule.category_basis)
    rows = [("duty", duty + (f" {basis}." if basis else ""))]
    if rule.category_assessment:
        rows.append(("in short", rule.category_assessment))
    rows += [
        ("statute", rule.statute),
        ("trigger", rule.trigger),
        ("discharged", _discharge(rule)),
    ]
    if rule.permitted_actions:
        only = _actions(rule.permitted_actions, "or")
        rows.append(("permitted", _sentence(f"{only}, and nothing else")))
    if rule.optional_actions:
        rows.append(("also allowed", _sentence(_actions(rule.optional_actions, "or"))))
    rows += [
        ("forbidden", _sentence(_actions(rule.forbidden_actions, "or") or "nothing")),
        ("confirmed", _confirmed(rule.unverified)),
    ]
    if rule.notes:
        rows.append(("notes", rule.notes))
    rows.append(("sources", _sources(rule.sources)))
    return _heading("Duty to warn (a threat to others; self-harm)", width) + fields(rows, width)


def _timers(t: Timers, width: int) -> list[str]:
    before = series([duration_words(d) for d in t.statutory_reminders])
    items = [
        f"A risk assessment (and each re-assessment) is due {duration_words(t.assessment_due)} "
        "after it opens.",
        f"A supervisor's release decision is due {duration_words(t.decision_due)} after it opens.",
        f"A phone call to someone who could not be e-mailed, or a notice delivered another "
        f"way, is due within {duration_words(t.call_due)}.",
        f"Each other action a duty requires is due within {duration_words(t.action_due)}.",
        f"Every task sends a reminder {duration_words(t.reminder_before)} before it is due "
        "(halfway, when it has less time), and an overdue task escalates "
        f"{every(t.escalate_every)}.",
        f"A follow-up re-assessment opens {duration_words(t.reassessment_after)} after a "
        "duty-to-warn or self-harm case acts.",
        "Where a statute says only 'immediately', the oral abuse report is due within "
        f"{duration_words(t.oral_immediately)} of knowledge.",
        f"The reporter is reminded {before} before a statutory deadline.",
        "An adult victim is told of the report (or the reason not to is recorded) within "
        f"{duration_words(t.inform_due)}.",
    ]
    out = _heading(f"Time limits: {t.source}", width)
    for item in items:
        out += bullet(item, width)
    return out


def _written(rule: ReportingRule, fallback: str) -> str:
    """The written report: whether one is due, by when, on what form. `fallback` is the
    deadline Confide sets where the data has none (workflows.abuse_report)."""
    from domain.abuse_report import describe_deadline

    form = f" on {rule.written_form}" if rule.written_form else ""
    if rule.written == WrittenReport.if_requested:
        return describe_deadline(rule.written_deadline, "Only if the agency asks") + "."
    if rule.written == WrittenReport.not_required:
        return "Not required."
    if rule.written_deadline is None:
        said = (
            f"Required{form}: no deadline in the data; Confide sets {fallback} after the "
            "oral report"
        )
    else:
        said = describe_deadline(rule.written_deadline, f"Required{form}")
    if rule.written == WrittenReport.unverified:
        said += "; whether one is required is unverified, so Confide asks for one"
    return said + "."


def _reporting(rule: ReportingRule, title: str, t: Timers, width: int) -> list[str]:
    from domain.abuse_report import describe_deadline

    oral = describe_deadline(rule.oral_deadline, "Due")
    if rule.oral_deadline is None:
        oral += f"; Confide holds it to {duration_words(t.oral_immediately)}"
    rows = []
    if rule.default:
        rows.append(
            (
                "rule",
                "default (no state rule encoded): Confide's conservative default applies, "
                "report now and in writing within 24 hours.",
            )
        )
    if rule.duty.value == "permissive":
        rows.append(
            (
                "duty",
                "Permissive: the law does not require a report; a supervisor decides on a "
                "referral, with an approval code, and only an approved referral is reported.",
            )
        )
    rows += [
        ("statute", rule.statute),
        ("how", rule.oral),
        ("oral", oral + "."),
        ("written", _written(rule, duration_words(t.oral_immediately * 24))),
        ("to", "\n".join(a.description for a in rule.agencies)),
        ("whose duty", DELEGATION_WORDS[rule.delegation]),
    ]
    if rule.kind == "elder_abuse":
        rows.append(
            (
                "inform",
                _yes_no(
                    rule.inform_individual,
                    "the adult is told a report was made, unless that risks serious harm "
                    "(45 CFR 164.512(c)(2)).",
                    "the adult is not told of the report.",
                    "whether the adult is told",
                ),
            )
        )
    from domain.abuse_report import deadline_words

    for extra in rule.additional:
        when = [w for w in (extra.setting if extra.setting != "any" else "", extra.circumstance)]
        rows.append(
            (
                "also",
                f"{extra.name}: report to {extra.agency.description}, "
                + (
                    deadline_words(extra.deadline)
                    if extra.deadline
                    else f"immediately (Confide holds it to {duration_words(t.oral_immediately)})"
                )
                + f" ({extra.statute}); only when the flag says "
                + " and ".join(str(w).replace("_", " ") for w in when if w)
                + ".",
            )
        )
    rows.append(("confirmed", _confirmed(rule.unverified)))
    if rule.notes:
        rows.append(("notes", rule.notes))
    rows.append(("sources", _sources(rule.sources)))
    return _heading(title, width) + fields(rows, width)


def _legal(rule: LegalRequestRule, width: int) -> list[str]:
    w = rule.objection
    window = (
        f"The patient may object within {w.days} days after service."
        if w.counted == "after_service"
        else f"The patient may object until {w.days} days before production."
    )
    if "objection" in rule.unverified:
        model = window[0].lower() + window[1:]
        window = f"Unverified for this state; Confide uses the federal model: {model}"
    days = rule.response_min_days
    if days is None or days == "unverified":
        respond = "Unverified: no source confirmed the shortest lawful time to respond."
    else:
        respond = f"At least {days} days: {rule.response_basis or 'no basis recorded'}"
    rows = []
    if rule.default:
        rows.append(
            (
                "rule",
                "default (no state rule encoded): the federal rule (FRCP 45) applies, marked "
                "unverified.",
            )
        )
    rows += [
        ("objection", window),
        ("basis", w.basis),
        ("notice", rule.patient_notice or "No rule for telling the patient was recorded."),
        ("respond", respond),
        ("privilege", rule.privilege),
        (
            "claim it",
            _yes_no(
                rule.therapist_must_claim,
                "the therapist must claim the privilege for the patient.",
                "the therapist need not claim the privilege; the patient may.",
                "whether the therapist must claim the privilege",
            ),
        ),
        (
            "order",
            _yes_no(
                rule.court_order_required,
                "only a court order reaches these records; a subpoena alone never does.",
                "a subpoena can reach them once the patient was told and the time to object "
                "passed, or under a qualified protective order.",
                "whether a court order is required",
            ),
        ),
        ("confirmed", _confirmed(rule.unverified)),
    ]
    if rule.notes:
        rows.append(("notes", rule.notes))
    rows.append(("sources", _sources(rule.sources)))
    return _heading("Court orders and subpoenas", width) + fields(rows, width)


def describe(f: PolicyFacts) -> list[str]:
    """The whole `policy show` text, every line within the width but a URL longer than it."""
    snap, width = f.snapshot, f.query.width
    return [
        *para(f"{snap.jurisdiction}: {snap.duty_to_warn.name}", width),
        *_versions(f),
        *_duty_to_warn(snap.duty_to_warn, width),
        *_reporting(snap.reporting("child_abuse"), "Child abuse reporting", snap.timers, width),
        *_reporting(
            snap.reporting("elder_abuse"),
            "Elder and dependent-adult abuse reporting",
            snap.timers,
            width,
        ),
        *_legal(f.legal, width),
        *_timers(snap.timers, width),
    ]


def as_json(f: PolicyFacts) -> dict[str, Any]:
    """The same facts for scripts: every rule whole, durations in ISO 8601 (PT12H)."""
    snap, q = f.snapshot, f.query
    return {
        "jurisdiction": snap.jurisdiction,
        "name": snap.duty_to_warn.name,
        "versions": {
            "rules": f.rules_version,
            "case": f.case_version,
            "legal_request": f.legal_version,
            "clinic": q.clinic.id if q.clinic else None,
            "timezone": q.clinic.timezone if q.clinic else None,
            "calendar_years": [q.today.year - 1, q.today.year + 1] if q.clinic else None,
        },
        "duty_to_warn": snap.duty_to_warn.model_dump(mode="json"),
        "child_abuse": snap.reporting("child_abuse").model_dump(mode="json"),
        "elder_abuse": snap.reporting("elder_abuse").model_dump(mode="json"),
        "legal_request": f.legal.model_dump(mode="json"),
        "timers": snap.timers.model_dump(mode="json"),
    }
