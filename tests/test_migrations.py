"""Alembic migrations: a database made by the pre-Alembic code upgrades in place, rows intact;
a new database gets exactly the tables the code describes; on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from infra import hash_chain, migrate
from infra.ledger_db import Ledger, accounting_suspensions, disclosures
from infra.records_db import RecordsStore, records
from infra.records_db import metadata as records_metadata
from infra.schema import all_metadata

FIXTURE = Path(__file__).parent / "fixtures" / "ledger-before-alembic.sql"
LEDGER_SOURCES = [disclosures, accounting_suspensions]


def _old_sqlite_database(path: Path) -> str:
    con = sqlite3.connect(path)
    con.executescript(FIXTURE.read_text())
    con.close()
    return f"sqlite:///{path}"


def _rows(engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


def test_a_pre_alembic_sqlite_database_upgrades_with_every_row_intact(tmp_path):
    url = _old_sqlite_database(tmp_path / "ledger.db")
    before = create_engine(url)
    old = {t.name: _rows(before, t) for t in (disclosures, accounting_suspensions)}
    with before.connect() as conn:
        old_docs = conn.execute(select(func.count()).select_from(records)).scalar_one()
    before.dispose()
    assert migrate.current(create_engine(url)) is None  # never seen Alembic

    ledger = Ledger(url)
    ledger.migrate()
    RecordsStore(url).migrate()  # the second process to start: nothing left to do

    assert migrate.current(ledger.engine) == migrate.head()
    assert {t: _rows(ledger.engine, getattr_table(t)) for t in old} == old
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(records)).scalar_one() == old_docs
    # The rows on record before the chain existed are linked into it, oldest first.
    check = hash_chain.verify(ledger.engine, "ledger", LEDGER_SOURCES)
    assert check.broken is None and check.links == 3
    # Still append-only after the upgrade.
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.execute(text("UPDATE disclosures SET purpose = 'x'"))


def getattr_table(name: str):
    return {"disclosures": disclosures, "accounting_suspensions": accounting_suspensions}[name]


def test_a_pre_alembic_postgresql_database_upgrades(pg_schema_url):
    # The pre-Alembic code made its tables with create_all: do the same, then add a row.
    engine = create_engine(pg_schema_url)
    from infra.ledger_db import metadata as ledger_metadata

    ledger_metadata.create_all(engine)
    records_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            disclosures.insert().values(
                case_id="demo-clinic.F-OLD",
                step="warn.victim",
                recipient_key="victim-1",
                clinic_id="demo-clinic",
                patient_ref="P-301",
                disclosed_at=func.now(),
                recipient_name="n",
                recipient_address="a",
                channel="email",
                description="d",
                purpose="p",
                legal_basis="b",
                accountable=True,
                recorded_at=func.now(),
            )
        )
    engine.dispose()

    ledger = Ledger(pg_schema_url)
    ledger.migrate()
    assert migrate.current(ledger.engine) == migrate.head()
    check = hash_chain.verify(ledger.engine, "ledger", LEDGER_SOURCES)
    assert check.broken is None and check.links == 1
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM disclosures"))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_make_exactly_the_tables_the_code_describes(backend, tmp_path, request):
    url = (
        f"sqlite:///{tmp_path / 'new.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_schema_url")
    )
    ledger = Ledger(url)
    ledger.migrate()
    with ledger.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), all_metadata())
    # Only differences that are not the schema's shape: none expected at all.
    assert diff == []


def test_older_code_starts_against_a_newer_schema_and_leaves_it(tmp_path):
    """A worker rolled back during a deploy must start; revisions only add, so it can."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    ledger.migrate()
    assert migrate.current(ledger.engine) == "9999_from_the_future"
    # The auditor's commands read only at their own schema, and say which way to go.
    with pytest.raises(migrate.SchemaMismatch, match="use a newer confide"):
        migrate.check(ledger.engine)


def test_the_auditors_check_refuses_an_unmigrated_database(tmp_path):
    url = _old_sqlite_database(tmp_path / "old.db")
    with pytest.raises(migrate.SchemaMismatch, match="run `confide migrate`"):
        migrate.check(create_engine(url))
    with pytest.raises(migrate.SchemaMismatch, match="no Confide database"):
        migrate.check(create_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
