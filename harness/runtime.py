"""Where things are, free ports, polling, and the worker wiring pointed at a test's servers."""

from __future__ import annotations

import asyncio
import os
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


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
