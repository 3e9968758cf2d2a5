"""The worker's probes for an orchestrator: GET /livez (the process answers) and GET /readyz
(the worker is polling and its Temporal frontend answers a health check), on
CONFIDE_HEALTH_PORT. Served by uvicorn in the worker's own event loop, so a wedged loop fails
both probes and the orchestrator restarts the pod."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from temporalio.client import Client

from infra.settings import MissingSetting

# A frontend that takes longer than this to answer is as good as down for a readiness probe.
CHECK_TIMEOUT = 3.0


def health_port(env: Mapping[str, str] = os.environ) -> int | None:
    """CONFIDE_HEALTH_PORT, or None (no probe server) when unset."""
    raw = env.get("CONFIDE_HEALTH_PORT", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise MissingSetting(f"CONFIDE_HEALTH_PORT must be a port number (it is {raw!r}).")
    return int(raw)


def probe_app(client: Client, polling: Callable[[], bool]) -> Starlette:
    """/livez and /readyz; `polling` says whether the worker has started and not stopped."""

    async def livez(_: Request) -> PlainTextResponse:
        return PlainTextResponse("alive\n")

    async def readyz(_: Request) -> PlainTextResponse:
        if not polling():
            return PlainTextResponse("the worker is not polling\n", status_code=503)
        try:
            ok = await asyncio.wait_for(client.service_client.check_health(), CHECK_TIMEOUT)
        except Exception:  # noqa: BLE001 (any failure to reach the frontend means not ready)
            ok = False
        if not ok:
            return PlainTextResponse("Temporal does not answer\n", status_code=503)
        return PlainTextResponse("ready\n")

    return Starlette(routes=[Route("/livez", livez), Route("/readyz", readyz)])


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: SIGTERM is the worker's, to drain its tasks."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_probes(
    client: Client, polling: Callable[[], bool], port: int | None, host: str = "0.0.0.0"
) -> AsyncIterator[None]:
    """Serve the probes while the block runs (nothing when `port` is None)."""
    if port is None:
        yield
        return
    config = uvicorn.Config(
        probe_app(client, polling), host=host, port=port, log_level="warning", access_log=False
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    try:
        yield
    finally:
        server.should_exit = True
        await task
