"""How fast Confide answers a FHIR EHR's notifications, and how soon a Flag raised in the EHR
becomes a case (issue 15: "answer 2xx within a second"). Prints numbers, asserts nothing.

    .venv/bin/python -m bench.fhir_notify [--events 200] [--heartbeats 100] [--flags 20]

Starts its own Temporal dev server, a stand-in EHR (sekmet-fhir, as `make run` does), an SMTP
sink, a Confide worker and the intake API (uvicorn on a real port, in this process), then:

  events      sequential event notifications POSTed to /fhir/<clinic>/notifications, as the
              EHR sends them: the time to the 200 (the endpoint signals the feed workflow,
              starting it the first time, and returns);
  heartbeats  heartbeats whose count the feed has seen: the endpoint asks the feed (a query)
              and answers without signalling;
  flags       Flags PUT into the EHR one after another: the time from the PUT's answer to the
              case's workflow existing (the EHR's notification, the feed's read of the Flag,
              patient, encounter, author and people with a SMART token, the case started).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from cli.dev_ehr import (
    FLAG_TOPIC,
    confide_source,
    flag_topic,
    new_private_pem,
    public_jwk,
    start_sekmet,
)
from cli.dev_ehr import subscription as ehr_subscription
from domain.clinic import ClinicDirectory
from harness import BIN, demo_clinic, free_port, make_worker, start_smtp
from infra.fhir_sources import DEFAULT_SCOPES
from infra.keyring import Keyring
from infra.ledger_db import Ledger
from infra.settings import Settings
from infra.temporal import data_converter
from intake.app import create_app
from intake.fhir_endpoint import feed_id
from workflows import search_attributes as sa

SECRET = "bench-" + uuid.uuid4().hex


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return (
        f"p50 {statistics.median(values) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   "
        f"max {values[-1] * 1000:7.1f} ms   (n={len(values)})"
    )


def _bundle(subscription: str, kind: str, count: int, events: list[tuple[int, str]]) -> bytes:
    params: list[dict] = [
        {"name": "subscription", "valueReference": {"reference": subscription}},
        {"name": "topic", "valueCanonical": FLAG_TOPIC},
        {"name": "status", "valueCode": "active"},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(count)},
    ]
    for number, focus in events:
        params.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(number)},
                    {"name": "focus", "valueReference": {"reference": focus}},
                ],
            }
        )
    body = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [{"resource": {"resourceType": "Parameters", "parameter": params}}],
    }
    return json.dumps(body).encode()


def _flag(n: str) -> dict:
    def put(resource: dict) -> dict:
        return {
            "resource": resource,
            "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
        }

    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            put({"resourceType": "Practitioner", "id": "dr-lee", "name": [{"family": "Lee"}]}),
            put({"resourceType": "Patient", "id": f"p-{n}", "name": [{"text": "Bench Patient"}]}),
            put(
                {
                    "resourceType": "Flag",
                    "id": f"bench-{n}",
                    "status": "active",
                    "code": {
                        "coding": [{"system": "urn:confide:concern-kind", "code": "self_harm"}],
                        "text": "Bench concern",
                    },
                    "subject": {"reference": f"Patient/p-{n}"},
                    "author": {"reference": "Practitioner/dr-lee"},
                }
            ),
        ],
    }


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="confide-fhir-bench-"))
    # A local stack of its own: a fresh keyring and secrets, localhost URLs, a plain-SMTP sink.
    Keyring.generate().dump(tmp / "keyring.json")
    os.environ.pop("CONFIDE_KEYRING", None)
    os.environ.update(
        {
            "CONFIDE_ENV": "dev",
            "CONFIDE_VAR_DIR": str(tmp),
            "CONFIDE_KEYRING_FILE": str(tmp / "keyring.json"),
            "CONFIDE_CODE_SECRET": secrets.token_hex(32),
        }
    )
    pem = new_private_pem()
    (tmp / "smart.pem").write_text(pem)
    admin = "bench-admin-" + uuid.uuid4().hex
    scopes = DEFAULT_SCOPES
    proc, base, token_url = start_sekmet(
        tmp / "ehr", free_port(), {"confide": (public_jwk(pem), scopes)}, admin
    )
    ctl, _sink = start_smtp()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=data_converter(),
        search_attributes=sa.ALL,
        dev_server_extra_args=["--log-level", "error"],
    )
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}")
    ledger.migrate()
    sources = confide_source(base, tmp / "smart.pem", scopes, secret=SECRET, token_url=token_url)
    directory = ClinicDirectory(clinics=[demo_clinic()])
    queue = f"bench-fhir-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env().model_copy(update={"task_queue": queue})
    app = create_app(settings, directory, env.client, ledger=ledger, fhir_sources=sources)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    endpoint = f"http://127.0.0.1:{port}/fhir/demo-clinic/notifications"
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/fhir+json"}
    admin_headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/fhir+json"}
    try:
        async with make_worker(
            env.client, queue, ctl.port, ledger, fhir_sources=sources, clinics=directory
        ):
            async with httpx.AsyncClient(timeout=30) as http:
                print(f"Confide FHIR notification endpoint, {time.strftime('%Y-%m-%d %H:%M')}")
                synthetic = f"{base}/Subscription/bench-synthetic"
                answered = []
                for n in range(1, args.events + 1):
                    body = _bundle(synthetic, "event-notification", n, [(n, f"Flag/none-{n}")])
                    t0 = time.perf_counter()
                    r = await http.post(endpoint, content=body, headers=headers)
                    answered.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text
                print(f"  events      {_ms(answered)}")
                feed = env.client.get_workflow_handle(feed_id("demo-clinic", synthetic))
                while (await feed.query("last_event")) < args.events:
                    await asyncio.sleep(0.1)
                answered = []
                for _ in range(args.heartbeats):
                    body = _bundle(synthetic, "heartbeat", args.events, [])
                    t0 = time.perf_counter()
                    r = await http.post(endpoint, content=body, headers=headers)
                    answered.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text
                print(f"  heartbeats  {_ms(answered)}")

                await http.put(
                    f"{base}/Basic/topic-confide-flag", json=flag_topic(), headers=admin_headers
                )
                sub = ehr_subscription("bench", FLAG_TOPIC, endpoint, SECRET)
                (
                    await http.put(f"{base}/Subscription/bench", json=sub, headers=admin_headers)
                ).raise_for_status()
                while (await http.get(f"{base}/Subscription/bench", headers=admin_headers)).json()[
                    "status"
                ] != "active":
                    await asyncio.sleep(0.05)
                opened = []
                for _ in range(args.flags):
                    n = uuid.uuid4().hex[:8]
                    r = await http.post(base, json=_flag(n), headers=admin_headers)
                    r.raise_for_status()
                    t0 = time.perf_counter()
                    handle = env.client.get_workflow_handle(f"demo-clinic.fhir-bench-{n}")
                    while True:
                        try:
                            await handle.describe()
                            break
                        except RPCError:
                            await asyncio.sleep(0.01)
                    opened.append(time.perf_counter() - t0)
                print(f"  flags       {_ms(opened)}   (Flag PUT answered -> case started)")
    finally:
        server.should_exit = True
        await serving
        await env.shutdown()
        ctl.stop()
        proc.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="bench/fhir_notify.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=200, help="event notifications to send")
    parser.add_argument("--heartbeats", type=int, default=100, help="heartbeats to send")
    parser.add_argument("--flags", type=int, default=20, help="Flags to raise in the EHR")
    asyncio.run(main(parser.parse_args()))
