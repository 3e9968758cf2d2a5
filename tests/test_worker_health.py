"""The worker's probes (infra/worker_health.py) against the real dev server: ready only while
polling and while Temporal answers; alive whenever the process answers."""

from __future__ import annotations

import httpx
import pytest
from temporalio.client import Client

from harness import free_port
from infra.settings import MissingSetting
from infra.worker_health import health_port, probe_app


async def _get(app, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as http:
        return await http.get(path)


async def test_ready_only_while_polling_and_while_temporal_answers(dev_env):
    polling = False
    app = probe_app(dev_env.client, lambda: polling)
    assert (await _get(app, "/livez")).status_code == 200
    # Starting, or draining after SIGTERM: not ready, so no traffic is routed here.
    not_yet = await _get(app, "/readyz")
    assert not_yet.status_code == 503 and "not polling" in not_yet.text
    polling = True
    assert (await _get(app, "/readyz")).text == "ready\n"
    # A frontend that does not answer: not ready (and still alive: nothing to restart for).
    gone = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    cut_off = probe_app(gone, lambda: True)
    down = await _get(cut_off, "/readyz")
    assert down.status_code == 503 and "Temporal does not answer" in down.text
    assert (await _get(cut_off, "/livez")).status_code == 200


def test_the_probe_port_is_optional_and_checked():
    assert health_port({}) is None
    assert health_port({"CONFIDE_HEALTH_PORT": "8081"}) == 8081
    with pytest.raises(MissingSetting, match="CONFIDE_HEALTH_PORT must be a port number"):
        health_port({"CONFIDE_HEALTH_PORT": "eighty"})
