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

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_exist_for_every_duty_to_warn_outcome():
    names = {p.name for p in HISTORIES}
    for scenario in ("CA-MANDATORY", "TX-PERMISSIVE", "CA-OVERDUE"):
        assert f"demo-clinic.HIST-{scenario}.json" in names
        assert f"demo-clinic.HIST-{scenario}.c1-threat_to_others.json" in names


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
