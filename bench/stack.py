"""The stack one benchmark run measures: its own Temporal dev server (the command line `make run`
uses: SQLite file, WAL, synchronous=NORMAL), an SMTP sink that timestamps arrivals, the Confide
worker (`confide worker`) and the intake API (uvicorn) as subprocesses, and the baseline worker.

Each Python service runs in a process of its own so its memory and CPU are its own, and the
driver (this process) does not compete with them for one interpreter lock.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.results import CpuUse
from cli.dev import temporal_command
from harness import BIN, ROOT, MailSink, free_port, start_smtp
from infra.keyring import Keyring
from infra.ledger_db import Ledger
from infra.settings import Settings
from infra.temporal import connect

# Every notice names its case in the subject: "(ref <case id>)" to people outside the clinic,
# "(case <case id>)" to staff. The baseline's mails follow the same form.
CASE_REF = re.compile(r"\((?:ref|case) ([^)\s]+)\)")
POLICE = "police@agency.test"  # the demo clinic's law-enforcement contact
SUPERVISOR = "kim@demo-clinic.test"
TICK = os.sysconf("SC_CLK_TCK")


class ClockSink(MailSink):
    """An SMTP handler that notes when each case's mail arrives, per recipient, and wakes whoever
    waits for it. Messages are not kept (a long run sends thousands)."""

    def __init__(self) -> None:
        super().__init__()
        self.received = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.arrivals: dict[str, dict[str, float]] = defaultdict(dict)
        self._waiters: dict[str, list[tuple[set[str], asyncio.Future]]] = defaultdict(list)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        at = time.perf_counter()  # one clock for every thread of this process
        headers = BytesParser(policy=default_policy).parsebytes(envelope.content, headersonly=True)
        found = CASE_REF.search(str(headers["Subject"] or ""))
        self.received += 1
        if found and self._loop is not None:
            self._loop.call_soon_threadsafe(
                self._arrived, found.group(1), list(envelope.rcpt_tos), at
            )
        return "250 Message accepted for delivery"

    def _arrived(self, case_id: str, recipients: list[str], at: float) -> None:
        seen = self.arrivals[case_id]
        for r in recipients:
            seen.setdefault(r, at)
        waiting = self._waiters.get(case_id)
        if not waiting:
            return
        for entry in list(waiting):
            wanted, fut = entry
            if wanted <= seen.keys() and not fut.done():
                fut.set_result(dict(seen))
                waiting.remove(entry)

    async def wait_for(
        self, case_id: str, recipients: set[str], timeout: float
    ) -> dict[str, float]:
        """{recipient: arrival} of a case once every one of `recipients` has mail from it."""
        seen = self.arrivals.get(case_id, {})
        if recipients <= seen.keys():
            return dict(seen)
        fut = asyncio.get_running_loop().create_future()
        self._waiters[case_id].append((recipients, fut))
        return await asyncio.wait_for(fut, timeout)


class Proc:
    """A service subprocess: its CPU time and memory from /proc."""

    def __init__(self, name: str, popen: subprocess.Popen) -> None:
        self.name = name
        self.popen = popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_s(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / TICK

    def _status_kb(self, key: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
        return 0.0

    def rss_mb(self) -> float:
        return round(self._status_kb("VmRSS") / 1024, 1)

    def peak_rss_mb(self) -> float:
        return round(self._status_kb("VmHWM") / 1024, 1)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def driver_cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


class Stack:
    """Everything one run measures, started in a scratch directory."""

    confide_queue = "bench-confide"
    baseline_queue = "bench-baseline"

    def __init__(
        self, tmp: Path, *, baseline: bool, confide: bool, worker_cache: int | None = None
    ) -> None:
        self.tmp = tmp
        self.worker_cache = worker_cache
        self.want_baseline = baseline
        self.want_confide = confide
        self.api_key = secrets.token_urlsafe(16)
        self.procs: dict[str, Proc] = {}
        self.smtp: Controller | None = None
        self.sink = ClockSink()
        self.client: Client
        self.settings: Settings
        self.ledger_path = tmp / "ledger.db"
        self.baseline_db = tmp / "baseline.db"
        self.api_url = ""

    # -- start and stop -----------------------------------------------------------------------

    async def start(self) -> None:
        self.sink.bind(asyncio.get_running_loop())
        self.smtp, _ = start_smtp(self.sink)
        keyring_file = self.tmp / "keyring.json"
        Keyring.generate().dump(keyring_file)
        temporal_port = free_port()
        env = {
            "CONFIDE_VAR_DIR": str(self.tmp),
            "TEMPORAL_PORT": str(temporal_port),
            "TEMPORAL_UI_PORT": str(free_port()),
            "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
            # A local stack on loopback: localhost URLs and a plain-SMTP sink are right here.
            "CONFIDE_ENV": "dev",
            "CONFIDE_TASK_QUEUE": self.confide_queue,
            "CONFIDE_SMTP_PORT": str(self.smtp.port),
            "CONFIDE_API_PORT": str(free_port()),
            "CONFIDE_LEDGER_URL": f"sqlite:///{self.ledger_path}",
            "CONFIDE_KEYRING_FILE": str(keyring_file),
            "CONFIDE_CODE_SECRET": secrets.token_hex(32),
            "CONFIDE_CODEC_TOKENS": secrets.token_urlsafe(16),
            # The benchmark measures throughput, not the per-clinic intake limit (429s).
            "CONFIDE_RATE_LIMIT_PER_MINUTE": "0",
            "BENCH_API_KEY": self.api_key,
            # dr-lee's personal token: a task is completed by a person, not the clinic's key.
            "BENCH_PERSON_TOKEN": secrets.token_urlsafe(16),
            "BENCH_BASELINE_QUEUE": self.baseline_queue,
            "BENCH_BASELINE_DB": str(self.baseline_db),
        }
        # This process reads the same settings (data converter, intake helpers, replayer).
        os.environ.pop("CONFIDE_KEYRING", None)
        os.environ.update(env)
        self.env = dict(os.environ)
        self.settings = Settings.from_env()
        self.api_url = f"http://127.0.0.1:{self.settings.api_port}"

        log = open(self.tmp / "temporal.log", "ab")  # noqa: SIM115 (closed with the process)
        self.procs["temporal"] = Proc(
            "temporal",
            subprocess.Popen(temporal_command(self.settings), stdout=log, stderr=subprocess.STDOUT),
        )
        self.client = await self._connect()
        # Migrated once here, before the worker and the API open it.
        Ledger(self.settings.ledger_url).migrate()
        if self.want_confide:
            if self.worker_cache is None:  # the production command
                self._spawn("worker", [str(BIN / "confide"), "worker"])
            else:
                self._spawn(
                    "worker",
                    [
                        sys.executable,
                        "-m",
                        "bench.worker_proc",
                        "--max-cached-workflows",
                        str(self.worker_cache),
                    ],
                )
            self._spawn("api", [sys.executable, "-m", "bench.api_server"])
        if self.want_baseline:
            self._spawn("baseline", [sys.executable, "-m", "bench.baseline"])
        if self.want_confide:
            await self._polling(self.confide_queue, "worker")
            await self._api_up()
        if self.want_baseline:
            await self._polling(self.baseline_queue, "baseline")

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        self.procs[name] = Proc(
            name,
            subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT),
        )

    def _check_alive(self, name: str) -> None:
        proc = self.procs[name]
        if not proc.alive():
            tail = (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"bench: {name} exited ({proc.popen.returncode}):\n{tail}")

    async def _connect(self) -> Client:
        for _ in range(300):
            self._check_alive("temporal")
            try:
                return await connect(self.settings)
            except RuntimeError:
                await asyncio.sleep(0.1)
        raise SystemExit("bench: the Temporal dev server did not answer within 30 s")

    async def _polling(self, queue: str, name: str) -> None:
        """Until a worker polls the queue: a level must not time the worker's start."""
        request = DescribeTaskQueueRequest(
            namespace=self.settings.temporal_namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        for _ in range(600):
            self._check_alive(name)
            found = await self.client.workflow_service.describe_task_queue(request)
            if found.pollers:
                return
            await asyncio.sleep(0.1)
        raise SystemExit(f"bench: no {name} polls {queue} after 60 s")

    async def _api_up(self) -> None:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                self._check_alive("api")
                try:
                    if (await http.get(f"{self.api_url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise SystemExit("bench: the intake API did not answer within 60 s")

    def stop(self) -> None:
        for name in ("api", "worker", "baseline", "temporal"):
            if name in self.procs:
                self.procs[name].stop()
        if self.smtp is not None:
            self.smtp.stop()

    # -- what the parts read ------------------------------------------------------------------

    def http(self) -> httpx.AsyncClient:
        """A client of the intake API with the bench clinic's key."""
        return httpx.AsyncClient(
            base_url=self.api_url,
            timeout=120,
            headers={"Authorization": f"Bearer {self.api_key}"},
            limits=httpx.Limits(max_connections=500, max_keepalive_connections=500),
        )

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of every process, and the wall clock."""
        now = {name: p.cpu_s() for name, p in self.procs.items()}
        now["driver"] = driver_cpu_s()
        now["wall"] = time.perf_counter()
        return now

    def cpu_since(self, before: dict[str, float], worker: str = "worker") -> CpuUse:
        now = self.cpu()

        def d(name: str) -> float:
            return round(now.get(name, 0.0) - before.get(name, 0.0), 2)

        return CpuUse(
            temporal_server=d("temporal"),
            worker=d(worker),
            api=d("api") if worker == "worker" else 0.0,
            driver=d("driver"),
            wall_s=d("wall"),
        )

    def ledger_rows(self, like: str) -> int:
        """Confide's disclosure rows whose case id starts with `like`."""
        return _count(self.ledger_path, "disclosures", like)

    def baseline_rows(self, like: str) -> int:
        return _count(self.baseline_db, "disclosures", like)

    def temporal_db_mb(self, suffixes: tuple[str, ...] = ("", "-wal", "-shm")) -> float:
        """The dev server's SQLite files (database, write-ahead log, shared memory), in MB."""
        total = 0
        for suffix in suffixes:
            f = self.tmp / f"temporal.db{suffix}"
            if f.exists():
                total += f.stat().st_size
        return round(total / 2**20, 1)


def _count(path: Path, table: str, like: str) -> int:
    if not path.exists():
        return 0
    conn = sqlite3.connect(path, timeout=10)
    try:
        row = conn.execute(
            f"select count(*) from {table} where case_id like ?", (like + "%",)
        ).fetchone()
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()
    return int(row[0])


def temporal_cli_version() -> str:
    binary = shutil.which("temporal", path=str(BIN)) or "temporal"
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return "unknown"
    return out.stdout.strip()
