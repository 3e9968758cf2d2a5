"""The ledger database unavailable for an interval, then back.

- SQLite: another connection holds the write lock (BEGIN EXCLUSIVE) on the ledger file.
- PostgreSQL: the ledger is reached through a TCP proxy of our own in front of the machine's
  server (127.0.0.1:5432, which tests must not stop); the proxy stops (connections cut, new
  ones refused) and starts again.

Today's order, in the code: the e-mail goes first, the ledger row after it (workflows:
`mail.send`, then `mail.record`). A mandated warning must not wait on a database, and the row
records a disclosure that happened (its time is the send's). So while the database is down the
warning still goes out; the row follows once it is back. What must hold, and is checked at
every look during the outage: the case never shows a disclosure whose ledger row is missing;
the ledger write is visibly retrying (a pending record_disclosure with attempts and the
PHI-free "ledger write failed" failure). After: one row per disclosure, each notice once.

Sizes: CHAOS_LEDGER_OUTAGE seconds (35: a local ledger write retries for 20 s before the
regular activity, visible in the Web UI, takes over; `make chaos`: 120).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time

import pytest
from sqlalchemy.engine import make_url

from harness import free_port
from tests.chaos.drive import Case, case_view, drive, new_case_body, tag, tally
from tests.chaos.results import Clock, size, write_result
from tests.chaos.stack import ChaosStack

PATHS = ["threat_to_others", "self_harm", "threat_to_others", "child_abuse"]


class SqliteLock:
    """Holds the ledger file's write lock from another connection."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    async def stop(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.conn.execute("BEGIN EXCLUSIVE")

    async def start(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


class TcpProxy:
    """127.0.0.1:<port> -> target, on an event loop of its own thread (the ledger is used
    synchronously from this test's loop too); stop() cuts every connection and refuses new
    ones until start()."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def _run(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def start(self) -> None:
        self._run(self._start())

    async def stop(self) -> None:
        self._run(self._stop())

    def close(self) -> None:
        self._run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    async def _serve(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src, dst) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        return "sqlite", f"sqlite:///{tmp_path / 'ledger.db'}"
    return "postgresql", request.getfixturevalue("pg_schema_url")


async def test_ledger_unavailable_retries_shows_waiting_and_never_shows_an_unrecorded_disclosure(
    backend, tmp_path
):
    kind, url = backend
    clock = Clock()
    outage = float(size("CHAOS_LEDGER_OUTAGE", 35))
    proxy: TcpProxy | None = None
    if kind == "postgresql":
        real = make_url(url)
        proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
        await proxy.start()
        url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        fault = proxy
    else:
        fault = SqliteLock(url.removeprefix("sqlite:///"))
    stack = ChaosStack(tmp_path, ledger_url=url)
    await stack.start()
    unrecorded: list[tuple[str, str, str]] = []  # shown as disclosed without a ledger row
    try:
        http = stack.http()
        run = tag()
        cases = []
        # Started just before the outage; their disclosures come in it (the driver completes
        # their assessments and reports while the database is down).
        for i, path in enumerate(PATHS):
            endpoint, body = new_case_body(path, f"{run}-{i}")
            r = await http.post(endpoint, json=body)
            assert r.status_code == 202, r.text
            cases.append(Case(r.json()["case_id"], path))
        await fault.stop()
        down_at = time.time()
        # A flag filed while the ledger is down (the intake API asks the ledger whether the id
        # was used by a case older than Temporal's retention).
        endpoint, body = new_case_body("threat_to_others", f"{run}-in-outage")
        answer = await http.post(endpoint, json=body)
        intake_in_outage = answer.status_code
        # Accepted, or refused in one sentence as worth repeating; never a 500.
        assert intake_in_outage == 202 or (
            intake_in_outage == 503
            and answer.headers.get("retry-after")
            and "send the same request again" in answer.json()["error"]
        ), answer.text
        if intake_in_outage == 202:
            cases.append(Case(f"demo-clinic.F-{run}-in-outage", "threat_to_others"))
        driving = asyncio.create_task(
            drive(lambda: http, lambda: stack.client, stack.sink, cases, outage + 600)
        )
        mailed_in_outage = 0
        retrying: list[tuple[int, str]] = []
        phases: set[str] = set()
        while time.time() < down_at + outage:
            for c in cases:
                view = await case_view(http, c.case_id)
                if view is None:
                    continue
                phases |= {x["phase"] for x in view.get("concerns") or []}
                unrecorded += await _unrecorded(stack, c.case_id, view)
            mailed_in_outage = stack.sink.total()
            retrying = await _ledger_retries(stack, cases) or retrying
            await asyncio.sleep(1.0)
        rows_in_outage = sum(len(_rows(stack, c.case_id)) for c in cases)
        await fault.start()
        back_at = time.time()
        await driving
        await drive(lambda: http, lambda: stack.client, stack.sink, cases, 600)
        for c in cases:
            unrecorded += await _unrecorded(stack, c.case_id, c.view or {})
        t = tally(cases, stack.sink, stack.ledger)
        settled_after = max(c.settled_at or 0 for c in cases) - back_at
    finally:
        stack.stop()
        if proxy is not None:
            proxy.close()
    name = f"ledger_down_{kind}"
    how = (
        "SQLite ledger write-locked by another connection (BEGIN EXCLUSIVE)"
        if kind == "sqlite"
        else "PostgreSQL ledger unreachable (TCP proxy in front of it stopped)"
    )
    write_result(
        name,
        how,
        f"1 outage of {outage:.0f} s, {t.cases} cases",
        [
            "warnings are e-mailed during the outage (e-mail first, ledger row after)",
            "the ledger write retries, visibly (pending record_disclosure, PHI-free failure)",
            "at every look, no disclosure shown without its ledger row",
            "after: one ledger row per disclosure, each notice once",
        ],
        f"a flag filed in the outage got HTTP {intake_in_outage}; "
        f"{mailed_in_outage} e-mails and {rows_in_outage} ledger rows during the outage; "
        f"{len(retrying)} ledger writes retrying (up to attempt "
        f"{max((a for a, _ in retrying), default=0)}); phases shown "
        f"{', '.join(sorted(phases))}; {len(unrecorded)} disclosures shown without a row; "
        f"all settled {settled_after:.1f} s after it was back; {t.ledger_rows} rows for "
        f"{t.disclosures} disclosures, {len(t.duplicates)} duplicate e-mails; {clock.seconds()} s",
        seconds=clock.seconds(),
    )
    assert mailed_in_outage > 0 and rows_in_outage == 0
    assert retrying and all("ledger write failed" in why for _, why in retrying), retrying
    assert not unrecorded, unrecorded
    assert not t.duplicates and not t.missing_mail
    assert not t.missing_rows and not t.extra_rows
    assert t.ledger_rows == t.disclosures > 0


def _rows(stack: ChaosStack, case_id: str) -> set[tuple[str, str]]:
    try:
        return {(r.step, r.recipient_key) for r in stack.ledger.for_case(case_id)}
    except Exception:  # noqa: BLE001 (the database is the thing that is down)
        return set()


async def _unrecorded(stack: ChaosStack, case_id: str, view: dict) -> list[tuple[str, str, str]]:
    shown = {(d["step"], d["recipient_key"]) for d in view.get("disclosures", [])}
    if not shown:
        return []
    rows = await asyncio.to_thread(_rows, stack, case_id)
    if not rows and shown:
        # While the database is down the rows cannot be read either: ask again when it is up.
        try:
            stack.ledger.for_case(case_id)
        except Exception:  # noqa: BLE001
            return []
    return [(case_id, *k) for k in shown - rows]


async def _ledger_retries(stack: ChaosStack, cases: list[Case]) -> list[tuple[int, str]]:
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
                if a.activity_type.name == "record_disclosure" and a.attempt > 1:
                    found.append((a.attempt, a.last_failure.message))
    return found
