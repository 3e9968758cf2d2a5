"""`confide audit replay` names where a changed workflow diverges from the record, and exits
non-zero so it can gate a deploy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from temporalio.worker import Replayer

from audit.replay import from_files, replay
from infra.temporal import data_converter
from tests.changed_workflows import ChangedDutyToWarn

HISTORIES = Path(__file__).parent / "histories"
CONCERN = HISTORIES / "demo-clinic.HIST-CA-MANDATORY.c1-threat_to_others.json"


async def test_a_changed_workflow_fails_naming_the_diverging_event():
    changed = Replayer(workflows=[ChangedDutyToWarn], data_converter=data_converter())
    [outcome] = await replay(from_files([CONCERN]), changed)
    assert not outcome.ok and "Nondeterminism" in outcome.error
    # The changed code starts a timer where the record has the first search-attribute upsert.
    assert outcome.diverged_at_event == 5
    assert outcome.diverged_event_type == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"


async def test_todays_code_replays_every_checked_in_history_clean():
    outcomes = await replay(from_files(sorted(HISTORIES.glob("*.json"))))
    assert outcomes and all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    assert all(o.diverged_at_event is None for o in outcomes)


def test_the_command_exits_non_zero_on_a_bad_history(tmp_path):
    confide = os.path.join(os.path.dirname(sys.executable), "confide")
    good = subprocess.run(
        [confide, "audit", "replay", "--file", str(CONCERN)], capture_output=True, text=True
    )
    assert good.returncode == 0, good.stderr
    assert "1 clean, 0 failed" in good.stdout
    # A history cut short in the middle of a workflow task no longer matches the code.
    doc = json.loads(CONCERN.read_text())
    doc["events"] = [e for e in doc["events"] if int(e["eventId"]) != 6]
    broken = tmp_path / "demo-clinic.BROKEN.json"
    broken.write_text(json.dumps(doc))
    bad = subprocess.run(
        [confide, "audit", "replay", "--file", str(broken)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert bad.returncode == 1
    assert "FAIL" in bad.stdout and "0 clean, 1 failed" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr
