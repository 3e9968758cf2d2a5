"""The disclosure ledger on SQLite and PostgreSQL: idempotent appends, UTC round trips, and
database-enforced append-only history."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from temporalio.testing import ActivityEnvironment

from activities.ledger import LedgerActivities
from domain.records import Disclosure
from infra.ledger_db import Ledger, disclosures

PACIFIC = timezone(timedelta(hours=-8))
EAST_EUROPE = timezone(timedelta(hours=2))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", id="postgresql")])
def store(request, tmp_path):
    """A migrated ledger on each backend (PostgreSQL: shared per session, so ids are unique)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    led = Ledger(url)
    led.migrate()
    yield led
    led.engine.dispose()


@pytest.fixture
def case_id() -> str:
    return f"demo-clinic.F-{uuid.uuid4().hex[:12]}"


def disclosure(
    case_id: str,
    *,
    step: str = "warn.victim",
    recipient_key: str = "victim-0",
    clinic_id: str = "demo-clinic",
    patient_ref: str = "P-301",
    disclosed_at: datetime | None = None,
    **kw,
) -> Disclosure:
    return Disclosure(
        case_id=case_id,
        step=step,
        recipient_key=recipient_key,
        clinic_id=clinic_id,
        patient_ref=patient_ref,
        disclosed_at=disclosed_at or datetime(2026, 11, 27, 10, 15, tzinfo=PACIFIC),
        recipient_name=kw.pop("recipient_name", "Casey Rivera"),
        recipient_address=kw.pop("recipient_address", "casey@example.org"),
        channel=kw.pop("channel", "email"),
        description=kw.pop("description", "warning of a threat of violence"),
        purpose=kw.pop("purpose", "to avert a serious threat to health or safety"),
        legal_basis=kw.pop("legal_basis", "Cal. Civ. Code 43.92; 45 CFR 164.512(j)"),
        **kw,
    )


def as_read_back(d: Disclosure) -> Disclosure:
    """A disclosure as the ledger returns it: the same instant, in UTC."""
    return d.model_copy(update={"disclosed_at": d.disclosed_at.astimezone(UTC)})


def row_count(led: Ledger, case_id: str) -> int:
    with led.engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(disclosures).where(disclosures.c.case_id == case_id)
        ).scalar_one()


def test_record_returns_true_for_a_new_row_then_false_for_the_same_key(request, store, case_id):
    d = disclosure(case_id)

    assert store.record(d) is True
    assert store.record(d) is False
    assert store.record(disclosure(case_id, recipient_key="agency-police")) is True
    assert store.record(disclosure(case_id, recipient_key="agency-police")) is False


def test_recording_the_same_key_again_adds_no_row_and_keeps_the_first(store, case_id):
    d = disclosure(case_id)

    store.record(d)
    store.record(d)
    store.record(d.model_copy(update={"description": "a retried, reworded write"}))

    assert row_count(store, case_id) == 1
    [row] = store.for_case(case_id)
    assert row.description == "warning of a threat of violence"


def test_another_recipient_or_step_is_another_row(store, case_id):
    store.record(disclosure(case_id, recipient_key="victim-0"))
    store.record(disclosure(case_id, recipient_key="agency-police"))
    store.record(disclosure(case_id, step="warn.again", recipient_key="victim-0"))

    assert row_count(store, case_id) == 3
    assert [(r.step, r.recipient_key) for r in store.for_case(case_id)] == [
        ("warn.victim", "victim-0"),
        ("warn.victim", "agency-police"),
        ("warn.again", "victim-0"),
    ]


def test_for_case_returns_rows_oldest_first_with_utc_datetimes_of_the_same_instant(store, case_id):
    first = datetime(2026, 11, 27, 10, 15, 30, 123456, tzinfo=PACIFIC)
    second = datetime(2026, 11, 27, 21, 5, 0, 654321, tzinfo=EAST_EUROPE)
    written = [
        disclosure(
            case_id, recipient_key="victim-0", disclosed_at=first, task_ref="t-1", accountable=True
        ),
        disclosure(
            case_id,
            recipient_key="agency-police",
            disclosed_at=second,
            recipient_name="Demo City Police Department",
            recipient_address="police@agency.test",
            accountable=False,
        ),
    ]
    for d in written:
        store.record(d)

    rows = store.for_case(case_id)

    assert [r.recipient_key for r in rows] == ["victim-0", "agency-police"]
    for row, d in zip(rows, written, strict=True):
        assert row.disclosed_at.tzinfo is not None
        assert row.disclosed_at.utcoffset() == timedelta(0)
        assert row.disclosed_at == d.disclosed_at  # the same instant, to the microsecond
        assert row.model_dump(exclude={"disclosed_at"}) == d.model_dump(exclude={"disclosed_at"})
    assert rows[0].disclosed_at == datetime(2026, 11, 27, 18, 15, 30, 123456, tzinfo=UTC)
    assert store.for_case(f"{case_id}-other") == []


