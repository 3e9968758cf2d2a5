"""Bring a Confide database to the newest schema with Alembic (ledger, records, archive).

Every process that opens the database calls `upgrade` at start; it is cheap when nothing is
pending. Concurrent starts take turns (a PostgreSQL advisory lock; SQLite's write lock), so two
processes never apply the same revision twice.
"""

from __future__ import annotations

from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

log = structlog.get_logger(__name__)

SCRIPTS = Path(__file__).resolve().parent / "migrations"
# An arbitrary constant naming Confide's migration lock on PostgreSQL.
_PG_LOCK = 0x43_6F_6E_66_69_64_65


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    return cfg


def head() -> str:
    """The newest revision this code knows."""
    rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert rev is not None
    return rev


def current(engine: Engine) -> str | None:
    """The revision a database is at (None: never migrated by Alembic)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class SchemaMismatch(RuntimeError):
    """The database is not at the schema this code reads (message names both revisions)."""


def known(revision: str) -> bool:
    """Whether this code has the revision (False: the database was migrated by newer code)."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except Exception:  # noqa: BLE001 (alembic raises several kinds for an unknown id)
        return False


def check(engine: Engine) -> None:
    """For readers that must not change the schema (the auditor's commands): raise
    SchemaMismatch unless the database is exactly at this code's head."""
    rev = current(engine)
    if rev == head():
        return
    if rev is None:
        if "disclosures" in inspect(engine).get_table_names():
            raise SchemaMismatch("the database predates schema revisions: run `confide migrate`")
        raise SchemaMismatch(f"no Confide database at {engine.url.render_as_string()}")
    raise SchemaMismatch(
        f"the database is at schema revision {rev} and this confide reads {head()}; "
        + ("use a newer confide" if not known(rev) else "run `confide migrate` first")
    )


def upgrade(engine: Engine) -> None:
    """Apply every pending revision. A database already migrated by newer code is left as it
    is (a rolled-back worker must still start; revisions only ever add)."""
    rev = current(engine)
    if rev == head():
        return
    if rev is not None and not known(rev):
        log.warning("database schema is newer than this code", revision=rev, code_head=head())
        return
    cfg = _config()
    target = _sqlite_migration_engine(engine) if engine.dialect.name == "sqlite" else engine
    try:
        with target.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        if target is not engine:
            target.dispose()


def _sqlite_migration_engine(engine: Engine) -> Engine:
    """An engine whose transactions really cover DDL: Python's sqlite3 otherwise commits
    before each CREATE/ALTER, so a revision could be half-applied and two processes could
    interleave. BEGIN IMMEDIATE takes the write lock up front; the other process waits."""
    mig = create_engine(engine.url, poolclass=NullPool)

    @event.listens_for(mig, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(mig, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return mig
