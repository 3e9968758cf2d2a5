"""Part 3: flags at a fixed rate for a fixed time (open loop: a new flag every 1/rate seconds
whatever the earlier ones are doing), each timed from its scheduled send time."""

from __future__ import annotations

import asyncio
import time

from bench import confide
from bench.levels import CaseTiming
from bench.results import Latency, Sustained
from bench.stack import Stack


async def run_sustained(
    stack: Stack, run: str, rate: float, duration: float, poll: float, drain: float = 300
) -> Sustained:
    total = int(rate * duration)
    in_flight = 0
    max_in_flight = 0

    async def one(http, i: int, at: float) -> CaseTiming:
        nonlocal in_flight, max_in_flight
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        try:
            return await confide.one_case(http, stack.sink, f"{run}S-{i}", poll, t0=at)
        finally:
            in_flight -= 1

    async with stack.http() as http:
        before = stack.cpu()
        start = time.perf_counter() + 0.1
        jobs = []
        for i in range(total):
            at = start + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            jobs.append(asyncio.create_task(one(http, i, at)))
        sent_s = time.perf_counter() - start
        done_sending = time.perf_counter()
        finished, pending = await asyncio.wait(jobs, timeout=drain)
        for job in pending:
            job.cancel()
        drain_s = time.perf_counter() - done_sending
        cpu = stack.cpu_since(before)
    results = [j.result() for j in finished if not j.cancelled() and j.exception() is None]
    errors = [j.exception() for j in finished if not j.cancelled() and j.exception()]
    if errors:
        print(f"  sustained: {len(errors)} cases failed, first: {errors[0]!r}")
    return Sustained(
        rate_per_s=rate,
        duration_s=duration,
        sent=total,
        send_rate_per_s=round((total - 1) / sent_s, 2) if total > 1 and sent_s else rate,
        completed=len(results),
        first_email=Latency.of([c.first_email for c in results]),
        warnings=Latency.of([c.warnings for c in results]),
        intake=Latency.of([c.intake for c in results]),
        task_visible=Latency.of([c.task_visible for c in results if c.task_visible]),
        max_in_flight=max_in_flight,
        retried_503=sum(c.retries for c in results),
        failed=len(errors) + len(pending),
        drain_s=round(drain_s, 1),
        cpu=cpu,
    )
