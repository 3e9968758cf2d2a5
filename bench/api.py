"""Parts 1 and 2: the engine baseline and Confide through the HTTP API, level by level.

At each concurrency the baseline runs first, then Confide, back to back on the same server, so
the ratio compares like with like (the database grows over a run; neither gets a fresh one).
"""

from __future__ import annotations

import statistics
import time

from bench import baseline, confide
from bench.levels import CaseTiming, run_level
from bench.results import ApiLevel, Level
from bench.stack import Stack


def cases_at(concurrency: int, given: int) -> int:
    """Cases per level: as given, else enough for a steady state (30 at 1, 8 per slot, <= 300)."""
    return given or min(300, max(30, 8 * concurrency))


async def warm_up(stack: Stack, run: str, n: int, poll: float, confide_on: bool, base_on: bool):
    """A few cases of each kind first: sandbox imports, connections, caches."""
    if n <= 0:
        return
    if base_on:
        for i in range(n):
            await baseline.one_case(
                stack.client,
                stack.sink,
                stack.baseline_queue,
                f"bench-base.{run}W-{i}",
                f"victim.{run}w-{i}@example.org",
            )
    if confide_on:
        async with stack.http() as http:
            for i in range(n):
                await confide.one_case(http, stack.sink, f"{run}W-{i}", poll)


async def level_baseline(
    stack: Stack, run: str, concurrency: int, n: int, sample: int
) -> tuple[Level, list[CaseTiming]]:
    prefix = f"bench-base.{run}B{concurrency}-"

    async def one(i: int) -> CaseTiming:
        return await baseline.one_case(
            stack.client,
            stack.sink,
            stack.baseline_queue,
            f"{prefix}{i}",
            f"victim.{run}b{concurrency}-{i}@example.org",
        )

    before = stack.cpu()
    level, done = await run_level(
        "baseline",
        concurrency,
        [f"{prefix}{i}" for i in range(n)],
        one,
        lambda: stack.baseline_rows(prefix),
        2 * n,
    )
    level.cpu = stack.cpu_since(before, worker="baseline")
    _events(level, await confide.baseline_events(stack.client, done[:sample]))
    return level, done


async def level_confide(
    stack: Stack, run: str, concurrency: int, n: int, sample: int, poll: float
) -> tuple[Level, list[CaseTiming]]:
    flag_prefix = f"{run}A{concurrency}-"
    async with stack.http() as http:

        async def one(i: int) -> CaseTiming:
            return await confide.one_case(http, stack.sink, f"{flag_prefix}{i}", poll)

        before = stack.cpu()
        level, done = await run_level(
            "confide",
            concurrency,
            [confide.case_id(f"{flag_prefix}{i}") for i in range(n)],
            one,
            lambda: stack.ledger_rows(confide.case_id(flag_prefix)),
            2 * n,
        )
        level.cpu = stack.cpu_since(before)
    _events(level, await confide.events_per_case(stack.client, done[:sample]))
    return level, done


def _events(level: Level, counts: list[tuple[int, int]]) -> None:
    if counts:
        level.events_per_case = round(statistics.mean(e for e, _ in counts), 1)
        level.events_max = max(e for e, _ in counts)
        level.workflow_tasks_per_case = round(statistics.mean(t for _, t in counts), 1)


async def run_levels(
    stack: Stack,
    run: str,
    concurrencies: list[int],
    cases: int,
    poll: float,
    sample: int,
    confide_on: bool,
    base_on: bool,
) -> list[ApiLevel]:
    out = []
    for c in concurrencies:
        n = cases_at(c, cases)
        row = ApiLevel(concurrency=c)
        if base_on:
            t = time.perf_counter()
            row.baseline, _ = await level_baseline(stack, run, c, n, sample)
            print(f"  baseline c={c:<3} {n} cases: {_line(row.baseline)} ({_took(t)})")
        if confide_on:
            t = time.perf_counter()
            row.confide, _ = await level_confide(stack, run, c, n, sample, poll)
            print(f"  confide  c={c:<3} {n} cases: {_line(row.confide)} ({_took(t)})")
        if row.confide and row.baseline and row.baseline.cases_per_s:
            row.ratio = round(row.confide.cases_per_s / row.baseline.cases_per_s, 2)
        out.append(row)
    return out


def _line(level: Level) -> str:
    first = level.first_email
    return f"{level.cases_per_s:.1f} cases/s, first e-mail p95 " + (
        f"{first.p95_ms:.0f} ms" if first else "-"
    )


def _took(t: float) -> str:
    return f"{time.perf_counter() - t:.0f} s"
