"""The engine baseline: a minimal workflow doing a CA duty-to-warn case's business steps.

Search-attribute upsert (waiting on the clinician, due in 4 hours), an Update with a validator
(the assessment), then at once: a warning to the victim and one to the police, each followed by
its ledger row, and the supervisor informed: three e-mails (activities) and two ledger rows (local
activities, as Confide's history version 2 writes them), then a second upsert, and done.

It runs on the same dev server as Confide, its e-mails go over SMTP to the same sink and its rows
into a SQLite file with the ledger's pragmas, its payloads through Confide's data converter
(pydantic + AES-GCM), and its worker is a process of its own with temporalio's defaults, as
Confide's is. What it leaves out is Confide: the case and concern workflows, the task board, the
case view, the intake API.
    python -m bench.baseline        (the worker; bench/stack.py starts it)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import aiosmtplib

    from bench.levels import CaseTiming
    from workflows import search_attributes as sa

MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), backoff_coefficient=2.0, maximum_attempts=12
)
BODY = (
    "This is an important safety notice. During a recent session a patient of this clinic "
    "communicated a serious threat of physical violence against you. The clinician who assessed "
    "the threat believes it to be serious and imminent. Please take precautions for your safety "
    "and contact local law enforcement if you feel in danger. The clinic has also informed the "
    "police. Questions: reply to this message and quote the reference in its subject line. This "
    "notice is sent under California Civil Code section 43.92 and 45 CFR 164.512(j).\n"
)


class BaselineInput(BaseModel):
    case_id: str
    victim: str
    police: str
    supervisor: str


class Assessment(BaseModel):
    actor: str
    serious_threat: bool
    identifiable_victims: bool
    imminent: bool


class Mail(BaseModel):
    case_id: str
    step: str
    to: str


class Row(BaseModel):
    case_id: str
    step: str
    recipient_key: str
    recipient: str
    disclosed_at: datetime


@workflow.defn(name="BenchBaseline")
class BaselineWorkflow:
    @workflow.init
    def __init__(self, inp: BaselineInput) -> None:
        self.assessment: Assessment | None = None

    @workflow.run
    async def run(self, inp: BaselineInput) -> int:
        workflow.upsert_search_attributes(
            [
                sa.STATUS.value_set("assessing"),
                sa.WAITING_ON.value_set(["clinician"]),
                sa.DUE_AT.value_set(workflow.now() + timedelta(hours=4)),
            ]
        )
        await workflow.wait_condition(lambda: self.assessment is not None)
        await asyncio.gather(
            self._warn(inp, "c1.warn_victim", "victim-1", inp.victim),
            self._warn(inp, "c1.notify_law_enforcement", "agency-law_enforcement", inp.police),
            self._mail(inp.case_id, "c1.informed", inp.supervisor),
        )
        workflow.upsert_search_attributes(
            [
                sa.STATUS.value_set("follow_up"),
                sa.WAITING_ON.value_unset(),
                sa.DUE_AT.value_unset(),
            ]
        )
        return 2

    async def _mail(self, case_id: str, step: str, to: str) -> None:
        await workflow.execute_activity_method(
            BaselineActivities.send_mail,
            Mail(case_id=case_id, step=step, to=to),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=MAIL_RETRY,
        )

    async def _warn(self, inp: BaselineInput, step: str, key: str, to: str) -> None:
        await self._mail(inp.case_id, step, to)
        await workflow.execute_local_activity_method(
            BaselineActivities.record_row,
            Row(
                case_id=inp.case_id,
                step=step,
                recipient_key=key,
                recipient=to,
                disclosed_at=workflow.now(),
            ),
            start_to_close_timeout=timedelta(seconds=30),
        )

    @workflow.update
    def assess(self, a: Assessment) -> str:
        self.assessment = a
        return "accepted"

    @assess.validator
    def _check(self, a: Assessment) -> None:
        if self.assessment is not None:
            raise ValueError("already assessed")
        if a.actor != "dr-lee":
            raise ValueError("only the assigned clinician assesses")


class BaselineActivities:
    """SMTP sends (aiosmtplib, as Confide's send_notice) and SQLite inserts (a thread each)."""

    def __init__(self, smtp_host: str, smtp_port: int, db: Path) -> None:
        self.smtp_host, self.smtp_port, self.db = smtp_host, smtp_port, db
        self._local = threading.local()

    def migrate(self) -> None:
        with self._conn() as conn:
            conn.execute(
                "create table if not exists disclosures (id integer primary key, "
                "case_id text not null, step text not null, recipient_key text not null, "
                "recipient text not null, disclosed_at text not null, recorded_at text not null, "
                "unique (case_id, step, recipient_key))"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db, timeout=5)
            conn.execute("PRAGMA journal_mode=WAL")  # the ledger's pragmas
            conn.execute("PRAGMA busy_timeout=5000")
            self._local.conn = conn
        return conn

    @activity.defn(name="baseline_send_mail")
    async def send_mail(self, m: Mail) -> str:
        msg = EmailMessage()
        msg["From"] = "confide@localhost"
        msg["To"] = m.to
        msg["Subject"] = f"Important safety notice from Demo Clinic (ref {m.case_id})"
        msg["Message-ID"] = f"<{m.case_id}.{m.step}@bench.invalid>"
        msg.set_content(BODY)
        await aiosmtplib.send(msg, hostname=self.smtp_host, port=self.smtp_port, timeout=20)
        return msg["Message-ID"]

    @activity.defn(name="baseline_record_row")
    async def record_row(self, r: Row) -> bool:
        return await asyncio.to_thread(self._insert, r)

    def _insert(self, r: Row) -> bool:
        with self._conn() as conn:
            cur = conn.execute(
                "insert or ignore into disclosures (case_id, step, recipient_key, recipient, "
                "disclosed_at, recorded_at) values (?, ?, ?, ?, ?, ?)",
                (
                    r.case_id,
                    r.step,
                    r.recipient_key,
                    r.recipient,
                    r.disclosed_at.isoformat(),
                    datetime.now(UTC).isoformat(),
                ),
            )
            return cur.rowcount == 1


async def one_case(client, sink, queue: str, case_id: str, victim: str) -> CaseTiming:
    """Start, assess (the Update), and wait until both warnings are at the sink."""
    from bench.stack import POLICE, SUPERVISOR

    t0 = time.perf_counter()
    handle = await client.start_workflow(
        BaselineWorkflow.run,
        BaselineInput(case_id=case_id, victim=victim, police=POLICE, supervisor=SUPERVISOR),
        id=case_id,
        task_queue=queue,
    )
    t_start = time.perf_counter() - t0
    await handle.execute_update(
        BaselineWorkflow.assess,
        Assessment(actor="dr-lee", serious_threat=True, identifiable_victims=True, imminent=True),
    )
    t_update = time.perf_counter() - t0
    seen = await sink.wait_for(case_id, {victim, POLICE}, timeout=300)
    return CaseTiming(
        case_id=case_id,
        workflow_id=case_id,
        intake=t_start,
        task_visible=None,
        complete_task=t_update - t_start,
        first_email=min(seen.values()) - t0,
        warnings=max(seen[victim], seen[POLICE]) - t0,
        polls=0,
    )


async def main() -> None:
    from temporalio.worker import Worker

    from infra.settings import Settings
    from infra.temporal import connect

    settings = Settings.from_env()
    acts = BaselineActivities(
        settings.smtp.host, settings.smtp.port, Path(os.environ["BENCH_BASELINE_DB"])
    )
    acts.migrate()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=os.environ["BENCH_BASELINE_QUEUE"],
        workflows=[BaselineWorkflow],
        activities=[acts.send_mail, acts.record_row],
    ):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    os._exit(0)  # no interpreter teardown under a live Temporal client (sdk-python#300)
