"""Encode the research on jurisdictions beyond the US (tools/reference/supplement/international/
<code>.json, each value with the sources read) as policy packs: domain/policy_data/packs/
<code>.json, one file per jurisdiction with a rule for every path, each validated against the
same models as the US rules. A new country is a new research file and a new entry here.

The encoding decisions are written next to each value. Where the law differs in kind from the
US model the rule says so, and the workflows follow it: no duty to report child abuse in
England (a permissive referral a supervisor decides, plus the narrow FGM duty to the police);
no general elder-abuse duty in Ontario (permissive, plus the long-term care duty to the
Director). Not legal advice: counsel must confirm each rule.

    .venv/bin/python tools/build_packs.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.legal_request import LegalRequestRule  # noqa: E402
from domain.policy import DutyToWarnRule  # noqa: E402
from domain.reporting import ReportingRule  # noqa: E402

RESEARCH = ROOT / "tools" / "reference" / "supplement" / "international"
OUT = ROOT / "domain" / "policy_data" / "packs"

# The conservative stand-in where no objection window was found: the patient gets FRCP 45's
# 14 days before anything leaves on a summons (nothing is released sooner than the law would).
MODEL_WINDOW = {
    "days": 14,
    "counted": "after_service",
    "basis": "No rule found for this jurisdiction; Confide holds the records for 14 days after "
    "service (the FRCP 45(d)(2)(B) model) so the patient can object",
    "source": "https://www.americanbar.org/groups/litigation/resources/newsletters/"
    "professional-liability/documents-subpoenas-dont-reinvent-wheel/",
}


def _src(section: dict) -> list[str]:
    return list(dict.fromkeys(section.get("sources") or []))


def ontario(r: dict) -> dict:
    dtw, child, elder, legal = (
        r["duty_to_warn"],
        r["child_abuse"],
        r["elder_abuse"],
        r["legal_requests"],
    )
    return {
        "jurisdiction": "CA-ON",
        "name": "Ontario",
        "zone": "America/Toronto",
        "research": "tools/reference/supplement/international/CA-ON.json",
        "duty_to_warn": {
            "jurisdiction": "CA-ON",
            "name": "Ontario",
            "category": "permissive",
            "category_basis": "statute",
            "category_reference": "permissive (PHIPA s.40(1))",
            "category_assessment": dtw["basis"],
            "trigger": "reasonable grounds to believe disclosure is necessary to eliminate or "
            "reduce a significant risk of serious bodily harm to a person or group of persons",
            "discharge_plans": [],
            "discharge_reference": {
                "logic": "permissive disclosure; no statutory list of recipients",
                "who_decides": dtw["who_decides"],
                "what_may_be_disclosed": dtw["what_may_be_disclosed"],
            },
            "statute": dtw["statute"],
            "sources": _src(dtw),
            "unverified": ["trigger", "permitted_actions"],
            "privacy_basis": "Personal Health Information Protection Act, 2004 (Ontario) "
            "s.40(1) (disclosure to eliminate or reduce a significant risk of serious bodily "
            "harm)",
            "disclosure_basis": "Personal Health Information Protection Act, 2004 (Ontario) "
            "s.40(1) (disclosure to eliminate or reduce a significant risk of serious bodily "
            "harm); Smith v. Jones, [1999] 1 SCR 455 (the public-safety exception)",
            "notes": "PHIPA s.40(1) read in secondary sources only (its text on ontario.ca was "
            "not read): trigger unverified. No statutory list of who may be told: Confide "
            "offers warning the person at risk and notifying the police, and a supervisor "
            "decides.",
        },
        "child_abuse": {
            "jurisdiction": "CA-ON",
            "kind": "child_abuse",
            "statute": child["statute"],
            "oral": "immediately ('forthwith' in older wording), directly to a children's aid "
            "society; a further report on additional grounds",
            "written": "unverified",
            "agencies": [
                {
                    "kind": "child_protective_services",
                    "description": "a children's aid society",
                }
            ],
            "agencies_reference": [child["receiving_agency"]],
            "delegation": "non_delegable",
            "delegation_note": child["personal_non_delegable"],
            # child["ongoing_duty"]: from secondary sources; s.125(2) is the subsection they
            # paraphrase ("Ongoing duty to report").
            "further_reports": "if you learn of further grounds to suspect the child is or may "
            "be in need of protection, report them to the society yourself again, even if you "
            "reported before (CYFSA s.125(2))",
            "universal": True,
            "universal_scope": child["trigger"],
            "covers": child["ages_covered"],
            "reporters": "any person, including professionals and officials; professionals "
            "and officials commit an offence by not reporting what they learned in their work",
            "penalty": child["professional_penalty"],
            "sources": _src(child),
            "unverified": ["written", "written_deadline"],
            "privacy_basis": "Personal Health Information Protection Act, 2004 (Ontario): a "
            "disclosure required by law (the CYFSA s.125 duty to report)",
            "notes": "Read in secondary sources (children's aid societies, colleges); the "
            "CYFSA text on ontario.ca was not read. 'Immediately'/'forthwith' has no numeric "
            "bound: Confide holds the report to its one-hour 'immediately' limit. The duty is "
            "ongoing (a further report on additional grounds) and personal (the reporter may "
            "not rely on anyone else). No written report was researched: Confide files one "
            "(conservative).",
        },
        "elder_abuse": {
            "jurisdiction": "CA-ON",
            "kind": "elder_abuse",
            "duty": "permissive",
            "statute": "No general duty to report abuse of an older or vulnerable adult in the "
            "community; Fixing Long-Term Care Act, 2021, S.O. 2021, c.39, Sch. 1, s.28 for "
            "long-term care home residents",
            "oral": "no statutory duty in the community (a referral is permitted); long-term "
            "care home residents: immediately to the Director",
            "written": "not_required",
            "agencies": [
                {
                    "kind": "law_enforcement",
                    "description": "the police, where a crime is suspected (a permitted "
                    "referral, not a duty)",
                }
            ],
            "agencies_reference": [elder["receiving_agency"]],
            "delegation": "non_delegable",
            "additional": [
                {
                    "name": "abuse of a long-term care home resident",
                    "agency": {
                        "kind": "licensing_agency",
                        "description": elder["receiving_agency"],
                        "when": "facility",
                    },
                    "setting": "facility",
                    "statute": "Fixing Long-Term Care Act, 2021, S.O. 2021, c.39, Sch. 1, s.28",
                    "sources": _src(elder),
                    "note": "'shall immediately report' to the Director; s.28 applies to 'a "
                    "person', practitioners included (secondary source quoting the Act).",
                }
            ],
            "sources": _src(elder),
            "unverified": ["statute"],
            "privacy_basis": "Personal Health Information Protection Act, 2004 (Ontario) "
            "s.40(1) (a referral to reduce a significant risk of serious bodily harm); a "
            "disclosure required by law for long-term care residents",
            "notes": elder["value"],
        },
        "legal_requests": {
            "objection": MODEL_WINDOW,
            "privilege": "No class privilege for therapists: case-by-case (Wigmore) privilege, "
            "M.(A.) v. Ryan, [1997] 1 SCR 157",
            "therapist_must_claim": "unverified",
            "court_order_required": "unverified",
            "court_order_basis": legal["order_required_for_health_records"],
            "patient_notice": legal["patient_notification_required"],
            "response_min_days": "unverified",
            "sources": _src(legal),
            "unverified": [
                "objection",
                "therapist_must_claim",
                "court_order_required",
                "response_min_days",
            ],
            "privacy_basis": "Personal Health Information Protection Act, 2004 (Ontario) "
            "s.41(1)(d) (to comply with a summons, order or similar requirement issued in a "
            "proceeding)",
            "notes": legal["value"],
        },
    }


def england(r: dict) -> dict:
    dtw, child, elder, legal = (
        r["duty_to_warn"],
        r["child_abuse"],
        r["elder_abuse"],
        r["legal_requests"],
    )
    general, fgm = child["general_duty"], child["fgm_duty"]
    gdpr_public_interest = (
        "UK GDPR Art. 9(2)(c) (vital interests) and the common-law public-interest exception "
        "to the duty of confidence (W v Egdell [1990] Ch 359)"
    )
    return {
        "jurisdiction": "GB-ENG",
        "name": "England",
        "zone": "Europe/London",
        "research": "tools/reference/supplement/international/GB-ENG.json",
        "duty_to_warn": {
            "jurisdiction": "GB-ENG",
            "name": "England",
            "category": "permissive",
            "category_basis": "common_law",
            "category_reference": "permissive (disclosure in the public interest)",
            "category_assessment": dtw["basis"],
            "trigger": "disclosure necessary in the public interest to prevent a risk of "
            "serious harm to others (W v Egdell)",
            "discharge_plans": [],
            "discharge_reference": {
                "logic": "permission under the common law; no statutory duty",
                "who_decides": dtw["who_decides"],
            },
            "statute": dtw["statute"],
            "sources": _src(dtw),
            "unverified": ["trigger", "permitted_actions"],
            "privacy_basis": gdpr_public_interest,
            # The "statute" above says there is none and repeats Egdell and the UK GDPR.
            "disclosure_basis": gdpr_public_interest,
            "notes": "No statutory duty to warn or protect. Regulators' guidance (GMC, HCPC, "
            "BACP) was not read; who may be told is unverified: Confide offers warning the "
            "person at risk and notifying the police, and a supervisor decides.",
        },
        "child_abuse": {
            "jurisdiction": "GB-ENG",
            "kind": "child_abuse",
            "duty": "permissive",
            "statute": "No general statutory duty to report child abuse (government response "
            "of 5 March 2018 to the 2016 consultation); Female Genital Mutilation Act 2003 s.5B "
            "for FGM",
            "oral": "no statutory duty: a referral to children's social care is a disclosure "
            "in the public interest that a supervisor decides",
            "written": "not_required",
            "agencies": [
                {
                    "kind": "child_protective_services",
                    "description": "the local authority's children's social care",
                }
            ],
            "delegation": "unverified",
            "additional": [
                {
                    "name": "female genital mutilation of a girl under 18",
                    "agency": {
                        "kind": "law_enforcement",
                        "description": "the police for the area where the girl lives "
                        "(telephone 101, per Home Office guidance)",
                    },
                    # "Before the end of one month": 28 days is never later than any month.
                    "deadline": {"amount": 672, "unit": "hours", "clock": "knowledge"},
                    "circumstance": "female_genital_mutilation",
                    "reporters": fgm["who"],
                    "statute": "Female Genital Mutilation Act 2003 s.5B (inserted by the "
                    "Serious Crime Act 2015 s.74)",
                    "sources": _src(fgm),
                    "unverified": ["reporters"],
                    "note": "'before the end of one month' from discovery, encoded as 28 days "
                    "(672 hours) so the deadline is never later than a calendar month. The "
                    "duty is personal (guidance). Whether counsellors and psychotherapists "
                    "outside statutory regulation are covered is unverified.",
                }
            ],
            "sources": list(dict.fromkeys(general.get("sources", []) + _src(fgm))),
            "unverified": ["delegation"],
            "privacy_basis": gdpr_public_interest,
            "notes": general["value"],
        },
        "elder_abuse": {
            "jurisdiction": "GB-ENG",
            "kind": "elder_abuse",
            "duty": "permissive",
            "statute": elder["statute"],
            "oral": "no statutory duty: a safeguarding concern to the local authority is a "
            "permitted referral a supervisor decides",
            "written": "not_required",
            "agencies": [
                {
                    "kind": "adult_protective_services",
                    "description": "the local authority's adult social care (safeguarding "
                    "concern; Care Act 2014 s.42 enquiry)",
                }
            ],
            "delegation": "unverified",
            "sources": _src(elder),
            "unverified": ["delegation"],
            "privacy_basis": gdpr_public_interest,
            "notes": elder["value"] + " " + elder["applies_to_community_clinic"],
        },
        "legal_requests": {
            "objection": MODEL_WINDOW,
            "privilege": "No therapist-patient privilege in English law (only legal "
            "professional privilege)",
            "therapist_must_claim": False,
            "court_order_required": True,
            "court_order_basis": legal["order_required_for_health_records"],
            "patient_notice": None,
            "response_min_days": "unverified",
            "response_basis": legal["shortest_response_time"],
            "sources": _src(legal),
            "unverified": ["objection", "privilege", "patient_notice", "response_min_days"],
            "privacy_basis": "UK GDPR Art. 6(1)(c) (legal obligation); Data Protection Act "
            "2018 Sch. 2 Part 1 para 5 (disclosure required by law or in connection with legal "
            "proceedings)",
            "notes": legal["value"],
        },
    }


PACKS = {"CA-ON": ontario, "GB-ENG": england}


def build(folder: Path = RESEARCH) -> dict[str, dict]:
    """Every pack, validated."""
    out = {}
    for code, encode in PACKS.items():
        pack = encode(json.loads((folder / f"{code}.json").read_text()))
        DutyToWarnRule.model_validate(pack["duty_to_warn"])
        for kind in ("child_abuse", "elder_abuse"):
            ReportingRule.model_validate(pack[kind])
        LegalRequestRule.model_validate({"jurisdiction": code, **pack["legal_requests"]})
        out[code] = pack
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for code, pack in build().items():
        path = OUT / f"{code}.json"
        path.write_text(json.dumps(pack, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
