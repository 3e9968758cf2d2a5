"""The ledger's hash chain on SQLite and PostgreSQL: it verifies as written, and each way of
tampering with the rows behind Confide's back (bypassing the append-only triggers, as someone
with the database's keys could) is found at the right entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from audit.verify import verify_all
from domain.accounting import Suspension
from domain.records import Disclosure
from infra import hash_chain
from infra.ledger_db import Ledger, accounting_suspensions, disclosures


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger3(request, tmp_path):
    """A ledger with two disclosures and a suspension between them (ids 1, 2 and 1)."""
    url = (
        f"sqlite:///{tmp_path / 'ledger.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_schema_url")
    )
    led = Ledger(url)
    led.migrate()
    case = f"demo-clinic.F-{uuid.uuid4().hex[:8]}"
    when = datetime(2026, 11, 2, 18, 5, tzinfo=UTC)
    for n in (1, 2):
        assert led.record(
            Disclosure(
                case_id=case,
                step=f"warn.{n}",
                recipient_key=f"victim-{n}",
                clinic_id="demo-clinic",
                patient_ref="P-301",
                disclosed_at=when + timedelta(minutes=n),
                recipient_name="Victim",
                recipient_address="victim@example.test",
                channel="email",
                description="Warning",
                purpose="duty to warn",
                legal_basis="45 CFR 164.512(j)",
            )
        )
        if n == 1:
            led.record_suspension(
                Suspension(
                    clinic_id="demo-clinic",
                    patient_ref="P-301",
                    agency="State Board",
                    official="Inspector Gray",
                    statement="oral",
                    received_at=when,
                    until=when + timedelta(days=30),
                )
            )
    yield led
    led.engine.dispose()


def _ledger_check(led: Ledger) -> hash_chain.ChainCheck:
    return {c.chain: c for c in verify_all(led)}["ledger"]


def _bypassing_triggers(led: Ledger, statement: str) -> None:
    with led.engine.begin() as conn:
        if led.engine.dialect.name == "postgresql":
            # A superuser's way around row triggers.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for t in ("disclosures", "accounting_suspensions"):
                for op in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {t}_no_{op}"))
        conn.execute(text(statement))


def test_a_ledger_written_by_confide_verifies(ledger3):
    check = _ledger_check(ledger3)
    assert check.broken is None and check.links == 3
    # A retried write (same case, step, recipient) adds no row and no link.
    [first, _] = ledger3.for_case(ledger3.for_patient("demo-clinic", "P-301")[0].case_id)
    assert ledger3.record(first) is False
    again = _ledger_check(ledger3)
    assert again.broken is None and again.links == 3 and again.head_hash == check.head_hash


def test_an_altered_row_is_found_at_its_entry(ledger3):
    _bypassing_triggers(ledger3, "UPDATE disclosures SET purpose = 'care' WHERE id = 2")
    check = _ledger_check(ledger3)
    assert check.broken is not None
    assert (check.broken.seq, check.broken.source, check.broken.source_id) == (
        3,
        "disclosures",
        2,
    )
    assert "altered" in check.broken.problem and check.links == 2


def test_a_deleted_suspension_is_found(ledger3):
    _bypassing_triggers(ledger3, "DELETE FROM accounting_suspensions")
    broken = _ledger_check(ledger3).broken
    assert broken is not None and broken.seq == 2
    assert broken.source == "accounting_suspensions" and "deleted" in broken.problem


def test_a_row_slipped_in_behind_confide_is_found(ledger3):
    cols = ", ".join(c.name for c in disclosures.c if c.name != "id")
    _bypassing_triggers(
        ledger3,
        f"INSERT INTO disclosures ({cols}) SELECT "
        + ", ".join(
            "'warn.forged'" if c.name == "step" else c.name for c in disclosures.c if c.name != "id"
        )
        + " FROM disclosures WHERE id = 1",
    )
    broken = _ledger_check(ledger3).broken
    assert broken is not None and broken.source == "disclosures" and broken.source_id == 3
    assert "not in the chain" in broken.problem


def test_a_cut_off_tail_is_found_by_the_head(ledger3):
    with ledger3.engine.begin() as conn:
        if ledger3.engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS chain_links_no_delete"))
        conn.execute(text("DELETE FROM chain_links WHERE chain = 'ledger' AND seq = 3"))
    broken = _ledger_check(ledger3).broken
    assert broken is not None and broken.source == "chain_heads"


def test_the_chain_does_not_fork_under_concurrent_writers(ledger3):
    from concurrent.futures import ThreadPoolExecutor

    def write(n: int) -> bool:
        return ledger3.record_suspension(
            Suspension(
                clinic_id="demo-clinic",
                patient_ref="P-301",
                agency=f"Agency {n}",
                official="Official",
                statement="written",
                received_at=datetime(2026, 11, 5, tzinfo=UTC),
                until=datetime(2026, 12, 5, tzinfo=UTC),
            )
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(24)))
    check = _ledger_check(ledger3)
    assert check.broken is None and check.links == 27


def test_verify_while_confide_writes_finds_nothing_wrong(ledger3):
    """Monitoring runs verify against a live ledger: rows committed during a verify must not
    look like tampering (each verify reads one snapshot)."""
    import threading

    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            ledger3.record_suspension(
                Suspension(
                    clinic_id="demo-clinic",
                    patient_ref="P-301",
                    agency=f"Agency {n}",
                    official="Official",
                    statement="written",
                    received_at=datetime(2026, 11, 5, tzinfo=UTC),
                    until=datetime(2026, 12, 5, tzinfo=UTC),
                )
            )

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        checks = [_ledger_check(ledger3) for _ in range(25)]
    finally:
        stop.set()
        thread.join()
    assert [c.broken for c in checks] == [None] * 25
    assert checks[-1].links > checks[0].links  # the writer was really writing meanwhile


def test_a_column_added_later_does_not_break_the_chain(ledger3):
    """The ledger has grown columns before (documents, manifest_sha256); rows written before a
    new nullable column must still verify."""
    with ledger3.engine.begin() as conn:
        conn.execute(text("ALTER TABLE disclosures ADD COLUMN reviewed_by VARCHAR(64)"))
    from sqlalchemy import MetaData, Table

    grown = Table("disclosures", MetaData(), autoload_with=ledger3.engine)
    check = hash_chain.verify(ledger3.engine, "ledger", [grown, accounting_suspensions])
    assert check.broken is None and check.links == 3
