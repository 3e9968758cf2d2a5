"""`make bench` still runs: every part of bench/run.py at tiny sizes, in a process of its own
(it starts its own dev server, SMTP sink, worker and API). Nothing here asserts on time."""

from __future__ import annotations

import re
import subprocess
import sys

from bench.results import Results
from harness import ROOT


def test_the_benchmark_runs_every_part_and_writes_its_results(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = Results.read(tmp_path / "results.json")
    assert results.meta.smoke
    assert [lv.concurrency for lv in results.levels] == [1, 2]
    for level in results.levels:
        for measured in (level.baseline, level.confide):
            assert measured is not None and measured.completed == measured.cases
            assert measured.ledger_rows == 2 * measured.cases
            assert measured.events_per_case
    assert results.sustained is not None and results.sustained.completed == results.sustained.sent
    assert results.open_cases is not None
    assert results.open_cases.opened == results.open_cases.cases
    assert results.open_cases.worker_rss_mb > 0 and results.open_cases.temporal_db_mb > 0
    assert results.replay is not None and results.replay.cases > 0
    assert results.replay.failures == 0
    assert {t.name for t in results.targets}
    assert (tmp_path / "results.png").stat().st_size > 0


def test_the_fhir_notification_benchmark_runs_and_prints_its_three_measures():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.fhir_notify",
            "--events",
            "3",
            "--heartbeats",
            "2",
            "--flags",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for line, n in (("events", 3), ("heartbeats", 2), ("flags", 2)):
        assert re.search(rf"^  {line}\s+p50 .* \(n={n}\)", run.stdout, re.M), run.stdout
