"""The policy store: everything that reads policy data files, the clock, the `holidays` library
or tzdata to resolve the rules a case runs under.

It runs on the intake side (the HTTP API, the CLI, the tools and tests) and workflows never
import it: `domain.*`, which workflows import passed through the sandbox, keeps only the models
and pure functions. A case reads nothing from here after it starts: `resolve_policy` fixes the
rules, the holidays and the clinic zone's UTC offsets into one hashed `PolicySnapshot` that
travels in the workflow input, so a replay computes what the first run computed whatever the
files, the holidays library or tzdata say by then.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Literal
from zoneinfo import ZoneInfo

from domain.jurisdiction import parts
from domain.legal_request import LegalRequestPolicy, LegalRequestRule
from domain.policy import DutyToWarnRule, PolicySnapshot, Timers
from domain.reporting import ZONE_MARGIN, Calendar, ReportingRule, default_rule

Kind = Literal["child_abuse", "elder_abuse"]

# Years of holidays and UTC offsets a snapshot fixes, from its start year: enough for any
# statutory deadline counted in hours or days from knowledge in the first of them.
HORIZON_YEARS = 3


class UnknownJurisdiction(ValueError):
    """The jurisdiction code is not one Confide has policy for."""


def _policy_data(name: str) -> dict:
    return json.loads(resources.files("domain").joinpath(f"policy_data/{name}.json").read_text())


@cache
def packs() -> dict[str, dict]:
    """Jurisdictions outside the US reference, one file each in domain/policy_data/packs/
    ("CA-ON.json"): every path's rule for the jurisdiction, hand-encoded from its own
    sources. A new country is a new file, never a code change."""
    folder = resources.files("domain").joinpath("policy_data/packs")
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            pack = json.loads(entry.read_text())
            code = entry.name.removesuffix(".json")
            if pack.get("jurisdiction") != code:
                raise ValueError(f"policy pack {entry.name} is for {pack.get('jurisdiction')!r}")
            out[code] = pack
    return out


def _with_packs(path: str, table: dict) -> dict:
    """A path's table with each pack's rule for it added (a pack never replaces a US rule)."""
    merged = dict(table)
    for code, pack in packs().items():
        if code in merged:
            raise ValueError(f"policy pack {code} duplicates a rule in the {path} table")
        if path in pack:
            merged[code] = pack[path]
    return merged


# ------------------------------------------------------------------------------ duty to warn


@cache
def _duty_to_warn_table() -> dict[str, DutyToWarnRule]:
    raw = _with_packs("duty_to_warn", _policy_data("duty_to_warn")["jurisdictions"])
    return {k: DutyToWarnRule.model_validate(v) for k, v in raw.items()}


def jurisdictions() -> list[str]:
    """Every jurisdiction with policy data, e.g. 'US-CA'."""
    return sorted(_duty_to_warn_table())


def duty_to_warn_rule(jurisdiction: str) -> DutyToWarnRule:
    """The duty-to-warn rule of one jurisdiction."""
    try:
        return _duty_to_warn_table()[jurisdiction]
    except KeyError:
        raise UnknownJurisdiction(f"no policy data for jurisdiction {jurisdiction!r}") from None


# --------------------------------------------------------------------------- mandated reporting


@cache
def _reporting_table(kind: str) -> dict[str, ReportingRule]:
    raw = _with_packs(kind, _policy_data(kind)["jurisdictions"])
    return {k: ReportingRule.model_validate(v) for k, v in raw.items()}


def reporting_rule(jurisdiction: str, kind: Kind) -> ReportingRule:
    """The sourced rule, or the conservative default when the reference has none."""
    return _reporting_table(kind).get(jurisdiction) or default_rule(jurisdiction, kind)


def covered(kind: Kind) -> list[str]:
    """Jurisdictions with a sourced rule of this kind."""
    return sorted(_reporting_table(kind))


# ------------------------------------------------------------------------------------ calendar


@cache
def _holidays(country: str, subdivision: str, first: int, last: int) -> tuple[date, ...]:
    import holidays as holidays_lib

    days = holidays_lib.country_holidays(
        country, subdiv=subdivision, years=list(range(first, last))
    )
    return tuple(sorted(days))


def holidays_for(jurisdiction: str, years: range) -> list[date]:
    """Public holidays of a jurisdiction (national + subdivision: "US-CA", "CA-ON", "GB-ENG";
    a bare "CA" is California) from the maintained `holidays` library."""
    country, subdivision = parts(jurisdiction)
    return list(_holidays(country, subdivision, years.start, years.stop))


# Scan step for offset changes: far shorter than the months between two transitions, so none is
# missed (only a change undone within one step could be, which no zone's rules do).
_SCAN = 6 * 3600


def _state(zone: ZoneInfo, ts: int) -> tuple[int, int, str]:
    local = datetime.fromtimestamp(ts, UTC).astimezone(zone)
    off, dst = local.utcoffset(), local.dst()
    assert off is not None and dst is not None
    return int(off.total_seconds()), int(dst.total_seconds()), local.tzname() or ""


@cache
def _frozen_offsets(timezone: str, since: int, until: int) -> tuple[tuple[int, int, int, str], ...]:
    zone = ZoneInfo(timezone)
    rows = [(since, *_state(zone, since))]
    at = since
    while at < until:
        step = min(at + _SCAN, until)
        if _state(zone, step) == rows[-1][1:]:
            at = step
            continue
        lo, hi = at, step  # the state changes in (lo, hi]: find the first second it does
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _state(zone, mid) == rows[-1][1:]:
                lo = mid
            else:
                hi = mid
        rows.append((hi, *_state(zone, hi)))
        at = hi
    return tuple(rows)


def frozen_offsets(timezone: str, years: range) -> tuple[list[tuple[int, int, int, str]], int]:
    """The zone's UTC offsets over `years` from tzdata, as `Calendar.offsets` and
    `Calendar.offsets_until`: the offset in force at the start and every transition up to the
    end, with the margin `FrozenZone` needs on each side (two days)."""
    since = int(datetime(years.start, 1, 1, tzinfo=UTC).timestamp()) - 2 * ZONE_MARGIN
    until = int(datetime(years.stop, 1, 1, tzinfo=UTC).timestamp()) + 2 * ZONE_MARGIN
    return list(_frozen_offsets(timezone, since, until)), until


def calendar_for(jurisdiction: str, timezone: str, start: int) -> Calendar:
    """A clinic's calendar for `HORIZON_YEARS` from `start`: holidays and frozen UTC offsets."""
    years = range(start, start + HORIZON_YEARS)
    offsets, until = frozen_offsets(timezone, years)
    return Calendar(
        timezone=timezone,
        holidays=holidays_for(jurisdiction, years),
        offsets=offsets,
        offsets_until=until,
    )


