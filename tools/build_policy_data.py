"""Encode the duty-to-warn facts of shared/reference/jurisdictions.json as Confide policy data.

The reference keeps each state's discharge rule as prose ("warn_victim AND (notify_law_enforcement
OR other_appropriate_action)"). Confide needs it as data a workflow can act on, so this script
rewrites it in disjunctive normal form: `discharge_plans` is a list of alternatives, each a list of
actions that together discharge the duty. Only the states whose rule a source confirmed get plans;
every other value stays "unverified" exactly as the reference has it.

Run it when the reference changes; commit its output (domain/policy_data/duty_to_warn.json).
    python tools/build_policy_data.py ../shared/reference/jurisdictions.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "domain" / "policy_data" / "duty_to_warn.json"

# Discharge rules, read from the reference's `discharge_logic` and `discharge` prose, in DNF.
# The key is the state; each value says (plans, optional actions, category override, note).
PLANS: dict[str, dict] = {
    "AL": {"plans": [["warn_victim", "notify_law_enforcement"]]},
    "AZ": {
        "plans": [
            [
                "warn_victim",
                "notify_law_enforcement",
                "initiate_hospitalization",
                "other_reasonable_precautions",
            ]
        ],
        "note": "A.R.S. 36-517.02 lists all four; hospitalization 'if appropriate', victims "
        "'when possible'.",
    },
    "CA": {"plans": [["warn_victim", "notify_law_enforcement"]]},
    "CO": {
        "plans": [
            ["warn_victim", "notify_law_enforcement"],
            ["warn_victim", "other_appropriate_action"],
        ]
    },
    "FL": {
        "category": "mandatory",
        "plans": [["notify_law_enforcement"]],
        "optional": ["warn_victim"],
        "note": "491.0147(2): ch. 491 licensees MUST disclose to law enforcement; warning the "
        "victim is permitted. Psychologists (490.0147) and psychiatrists (456.059): may warn "
        "victim or law enforcement.",
    },
    "IL": {
        "plans": [["warn_victim", "notify_law_enforcement"], ["initiate_hospitalization"]],
    },
    "IN": {
        "plans": [
            ["warn_victim"],
            ["notify_law_enforcement"],
            ["initiate_hospitalization"],
            ["prevent_violence_until_law_enforcement_custody"],
            ["report_to_employer_designated_physician_or_psychologist"],
        ]
    },
    "KY": {
        "plans": [["warn_victim", "notify_law_enforcement"], ["initiate_hospitalization"]],
        "note": "KRS 645.270 (child patients): with no identifiable victim, law enforcement only. "
        "Adult statute (KRS 202A.400) unverified.",
    },
    "MA": {
        "plans": [
            ["warn_victim"],
            ["notify_law_enforcement"],
            ["arrange_voluntary_admission"],
            ["initiate_hospitalization"],
        ]
    },
    "ME": {
        "plans": [["warn_victim"], ["notify_law_enforcement"], ["initiate_hospitalization"]],
        "note": "JAAPL lists ME as having no statute; 32 M.R.S. 13867 (2019, counseling "
        "professionals) defines this discharge.",
    },
    "MI": {
        "plans": [["initiate_hospitalization"], ["warn_victim", "notify_law_enforcement"]],
        "note": "If the victim is a minor or incompetent, the warning plan also requires "
        "notify_child_protective_agency and notify_parent_or_guardian (MCL 330.1946).",
    },
    "NJ": {
        "plans": [
            ["arrange_voluntary_admission"],
            ["initiate_hospitalization"],
            ["notify_law_enforcement"],
            ["warn_victim"],
        ]
    },
    "NY": {
        "category": "mandatory",
        "plans": [["report_to_county_director_of_community_services"]],
        "optional": ["warn_victim", "notify_law_enforcement"],
        "note": "MHL 9.46 report to the county Director of Community Services is mandatory; "
        "victim warning stays permissive (JAAPL: permissive).",
    },
    "PA": {"plans": [["warn_victim"]]},
    "TN": {
        "plans": [
            ["warn_victim"],
            ["voluntary_admission"],
            ["initiate_hospitalization"],
            ["other_course_consistent_with_professional_standards"],
        ],
        "note": "A 2023 bill adding law-enforcement reporting is unverified and not encoded.",
    },
    "TX": {
        "permitted": ["notify_law_enforcement", "notify_medical_personnel"],
        "forbidden": ["warn_victim"],
        "note": "Tex. Health & Safety 611.004(a)(2) lists only medical or law-enforcement "
        "personnel; the victim is not a permitted recipient.",
    },
    "VA": {
        "plans": [
            ["initiate_hospitalization"],
            ["warn_victim"],
            ["notify_law_enforcement"],
            ["prevent_violence_until_law_enforcement_custody"],
            ["continue_therapy_in_session"],
        ]
    },
}

CATEGORY = {
    "mandatory (statute)": ("mandatory", "statute"),
    "mandatory (common law)": ("mandatory", "common_law"),
    "permissive": ("permissive", "statute"),
    "no statute/common-law guidance": ("none", "none"),
}

# Names of the 50 states and DC, for the policy CLI and the case status.
NAMES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip


def _as_list(value) -> list[str]:
    if value in (None, "unverified"):
        return []
    return value if isinstance(value, list) else [value]


def build(reference: dict) -> dict:
    """Return the duty-to-warn policy table built from the reference."""
    out: dict[str, dict] = {}
    for state, fact in sorted(reference["duty_to_warn"].items()):
        category, basis = CATEGORY[fact["category"]]
        enc = PLANS.get(state, {})
        category = enc.get("category", category)
        unverified = [k for k in ("trigger", "statute") if fact.get(k) == "unverified"]
        if "plans" not in enc and "permitted" not in enc:
            unverified.append("discharge")
        sources = [fact["source"]] if isinstance(fact["source"], str) else list(fact["source"])
        if fact["category_source"] not in sources:
            sources.append(fact["category_source"])
        out[f"US-{state}"] = {
            "jurisdiction": f"US-{state}",
            "name": NAMES[state],
            "category": category,
            "category_basis": basis,
            "category_reference": fact["category"],
            "category_assessment": fact.get("category_current_assessment"),
            "trigger": fact["trigger"],
            "discharge_plans": enc.get("plans", "unverified" if "permitted" not in enc else []),
            "optional_actions": enc.get("optional", []),
            "permitted_actions": enc.get("permitted", []),
            "forbidden_actions": enc.get("forbidden", []),
            "discharge_reference": {
                "logic": fact["discharge_logic"],
                "actions": _as_list(fact["discharge"]),
            },
            "statute": fact["statute"],
            "sources": sources,
            "unverified": unverified,
            "notes": " ".join(n for n in (fact.get("notes"), enc.get("note")) if n) or None,
        }
    return {
        "_meta": {
            "encoded_from": "shared/reference/jurisdictions.json (duty_to_warn)",
            "legend": reference["_meta"]["legend"],
            "category_source": reference["_meta"]["duty_to_warn_category_source"],
            "discharge_plans": "Disjunctive normal form: any one inner list, all actions in it, "
            "discharges the duty. 'unverified' = no source confirmed how the duty is discharged; "
            "Confide then falls back to the federal 45 CFR 164.512(j) permission with a "
            "supervisor decision.",
        },
        "jurisdictions": out,
    }


if __name__ == "__main__":
    ref = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/jurisdictions.json")
    OUT.write_text(json.dumps(build(json.loads(ref.read_text())), indent=1) + "\n")
    print(f"wrote {OUT}")
