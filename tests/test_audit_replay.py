"""`confide audit replay` names where a changed workflow diverges from the record, and exits
non-zero so it can gate a deploy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from audit.replay import from_files, recorded, replay
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


async def test_one_batch_reports_each_run_in_order_past_a_failing_one():
    # `replay` runs every history through one replay worker (the SDK's batch replay): a run
    # that fails midway is reported where it stands and the runs after it still replay clean.
    doc = json.loads(CONCERN.read_text())
    doc["events"] = [e for e in doc["events"] if int(e["eventId"]) != 6]
    broken = recorded(WorkflowHistory.from_json("demo-clinic.BROKEN", json.dumps(doc)), "file")
    good = from_files(sorted(HISTORIES.glob("demo-clinic.HIST-V2-*.json")))
    runs = [*good[:2], broken, *good[2:]]
    outcomes = await replay(runs)
    assert [(o.workflow_id, o.run_id, o.events) for o in outcomes] == [
        (r.workflow_id, r.run_id, len(r.history.events)) for r in runs
    ]
    assert [o.ok for o in outcomes] == [r is not broken for r in runs]
