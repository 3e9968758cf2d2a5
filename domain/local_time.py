"""Times as a person in the clinic reads them: in the clinic's zone, with its abbreviation."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def local(ts: datetime, timezone: str) -> str:
    """A time as a person in the clinic reads it: 'Mon, Dec 21, 2026, 5:00 PM PST'."""
    t = ts.astimezone(ZoneInfo(timezone))
    return f"{t:%a, %b} {t.day}, {t.year}, {t.hour % 12 or 12}:{t:%M %p %Z}"


def local_date(ts: datetime, timezone: str) -> str:
    """A date as a letter gives it: 'December 21, 2026'."""
    local_ts = ts.astimezone(ZoneInfo(timezone))
    return f"{local_ts:%B} {local_ts.day}, {local_ts.year}"
