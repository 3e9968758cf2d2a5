"""`confide worker` with Worker options the benchmark varies (the workflow cache), for trying a
setting before it goes into worker.py. Same wiring (worker.build_worker), same logging.
    python -m bench.worker_proc --max-cached-workflows 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from infra.ledger_db import Ledger
from infra.logging import configure as configure_logging
from infra.settings import Settings
from infra.temporal import connect
from worker import build_worker


async def main(options: dict) -> None:
    configure_logging()
    settings = Settings.from_env()
    ledger = Ledger(settings.ledger_url)
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build_worker(client, settings, ledger, **options):
        await stop.wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-cached-workflows", type=int, required=True)
    args = p.parse_args()
    asyncio.run(main({"max_cached_workflows": args.max_cached_workflows}))
    os._exit(0)  # no interpreter teardown under a live Temporal client (sdk-python#300)
