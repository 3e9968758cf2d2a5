"""Encode the legal-request research (tools/reference/supplement/legal_requests/<ST>.json, one
file per jurisdiction, each value read from the state's statute or court rule and citing it)
as Confide policy data: domain/policy_data/legal_requests.json, whose rules validate as
domain.legal_request.LegalRequestRule.

Nothing is guessed: a value the research marks "unverified" stays unverified, named in the
rule's `unverified` list; where the objection window is unverified the FRCP 45 model of the
file's `default` stands in, marked so. `_meta` and `default` are kept as they are in the
current file (they are hand-written and cite their sources there).

Run it when the research changes; commit its output.
    .venv/bin/python tools/build_legal_data.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.legal_request import LegalRequestRule  # noqa: E402

RESEARCH = ROOT / "tools" / "reference" / "supplement" / "legal_requests"
OUT = ROOT / "domain" / "policy_data" / "legal_requests.json"
UNVERIFIED = "unverified"
# The research's fields in the order LegalRequestRule lists them; `unverified` is kept in it.
TRI_STATE = ("therapist_must_claim", "court_order_required")


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() == UNVERIFIED)


def encode(entry: dict, default: dict) -> dict:
    """One research file as a LegalRequestRule's fields (without `jurisdiction`)."""
    unverified = list(dict.fromkeys(entry.get("unverified", [])))

    def mark(field: str) -> None:
        if field not in unverified:
            unverified.append(field)

    objection = entry.get("objection")
    if _blank(objection) or not isinstance(objection, dict):
        objection = default["objection"]
        mark("objection")
    privilege = entry.get("privilege")
    if _blank(privilege):
        privilege = default["privilege"]
        mark("privilege")
    rule = {
        "objection": objection,
        "privilege": privilege,
        "sources": list(dict.fromkeys(entry.get("sources") or [])),
        "notes": entry.get("notes"),
    }
    for field in TRI_STATE:
        value = entry.get(field, UNVERIFIED)
        rule[field] = UNVERIFIED if _blank(value) else bool(value)
        if rule[field] == UNVERIFIED:
            mark(field)
    for field in ("patient_notice", "court_order_basis", "response_basis"):
        value = entry.get(field)
        rule[field] = None if _blank(value) else value
    if _blank(entry.get("patient_notice")):
        mark("patient_notice")
    days = entry.get("response_min_days")
    rule["response_min_days"] = UNVERIFIED if _blank(days) else int(days)
    if rule["response_min_days"] == UNVERIFIED:
        mark("response_min_days")
    if not rule["sources"]:
        rule["sources"] = list(default["sources"])
    known = set(LegalRequestRule.model_fields)
    rule["unverified"] = sorted(
        (f for f in unverified if f in known), key=list(LegalRequestRule.model_fields).index
    )
    return rule


def build(current: dict, folder: Path = RESEARCH) -> dict:
    """The legal-request table: `_meta` and `default` as they are, every researched
    jurisdiction encoded and validated."""
    rules = {}
    for path in sorted(folder.glob("*.json")):
        entry = json.loads(path.read_text())
        code = entry.get("jurisdiction") or f"US-{path.stem}"
        if code != f"US-{path.stem}":
            raise ValueError(f"{path}: jurisdiction {code!r} does not match the file name")
        rule = encode(entry, current["default"])
        LegalRequestRule.model_validate({"jurisdiction": code, **rule})
        rules[code] = rule
    return {"_meta": current["_meta"], "default": current["default"], "jurisdictions": rules}


def main() -> None:
    table = build(json.loads(OUT.read_text()))
    OUT.write_text(json.dumps(table, indent=1) + "\n")
    rules = table["jurisdictions"]
    unverified = sum(len(r["unverified"]) for r in rules.values())
    print(f"wrote {OUT}: {len(rules)} jurisdictions, {unverified} unverified values")


if __name__ == "__main__":
    main()
