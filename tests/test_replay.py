"""Replay every checked-in history against today's code with the shared converter."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from audit.replay import replay_files
from infra.temporal import data_converter
from tests.changed_workflows import ChangedDutyToWarn
from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_exist_for_every_path_and_outcome():
    names = {p.name for p in HISTORIES}
    for scenario in ("CA-MANDATORY", "TX-PERMISSIVE", "CA-OVERDUE"):
        assert f"demo-clinic.HIST-{scenario}.json" in names
        assert f"demo-clinic.HIST-{scenario}.c1-threat_to_others.json" in names
    assert "demo-clinic.HIST-CA-CHILD-ABUSE.c1-child_abuse-v1-dr-lee.json" in names
    assert "demo-clinic.HIST-CA-ELDER-INFORM.c1-elder_abuse-v1-dr-lee.json" in names
    assert "demo-clinic.HIST-CA-CALL-RENEWED.c1-threat_to_others.json" in names
    # Self-harm (DutyToWarnWorkflow's other concern kind): permissive, an emergency contact told.
    assert "demo-clinic.HIST-CA-SELF-HARM.json" in names
    assert "demo-clinic.HIST-CA-SELF-HARM.c1-self_harm.json" in names
    for legal in ("L-SUBPOENA", "L-ORDER-COUNSEL", "L-DUE-OBJECTED"):
        assert f"demo-clinic.HIST-{legal}.json" in names
    # An authorization across continue-as-new (each run on record) and an accounting request.
    for run in (1, 2, 3):
        assert f"demo-clinic.HIST-A-REVOKED.run{run}.json" in names
    assert "demo-clinic.HIST-ACC-EXTENDED.json" in names
    # Cases started under history version 2 (lean publishing) replay beside version 1's.
    for scenario in ("V2-CA-MANDATORY", "V2-TX-PERMISSIVE"):
        assert f"demo-clinic.HIST-{scenario}.c1-threat_to_others.json" in names
    assert "demo-clinic.HIST-V2-CA-CHILD-ABUSE.c1-child_abuse-v1-dr-lee.json" in names
    # A renewed threat continues the concern as new: both runs on record.
    for run in (1, 2):
        assert f"demo-clinic.HIST-V2-CA-CALL-RENEWED.c1-threat_to_others.run{run}.json" in names
    # History version 3 (the case told of tasks and the end only) beside versions 1 and 2.
    for scenario in ("V3-CA-MANDATORY", "V3-CA-OVERDUE"):
        assert f"demo-clinic.HIST-{scenario}.c1-threat_to_others.json" in names
    assert "demo-clinic.HIST-V3-CA-CHILD-ABUSE.c1-child_abuse-v1-dr-lee.json" in names
    for run in (1, 2):
        assert f"demo-clinic.HIST-V3-CA-CALL-RENEWED.c1-threat_to_others.run{run}.json" in names
    # Issue 12: every decision and personal duty with its code (a local activity), and a
    # release decision locked by five wrong codes, then unlocked by the privacy officer.
    for scenario in ("C-CA-MANDATORY", "C-TX-LOCKOUT"):
        assert f"demo-clinic.HIST-{scenario}.c1-threat_to_others.json" in names
    assert "demo-clinic.HIST-C-CA-CHILD-ABUSE.c1-child_abuse-v1-dr-lee.json" in names
    assert "demo-clinic.HIST-C-L-SUBPOENA.json" in names
    # Issue 15: a FHIR subscription's feed (an event, then a gap and its catch-up) and a
    # write-back pass.
    assert "fhir-feed.demo-clinic.HIST-FEED.json" in names
    assert "confide-fhir-write-back.HIST.json" in names


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_checked_in_history_replays(path):
    [(workflow_id, error)] = await replay_files([path])
    assert error is None, f"{workflow_id}: {error}"


async def test_replay_detects_an_incompatible_change():
    path = next(p for p in HISTORIES if p.name.endswith("CA-MANDATORY.c1-threat_to_others.json"))
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[ChangedDutyToWarn], data_converter=data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, workflow.NondeterminismError)


def test_checked_in_histories_are_encrypted():
    for path in HISTORIES:
        text = path.read_text()
        assert "Jordan" not in text and "Casey" not in text, path.name
        assert "Alameda" not in text and "attorney@law.test" not in text, path.name
        assert "YmluYXJ5L2VuY3J5cHRlZA==" in text, path.name  # base64 of binary/encrypted


async def test_replay_without_the_key_fails_naming_the_key_id():
    from infra.keyring import Keyring

    path = next(p for p in HISTORIES if p.name == "demo-clinic.HIST-CA-MANDATORY.json")
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    stranger = Replayer(workflows=WORKFLOWS, data_converter=data_converter(Keyring.generate()))
    result = await stranger.replay_workflow(history, raise_on_replay_failure=False)
    kid = Keyring.from_env(Path("unused")).current
    assert result.replay_failure is not None and kid in str(result.replay_failure)
