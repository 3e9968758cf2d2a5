"""Encode the child- and elder-abuse reporting facts of shared/reference/jurisdictions.json as
Confide policy data (domain.reporting.ReportingRule).

The reference mixes machine fields (`oral_hours`, `written_required`, `written_hours`,
`written_clock`, ...) with prose (`oral`, `written_note`, `delegation`, agency strings), and its
eleven original entries per kind (CA NY TX FL IL WA MA PA OH GA VA; for elder abuse without VA)
predate the machine fields altogether. This script reads the machine fields where they exist and
takes everything else from the explicit per-state dicts below, each decision written next to the
reference text it rests on. Nothing is guessed: a value the reference marks "unverified" (or does
not give) is named in the rule's `unverified` list; every reference string is kept verbatim
(`oral`, `written_note`, `agencies_reference`, `supervisor_rule`, `delegation_note`, `notes`).
Every rule is validated with `ReportingRule.model_validate` before anything is written.

The builder fails loudly when the reference gains a value it has no rule for (a new
`written_required` wording, an agency string that matches no or several agency kinds, an original
entry without an override): extend the dicts below, then rerun.

Run it when the reference changes; commit its output (domain/policy_data/child_abuse.json and
domain/policy_data/elder_abuse.json).
    .venv/bin/python tools/build_reporting_data.py ../shared/reference/jurisdictions.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.clinic import AgencyKind  # noqa: E402
from domain.reporting import Delegation, ReportingRule, WrittenReport  # noqa: E402

OUT_DIR = ROOT / "domain" / "policy_data"
KINDS = ("child_abuse", "elder_abuse")

U = WrittenReport.unverified.value  # == Delegation.unverified.value
REQ = WrittenReport.required.value
IF_REQ = WrittenReport.if_requested.value
NOT_REQ = WrittenReport.not_required.value
CPS = AgencyKind.child_protective_services.value
APS = AgencyKind.adult_protective_services.value
LE = AgencyKind.law_enforcement.value
OMB = AgencyKind.long_term_care_ombudsman.value
LIC = AgencyKind.licensing_agency.value
ME = AgencyKind.medical_examiner.value
PROS = AgencyKind.prosecutor.value


def _dl(amount: int, unit: str = "hours", clock: str = "knowledge", **flags) -> dict:
    return {"amount": amount, "unit": unit, "clock": clock, **flags}


# --------------------------------------------------------------------------- per-state overrides
# Keys (all optional):
#   oral_hours        the initial-report bound for entries without `oral_hours` (original ones),
#                     or a correction; int, None ("immediately") or "unverified"
#   oral_deadline     a full Deadline dict where hours alone cannot say it (SC elder)
#   written           WrittenReport value; required for original entries (no `written_required`)
#                     and for `written_required` wordings the generic reading does not cover
#   written_deadline  a Deadline dict (or None) replacing the one read from written_hours/clock
#   written_clock     the clock for an original entry's written_hours
#   written_form      a form the reference names
#   delegation        Delegation value where the reference prose needs reading
#   universal / covers / conditional   as ReportingRule
#   unverified        extra field names that stay unverified (added to the generic ones)
#   agencies          {index of the reference agency string: [(kind, when, description|None)]};
#                     [] = the string names no receiving agency the schema can hold (see note)
#   note              the encoding decision, appended to `notes`

CHILD: dict[str, dict] = {
    "CA": {
        "oral_hours": None,
        "written": REQ,
        "written_form": "SS 8572",
        "written_deadline": _dl(36, clock="knowledge"),
        "delegation": "non_delegable",
        "agencies": {
            2: [
                (
                    LE,
                    "always",
                    "county probation department (if designated by county)"
                    " - a probation department, not police",
                )
            ]
        },
        "note": "Written 36 h runs from knowledge ('within 36 hours of receiving the "
        "information'). Delegation read from supervisor_rule ('reporting duty is "
        "individual'; secondary sources).",
    },
    "NY": {
        "oral_hours": None,
        "written": REQ,
        "written_form": "LDSS-2221A",
        "written_deadline": _dl(48, clock="oral_report"),
        "delegation": "also_notify_person_in_charge",
        "note": "Written 48 h runs from the oral report ('within 48 hours after the oral "
        "report'). supervisor_rule: must report AND notify the person in charge.",
    },
    "TX": {
        "oral_hours": 48,
        "written": U,
        "delegation": "non_delegable",
        "universal": True,
        "note": "Oral bound 48 h is the professionals' bound ('not later than the 48th hour after "
        "first suspecting'); non-professionals must report immediately, hence universal "
        "(legal-facts 11.3: 'TX per its existing entry'). Written: see the re-read. "
        "supervisor_rule: 'may not delegate' -> non_delegable.",
    },
    "FL": {
        "oral_hours": None,
        "written": U,
        "note": "supervisor_rule says nothing about delegation -> unverified.",
    },
    "IL": {
        "oral_hours": None,
        "written": REQ,
        "written_deadline": _dl(48, clock="oral_report"),
        "delegation": "non_delegable",
        "note": "Written: the 48-hour confirmation was repealed (see the re-read). "
        "supervisor_rule: reporting only to a superior does not satisfy the duty -> "
        "non_delegable.",
    },
    "WA": {
        "oral_hours": 48,
        "written": IF_REQ,
        "note": "Oral bound 48 h ('in no case longer than 48 hours after reasonable cause'). "
        "Written only upon request; no deadline stated for a requested written report.",
    },
    "MA": {
        "oral_hours": None,
        "written": REQ,
        "written_deadline": _dl(48, clock="oral_report"),
        "delegation": "person_in_charge",
        "agencies": {
            1: [
                (
                    LE,
                    "always",
                    "(optional, in addition) local law enforcement or Office of the Child Advocate",
                )
            ]
        },
        "note": "Written 48 h: clock from the re-read. supervisor_rule: staff may instead "
        "notify the person in charge, who becomes responsible -> person_in_charge. The "
        "optional second route also names the "
        "Office of the Child Advocate, which has no agency kind; filed as law_enforcement "
        "with the reference wording.",
    },
    "PA": {
        "oral_hours": None,
        "written": REQ,
        "written_deadline": _dl(48, clock="oral_report"),
        "note": "Written report required when the report was made orally ('if reporting orally, "
        "written report ... within 48 hours'); an electronic initial report needs no "
        "follow-up. Encoded as required, 48 h from the oral report.",
    },
    "OH": {"oral_hours": None, "written": U},
    "GA": {
        "oral_hours": 24,
        "written": IF_REQ,
        "delegation": "person_in_charge",
        "agencies": {
            1: [
                (LE, "always", "if no DFCS/designated agency: appropriate police authority"),
                (PROS, "always", "if no DFCS/designated agency: district attorney"),
            ]
        },
        "note": "Oral bound 24 h ('no later than 24 hours from reasonable cause to believe'). "
        "Written only if requested; no deadline stated. supervisor_rule: staff notify "
        "the person in charge, who must report -> person_in_charge.",
    },
    "VA": {
        "oral_hours": 24,
        "written": U,
        "note": "Oral bound 24 h ('penalty applies if not reported within 24 hours of first "
        "suspicion'). Written: see the re-read.",
    },
    "AL": {},
    "AK": {"agencies": {2: [(LE, "always", None)]}},
    "AZ": {
        "agencies": {
            0: [(CPS, "caretaker_abuser", None)],
            2: [(LE, "caretaker_abuser", None)],
            3: [(LE, "non_caretaker_abuser", None)],
        },
        "note": "Routing (legal-facts 11.3): a peace officer always; DCS (and the tribal route) "
        "only where the suspect has care, custody or control of the minor - where the "
        "suspect lacks it, the report goes to a peace officer only. Tribal law "
        "enforcement/social services filed as law_enforcement. Delegation: 'report or "
        "cause reports to be made' plus a supervisor's own duty does not say whether "
        "telling the supervisor discharges the reporter's duty -> unverified.",
    },
    "AR": {
        "unverified": ["universal"],
        "note": "universal left false: the any-person duty since Aug 2023 is a law-firm claim "
        "not confirmed in statute text (see reference notes).",
    },
    "CO": {
        "note": "Oral bound 24 h from the current 19-3-307(1)(a) text. Delegation: the "
        "referral-ID rule (an existing report on the same incident fulfils the duty) "
        "is not a delegation the schema can name -> unverified, text kept.",
    },
    "OK": {
        "agencies": {1: [(LE, "always", "school employees: DHS AND local law enforcement")]},
    },
    "OR": {
        "note": "Oral: 'immediate' per community guidance; 419B.010 timing text not seen -> "
        "encoded as immediately (no numeric bound).",
    },
    "RI": {
        "oral_hours": None,
        "written": REQ,
        "unverified": ["oral_deadline", "written"],
        "note": "Encoded for a health-care provider, the stricter reading for a clinician: "
        "immediate oral report (not the any-person 24 h bound) and a written report "
        "with no stated deadline. Whether psychologists/counselors are 'other "
        "health-care providers' is unverified in the reference; a non-provider has "
        "24 h and no written report.",
    },
    "SC": {
        "agencies": {0: [(CPS, "caretaker_abuser", None)], 1: [(LE, "non_caretaker_abuser", None)]},
    },
    "SD": {
        "delegation": "person_in_charge",
        "agencies": {1: [(PROS, "always", None)]},
        "note": "person_in_charge applies to hospital/similar-institution staff only "
        "(26-8A-6); other reporters report themselves.",
    },
    "TN": {
        "delegation": "non_delegable",
        "agencies": {1: [], 2: [(LE, "always", None)], 3: [(LE, "always", None)]},
        "note": "Delegation: 'individual duty'; internal procedures may not inhibit the staff "
        "member's report -> non_delegable. The juvenile court judge is a receiving "
        "authority the schema has no agency kind for; kept in agencies_reference only.",
    },
    "UT": {
        "unverified": ["statute"],
        "agencies": {
            2: [
                (LE, "death", "for suspected abuse deaths: local law enforcement"),
                (ME, "death", "for suspected abuse deaths: the medical examiner"),
            ]
        },
        "note": "Statute: the reference cites 62A-4a-403 'as cited by CWIG 2021; current "
        "numbering unverified'.",
    },
    "VT": {},
    "WV": {
        "note": "Oral bound 24 h per current DHHR guidance (CWIG 2021 said 48 h; the shorter "
        "bound is encoded). universal covers child sexual abuse only (any person over "
        "18). Delegation: 'report ... or cause a report to be made' does not settle "
        "whether telling a supervisor suffices -> unverified.",
    },
    "WI": {},
    "WY": {
        "delegation": "also_notify_person_in_charge",
        "note": "Delegation: staff notify the person in charge but keep their own duty unless "
        "a report has been or will be made -> also_notify_person_in_charge.",
    },
    "CT": {
        "note": "Delegation: the reference marks it unverified ('duty appears individual').",
    },
    "DE": {
        "written": IF_REQ,
        "agencies": {1: [(LE, "always", None)]},
        "note": "written_required is false in the reference but its written_note and "
        "legal-facts 11.1 say 'only if requested, no timeline' -> if_requested without "
        "a deadline. Police may be told in addition, never instead of DFS.",
    },
    "DC": {
        "written": IF_REQ,
        "delegation": "also_notify_person_in_charge",
        "note": "Written only if requested by CFSA/MPD, BUT required (no stated deadline) where "
        "the abuse involves drug-related activity - the schema has one written value; "
        "if_requested is encoded and the drug-related case is in written_note. "
        "universal covers child sexual abuse of a child under 16 only (any person over "
        "18).",
    },
    "HI": {},
    "ID": {
        "delegation": "person_in_charge",
        "note": "person_in_charge applies to hospital/similar-institution staff only.",
    },
    "IN": {
        "delegation": "also_notify_person_in_charge",
        "note": "Delegation: report directly, then notify the person in charge (licensed-"
        "hospital staff instead notify the person in charge, who reports) -> "
        "also_notify_person_in_charge.",
    },
    "IA": {
        "written_deadline": _dl(48, clock="oral_report"),
        "agencies": {1: [(LE, "always", None)]},
        "note": "Written: the current 232.70(1) reads oral-only (see the re-read). "
        "Delegation: 'duty appears individual' is not confirmed (legal-facts 11.1: [U]) "
        "-> unverified.",
    },
    "KS": {
        "agencies": {1: [(ME, "death", None)]},
        "note": "Written only if requested; no deadline stated.",
    },
    "KY": {
        "delegation": "person_in_charge",
        "unverified": ["delegation"],
        "note": "Delegation: employees notify the supervisor/person in charge and no more than "
        "one report is required per institution -> person_in_charge, but the reference "
        "leaves open whether the employee's own duty is thereby discharged, so "
        "'delegation' stays unverified.",
    },
    "LA": {
        "written": REQ,
        "written_deadline": _dl(120, clock="oral_report"),
        "agencies": {
            0: [(CPS, "caretaker_abuser", None)],
            1: [(LE, "non_caretaker_abuser", None)],
            2: [],
        },
        "conditional": "Mental health/social service practitioners are not mandatory reporters "
        "when engaged by an attorney to assist in legal services to the child "
        "(RAINN 2023 summary).",
        "note": "Written required when the initial report was oral (an online portal report "
        "needs none): 5 days after the oral report, encoded as 120 hours because "
        "calendar vs business days is not stated (the shorter reading). 'dual reporting "
        "permitted' names no agency; kept in agencies_reference only.",
    },
    "ME": {
        "delegation": "person_in_charge",
        "note": "Delegation: institution staff notify the person in charge/designated agent, "
        "who causes the report (DHHS training transcript) -> person_in_charge.",
    },
    "MD": {
        "delegation": "also_notify_person_in_charge",
        "unverified": ["delegation"],
        "agencies": {2: [(PROS, "always", None)]},
        "note": "Written 48 h runs from the triggering contact (knowledge), not from the oral "
        "report. Delegation: only the 1970s session law ('shall ALSO immediately "
        "notify' the person in charge) was seen -> also_notify_person_in_charge, "
        "unverified for the current text.",
    },
    "MI": {
        "written": REQ,
        "written_form": "DHHS-3200",
        "note": "Written required only if the immediate report was by telephone: encoded as "
        "required, 72 h after the oral report; an online report with the required "
        "information counts as the written report.",
    },
    "MN": {
        "agencies": {3: [(CPS, "always", None)], 4: [(ME, "death", None)]},
        "note": "Written 72 h after the oral report, counting only hours on working days "
        "(exclusive of weekends and holidays).",
    },
    "MS": {},
    "MO": {
        "delegation": "non_delegable",
        "note": "Delegation: individual duty; where two or more members of a medical "
        "institution jointly know, a designated member may make a single report "
        "(kept in delegation_note).",
    },
    "MT": {
        "agencies": {
            0: [(CPS, "always", None)],
            1: [
                (ME, "death", "medical examiner (suspected abuse/neglect deaths)"),
                (LE, "death", "law enforcement (suspected abuse/neglect deaths)"),
            ],
        },
        "note": "Oral: 'promptly', no numeric bound.",
    },
    "NE": {
        "note": "Delegation: 'shall report ... or cause a report to be made' does not settle "
        "whether telling a supervisor suffices -> unverified.",
    },
    "NV": {
        "delegation": "person_in_charge",
        "unverified": ["delegation"],
        "note": "Delegation: a medical facility's person in charge must report on notification "
        "by staff -> person_in_charge, but whether the notification discharges the "
        "staff member's own duty is unverified in the reference.",
    },
    "NH": {"note": "Written only if requested by the department: 48 h from the oral report."},
    "NJ": {
        "agencies": {1: [(LE, "always", None)]},
    },
    "NM": {
        "agencies": {2: [(LE, "always", None)]},
        "note": "Tribal law enforcement or social services filed as law_enforcement.",
    },
    "NC": {
        "agencies": {1: [(LE, "always", None)]},
        "note": "Oral: no specific time in 7B-301 as summarized -> encoded as immediately "
        "(no numeric bound); 14-318.6 reports to law enforcement are 'immediately'.",
    },
    "ND": {
        "written": IF_REQ,
        "note": "Written: the statute per CWIG requires it only if the department requests "
        "(48 h after the oral report); the state training page says mandated reporters "
        "must always follow up in writing - if_requested encoded per the statute "
        "summary, conflict left for counsel.",
    },
}

ELDER: dict[str, dict] = {
    "CA": {
        "oral_hours": None,
        "written_form": "SOC 341",
        "written_deadline": _dl(2, unit="working_days", clock="oral_report"),
        "agencies": {
            0: [
                (OMB, "facility", "long-term care facility: local long-term care ombudsman"),
                (LE, "facility", "long-term care facility: local law enforcement"),
            ],
            1: [
                (APS, "community", "elsewhere: county adult protective services (APS)"),
                (LE, "community", "elsewhere: local law enforcement"),
            ],
        },
        "additional": [
            {
                "name": "physical abuse with serious bodily injury in a long-term care facility",
                "agency": {
                    "kind": LE,
                    "description": "local law enforcement: by telephone immediately and no "
                    "later than 2 hours after observing, learning of or suspecting the abuse; "
                    "a written report within 2 hours to the local ombudsman, the licensing "
                    "agency and local law enforcement",
                    "when": "facility",
                },
                "deadline": _dl(2),
                "setting": "facility",
                "circumstance": "serious_bodily_injury",
                "statute": "Cal. Welf. & Inst. Code 15630(b)(1)(A)(i) (AB 40, Stats. 2012 ch. 659)",
                "sources": [
                    "http://www.leginfo.ca.gov/pub/11-12/bill/asm/ab_0001-0050/"
                    "ab_40_bill_20120927_chaptered.html",
                    "https://nlacrc.org/service-providers/laws-and-regulations",
                ],
                "note": "Read in the chaptered bill's digest (AB 40, 2012); the 2-hour written "
                "report to three recipients is described in the note, not a separate task.",
            }
        ],
        "note": "Written within two working days (SOC 341 or confidential internet report). "
        "The 2-hour law-enforcement report for serious bodily injury in a long-term care "
        "facility (the `special` rule above) is an additional report on its own clock. "
        "supervisor_rule concerns impeding, not delegation -> unverified.",
    },
    "NY": {
        "oral_hours": None,
        "written": U,
        "agencies": {
            0: [(APS, "community", None)],
            1: [(APS, "facility", None)],
            2: [(LIC, "facility", None)],
        },
        "conditional": "No general mandatory reporting for community elder abuse in New York: "
        "reports to local APS are voluntary. Mandated only in residential health "
        "care facilities (PHL 2803-d, to NYS DOH) and Justice Center settings "
        "(SSL 491: immediately to the Vulnerable Persons' Central Register).",
        "note": "The Justice Center VPCR is filed as adult_protective_services (facility), NYS "
        "DOH as licensing_agency (facility).",
    },
    "TX": {
        "oral_hours": None,
        "written": NOT_REQ,
        "universal": True,
        "agencies": {0: [(APS, "community", None)], 1: [(LIC, "facility", None)]},
        "note": "Report 'immediately (any person; oral or written)': one report in either form, "
        "so no written follow-up (legal-facts 5: '- (oral or written)'); universal per "
        "legal-facts 11.3. supervisor_rule concerns confidentiality, not delegation.",
    },
    "FL": {"oral_hours": None, "written": U},
    "IL": {
        "oral_hours": 24,
        "written": U,
        "conditional": "mandatory only where the eligible adult (60+, or 18-59 with disability, "
        "in a domestic setting) is unable to seek assistance because of "
        "disability/impairment, for abuse etc. within the previous 12 months",
        "note": "Oral bound 24 h ('within 24 hours after developing the belief'). Written: "
        "see the re-read. scope_note encoded as `conditional`.",
    },
    "WA": {
        "oral_hours": None,
        "written": U,
        "agencies": {0: [(APS, "community", None)], 1: [(LIC, "facility", None)]},
        "note": "Residential Care Services Complaint Resolution Unit filed as licensing_agency.",
    },
    "MA": {
        "oral_hours": None,
        "written": REQ,
        "written_deadline": _dl(48, clock="oral_report"),
        "delegation": "person_in_charge",
        "covers": "elder = 60 or older; licensed psychologists, social workers and family "
        "counselors are listed reporters",
        "agencies": {0: [(APS, "community", None)], 1: [(LIC, "facility", None)]},
        "note": "Written 48 h: clock from the re-read. Delegation: "
        "home-health/homemaker agency staff report to the executive director, who "
        "reports -> person_in_charge (those staff only). Nursing/rest-home abuse goes to "
        "DPH, filed as licensing_agency (facility).",
    },
    "PA": {
        "oral_hours": None,
        "written": REQ,
        "written_deadline": _dl(48, clock="oral_report"),
        "delegation": "also_notify_person_in_charge",
        "conditional": "No general community mandate: the duty applies to facility employees "
        "and administrators (OAPSA 35 P.S. 10225.701 et seq. / 6 Pa. Code "
        "15.151; APS Act 35 P.S. 10210.501 for ages 18-59).",
        "note": "Written 48 h: the reference gives no clock; encoded from the oral report. "
        "supervisor_rule: notify the administrator immediately AFTER reporting -> "
        "also_notify_person_in_charge.",
    },
    "OH": {
        "oral_hours": None,
        "written": NOT_REQ,
        "note": "Report 'immediately (oral or written)': one report in either form, no written "
        "follow-up (legal-facts 5: '-'). scope_note kept in notes.",
    },
    "GA": {
        "oral_hours": U,
        "written": U,
        "agencies": {
            1: [
                (LE, "always", "appropriate law enforcement agency"),
                (PROS, "always", "prosecuting attorney"),
            ]
        },
        "covers": "elder person = 65+ not residing in a LTC facility; mandated reporters "
        "include everyone required to report child abuse under 19-7-5(c) "
        "(psychologists, counselors, etc.)",
    },
    "AL": {
        "agencies": {2: [(LIC, "facility", None)]},
        "note": "Dept. of Public Health (abuse by a nursing home employee) filed as "
        "licensing_agency (facility); DHR and police/sheriff apply in every setting.",
    },
    "AZ": {
        "written_deadline": _dl(48, clock="knowledge", or_next_working_day=True),
        "delegation": "institutional_procedure",
        "agencies": {2: []},
        "note": "Written: the current AG text omits the written report; the older 46-454(A) "
        "text (48 h, or the next working day if they expire on a weekend or holiday) "
        "is kept as written_deadline, clock from knowledge (the older text's clock is "
        "not given; the earlier reading), with written and written_deadline both "
        "unverified. A guardian/conservator's report to the superior court has no "
        "agency kind; kept in agencies_reference only.",
    },
    "CO": {},
    "AK": {"note": "Delegation: the reference marks it unverified (47.24.010(e) not seen)."},
    "AR": {
        "delegation": "person_in_charge",
        "unverified": ["delegation"],
        "agencies": {
            0: [(APS, "community", None)],
            1: [
                (
                    LE,
                    "facility",
                    "long-term care facility residents: immediately to "
                    "local law enforcement for the facility's "
                    "jurisdiction",
                ),
                (
                    LIC,
                    "facility",
                    "long-term care facility residents: AND the DHS Office of Long-Term Care",
                ),
            ],
        },
        "note": "Delegation: staff notify the person in charge, who becomes responsible "
        "(older text) -> person_in_charge, unverified for the current text.",
    },
    "CT": {
        "note": "Delegation: 'report ... or cause a report to be made' does not settle whether "
        "telling a supervisor suffices -> unverified.",
    },
    "DE": {
        "unverified": ["agencies"],
        "agencies": {0: [(APS, "community", None)], 1: []},
        "note": "Routing for LTC facility residents not confirmed (RAINN excerpt cut off): "
        "agencies unverified.",
    },
    "DC": {
        "conditional": "Duty does NOT apply to a social worker or licensed health professional "
        "whose client/patient (or whose employer-lawyer's client) is the person "
        "allegedly responsible for the abuse (7-1903(b)).",
    },
    "KY": {
        "note": "Delegation: 'report or cause reports to be made' does not settle whether "
        "telling a supervisor suffices -> unverified.",
    },
    "MI": {"agencies": {0: [(APS, "always", None)]}},
    "MN": {
        "agencies": {0: [(APS, "always", None)], 1: [(LE, "always", None)]},
        "note": "Delegation: the statute lets a 'professional's delegate' report; the schema has "
        "no value for a duty a delegate may discharge -> unverified, text kept.",
    },
    "MD": {
        "delegation": "also_notify_person_in_charge",
        "unverified": ["delegation"],
        "agencies": {1: []},
        "note": "Hospital/public-health-agency staff ALSO notify the head of the institution "
        "(an internal notice, not a receiving agency; kept in agencies_reference) -> "
        "also_notify_person_in_charge, unverified whether it substitutes for the "
        "staff member's report.",
    },
    "VA": {
        # The death report's recipients come from the re-read; they stay unverified until
        # counsel reads 63.2-1606 in full (the re-read found them on an agency page).
        "unverified": ["agencies"],
        "agencies": {2: []},
        "note": "Delegation: only an EMS rule was found ('no general delegation found') -> "
        "unverified.",
    },
    "NV": {
        "agencies": {3: []},
        "note": "Where the abuse involves one of the listed agencies, report to a different one "
        "(kept in agencies_reference; not an agency).",
    },
    "WV": {
        "written_form": "APS Mandatory Reporting Form",
        "agencies": {
            1: [
                (LE, "always", "copy: law enforcement (serious injury/death)"),
                (PROS, "always", "copy: prosecuting attorney (serious injury/death)"),
                (ME, "death", "copy: medical examiner/coroner (death)"),
                (OMB, "facility", "copy: LTC ombudsman (facility residents)"),
            ]
        },
        "note": "The copies (law enforcement, prosecutor, ME, ombudsman, facility administrator) "
        "may be the agency's to send; the reference does not say who sends them. The "
        "facility administrator is not an agency and has no route.",
    },
    "SC": {
        "oral_deadline": _dl(24, clock="knowledge", or_next_working_day=True),
        "delegation": "non_delegable",
        "unverified": ["agencies"],
        "agencies": {
            0: [(LE, "facility", None)],
            1: [(OMB, "facility", None)],
            2: [(APS, "community", None)],
            3: [],
        },
        "universal_scope": "any person with actual knowledge of abuse, neglect or "
        "exploitation of a vulnerable adult (reference: universal)",
        "note": "Oral: '24 hours or the next working day' encoded as 24 h with "
        "or_next_working_day (the exact interplay is unverified in the reference). "
        "Delegation: the reporter is 'personally responsible' -> non_delegable; only a "
        "state agency may report for an employee under a procedure approved in writing "
        "by SLED VAIU (kept in delegation_note). The 43-35-25(D) agency list was "
        "partially seen: agencies unverified. universal covers persons with ACTUAL "
        "knowledge only.",
    },
    "OK": {},
    "TN": {
        "delegation": "institutional_procedure",
        "agencies": {1: [(LE, "facility", None)]},
        "note": "Delegation: staff of an organization with an APS-approved procedure may report "
        "to the person in charge -> institutional_procedure.",
    },
    "NH": {
        "agencies": {1: [(LE, "always", None)]},
        "note": "Written only if requested; no deadline stated.",
    },
    "WY": {"agencies": {1: [(LE, "always", None)]}},
    "NJ": {
        "agencies": {0: [(APS, "community", None)], 1: [(OMB, "facility", None)]},
    },
    "NC": {
        "agencies": {1: [(LE, "always", None)]},
        "note": "Oral: an employer policy's 'immediately, written within 48 hours' is not "
        "confirmed and not encoded.",
    },
    "IN": {
        "unverified": ["universal"],
        "note": "universal left false: the reference marks it unverified.",
    },
    "IA": {
        "agencies": {0: [(APS, "community", None)], 1: [(LIC, "facility", None)]},
        "note": "Dept. of Inspections and Appeals (ch. 235E facilities and programs) filed as "
        "licensing_agency (facility).",
    },
    "MO": {
        "universal_scope": "any person, where the adult is likely to suffer serious physical "
        "harm (reference: universal)",
        "note": "universal is limited to adults likely to suffer serious physical harm.",
    },
    "WI": {
        "unverified": ["statute"],
        "agencies": {2: [(OMB, "facility", None)]},
        "note": "Statute: the ch. 55 adults-at-risk section number is not confirmed.",
    },
}

# Confide's own research (tools/reference/supplement/elder_abuse/, 2026-12-05): the 15 states
# the shared reference lacked. Agency strings the generic reader cannot classify are mapped here.
ELDER.update(
    {
        "HI": {},
        "ID": {
            "agencies": {1: []},
            "additional": [
                {
                    "name": f"maltreatment that resulted in {what}",
                    "agency": {
                        "kind": LE,
                        "description": "the appropriate law enforcement agency, within 4 hours",
                    },
                    "deadline": _dl(4),
                    "circumstance": circumstance,
                    "statute": "Idaho Code 39-5303 (2023 text)",
                    "sources": [],  # the state entry's own (encode fills them in)
                }
                for what, circumstance in (
                    ("serious physical injury", "serious_bodily_injury"),
                    ("death", "death"),
                )
            ],
            "note": "The 4-hour report to law enforcement (death or serious physical injury) "
            "is an additional report beside the 24-hour one.",
        },
        "KS": {"agencies": {2: [(APS, "facility", None)]}},
        "LA": {"agencies": {3: [(LIC, "facility", None)]}},
        "ME": {"agencies": {1: [(LE, "always", None)]}},
        "MS": {
            "agencies": {
                2: [
                    (LIC, "facility", "care facilities: the State Department of Health"),
                    (
                        PROS,
                        "facility",
                        "care facilities: the Attorney General's Medicaid Fraud Control Unit",
                    ),
                ]
            }
        },
        "MT": {
            "agencies": {
                0: [(APS, "community", None)],
                1: [(PROS, "community", None)],
                2: [(OMB, "facility", None), (APS, "facility", None)],
                3: [],
            },
            "note": "A report about the department itself goes to the county attorney only "
            "(52-3-811(2)); kept in agencies_reference.",
        },
        "ND": {},
        "NE": {},
        "NM": {"agencies": {1: [(APS, "facility", None)]}},
        "OR": {
            "agencies": {2: [(APS, "facility", None)]},
            "delegation": "non_delegable",
            "note": "Delegation: ORS 124.060(1) says the official 'shall report or cause a report "
            "to be made'. Someone else may place the call, but nothing in the section "
            "discharges the official's duty until a report is made, so the task stays with "
            "the reporter (non_delegable); the workflow treated the unsettled value the same "
            "way. ORS 124.060(2) exempts a psychiatrist or psychologist from reporting what "
            "was learned in privileged communication; the clinician decides that when the "
            "flag is raised.",
        },
        "RI": {
            "agencies": {
                0: [(APS, "always", None)],
                2: [(LIC, "facility", None), (OMB, "facility", None)],
                3: [(LIC, "facility", None)],
                4: [(APS, "facility", None)],
            }
        },
        "SD": {
            "delegation": "non_delegable",
            "unverified": ["delegation"],
            "note": "Professionals under 22-46-9 (therapists, psychologists, counselors) report "
            "directly; facility staff report to the person in charge (agency pages, secondary "
            "source): non_delegable for Confide's reporters, unverified.",
        },
        "UT": {"agencies": {1: [(LE, "always", None)], 2: []}},
        "VT": {"agencies": {1: [(LIC, "facility", None)], 2: [(LE, "always", None)]}},
    }
)

# Delegation/supervisor texts that do not settle whether telling a supervisor or the person in
# charge discharges the reporter's own duty ('report or cause a report to be made', anti-
# retaliation or anti-impeding rules, a referral-ID rule, a delegate rule the schema has no value
# for): the value stays unverified and the text is kept in delegation_note / supervisor_rule.
DELEGATION_UNSETTLED = {
    "child_abuse": {"FL", "AZ", "CO", "WV", "IA", "NE"},
    "elder_abuse": {"CA", "TX", "OH", "CT", "KY", "MN", "VA", "NH"},
}

# WI elder's conditional mandate and DC elder's exception (legal-facts 11.3) are the reference's
# own notes; they become `conditional` verbatim.
CONDITIONAL_FROM_NOTES = {("elder_abuse", "WI"), ("elder_abuse", "DC")}

# ------------------------------------------------------------------------------ agency kinds
# A reference agency string must match (whole words) exactly one of these groups; strings that
# match none or several need an explicit entry in the state's "agencies" override.
_GROUPS: dict[str, tuple[str, ...]] = {
    OMB: ("ombudsman",),
    ME: ("medical examiner", "coroner"),
    PROS: ("attorney",),
    LIC: (
        "public health",
        "inspections and appeals",
        "office of long-term care",
        "residential care services",
        "nys doh",
    ),
    LE: ("police", "sheriff", "peace officer", "law enforcement", "911", "sled", "probation"),
}
_PROTECTIVE = {
    "child_abuse": (
        "child",
        "children",
        "cps",
        "dcf",
        "dcfs",
        "dfps",
        "dcyf",
        "welfare",
        "human services",
        "social services",
        "family services",
        "hotline",
        "register",
        "intake",
        "dhr",
        "ocs",
        "cyfd",
        "dcs",
        "childline",
        "dss",
        "cabinet",
        "commissioner",
    ),
    "elder_abuse": (
        "protective",
        "aps",
        "aging",
        "social services",
        "human services",
        "human resources",
        "family services",
        "job and family",
        "registry",
        "maarc",
        "beas",
        "adsd",
        "elder affairs",
        "intake",
        "hotline",
        "toll-free",
        "adult-at-risk",
        "commissioner",
    ),
}


def _classify(kind: str, text: str) -> str:
    low = text.lower()
    groups = {g: words for g, words in _GROUPS.items()}
    groups[CPS if kind == "child_abuse" else APS] = _PROTECTIVE[kind]
    hits = [
        g
        for g, words in groups.items()
        if any(re.search(rf"\b{re.escape(w)}\b", low) for w in words)
    ]
    if len(hits) != 1:
        raise ValueError(f"{kind}: agency {text!r} matches {hits or 'no kind'}; add an override")
    return hits[0]


def _agencies(kind: str, state: str, strings: list[str], enc: dict) -> list[dict]:
    routes: list[dict] = []
    for i, text in enumerate(strings):
        if i in enc.get("agencies", {}):
            specs = enc["agencies"][i]
        else:
            agency = _classify(kind, text)
            specs = [(agency, "death" if agency == ME else "always", None)]
        routes += [{"kind": k, "description": d or text, "when": w} for k, w, d in specs]
    unknown = set(enc.get("agencies", {})) - set(range(len(strings)))
    if unknown:
        raise ValueError(f"{kind} {state}: agency override for missing index {unknown}")
    return routes


# ------------------------------------------------------------------------------ field readers


def _is_unverified(value) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith("unverified")


def _written(kind: str, state: str, fact: dict, enc: dict) -> str:
    if "written" in enc:
        return enc["written"]
    if "written_required" not in fact:
        raise ValueError(f"{kind} {state}: no written_required and no 'written' override")
    value = fact["written_required"]
    if value is True:
        return REQ
    if value is False:
        return NOT_REQ
    if _is_unverified(value):
        return U
    if "requested" in value:
        return IF_REQ
    raise ValueError(f"{kind} {state}: written_required {value!r} needs a 'written' override")


def _written_deadline(kind: str, state: str, fact: dict, enc: dict, written: str) -> dict | None:
    if "written_deadline" in enc:
        return enc["written_deadline"]
    hours = fact.get("written_hours")
    if written not in (REQ, IF_REQ) or not isinstance(hours, int):
        return None
    clock = enc.get("written_clock", fact.get("written_clock"))
    if clock is None:
        raise ValueError(f"{kind} {state}: written_hours {hours} without a clock")
    return _dl(
        hours,
        clock=clock,
        excludes_weekends_holidays=bool(fact.get("written_excludes_weekends_holidays")),
    )


def _oral_deadline(kind: str, state: str, fact: dict, enc: dict) -> tuple[dict | None, bool]:
    """(deadline, unverified?)"""
    if "oral_deadline" in enc:
        return enc["oral_deadline"], False
    if "oral_hours" in enc:
        hours = enc["oral_hours"]
    elif "oral_hours" in fact:
        hours = fact["oral_hours"]
    else:
        raise ValueError(f"{kind} {state}: no oral_hours and no 'oral_hours' override")
    if _is_unverified(hours):
        return None, True
    return (_dl(hours) if hours is not None else None), False


def _delegation(kind: str, state: str, fact: dict, enc: dict) -> str:
    if "delegation" in enc:
        return enc["delegation"]
    text = fact.get("delegation", fact.get("supervisor_rule"))
    if text is None or _is_unverified(text) or state in DELEGATION_UNSETTLED[kind]:
        return Delegation.unverified.value
    if text.startswith("NOT delegable"):
        return Delegation.non_delegable.value
    raise ValueError(f"{kind} {state}: delegation {text!r} needs a 'delegation' override")


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _sources(fact: dict) -> list[str]:
    src = fact["source"]
    return [src] if isinstance(src, str) else list(src)


def _universal(fact: dict, enc: dict) -> bool:
    if "universal" in enc:
        return enc["universal"]
    value = fact.get("universal")
    return isinstance(value, str) and not _is_unverified(value)


JUDGEMENT_CALLS = ROOT / "tools" / "reference" / "supplement" / "judgement_calls.json"
# The fields a re-read may change, and how: a value for the override of the same name, or
# (agencies) routes the reference's strings could not give.
REREAD_FIELDS = ("written", "written_deadline", "agencies")


def rereads(kind: str, state: str, path: Path = JUDGEMENT_CALLS) -> list[dict]:
    """The re-reads of this rule's judgement calls that changed a value (issue 13): each names
    the field, the new value, why, and the sources read."""
    calls = json.loads(path.read_text()) if path.exists() else []
    out = []
    for call in calls:
        if not call["changed"] or call["kind"] != kind or call["jurisdiction"] != f"US-{state}":
            continue
        if call["field"] not in REREAD_FIELDS:
            raise ValueError(f"{kind} {state}: a re-read changes {call['field']!r}; encode it")
        out.append(call)
    return out


def encode(kind: str, state: str, fact: dict) -> ReportingRule:
    """One reference entry as a validated ReportingRule."""
    enc = (CHILD if kind == "child_abuse" else ELDER).get(state)
    if enc is None:
        raise ValueError(f"{kind} {state}: no entry in the override dict (add one, even empty)")
    changed = rereads(kind, state)
    enc = {**enc, **{c["field"]: c["value"] for c in changed if c["field"] != "agencies"}}
    unverified: list[str] = []

    def mark(field: str) -> None:
        if field not in unverified:
            unverified.append(field)

    statute = fact["statute"]
    if "unverified" in statute.lower() or "not confirmed" in statute.lower():
        mark("statute")  # UT child (current numbering), WI elder (ch. 55 section)
    oral_deadline, oral_unverified = _oral_deadline(kind, state, fact, enc)
    if oral_unverified:
        mark("oral_deadline")
    written = _written(kind, state, fact, enc)
    written_deadline = _written_deadline(kind, state, fact, enc, written)
    if written == U:
        mark("written")
        mark("written_deadline")
    elif written in (REQ, IF_REQ) and written_deadline is None:
        mark("written_deadline")
    delegation = _delegation(kind, state, fact, enc)
    if delegation == U:
        mark("delegation")
    penalty = fact.get("penalty")
    if penalty is None or "unverified" in penalty.lower():
        mark("penalty")
    for field in enc.get("unverified", []):
        mark(field)
    field_order = list(ReportingRule.model_fields)
    unverified.sort(key=field_order.index)

    notes_parts = [fact.get("notes")]
    covers = enc.get("covers", fact.get("covers"))
    scope = fact.get("scope_note")
    if scope and scope != covers and scope != enc.get("conditional"):
        notes_parts.append(f"Scope: {scope}")
    if fact.get("special"):
        notes_parts.append(f"Special: {fact['special']}")
    if fact.get("universal") and not _universal(fact, enc):
        notes_parts.append(f"Universal (reference): {fact['universal']}")
    if enc.get("note"):
        notes_parts.append(f"Encoding: {enc['note']}")
    for c in changed:
        notes_parts.append(f"Re-read ({c['field']}, {c['statute']}): {c['why']}")
    conditional = enc.get("conditional")
    if (kind, state) in CONDITIONAL_FROM_NOTES:
        conditional = fact["notes"]

    rule = {
        "jurisdiction": f"US-{state}",
        "kind": kind,
        "statute": statute,
        "oral": fact["oral"],
        "oral_deadline": oral_deadline,
        "written": written,
        "written_deadline": written_deadline,
        "written_form": enc.get("written_form"),
        "written_note": fact.get("written_note"),
        "agencies": _agencies(kind, state, fact["agencies"], enc)
        + [route for c in changed if c["field"] == "agencies" for route in c["value"]],
        "agencies_reference": list(fact["agencies"]),
        "delegation": delegation,
        "delegation_note": fact.get("delegation"),
        "supervisor_rule": fact.get("supervisor_rule"),
        "inform_individual": kind == "elder_abuse",
        "conditional": conditional,
        "universal": _universal(fact, enc),
        "covers": covers,
        "penalty": penalty,
        "sources": list(dict.fromkeys(_sources(fact) + [u for c in changed for u in c["sources"]])),
        "unverified": unverified,
        "notes": " ".join(_sentence(p) for p in notes_parts if p) or None,
        # What the first schema could not say (issue 13), from the override where a statute
        # needs it: a second report on its own clock, who must report, a partial universal duty.
        "additional": [
            {**a, "sources": a["sources"] or _sources(fact)} for a in enc.get("additional", [])
        ],
        "reporters": enc.get("reporters", fact.get("reporters")),
        "universal_scope": enc.get("universal_scope"),
    }
    return ReportingRule.model_validate(rule)


SUPPLEMENT = ROOT / "tools" / "reference" / "supplement"


def supplemented(reference: dict, folder: Path = SUPPLEMENT) -> dict:
    """The reference with Confide's own research added: one file per state and kind in
    tools/reference/supplement/<kind>/<ST>.json, in the reference's own shape, each read from
    the statute text and citing it. A state the shared reference already has is an error
    (reconcile the two, then delete the supplement's file), so nothing is silently shadowed."""
    out = {**reference, "_meta": dict(reference["_meta"])}
    for kind in KINDS:
        table = dict(reference[kind])
        for path in sorted((folder / kind).glob("*.json")):
            state = path.stem
            if state in table:
                raise ValueError(f"{kind} {state}: in the shared reference and in {path}")
            entry = json.loads(path.read_text())
            entry.pop("quotes", None)  # kept in the file for the reader, not in the rule
            table[state] = entry
        out[kind] = table
    todo = dict(out["_meta"]["todo"])
    todo["elder_abuse_missing"] = [s for s in todo["elder_abuse_missing"] if s not in out[KINDS[1]]]
    out["_meta"]["todo"] = todo
    return out


def build(reference: dict) -> dict[str, dict]:
    """Return {"child_abuse": table, "elder_abuse": table} built from the reference and the
    supplement."""
    reference = supplemented(reference)
    meta = reference["_meta"]
    out: dict[str, dict] = {}
    for kind in KINDS:
        overrides = CHILD if kind == "child_abuse" else ELDER
        stale = set(overrides) - set(reference[kind])
        if stale:
            raise ValueError(f"{kind}: overrides for states not in the reference: {stale}")
        rules = {
            f"US-{state}": encode(kind, state, fact).model_dump(mode="json")
            for state, fact in sorted(reference[kind].items())
        }
        out[kind] = {
            "_meta": {
                "encoded_from": f"shared/reference/jurisdictions.json ({kind}) and "
                f"tools/reference/supplement/{kind}/ by tools/build_reporting_data.py",
                "legend": meta["legend"],
                "field_notes": meta["child_elder_field_notes"],
                "notes": (
                    "Each rule validates as domain.reporting.ReportingRule. `unverified` names "
                    "every field whose value no source confirmed (a reference value marked "
                    "'unverified', or not given - an absent penalty counts); a deadline kept "
                    "with its field in `unverified` is from an older statute text. "
                    "oral_deadline null = 'immediately' with no numeric bound. Reference prose "
                    "is kept verbatim in oral, written_note, agencies_reference, "
                    "supervisor_rule, delegation_note and notes; encoding decisions follow "
                    "'Encoding:' in notes. Not legal advice: counsel must confirm each rule."
                ),
                "missing": (
                    sorted(f"US-{s}" for s in meta["todo"]["elder_abuse_missing"])
                    if kind == "elder_abuse"
                    else []
                ),
                "missing_note": "Jurisdictions without an entry get "
                "domain.reporting.default_rule (conservative, everything unverified).",
            },
            "jurisdictions": rules,
        }
    return out


def main(argv: list[str]) -> None:
    ref = Path(argv[1] if len(argv) > 1 else ROOT.parent / "shared/reference/jurisdictions.json")
    tables = build(json.loads(ref.read_text()))
    for kind, table in tables.items():
        path = OUT_DIR / f"{kind}.json"
        path.write_text(json.dumps(table, indent=1) + "\n")
        counts = sum(len(r["unverified"]) for r in table["jurisdictions"].values())
        print(f"wrote {path}: {len(table['jurisdictions'])} rules, {counts} unverified fields")


if __name__ == "__main__":
    main(sys.argv)
