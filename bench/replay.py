"""Part 5: replay. The histories of this run's Confide cases (case and concern workflows) are
fetched, then replayed through today's code with the SDK's batch replay (one Replayer, one
`workflow_replay_iterator` over them all), with the replayer `confide audit replay` builds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from audit.replay import replayer
from bench.results import Replay
from bench.stack import Stack


def case_of(workflow_id: str) -> str:
    return ".".join(workflow_id.split(".")[:2])


async def fetch(stack: Stack, prefixes: list[str], limit: int) -> list[WorkflowHistory]:
    query = " OR ".join(f"WorkflowId STARTS_WITH 'demo-clinic.{p}'" for p in prefixes)
    ids = sorted({wf.id async for wf in stack.client.list_workflows(query)})
    if limit:
        keep = sorted({case_of(i) for i in ids})[:limit]
        ids = [i for i in ids if case_of(i) in set(keep)]
    gate = asyncio.Semaphore(16)

    async def one(wid: str) -> WorkflowHistory:
        async with gate:
            return await stack.client.get_workflow_handle(wid).fetch_history()

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def batch(r: Replayer, histories: list[WorkflowHistory]) -> tuple[float, int]:
    """Seconds to replay them all with one workflow_replay_iterator, and the failures."""

    async def source() -> AsyncIterator[WorkflowHistory]:
        for h in histories:
            yield h

    failures = 0
    t0 = time.perf_counter()
    async with r.workflow_replay_iterator(source()) as results:
        async for result in results:
            if result.replay_failure is not None:
                failures += 1
                if failures == 1:
                    print(f"  replay: {result.history.workflow_id}: {result.replay_failure}")
    return time.perf_counter() - t0, failures


async def run_replay(stack: Stack, prefixes: list[str], limit: int, compare: int) -> Replay:
    t0 = time.perf_counter()
    histories = await fetch(stack, prefixes, limit)
    fetch_s = time.perf_counter() - t0
    cases = len({case_of(h.workflow_id) for h in histories})
    r = replayer()
    replay_s, failures = await batch(r, histories)
    out = Replay(
        cases=cases,
        histories=len(histories),
        events=sum(len(h.events) for h in histories),
        fetch_s=round(fetch_s, 2),
        replay_s=round(replay_s, 2),
        cases_per_s=round(cases / replay_s, 1) if replay_s else 0.0,
        histories_per_s=round(len(histories) / replay_s, 1) if replay_s else 0.0,
        failures=failures,
    )
    # The first `compare` cases again: one replay_workflow call per history (a replay worker
    # per run, what `confide audit replay` did before it batched), and one batch with the
    # sandbox off.
    keep = sorted({case_of(h.workflow_id) for h in histories})[:compare]
    subset = [h for h in histories if case_of(h.workflow_id) in set(keep)]
    if subset:
        out.compared = len(keep)
        t0 = time.perf_counter()
        for h in subset:
            await r.replay_workflow(h, raise_on_replay_failure=False)
        out.one_by_one_cases_per_s = round(len(keep) / (time.perf_counter() - t0), 1)
        bare, _ = await batch(replayer(workflow_runner=UnsandboxedWorkflowRunner()), subset)
        out.unsandboxed_cases_per_s = round(len(keep) / bare, 1)
    return out
