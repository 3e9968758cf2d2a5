"""Part 4: many open cases waiting on their timers (the 4-hour risk-assessment deadline, its
reminder), and what they cost: the worker's resident memory, the dev server's SQLite size, and
the latency of a new flag (flag to first e-mail) compared with the same before they were opened.

The cases are started as the intake API starts them (intake.cases.start_case), many at once, so
filling does not take an hour; each then opens its concern and its assessment task as any case.
"""

from __future__ import annotations

import asyncio
import time

from bench import confide
from bench.results import Latency, OpenCases
from bench.stack import Stack
from domain.flags import Flag
from harness import demo_clinic, flag_body
from intake.cases import start_case
from workflows.case import concern_workflow_id


async def quiet(stack: Stack, limit: float = 120) -> None:
    """Until the worker and the server use under 5 % of a core (timers set, caches settled)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = stack.cpu()
        await asyncio.sleep(1.0)
        use = stack.cpu_since(before)
        if use.worker < 0.05 and use.temporal_server < 0.05:
            return


async def probe(stack: Stack, prefix: str, n: int, poll: float) -> list[float]:
    """n flags one after another: flag to first e-mail of each."""
    out = []
    async with stack.http() as http:
        for i in range(n):
            out.append((await confide.one_case(http, stack.sink, f"{prefix}{i}", poll)).first_email)
    return out


async def history_size(stack: Stack, case_ids: list[str]) -> tuple[float | None, float | None]:
    """Mean events and encoded KB of a case's and its concern's histories."""
    events, size = [], []
    for cid in case_ids:
        e = b = 0
        for wid in (cid, concern_workflow_id(cid, 1, "threat_to_others")):
            history = await stack.client.get_workflow_handle(wid).fetch_history()
            e += len(history.events)
            b += sum(ev.ByteSize() for ev in history.events)
        events.append(e)
        size.append(b / 1024)
    if not events:
        return None, None
    return round(sum(events) / len(events), 1), round(sum(size) / len(size), 1)


async def run_open(
    stack: Stack, run: str, n: int, probes: int, concurrency: int, poll: float
) -> OpenCases:
    worker = stack.procs["worker"]
    await quiet(stack)
    rss_idle = worker.rss_mb()
    db_before = stack.temporal_db_mb()
    idle = await probe(stack, f"{run}P0-", probes, poll)

    clinic = demo_clinic()
    limit = asyncio.Semaphore(concurrency)
    peak = rss_idle
    started = 0

    async def start(i: int) -> None:
        nonlocal started
        async with limit:
            flag = Flag.model_validate(flag_body(flag_id=f"{run}O-{i}"))
            await start_case(stack.client, stack.confide_queue, flag, clinic)
            started += 1

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, worker.rss_mb())
            await asyncio.sleep(1.0)

    query = (
        f"WorkflowId STARTS_WITH 'demo-clinic.{run}O-' AND ConfidePath = 'threat_to_others' "
        "AND ConfideWaitingOn = 'clinician'"
    )
    sampler = asyncio.create_task(sample())
    before = stack.cpu()
    t0 = time.perf_counter()
    try:
        starting = asyncio.gather(*(start(i) for i in range(n)), return_exceptions=True)
        opened = 0
        last_report = t0
        deadline = time.monotonic() + max(600, n * 0.5)
        # Open means the concern has its assessment task (and its timers): count those.
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            opened = (await stack.client.count_workflows(query)).count
            if time.perf_counter() - last_report > 30:
                last_report = time.perf_counter()
                print(
                    f"  open: {started} started, {opened} waiting, worker RSS "
                    f"{worker.rss_mb():.0f} MB ({last_report - t0:.0f} s)"
                )
            if opened >= n and starting.done():
                break
        errors = [e for e in await starting if isinstance(e, BaseException)]
        if errors:
            print(f"  open: {len(errors)} starts failed, first: {errors[0]!r}")
        fill_s = time.perf_counter() - t0
        cpu = stack.cpu_since(before)
        await quiet(stack)
        rss = worker.rss_mb()
        peak = max(peak, rss)
    finally:
        sampler.cancel()
    db = stack.temporal_db_mb()
    wal = stack.temporal_db_mb(("-wal",))
    events, kb = await history_size(stack, [f"demo-clinic.{run}O-{i}" for i in range(min(n, 5))])
    loaded = await probe(stack, f"{run}P1-", probes, poll)
    idle_l, loaded_l = Latency.of(idle), Latency.of(loaded)
    return OpenCases(
        cases=n,
        opened=opened,
        fill_s=round(fill_s, 1),
        fill_cases_per_s=round(opened / fill_s, 1) if fill_s else 0.0,
        worker_rss_idle_mb=rss_idle,
        worker_rss_mb=rss,
        worker_rss_peak_mb=peak,
        temporal_db_mb_before=db_before,
        temporal_db_mb=db,
        temporal_wal_mb=wal,
        history_events_per_open_case=events,
        history_kb_per_open_case=kb,
        idle=idle_l,
        loaded=loaded_l,
        ratio_p50=round(loaded_l.p50_ms / idle_l.p50_ms, 2) if idle_l and loaded_l else None,
        ratio_p95=round(loaded_l.p95_ms / idle_l.p95_ms, 2) if idle_l and loaded_l else None,
        cpu=cpu,
    )
