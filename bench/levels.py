"""N cases at a fixed concurrency, timed to both warnings at the sink and both ledger rows
written; the same runner for Confide and for the baseline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.results import Latency, Level


@dataclass
class CaseTiming:
    """One case, in seconds from the moment its flag (or start) was sent (or scheduled)."""

    case_id: str
    workflow_id: str  # the concern's (Confide) or the workflow's own (baseline)
    intake: float  # POST /v1/flags, or start_workflow
    task_visible: float | None  # flag to the assessment task in GET /v1/cases/{id}
    complete_task: float  # the POST (Update) completing the assessment, its own duration
    first_email: float
    warnings: float  # flag to both warnings at the sink
    polls: int
    retries: int = 0  # API calls answered 503 and sent again


async def run_level(
    system: str,
    concurrency: int,
    case_ids: list[str],
    one: Callable[[int], Awaitable[CaseTiming]],
    rows: Callable[[], int],
    rows_needed: int,
    timeout: float = 600,
) -> tuple[Level, list[CaseTiming]]:
    """Run `one(i)` for every case with `concurrency` in flight; the level ends when every case
    has both warnings and `rows()` (run in a thread) reaches `rows_needed`."""
    limit = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> CaseTiming:
        async with limit:
            return await one(i)

    t0 = time.perf_counter()
    outcomes = await asyncio.gather(
        *(guarded(i) for i in range(len(case_ids))), return_exceptions=True
    )
    done = [o for o in outcomes if isinstance(o, CaseTiming)]
    failed = [o for o in outcomes if not isinstance(o, CaseTiming)]
    if failed:
        print(f"  {system} c={concurrency}: {len(failed)} cases failed, first: {failed[0]!r}")
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(rows) < rows_needed and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # the last ledger writes trail the last e-mails
    elapsed = time.perf_counter() - t0
    written = await asyncio.to_thread(rows)
    if written < rows_needed:
        print(f"  {system} c={concurrency}: only {written} of {rows_needed} ledger rows")
    level = Level(
        system=system,
        concurrency=concurrency,
        cases=len(case_ids),
        completed=len(done),
        ledger_rows=written,
        elapsed_s=round(elapsed, 2),
        cases_per_s=round(len(done) / elapsed, 2) if elapsed else 0.0,
        first_email=Latency.of([c.first_email for c in done]),
        warnings=Latency.of([c.warnings for c in done]),
        intake=Latency.of([c.intake for c in done]),
        task_visible=Latency.of([c.task_visible for c in done if c.task_visible is not None]),
        complete_task=Latency.of([c.complete_task for c in done]),
        polls_per_case=round(sum(c.polls for c in done) / len(done), 1) if done else None,
        retried_503=sum(c.retries for c in done),
    )
    return level, done
