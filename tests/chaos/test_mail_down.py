"""The mail server down for an interval (connection refused), then back; and one address it
refuses permanently (550).

While it is down: every notice retries with backoff (the pending activities show attempts and
the unreachable server as the last failure); a mandated report that falls due in the outage
still escalates (its task is marked overdue while no mail can go). After it is back: every
notice is delivered, once, within one backoff interval, the escalation's e-mails included. The
550 becomes a task for a person to deliver the warning another way, visible on the case.

tests/test_abuse_mail_down.py covers the case view while one address is deferred (421); this
covers a whole outage, its end, and a permanent refusal.

Sizes: CHAOS_SMTP_OUTAGE seconds (30; `make chaos`: 600), CHAOS_MAIL_CASES (6).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from tests.chaos.drive import Case, case_view, drive, new_case_body, start_cases, tag, tally
from tests.chaos.results import Clock, size, write_result
from tests.chaos.stack import ChaosStack

# MAIL_RETRY's longest wait between attempts (workflows/mail.py), and some slack for the rest.
MAX_BACKOFF = 120.0
SLACK = 15.0
REFUSED = "refused-victim@example.org"


async def test_mail_server_down_then_back_retries_escalates_and_delivers_once(tmp_path):
    clock = Clock()
    outage = float(size("CHAOS_SMTP_OUTAGE", 30))
    n_cases = size("CHAOS_MAIL_CASES", 6)
    stack = ChaosStack(tmp_path)
    await stack.start()
    try:
        http = stack.http()
        run = tag()
        stack.smtp.stop()  # down before the first notice of any case
        down_at = time.time()
        cases = await start_cases(http, n_cases, run)
        # An oral report falling due early in the outage (1 h after knowledge): its escalation
        # first tries to e-mail codes to the roles it adds (about 20 s as a local activity
        # before a regular one takes over), so its overdue mark shows some 20 s after the
        # deadline; the outage must outlast that to see it while mail is down.
        due = down_at + 4
        url, body = new_case_body(
            "child_abuse",
            f"{run}-due",
            known_at=datetime.fromtimestamp(due, UTC) - timedelta(hours=1),
        )
        body["flagged_at"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        r = await http.post(url, json=body)
        assert r.status_code == 202, r.text
        watched = Case(r.json()["case_id"], "child_abuse")
        # A warning to an address the server refuses for good.
        url, body = new_case_body("threat_to_others", f"{run}-550")
        body["concerns"][0]["victims"][0]["email"] = REFUSED
        stack.sink.script[REFUSED] = ["550 5.1.1 mailbox unavailable"] * 50
        r = await http.post(url, json=body)
        assert r.status_code == 202, r.text
        refused = Case(r.json()["case_id"], "threat_to_others")
        cases.append(refused)

        driving = asyncio.create_task(
            drive(lambda: http, lambda: stack.client, stack.sink, cases, outage + 600)
        )

        async def overdue_shown() -> bool:
            view = await case_view(http, watched.case_id)
            return bool(view) and any(
                t["kind"] == "oral_report" and t["overdue"] for t in view["tasks"]
            )

        # During the outage: the deadline passes and the task shows overdue, no mail can go.
        shown_overdue_at = None
        while time.time() < down_at + outage:
            if shown_overdue_at is None and await overdue_shown():
                shown_overdue_at = time.time()
            await asyncio.sleep(0.5)
        retrying = await _retrying_sends(stack, cases + [watched])
        assert stack.sink.total() == 0
        stack.smtp.start()
        back_at = time.time()

        def escalated() -> float | None:
            hits = [
                a.at
                for a in stack.sink.arrivals
                if "OVERDUE" in a.subject and f"{watched.case_id})" in a.subject
            ]
            return min(hits) if hits else None

        while escalated() is None and time.time() < back_at + MAX_BACKOFF + SLACK:
            await asyncio.sleep(0.2)
        escalated_at = escalated()
        await driving
        everything = cases + [watched]
        await drive(lambda: http, lambda: stack.client, stack.sink, everything, 600)
        first_after = min(a.at for a in stack.sink.arrivals) - back_at
        last_after = max(a.at for a in stack.sink.arrivals) - back_at
        t = tally(everything, stack.sink, stack.ledger)
        refused_view = refused.view or {}
    finally:
        stack.stop()
    delivery_failed = "delivery_failed" in refused.completed_kinds
    refused_status = [
        n["status"]
        for n in refused_view.get("notifications", [])
        if n["recipient_key"].startswith("victim")
    ]
    max_attempt = max((a for _, a, _ in retrying), default=0)
    write_result(
        "smtp_down",
        f"SMTP server down {outage:.0f} s (connection refused), then back; one address 550",
        f"1 outage of {outage:.0f} s, {t.cases} cases",
        [
            "notices retry with backoff during the outage (pending attempts, last failure)",
            "a deadline in the outage marks its task overdue while mail is down",
            "its escalation e-mails and every notice delivered once after the server is back",
            "a permanent 550 becomes a delivery_failed task on the case",
        ],
        f"{len(retrying)} sends retrying at the end of the outage (up to attempt "
        f"{max_attempt}); task overdue {shown_overdue_at - due if shown_overdue_at else 0:+.1f} s "
        f"from its deadline while mail was down; escalation e-mailed "
        f"{(escalated_at or 0) - back_at:.1f} s after the server came back; mail resumed "
        f"{first_after:.1f} s and finished {last_after:.1f} s after; {t.mails} e-mails, "
        f"{len(t.duplicates)} duplicates, {len(t.missing_mail)} missing; 550 -> "
        f"{'a delivery_failed task' if delivery_failed else 'NO task'} (notice "
        f"{'/'.join(refused_status)}); {clock.seconds()} s",
        seconds=clock.seconds(),
    )
    assert retrying and max_attempt >= 2, retrying
    assert all("unreachable" in why for _, _, why in retrying), retrying
    assert shown_overdue_at is not None and shown_overdue_at < back_at
    assert escalated_at is not None and 0 <= escalated_at - back_at <= MAX_BACKOFF + SLACK
    assert first_after <= MAX_BACKOFF + SLACK
    assert not t.duplicates, t.duplicates
    assert not t.missing_mail and not t.missing_rows and not t.extra_rows
    assert delivery_failed and refused_status and refused_status[0] != "sent"
    assert not [a for a in stack.sink.arrivals if a.recipient == REFUSED]


async def _retrying_sends(stack: ChaosStack, cases: list[Case]) -> list[tuple[str, int, str]]:
    """(activity, attempt, last failure) of every mail activity still retrying."""
    found = []
    for c in cases:
        ids = [c.case_id] + [
            x["workflow_id"] for x in ((c.view or {}).get("concerns") or []) if x["workflow_id"]
        ]
        for wid in ids:
            try:
                d = await stack.client.get_workflow_handle(wid).describe()
            except Exception:  # noqa: BLE001 (a child not started yet)
                continue
            for a in d.raw_description.pending_activities:
                name = a.activity_type.name
                if ("notice" in name or "codes" in name) and a.attempt > 1:
                    found.append((name, a.attempt, a.last_failure.message))
    return found