# -------------------------------------------------------------------------------- the snapshot


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
    start = year or datetime.now(UTC).year
    child = reporting_rule(jurisdiction, "child_abuse")
    elder = reporting_rule(jurisdiction, "elder_abuse")
    calendar = calendar_for(jurisdiction, timezone, start)
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


# ------------------------------------------------------------------------ legal requests


@cache
def _legal_table() -> dict:
    return json.loads(
        resources.files("domain").joinpath("policy_data/legal_requests.json").read_text()
    )


def legal_rule(jurisdiction: str) -> LegalRequestRule:
    """The sourced rule of a jurisdiction, or the conservative default marked unverified."""
    table = _legal_table()
    raw = _with_packs("legal_requests", table["jurisdictions"]).get(jurisdiction)
    if raw is not None:
        return LegalRequestRule.model_validate({"jurisdiction": jurisdiction, **raw})
    return LegalRequestRule.model_validate(
        {"jurisdiction": jurisdiction, **table["default"], "default": True}
    )


def resolve_legal_policy(jurisdiction: str, timezone: str) -> LegalRequestPolicy:
    """The snapshot a legal request carries in its workflow input."""
    rule = legal_rule(jurisdiction)
    body = {"rule": rule.model_dump(mode="json"), "timezone": timezone}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    version = "sha256:" + hashlib.sha256(canonical).hexdigest()[:16]
    return LegalRequestPolicy(rule=rule, timezone=timezone, version=version)
