"""Plain-text layout for what the CLI lists: each record a block of labelled lines that fits
the terminal's width, so nothing wraps into fragments at 80 columns.

Wrapping happens only between words and never inside one: an id, a hash or a URL is a word, and
it must stay whole on one line to be pasted. A word longer than the space left for it moves to a
line of its own, indented a little; only a word longer than the whole width
(some source URLs are) makes a line longer than the screen, and the terminal then wraps it
softly, which copies back as one line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.text import Text

from domain.clinic import Clinic, ClinicDirectory
from domain.local_time import local

INDENT = "  "
# Where a word too long for its column starts its own line.
OVERFLOW = "    "

# Words printed in red wherever they stand: what a reader must not miss.
ALARMS = ("OVERDUE", "FAIL", "BROKEN")


def console(stderr: bool = False) -> Console:
    """A console made when a command runs, so it reads the width (COLUMNS) of that moment."""
    return Console(stderr=stderr)


def fill(words: Iterable[str], first: str, rest: str, width: int) -> list[str]:
    """Words after the prefix `first`, continued after `rest`, in lines of at most `width`
    characters where the words allow it. A word is never split (see the module's note)."""
    lines: list[str] = []
    line, empty = first, True
    for word in words:
        if len(line) + (0 if empty else 1) + len(word) <= width:
            line, empty = (line + word if empty else f"{line} {word}"), False
            continue
        if not empty or line.strip():
            lines.append(line.rstrip())
        if len(rest) + len(word) <= width:
            line, empty = rest + word, False
            continue
        # Longer than the value column: its own line, whole, a little indented.
        lines.append(OVERFLOW + word)
        line, empty = rest, True
    if not empty or not lines:
        lines.append(line.rstrip())
    return lines


def para(text: str, width: int, indent: str = "") -> list[str]:
    """A paragraph of prose, wrapped at `width` with a hanging `indent`."""
    return fill(text.split(), indent, indent, width)


def bullet(text: str, width: int, indent: str = INDENT) -> list[str]:
    """One item of a list: '- ' and the text, its continuation under the text."""
    return fill(text.split(), f"{indent}- ", indent + "  ", width)


def fields(rows: list[tuple[str, str]], width: int, indent: str = INDENT) -> list[str]:
    """Labelled lines, values in one column after the longest label. A value's own line
    breaks ('\\n') start new lines (one URL or one id per line stays whole)."""
    if not rows:
        return []
    column = max(len(label) for label, _ in rows) + 2
    out: list[str] = []
    for label, value in rows:
        pad = indent + " " * column
        first = indent + label.ljust(column)
        for i, part in enumerate(value.split("\n")):
            out += fill(part.split(), first if i == 0 else pad, pad, width)
    return out


def show(out: Console, lines: list[str]) -> None:
    """Print laid-out lines as they are: no markup is read in them (names and notes may hold
    '[' ), no re-wrapping or cropping by rich; alarm words in red."""
    for line in lines:
        text = Text(line)
        text.highlight_words(ALARMS, style="bold red")
        out.print(text, soft_wrap=True)


def print_json(value: Any) -> None:
    """JSON for scripts: whole ids, times with their offsets, nothing folded to fit a screen."""
    print(json.dumps(value, indent=1))


def count(n: int, noun: str) -> str:
    """'1 task', '3 tasks'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def duration_words(d: timedelta) -> str:
    """A duration as a person says it: '12 hours', '7 days', '1 hour 30 minutes'."""
    seconds = int(d.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [
        count(n, unit)
        for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"), (seconds, "second"))
        if n
    ]
    return " ".join(parts) or "no time"


def every(d: timedelta) -> str:
    """'every hour', 'every 2 hours', 'every 1 hour 30 minutes'."""
    words = duration_words(d)
    return f"every {words[2:]}" if words in ("1 day", "1 hour", "1 minute") else f"every {words}"


def series(items: list[str], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


class Zones(BaseModel):
    """Each clinic's time zone, so a time is read as the clinic's staff read it."""

    model_config = ConfigDict(frozen=True)
    by_clinic: dict[str, str] = {}

    def of(self, clinic_id: str) -> str:
        """The clinic's zone; UTC (named as such) for a clinic not in the clinics file."""
        return self.by_clinic.get(clinic_id, "UTC")

    def at(self, clinic_id: str, ts) -> str:
        """A time in the clinic's zone with its abbreviation: 'Fri, Nov 27, 2026, 10:15 AM PST'."""
        return local(ts, self.of(clinic_id))


def load_clinics(clinics_file: Path) -> dict[str, Clinic]:
    """The clinics file (CONFIDE_CLINICS) by clinic id; none when it cannot be read, and then
    times are shown in UTC, which each time says."""
    try:
        found = ClinicDirectory.load(clinics_file)
    except (OSError, ValueError) as e:
        print(f"note: clinics file not read ({type(e).__name__}); times in UTC", file=sys.stderr)
        return {}
    return {c.id: c for c in found.clinics}


def clinic_zones(clinics_file: Path) -> Zones:
    """Each configured clinic's zone."""
    return Zones(by_clinic={k: c.timezone for k, c in load_clinics(clinics_file).items()})
