"""Replay: run recorded histories through today's workflow code with the shared converter.

A history that no longer replays means the code changed incompatibly for cases already on
record, which an auditor (and a deploy) must know.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from infra.settings import Settings
from infra.temporal import connect, data_converter
from worker import WORKFLOWS


def replayer() -> Replayer:
    """A replayer for every Confide workflow, with the converter the worker uses."""
    return Replayer(workflows=WORKFLOWS, data_converter=data_converter())


async def replay_histories(histories: list[WorkflowHistory]) -> list[tuple[str, str | None]]:
    """(workflow id, error or None) per history."""
    out = []
    r = replayer()
    for h in histories:
        result = await r.replay_workflow(h, raise_on_replay_failure=False)
        failure = result.replay_failure
        out.append((h.workflow_id, f"{type(failure).__name__}: {failure}" if failure else None))
    return out


async def replay_files(paths: list[Path]) -> list[tuple[str, str | None]]:
    """Replay histories saved as JSON (`temporal workflow show -o json`, or the UI download)."""
    return await replay_histories([WorkflowHistory.from_json(p.stem, p.read_text()) for p in paths])


async def replay_case(case_id: str) -> list[tuple[str, str | None]]:
    """Fetch and replay a case's workflow and every concern workflow it started."""
    client = await connect(Settings.from_env())
    ids = [case_id]
    async for wf in client.list_workflows(f"WorkflowId STARTS_WITH '{case_id}.c'"):
        ids.append(wf.id)
    histories = [await client.get_workflow_handle(i).fetch_history() for i in ids]
    return await replay_histories(histories)