def test_for_patient_filters_by_clinic_and_patient_ordered_by_disclosure_time(store, case_id):
    patient = f"P-{uuid.uuid4().hex[:10]}"
    # Local wall-clock order is the opposite of the instants' order: 09:00-08:00 is 17:00Z,
    # 12:00+02:00 is 10:00Z.
    later = datetime(2026, 11, 27, 9, 0, tzinfo=PACIFIC)
    earlier = datetime(2026, 11, 27, 12, 0, tzinfo=EAST_EUROPE)
    store.record(
        disclosure(case_id, recipient_key="victim-0", patient_ref=patient, disclosed_at=later)
    )
    store.record(
        disclosure(
            case_id, recipient_key="agency-police", patient_ref=patient, disclosed_at=earlier
        )
    )
    store.record(disclosure(f"{case_id}-b", patient_ref=f"{patient}-other"))
    store.record(
        disclosure(f"other-clinic.{case_id}", clinic_id="other-clinic", patient_ref=patient)
    )

    rows = store.for_patient("demo-clinic", patient)

    assert [r.recipient_key for r in rows] == ["agency-police", "victim-0"]
    assert {(r.clinic_id, r.patient_ref) for r in rows} == {("demo-clinic", patient)}
    assert [r.disclosed_at for r in rows] == [earlier, later]
    assert [r.case_id for r in store.for_patient("other-clinic", patient)] == [
        f"other-clinic.{case_id}"
    ]
    assert store.for_patient("demo-clinic", f"{patient}-nobody") == []


def test_migrate_is_idempotent_and_keeps_rows_and_triggers(store, case_id):
    store.record(disclosure(case_id))

    store.migrate()
    store.migrate()

    assert row_count(store, case_id) == 1
    store.record(disclosure(case_id))
    assert row_count(store, case_id) == 1
    with pytest.raises(DBAPIError) as caught, store.engine.begin() as conn:
        conn.execute(text("DELETE FROM disclosures WHERE case_id = :c"), {"c": case_id})
    assert "append-only" in str(caught.value.orig)
    assert row_count(store, case_id) == 1


def test_migrate_on_a_second_ledger_over_the_same_database_is_harmless(store, case_id):
    store.record(disclosure(case_id))
    again = Ledger(store.url)
    try:
        again.migrate()
        assert [r.case_id for r in again.for_case(case_id)] == [case_id]
    finally:
        again.engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE disclosures SET description = 'rewritten', recipient_name = 'someone else' "
        "WHERE case_id = :c",
        "DELETE FROM disclosures WHERE case_id = :c",
    ],
    ids=["update", "delete"],
)
def test_database_refuses_update_and_delete_and_row_is_unchanged(store, case_id, statement):
    original = disclosure(case_id)
    store.record(original)

    with pytest.raises(DBAPIError) as caught, store.engine.begin() as conn:
        conn.execute(text(statement), {"c": case_id})

    assert "append-only" in str(caught.value.orig)
    assert store.for_case(case_id) == [as_read_back(original)]


UPSERTS = {
    # SQLite's REPLACE resolves the conflict by deleting the old row, which does not fire
    # DELETE triggers (recursive_triggers is off), so nothing stops it.
    "sqlite": "INSERT OR REPLACE INTO disclosures ({cols}) SELECT {rewritten} FROM disclosures "
    "WHERE case_id = :c",
    "postgresql": "INSERT INTO disclosures ({cols}) SELECT {rewritten} FROM disclosures "
    "WHERE case_id = :c ON CONFLICT (case_id, step, recipient_key) DO UPDATE "
    "SET description = excluded.description, "
    "recipient_name = excluded.recipient_name",
}


