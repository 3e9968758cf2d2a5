"""A whole Confide stack whose parts a fault test can kill: the Temporal dev server on a file
database (the command `confide dev` runs, cli.dev.temporal_command), `confide worker`
subprocesses, an SMTP server of our own (harness.counting_mail) and the ledger database; the
intake API runs in this process over ASGI (the in-process app the e2e tests use), against the
same Temporal server and ledger.

Nothing here changes this process's environment: the subprocesses get theirs explicitly, so the
tests that run after a chaos test in the same session see the settings they always saw.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from bench.stack import Proc
from cli.dev import temporal_command
from domain.clinic import ClinicDirectory, hash_api_key
from harness import ROOT, demo_clinic, free_port
from harness.counting_mail import CountingSink, SmtpServer
from infra.ledger_db import Ledger
from infra.records_db import RecordsStore
from infra.settings import Settings
from infra.temporal import connect
from intake.app import create_app
from workflows import search_attributes as sa


class ChaosStack:
    """Start with `await start()`, stop with `stop()`; kill and restart parts in between."""

    def __init__(self, tmp: Path, *, ledger_url: str | None = None) -> None:
        self.tmp = tmp
        self.sink = CountingSink()
        self.smtp = SmtpServer(self.sink)
        self.api_key = secrets.token_urlsafe(16)
        self.task_queue = f"chaos-{uuid.uuid4().hex[:8]}"
        self.ledger_url = ledger_url or f"sqlite:///{tmp / 'ledger.db'}"
        # The worker subprocess and this process derive approval codes from one secret.
        os.environ.setdefault("CONFIDE_CODE_SECRET", "test-secret-" + uuid.uuid4().hex)
        temporal_port = free_port()
        self.env = {
            **os.environ,
            "CONFIDE_ENV": "dev",
            "CONFIDE_SMTP_TLS": "none",
            "CONFIDE_VAR_DIR": str(tmp),
            "TEMPORAL_PORT": str(temporal_port),
            "TEMPORAL_UI_PORT": str(free_port()),
            "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
            "CONFIDE_TASK_QUEUE": self.task_queue,
            "CONFIDE_SMTP_PORT": str(self.smtp.port),
            "CONFIDE_API_PORT": str(free_port()),
            "CONFIDE_LEDGER_URL": self.ledger_url,
            "CONFIDE_CODEC_TOKENS": secrets.token_urlsafe(16),
            "CONFIDE_LOG_LEVEL": os.environ.get("CHAOS_LOG_LEVEL", "WARNING"),
        }
        self.settings = _settings(self.env)
        self.procs: dict[str, Proc] = {}
        # Settings of one worker process only (its probe and metrics ports), by name.
        self.worker_env: dict[str, dict[str, str]] = {}
        self.kills: list[dict] = []
        # (recipient, Message-ID) -> how many kills found it taken but not acknowledged.
        self.in_doubt: dict[tuple[str, str], int] = {}
        self.client: Client
        self.ledger = Ledger(self.ledger_url)
        self.records = RecordsStore(self.ledger_url)

    # -- start and stop -----------------------------------------------------------------------

    async def start(self, workers: int = 1) -> None:
        self.smtp.start()
        self.ledger.migrate()
        self.records.migrate()
        self.records.seed_demo("demo-clinic", "P-301")
        self.start_temporal()
        self.client = await self._connect()
        await sa.register(self.client, self.settings.temporal_namespace)
        for n in range(workers):
            self.spawn_worker(f"worker{n + 1}")
        for n in range(workers):
            await self.polling(f"worker{n + 1}")

    def stop(self) -> None:
        for name in list(self.procs):
            self.procs[name].stop()
        self.smtp.stop()
        self.ledger.engine.dispose()

    def start_temporal(self) -> None:
        log = open(self.tmp / "temporal.log", "ab")  # noqa: SIM115 (closed with the process)
        self.procs["temporal"] = Proc(
            "temporal",
            subprocess.Popen(
                temporal_command(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            ),
        )

    def spawn_worker(self, name: str = "worker1") -> None:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        self.procs[name] = Proc(
            name,
            subprocess.Popen(
                [sys.executable, "-m", "tests.chaos.worker_main"],
                cwd=ROOT,
                env={**self.env, **self.worker_env.get(name, {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            ),
        )

    def kill(self, name: str, why: str = "") -> None:
        """SIGKILL one process (no cleanup, no graceful shutdown) and reap it."""
        proc = self.procs[name]
        if proc.alive():
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.popen.wait()  # a kill from elsewhere (the mail server) is reaped here too
        self.kills.append({"process": name, "pid": proc.pid, "at": time.time(), "why": why})
        # What the mail server had taken without the sender having read its 250: resending
        # those is right (see CountingSink.unacknowledged); anything else resent is a bug.
        for pair in self.sink.unacknowledged():
            self.in_doubt[pair] = self.in_doubt.get(pair, 0) + 1

    async def restart_worker(self, name: str = "worker1") -> None:
        self.spawn_worker(name)
        await self.polling(name)

    async def restart_temporal(self) -> None:
        self.start_temporal()
        self.client = await self._connect()

    async def _connect(self) -> Client:
        for _ in range(300):
            if not self.procs["temporal"].alive():
                raise RuntimeError(f"dev server exited: {self._tail('temporal')}")
            try:
                return await connect(self.settings)
            except RuntimeError:
                await asyncio.sleep(0.1)
        raise RuntimeError("the Temporal dev server did not answer within 30 s")

    async def polling(self, name: str, timeout: float = 90) -> None:
        """Until this worker process (by pid) polls the task queue."""
        pid = self.procs[name].pid
        request = DescribeTaskQueueRequest(
            namespace=self.settings.temporal_namespace,
            task_queue=TaskQueue(name=self.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.procs[name].alive():
                raise RuntimeError(f"{name} exited: {self._tail(name)}")
            try:
                found = await self.client.workflow_service.describe_task_queue(request)
                if any(p.identity.startswith(f"{pid}@") for p in found.pollers):
                    return
            except RPCError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{name} does not poll after {timeout} s: {self._tail(name)}")

    def _tail(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    # -- the intake API, in this process --------------------------------------------------------

    def http(self) -> httpx.AsyncClient:
        clinic = demo_clinic()
        clinic.api_key_sha256 = [hash_api_key(self.api_key)]
        app = create_app(
            self.settings,
            ClinicDirectory(clinics=[clinic]),
            self.client,
            ledger=self.ledger,
            records=self.records,
        )
        return httpx.AsyncClient(
            # A fault can make the app fail: the test sees the 500 a client would.
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://intake",
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
        )


def _settings(env: dict[str, str]) -> Settings:
    """Settings as the subprocesses read them from `env`, without touching os.environ."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return Settings.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)
