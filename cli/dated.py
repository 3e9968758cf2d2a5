"""`--now` for the commands that send a sample: date the body to this moment before sending.

The samples in deploy/dev carry fixed times. A flag's `flagged_at` starts the statutory clock
of an abuse report, so a sample days old makes its tasks overdue the moment the case opens; a
legal request's `response_due` and an authorization's `expires_at` pass for good one day. With
`--now` the body's anchor time becomes now, and the times that must keep their distance to it
move by the same amount: a `known_at` stays as long before the flag, a response stays due as
many days after service, an authorization runs as long. Dates of the records asked for (the
`from` and `to` of a scope) are not times of the event and stay as written.
"""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from cli.layout import duration_words, series


class Stamp(BaseModel):
    """Which fields of one kind of body date it: the anchor set to now, and the fields moved
    by the same amount (dotted paths; '*' for each item of a list)."""

    model_config = ConfigDict(frozen=True)
    anchor: str
    follow: tuple[str, ...] = ()


# The sending commands whose samples hold times that matter (the accounting request's sample
# has none: without `requested_at` it is dated on arrival).
STAMPS = {
    "flag": Stamp(anchor="flagged_at", follow=("concerns.*.known_at",)),
    "legal-request": Stamp(anchor="served_at", follow=("response_due",)),
    "authorization": Stamp(anchor="signed_at", follow=("expires_at",)),
}


class Redate(BaseModel):
    """A body to date: the JSON as read, how its kind is dated, and the moment to date it to
    (aware, in the clinic's zone so the times written read as the clinic's)."""

    body: dict[str, Any]
    stamp: Stamp
    now: datetime


class Redated(BaseModel):
    """The dated body and one line saying what changed (times only: no patient data)."""

    body: dict[str, Any]
    said: str


class NothingToDate(ValueError):
    """The body lacks the anchor field (or holds something that is not a time there)."""


def _paths(node: Any, path: list[str], at: str = "") -> list[tuple[dict, str, str]]:
    """(the dict holding it, its key, its dotted name) for each field a path names."""
    if not path or not isinstance(node, dict | list):
        return []
    head, rest = path[0], path[1:]
    if head == "*":
        items = enumerate(node) if isinstance(node, list) else []
        return [hit for i, item in items for hit in _paths(item, rest, f"{at}[{i}]")]
    if not isinstance(node, dict) or head not in node:
        return []
    name = f"{at}.{head}" if at else head
    return [(node, head, name)] if not rest else _paths(node[head], rest, name)


def _parse(value: Any) -> datetime | date | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    except ValueError:
        return None


def _shift(value: datetime | date, by: timedelta) -> str:
    if isinstance(value, datetime):
        return (value + by).isoformat()
    return (value + timedelta(days=by.days)).isoformat()


def redate(r: Redate) -> Redated:
    """The body with its anchor set to now and its following times moved as far."""
    body = copy.deepcopy(r.body)
    [anchor] = _paths(body, r.stamp.anchor.split(".")) or [(None, None, r.stamp.anchor)]
    holder, key, name = anchor
    was = _parse(holder[key]) if holder is not None else None
    if was is None:
        raise NothingToDate(f"no {name} to set (a date or a time with its offset)")
    now = r.now.replace(microsecond=0)
    if isinstance(was, datetime):
        if was.utcoffset() is None:
            raise NothingToDate(f"{name} has no UTC offset")
        by, holder[key] = now - was, now.isoformat()
    else:
        by, holder[key] = timedelta(days=(now.date() - was).days), now.date().isoformat()
    moved = []
    for path in r.stamp.follow:
        for h, k, n in _paths(body, path.split(".")):
            old = _parse(h[k])
            if old is not None:
                h[k] = _shift(old, by)
                moved.append(n)
    said = f"--now: {name} set to {holder[key]} (was {was.isoformat()})"
    if moved:
        said += f"; {series(moved)} moved by the same {duration_words(abs(by))}"
        said += " back" if by < timedelta(0) else ""
    return Redated(body=body, said=said + ".")
