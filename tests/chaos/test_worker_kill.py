"""SIGKILL of the worker at random points while cases on every path run; it is restarted each
time. Every case must settle (each task completed as a person would, nothing in flight), each
recipient must get each notice exactly once at a mail server that counts every DATA (no
deduplication by Message-ID), and the ledger must hold exactly one row per disclosure.

Kill points (seeded RNG, seed printed; CHAOS_SEED repeats a run):
- `time`: after a random delay, wherever the worker is;
- `quit`: when the mail server gets a QUIT, i.e. right after the worker read the server's 250
  for a message and before its activity could report completion;
- `data`: when the mail server has taken a message, before its 250 goes out.

A message the server had taken in a session that had not said QUIT when a kill struck (the
`data` kill's own, and any other in that instant) cannot be known to the sender to have
arrived (RFC 1047): its retry must send it again, with the same Message-ID, or a warning could
be lost. The test allows one such resend per kill that found it so, and counts them apart;
every other second copy is a failure. A client says QUIT only after it read the 250, so a
message resent after a `quit` kill is a duplicate the sender could have avoided (the sent log
in activities/notify.py avoids it).

Sizes: CHAOS_CASES (10), CHAOS_KILLS (3); `make chaos` runs 50 cases and 12 kills.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

from tests.chaos.drive import drive, start_cases, tag, tally
from tests.chaos.results import Clock, seeded, size, write_result
from tests.chaos.stack import ChaosStack

KINDS = ["time", "quit", "data"]


async def test_worker_sigkilled_at_random_points_loses_and_repeats_nothing(tmp_path):
    clock = Clock()
    t0 = time.time()
    rng = seeded("worker_kill")
    n_cases, n_kills = size("CHAOS_CASES", 10), size("CHAOS_KILLS", 3)
    plan = [
        (KINDS[i % 3] if i < 3 else rng.choice(KINDS), rng.uniform(0.5, 4)) for i in range(n_kills)
    ]
    rng.shuffle(plan)
    print("kill plan:", plan)
    stack = ChaosStack(tmp_path)
    await stack.start()
    try:
        http = stack.http()
        # The cases come in waves, one at the start and one just before each kill, so every
        # kill finds work in flight (mail, ledger writes, workflow tasks).
        waves = [n_cases // (n_kills + 1)] * (n_kills + 1)
        waves[0] += n_cases - sum(waves)
        run = tag()
        cases = await start_cases(http, waves[0], f"{run}-0")

        async def killer() -> None:
            for n, (kind, delay) in enumerate(plan, 1):
                await asyncio.sleep(delay)  # a fault schedule, not a wait for a condition
                cases.extend(await start_cases(http, waves[n], f"{run}-{n}", len(cases)))
                if kind != "time" and not await _kill_at_smtp(stack, kind, rng.randint(1, 3)):
                    kind = "time"  # no mail came: killed wherever it is
                stack.kill("worker1", kind)
                await stack.restart_worker("worker1")

        killing = asyncio.create_task(killer())
        await drive(lambda: http, lambda: stack.client, stack.sink, cases, timeout=900)
        await killing
        # A kill after the last case settled leaves nothing behind; one before it was driven out.
        await drive(lambda: http, lambda: stack.client, stack.sink, cases, timeout=300)
        t = tally(cases, stack.sink, stack.ledger)
    finally:
        stack.stop()
    # A message the server had taken when a kill struck, before the worker read its 250, is
    # sent again (once per such kill): the only safe choice. Any other second copy is a bug.
    unexpected = {k: v for k, v in t.duplicates.items() if v > 1 + stack.in_doubt.get(k, 0)}
    result = (
        f"{t.cases} cases ({', '.join(f'{n} {p}' for p, n in sorted(t.by_path.items()))}), "
        f"{len(stack.kills)} kills ({', '.join(k['why'] for k in stack.kills)}): "
        f"{t.mails} e-mails, {len(unexpected)} duplicate e-mails, "
        f"{len(t.duplicates) - len(unexpected)} resends of a message in doubt at a kill "
        f"(taken by the server, its 250 not yet read; same Message-ID), "
        f"{len(t.missing_mail)} missing e-mails, {t.ledger_rows} ledger rows for "
        f"{t.disclosures} disclosures, {len(t.missing_rows)} missing and "
        f"{len(t.extra_rows)} extra rows; {clock.seconds()} s"
    )
    write_result(
        "worker_sigkill",
        "worker SIGKILLed at random points (time, after a 250, before a 250) and restarted",
        f"{len(stack.kills)} kills, {t.cases} concurrent cases",
        [
            "every case settles (tasks completed, nothing in flight, none failed)",
            "each (recipient, Message-ID) received exactly once at a counting SMTP server",
            "one ledger row per (case, step, recipient) and per disclosure the case shows",
            "every e-mailed disclosure was received",
        ],
        result,
        duplicates=[
            {
                "recipient": r,
                "message_id": m,
                "copies": n,
                "subject": next(a.subject for a in stack.sink.arrivals if a.message_id == m),
                "seconds_apart": _apart(stack.sink, r, m),
                "kills": [round(k["at"] - t0, 2) for k in stack.kills],
                "arrivals": [
                    round(a.at - t0, 2)
                    for a in stack.sink.arrivals
                    if a.message_id == m and a.recipient == r
                ],
            }
            for (r, m), n in unexpected.items()
        ],
        missing_mail=t.missing_mail,
        missing_rows=t.missing_rows,
        extra_rows=t.extra_rows,
        seconds=clock.seconds(),
    )
    assert len(stack.kills) == n_kills
    assert not unexpected, f"duplicate e-mails: {unexpected}"
    assert not t.missing_mail, t.missing_mail
    assert not t.missing_rows and not t.extra_rows, (t.missing_rows, t.extra_rows)
    assert t.ledger_rows == t.disclosures > 0


async def _kill_at_smtp(stack: ChaosStack, kind: str, nth: int) -> bool:
    """SIGKILL the worker from inside the mail server at the nth DATA or QUIT from now; if no
    mail comes within 15 s, return (the caller kills it wherever it is)."""
    fired = threading.Event()
    count = [0]
    pid = stack.procs["worker1"].pid

    def hit(rcpts: list[str] | None = None, mid: str | None = None) -> None:
        count[0] += 1
        if count[0] == nth and not fired.is_set():
            fired.set()
            stack.sink.on_data = stack.sink.on_quit = None
            os.kill(pid, signal.SIGKILL)

    if kind == "data":
        stack.sink.on_data = hit
    else:
        stack.sink.on_quit = hit
    for _ in range(150):
        if fired.is_set():
            return True
        await asyncio.sleep(0.1)
    stack.sink.on_data = stack.sink.on_quit = None
    return fired.is_set()


def _apart(sink, recipient: str, mid: str) -> float:
    at = [a.at for a in sink.arrivals if a.recipient == recipient and a.message_id == mid]
    return round(max(at) - min(at), 2)
