"""Each fault test's result file: var/reliability/<name>.json, rendered into the README's
reliability table by tools/reliability_table.py."""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime

from harness import ROOT

RESULTS = ROOT / "var" / "reliability"


def size(name: str, default: int) -> int:
    """A size a fault test takes from the environment (`make chaos` sets the large ones)."""
    return int(os.environ.get(name) or default)


def seeded(test: str) -> random.Random:
    """The test's random kill points: CHAOS_SEED repeats a run; the seed is printed."""
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(10**9))
    print(f"{test}: CHAOS_SEED={seed}")
    return random.Random(seed)


def write_result(name: str, fault: str, times: str, checked: list[str], result: str, **extra):
    """Write var/reliability/<name>.json (what the README's table is made from)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    body = {
        "name": name,
        "fault": fault,
        "times": times,
        "checked": checked,
        "result": result,
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(body, indent=1, default=str) + "\n")
    print(json.dumps(body, indent=1, default=str))


class Clock:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def seconds(self) -> float:
        return round(time.monotonic() - self.t0, 1)
