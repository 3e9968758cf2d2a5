"""Where things are, free ports, polling, and the worker wiring pointed at a test's servers."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from infra.ledger_db import Ledger

# The repository root (the directory holding domain/, workflows/, tests/, bench/).
ROOT = Path(__file__).resolve().parent.parent
# The venv's bin/ (temporal, temporal-test-server, confide).
BIN = Path(sys.executable).parent


# Ports handed out in this process, so two servers of one test never get the same one.
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port nobody listens on right now, below the kernel's ephemeral range.

    A port the kernel picks (bind to 0) comes from the ephemeral range, from which it also
    picks the local port of every outgoing connection: between this call and the server's own
    bind, a client connection elsewhere could take it ("address already in use" at start-up).
    Below that range only explicit binds take ports."""
    low, _ = _ephemeral_range()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as s:  # a crowded machine: the kernel's pick after all
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


async def eventually(
    check: Callable[[], Awaitable[Any] | Any], timeout: float = 20.0, interval: float = 0.05
) -> Any:
    """Poll `check` until it returns a truthy value without raising; then return that value."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
        except AssertionError as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s: {last}")
        await asyncio.sleep(interval)


def make_worker(
    client: Client, task_queue: str, smtp_port: int, ledger: Ledger, **options: Any
) -> Worker:
    """The production worker wiring, pointed at the test's servers."""
    from activities.notify import SmtpSettings
    from infra.settings import Settings
    from worker import build_worker

    settings = Settings.from_env().model_copy(
        update={"task_queue": task_queue, "smtp": SmtpSettings(port=smtp_port)}
    )
    os.environ.setdefault("CONFIDE_CODE_SECRET", "test-secret-" + uuid.uuid4().hex)
    return build_worker(client, settings, ledger, **options)
