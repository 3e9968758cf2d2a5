"""The intake API as the benchmark runs it: uvicorn in a process of its own, the demo clinic
with the run's API key (BENCH_API_KEY) and dr-lee's personal token (BENCH_PERSON_TOKEN),
settings from the environment bench/stack.py sets.
    python -m bench.api_server
"""

from __future__ import annotations

import asyncio
import os

import uvicorn

from domain.clinic import ClinicDirectory, hash_api_key
from harness import demo_clinic
from infra.ledger_db import Ledger
from infra.settings import Settings
from infra.temporal import connect
from intake.app import create_app


async def main() -> None:
    settings = Settings.from_env()
    clinic = demo_clinic()
    clinic.api_key_sha256 = [hash_api_key(os.environ["BENCH_API_KEY"])]
    lee = clinic.member("dr-lee")
    assert lee is not None
    lee.token_sha256 = [hash_api_key(os.environ["BENCH_PERSON_TOKEN"])]
    client = await connect(settings)
    app = create_app(
        settings, ClinicDirectory(clinics=[clinic]), client, ledger=Ledger(settings.ledger_url)
    )
    # As `confide dev` serves it: no access log, warnings only.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=settings.api_port, log_level="warning", access_log=False
    )
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    asyncio.run(main())
    os._exit(0)  # no interpreter teardown under a live Temporal client (sdk-python#300)