def test_database_refuses_an_upsert_that_would_rewrite_a_row(request, store, case_id):
    dialect = store.engine.dialect.name
    original = disclosure(case_id)
    store.record(original)
    cols = [c.name for c in disclosures.columns if c.name != "id"]
    rewritten = ", ".join(
        {"description": "'rewritten'", "recipient_name": "'someone else'"}.get(c, c) for c in cols
    )
    statement = UPSERTS[dialect].format(cols=", ".join(cols), rewritten=rewritten)

    with pytest.raises(DBAPIError) as caught, store.engine.begin() as conn:
        conn.execute(text(statement), {"c": case_id})

    assert "append-only" in str(caught.value.orig)
    assert store.for_case(case_id) == [as_read_back(original)]


async def test_record_disclosure_activity_returns_true_then_false(request, store, case_id):
    acts = LedgerActivities(store)
    env = ActivityEnvironment()
    d = disclosure(case_id)

    assert await env.run(acts.record_disclosure, d) is True
    assert await env.run(acts.record_disclosure, d) is False
    assert (
        await env.run(acts.record_disclosure, disclosure(case_id, recipient_key="agency-police"))
        is True
    )

    assert row_count(store, case_id) == 2


async def test_a_database_error_reaches_temporal_without_the_row(tmp_path):
    from temporalio.exceptions import ApplicationError

    unmigrated = Ledger(f"sqlite:///{tmp_path / 'empty.db'}")  # no table: every write fails
    d = disclosure("demo-clinic.LEDGER-ERR")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(LedgerActivities(unmigrated).record_disclosure, d)
    assert caught.value.type == "LedgerWriteFailed" and not caught.value.non_retryable
    for value in (d.recipient_name, d.recipient_address, d.description):
        assert value not in str(caught.value)


def test_released_documents_round_trip_with_the_manifest_hash(store, case_id):
    from domain.records import DisclosedDocument

    docs = [
        DisclosedDocument(
            id="P-301.doc-1", category="progress_note", date="2024-02-01", sha256="a" * 64
        ),
        DisclosedDocument(
            id="P-301.doc-2", category="assessment", date="2024-03-01", sha256="b" * 64
        ),
    ]
    store.record(disclosure(case_id, documents=docs, manifest_sha256="c" * 64))
    [row] = store.for_case(case_id)
    assert row.documents == docs and row.manifest_sha256 == "c" * 64


def test_a_ledger_from_before_released_documents_gains_the_columns_and_keeps_its_rows(tmp_path):
    from sqlalchemy import MetaData, Table, UniqueConstraint, create_engine, insert

    from infra.ledger_db import disclosures

    url = f"sqlite:///{tmp_path / 'old.db'}"
    # The table as the previous version created it: without the two new columns.
    engine = create_engine(url)
    old = MetaData()
    columns = [
        c._copy() for c in disclosures.columns if c.name not in ("documents", "manifest_sha256")
    ]
    table = Table(
        "disclosures", old, *columns, UniqueConstraint("case_id", "step", "recipient_key")
    )
    old.create_all(engine)
    row = disclosure("demo-clinic.F-OLD").model_dump(exclude={"documents", "manifest_sha256"})
    with engine.begin() as conn:
        conn.execute(insert(table).values(**row, recorded_at=row["disclosed_at"]))
    engine.dispose()

    upgraded = Ledger(url)
    upgraded.migrate()
    [kept] = upgraded.for_case("demo-clinic.F-OLD")
    assert kept.documents == [] and kept.manifest_sha256 is None
    upgraded.record(disclosure("demo-clinic.F-NEW", manifest_sha256="d" * 64))
    assert upgraded.for_case("demo-clinic.F-NEW")[0].manifest_sha256 == "d" * 64


def test_confide_ledger_json_gives_every_row_whole(tmp_path, case_id):
    # For scripts: `confide ledger --json` prints the rows as one JSON array, every field
    # whole (the table folds long values to fit the screen).
    from typer.testing import CliRunner

    from cli.main import app

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    led = Ledger(url)
    led.migrate()
    led.record(disclosure(case_id))
    led.record(disclosure(case_id, step="c1.notify_law_enforcement", recipient_key="agency-pd"))
    out = CliRunner().invoke(
        app, ["ledger", case_id, "--json"], env={"CONFIDE_LEDGER_URL": url, "COLUMNS": "80"}
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [(r["step"], r["recipient_key"]) for r in rows] == [
        ("warn.victim", "victim-0"),
        ("c1.notify_law_enforcement", "agency-pd"),
    ]
    assert rows[0]["disclosed_at"] == "2026-11-27T18:15:00Z"
    assert rows[0]["legal_basis"]
