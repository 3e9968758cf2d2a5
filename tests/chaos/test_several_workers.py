"""Several `confide worker` processes on one dev server (issue 14): the cases' work spreads over
them, each answers its readiness probe and serves Prometheus metrics, and SIGKILLing one while
cases are in flight loses nothing: the others finish every case, with no duplicate e-mail and
one ledger row per disclosure."""

from __future__ import annotations

import httpx

from harness import free_port
from tests.chaos.drive import drive, start_cases, tag, tally
from tests.chaos.results import Clock, size, write_result
from tests.chaos.stack import ChaosStack
from tests.support import eventually, worker_identities

WORKERS = 3


async def test_cases_spread_over_several_workers_and_killing_one_loses_nothing(tmp_path):
    clock = Clock()
    n_cases = size("CHAOS_CASES", 6)
    stack = ChaosStack(tmp_path)
    ports = {}
    for n in range(1, WORKERS + 1):
        ports[f"worker{n}"] = (free_port(), free_port())
        health, metrics = ports[f"worker{n}"]
        stack.worker_env[f"worker{n}"] = {
            "CONFIDE_HEALTH_PORT": str(health),
            "CONFIDE_METRICS_ADDRESS": f"127.0.0.1:{metrics}",
        }
    await stack.start(workers=WORKERS)
    try:
        async with httpx.AsyncClient(timeout=5) as probe:
            for health, metrics in ports.values():
                ready = await eventually(
                    lambda h=health: _ok(probe, f"http://127.0.0.1:{h}/readyz"), timeout=30
                )
                assert ready.text == "ready\n"
                assert (await probe.get(f"http://127.0.0.1:{health}/livez")).status_code == 200
                # The SDK's metrics, for Prometheus to scrape.
                scraped = await eventually(
                    lambda m=metrics: _ok(probe, f"http://127.0.0.1:{m}/metrics"), timeout=30
                )
                assert "temporal_" in scraped.text
        http = stack.http()
        run = tag()
        cases = await start_cases(http, n_cases, f"{run}-a")
        # The first case's first tasks are under way: one worker dies mid-flight.
        await eventually(lambda: stack.sink.total() > 0, timeout=60)
        stack.kill("worker2", "SIGKILL while cases run")
        cases += await start_cases(http, n_cases // 2, f"{run}-b", len(cases))
        await drive(lambda: http, lambda: stack.client, stack.sink, cases, timeout=600)
        t = tally(cases, stack.sink, stack.ledger)
        workers = set()
        for c in cases:
            workers |= await worker_identities(stack.client, c.case_id)
    finally:
        stack.stop()
    pids = {stack.procs[f"worker{n}"].pid for n in range(1, WORKERS + 1)}
    by_worker = {w for w in workers if int(w.split("@")[0]) in pids}
    result = (
        f"{t.cases} cases over {WORKERS} workers ({len(by_worker)} of them did work), "
        f"1 killed mid-flight: {t.mails} e-mails, {len(t.duplicates)} resent, "
        f"{len(t.missing_mail)} missing e-mails, {t.ledger_rows} ledger rows for "
        f"{t.disclosures} disclosures; {clock.seconds()} s"
    )
    write_result(
        "several_workers",
        f"{WORKERS} workers on one dev server, one SIGKILLed while cases run",
        f"1 kill, {t.cases} cases",
        [
            "every worker answers /readyz and serves /metrics",
            "the cases' workflow and activity tasks ran on more than one worker",
            "every case settles; each e-mail received once; one ledger row per disclosure",
        ],
        result,
        seconds=clock.seconds(),
    )
    assert len(by_worker) >= 2, f"all work ran on one worker: {workers}"
    # A message the server had taken when the kill struck, its 250 unread, is sent again
    # (same Message-ID): the only safe choice, as in test_worker_kill. Nothing else twice.
    unexpected = {k: v for k, v in t.duplicates.items() if v > 1 + stack.in_doubt.get(k, 0)}
    assert not unexpected and not t.missing_mail, (unexpected, t.missing_mail)
    assert not t.missing_rows and not t.extra_rows, (t.missing_rows, t.extra_rows)
    assert t.ledger_rows == t.disclosures > 0


async def _ok(client: httpx.AsyncClient, url: str) -> httpx.Response | None:
    try:
        r = await client.get(url)
    except httpx.HTTPError:
        return None
    return r if r.status_code == 200 else None
