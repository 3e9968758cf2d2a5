"""The Temporal dev server (file database, as `confide dev` runs it) SIGKILLed and restarted
mid-run, with two workers of which one is SIGKILLed for good just before.

Cases on every path run while one worker dies (never restarted) and then the server dies and
comes back on the same database. Two mandated abuse reports are left unanswered so their real
deadline timers can be watched: one falls due while the server is down (it must escalate as
soon as the server is back, not a full interval later), one after it is back (it must escalate
at its deadline, set before the kill). Every case then settles, on the surviving worker, with
each notice once and one ledger row per disclosure. One run, two result files (the two faults
overlap so that `make test` pays the in-flight activities' 60 s timeout once).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from tests.chaos.drive import (
    Case,
    case_view,
    drive,
    final_views,
    new_case_body,
    start_cases,
    tag,
    tally,
)
from tests.chaos.results import Clock, seeded, size, write_result
from tests.chaos.stack import ChaosStack

# How late an escalation may go out after its timer fires: a workflow task, an activity, SMTP.
LATE = 10.0


async def test_server_restart_and_a_dead_worker_lose_no_case_and_timers_keep_deadlines(tmp_path):
    clock = Clock()
    rng = seeded("server_kill")
    n_cases = size("CHAOS_SERVER_CASES", 8)
    worker_kill_at = rng.uniform(2, 6)  # seconds after the cases start: mail is flowing
    kill_at = worker_kill_at + rng.uniform(1, 3)
    down = rng.uniform(6, 9)
    stack = ChaosStack(tmp_path)
    await stack.start(workers=2)
    try:
        holder = {"http": stack.http()}
        run = tag()
        cases = await start_cases(holder["http"], n_cases, run)
        t0 = time.time()
        # The oral report is due an hour after knowledge (CA: "immediately", held to 1 h):
        # knowledge just under an hour ago puts the deadline seconds away.
        timers = {
            "during": t0 + kill_at + down / 2,  # falls due while the server is down
            "after": t0 + kill_at + down + 12,  # falls due after it is back
        }
        watched: dict[str, Case] = {}
        for name, due in timers.items():
            known = datetime.fromtimestamp(due, UTC) - timedelta(hours=1)
            url, body = new_case_body("child_abuse", f"{run}-{name}", known_at=known)
            body["flagged_at"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
            r = await holder["http"].post(url, json=body)
            assert r.status_code == 202, r.text
            watched[name] = Case(r.json()["case_id"], "child_abuse")
        everything = cases + list(watched.values())

        async def fault() -> tuple[float, float]:
            await asyncio.sleep(t0 + worker_kill_at - time.time())  # the fault schedule
            stack.kill("worker2", "one of two workers, not restarted")
            await asyncio.sleep(t0 + kill_at - time.time())
            stack.kill("temporal", "dev server")
            killed = time.time()
            await asyncio.sleep(down)  # the outage lasts this long, by design
            await stack.restart_temporal()
            holder["http"] = stack.http()
            return killed, time.time()

        faulting = asyncio.create_task(fault())
        driving = asyncio.create_task(
            drive(lambda: holder["http"], lambda: stack.client, stack.sink, cases, 600)
        )
        killed, back = await faulting

        def overdue(case: Case) -> float | None:
            hits = [
                x.at
                for x in stack.sink.arrivals
                if "OVERDUE" in x.subject and f"{case.case_id})" in x.subject
            ]
            return min(hits) if hits else None

        async def escalated(case: Case) -> float:
            for _ in range(1200):
                at = overdue(case)
                if at is not None:
                    return at
                await asyncio.sleep(0.1)
            raise AssertionError(f"{case.case_id}: no OVERDUE e-mail")

        dues = {}
        for name, case in watched.items():
            view = None
            for _ in range(600):
                view = await case_view(holder["http"], case.case_id)
                if view and any(t["kind"] == "oral_report" for t in view["tasks"]):
                    break
                await asyncio.sleep(0.2)
            assert view is not None
            oral = next(t for t in view["tasks"] if t["kind"] == "oral_report")
            dues[name] = datetime.fromisoformat(oral["due_at"]).timestamp()
        fired = {name: await escalated(case) for name, case in watched.items()}
        await driving
        await drive(lambda: holder["http"], lambda: stack.client, stack.sink, everything, 600)
        changed = await final_views(holder["http"], everything)
        print("views changed after settling:", changed)
        t = tally(everything, stack.sink, stack.ledger)
        survivor = stack.procs["worker1"].alive() and not stack.procs["worker2"].alive()
    finally:
        stack.stop()
    unexpected = {k: v for k, v in t.duplicates.items() if v > 1 + stack.in_doubt.get(k, 0)}
    late_during = fired["during"] - max(back, dues["during"])
    late_after = fired["after"] - dues["after"]
    counts = (
        f"{t.mails} e-mails, {len(unexpected)} duplicates, {len(t.missing_mail)} missing; "
        f"{t.ledger_rows} ledger rows for {t.disclosures} disclosures, "
        f"{len(t.missing_rows) + len(t.extra_rows)} missing or extra"
    )
    write_result(
        "dev_server_restart",
        "Temporal dev server (file database) SIGKILLed mid-run and restarted",
        f"1 kill ({down:.0f} s down), {t.cases} cases",
        [
            "every case resumes and settles",
            "a deadline set before the kill that falls after the restart escalates at it",
            "a deadline that falls in the outage escalates on restart",
            "each notice once at the SMTP server; one ledger row per disclosure",
        ],
        f"{t.cases} cases settled; server down {back - killed:.1f} s; the deadline in the "
        f"outage escalated {late_during:.1f} s after the restart, the one after it "
        f"{late_after:+.1f} s from its deadline; {counts}; {clock.seconds()} s",
        seconds=clock.seconds(),
    )
    write_result(
        "two_workers_one_killed",
        "two workers, one SIGKILLed and never restarted (same run as dev_server_restart)",
        f"1 kill, {t.cases} cases",
        [
            "the surviving worker settles every case, including the dead worker's work",
            "each notice once at the SMTP server; one ledger row per disclosure",
        ],
        f"{t.cases} cases settled by the survivor; {counts}; {clock.seconds()} s",
        seconds=clock.seconds(),
    )
    assert survivor
    assert 0 <= late_after <= LATE, (fired, dues)
    assert fired["during"] >= dues["during"] and 0 <= late_during <= LATE + 5, (fired, dues, back)
    assert not unexpected, unexpected
    assert not t.missing_mail and not t.missing_rows and not t.extra_rows
    assert t.ledger_rows == t.disclosures > 0
