"""Throughput benchmark: flags through the intake API to delivered warnings and ledger rows.

Starts its own Temporal dev server (SQLite file with the WAL pragmas `make run` uses), an SMTP
sink, a worker and the intake app, then sends N California threat flags with C in flight,
completes each risk assessment through the API, and measures until both warnings of every case
are delivered. Prints the numbers; nothing is asserted.
    .venv/bin/python tools/bench.py --cases 200 --concurrency 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from temporalio.client import Client  # noqa: E402

from cli.dev import temporal_command  # noqa: E402
from domain.clinic import ClinicDirectory, hash_api_key  # noqa: E402
from infra.keyring import Keyring  # noqa: E402
from infra.ledger_db import Ledger  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.temporal import data_converter  # noqa: E402
from intake.app import create_app  # noqa: E402
from tests.conftest import make_worker  # noqa: E402
from tests.support import demo_clinic, flag_body, free_port, start_smtp  # noqa: E402

ASSESSMENT = {
    "actor": "dr-lee",
    "data": {"serious_threat": True, "identifiable_victims": True, "imminent": True},
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def one_case(http: httpx.AsyncClient, sink, i: int, run: str) -> tuple[float, float]:
    body = flag_body(flag_id=f"B{run}-{i}")
    body["concerns"][0]["victims"][0]["email"] = f"victim{i}.{run}@example.org"
    t0 = time.perf_counter()
    r = await http.post("/v1/flags", json=body)
    r.raise_for_status()
    post_latency = time.perf_counter() - t0
    case_id = r.json()["case_id"]
    while True:
        tasks = (await http.get(f"/v1/cases/{case_id}")).json()["tasks"]
        if tasks:
            break
        await asyncio.sleep(0.05)
    r = await http.post(f"/v1/cases/{case_id}/tasks/{tasks[0]['task_id']}", json=ASSESSMENT)
    r.raise_for_status()
    address = f"victim{i}.{run}@example.org"
    while address not in sink.recipients:
        await asyncio.sleep(0.05)
    return post_latency, time.perf_counter() - t0


async def main(cases: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env().model_copy(
            update={
                "var_dir": Path(tmp),
                "temporal_port": free_port(),
                "ui_port": free_port(),
                "task_queue": f"bench-{uuid.uuid4()}",
            }
        )
        settings.temporal_address = f"127.0.0.1:{settings.temporal_port}"
        keyring = Keyring.generate()
        proc = await asyncio.create_subprocess_exec(
            *temporal_command(settings),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        ctl, sink = start_smtp()
        try:
            for _ in range(300):
                try:
                    client = await Client.connect(
                        settings.temporal_address, data_converter=data_converter(keyring)
                    )
                    break
                except RuntimeError:
                    await asyncio.sleep(0.1)
            ledger = Ledger(f"sqlite:///{tmp}/ledger.db")
            ledger.migrate()
            clinic = demo_clinic()
            clinic.api_key_sha256 = [hash_api_key("bench")]
            app = create_app(settings, ClinicDirectory(clinics=[clinic]), client, ledger=ledger)
            run = uuid.uuid4().hex[:6]
            limit = asyncio.Semaphore(concurrency)

            async def guarded(http, i):
                async with limit:
                    return await one_case(http, sink, i, run)

            async with make_worker(client, settings.task_queue, ctl.port, ledger):
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://bench",
                    timeout=120,
                    headers={"Authorization": "Bearer bench"},
                ) as http:
                    t0 = time.perf_counter()
                    results = await asyncio.gather(*(guarded(http, i) for i in range(cases)))
                    elapsed = time.perf_counter() - t0
                    rows = 0
                    for _ in range(1200):  # the last ledger writes trail the last e-mails
                        with ledger.engine.connect() as conn:
                            rows = conn.exec_driver_sql(
                                "select count(*) from disclosures"
                            ).scalar_one()
                        if rows >= 2 * cases:
                            break
                        await asyncio.sleep(0.05)
                    all_rows = time.perf_counter() - t0
            posts = [r[0] for r in results]
            e2e = [r[1] for r in results]
            print(f"cases                 {cases} (concurrency {concurrency})")
            print(f"elapsed               {elapsed:.1f} s")
            print(f"throughput            {cases / elapsed:.1f} cases/s to both warnings sent")
            print(
                f"POST /v1/flags        p50 {statistics.median(posts) * 1000:.0f} ms, "
                f"p95 {pct(posts, 0.95) * 1000:.0f} ms"
            )
            print(
                f"flag -> warnings sent p50 {statistics.median(e2e):.2f} s, "
                f"p95 {pct(e2e, 0.95):.2f} s"
            )
            print(
                f"ledger rows           {rows} of {2 * cases}, all written after {all_rows:.1f} s"
            )
        finally:
            ctl.stop()
            proc.terminate()
            await proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.concurrency))
