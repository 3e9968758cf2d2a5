"""bench/profile.py still runs (a tiny level under py-spy, worker and API) and reads its own
samples; bench/replay_files.py still times the checked-in histories. Nothing here asserts on
time."""

from __future__ import annotations

import json
import subprocess
import sys

from harness import ROOT


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_the_profile_samples_worker_and_api_and_writes_a_summary(tmp_path):
    run = _run(
        "bench.profile", "--cases", "3", "--concurrency", "2", "--warmup", "1",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for name in ("worker", "api"):
        doc = json.loads((tmp_path / f"{name}.speedscope.json").read_text())
        assert doc["profiles"] and doc["shared"]["frames"]
    measured = json.loads((tmp_path / "run.json").read_text())
    assert measured["level"]["completed"] == 3
    summary = (tmp_path / "summary.txt").read_text()
    assert "== worker:" in summary and "== api:" in summary and "-- by part" in summary
    again = _run("bench.profile", "--summarize", str(tmp_path), timeout=60)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "summary.txt").read_text() == summary


def test_replay_speed_on_the_checked_in_histories_is_measured():
    run = _run("bench.replay_files", "--rounds", "1", timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "one workflow_replay_iterator" in run.stdout and "cases/s" in run.stdout
