"""The accounting of disclosures (45 CFR 164.528): the six-year window and a shorter period,
exempt rows left out, summaries of repeated disclosures, suspensions (written, and oral for 30
days at most) that never show, the suspensions table on both backends, the patient's PDF, the
`prepare_accounting` activity and the `confide accounting` command."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pypdf
import pytest
import typer
from pydantic import ValidationError
from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.exc import DBAPIError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from activities.accounting import (
    AccountingActivities,
    PrepareAccountingInput,
    PreparedAccounting,
)
from cli.accounting import accounting as accounting_command
from domain.accounting import (
    Accounting,
    AccountingQuery,
    Suspension,
    build_accounting,
)
from domain.records import Disclosure
from infra.accounting_pdf import AccountingDocument, render_accounting
from infra.ledger_db import Ledger, accounting_suspensions, disclosures
from infra.records_db import RecordsStore, packets
from tests.support import ROOT

ZONE = "America/Los_Angeles"
PT = ZoneInfo(ZONE)  # the clinic's zone, daylight saving time included
CLINIC = "demo-clinic"
REQUESTED = datetime(2026, 4, 1, 12, 0, tzinfo=PT)

WARN = {
    "purpose": "to avert a serious threat to health or safety",
    "legal_basis": "Cal. Civ. Code 43.92; 45 CFR 164.512(j)",
    "description": "warning of a threat of violence",
}
CPS = {
    "recipient_name": "Demo County Child Protective Services",
    "recipient_address": "cps@agency.test",
    "purpose": "mandated report of suspected child abuse",
    "legal_basis": "Cal. Penal Code 11166; 45 CFR 164.512(b)",
    "description": "suspected child abuse report",
}
POLICE = "Demo City Police Department"


def row(when: datetime, patient: str = "P-301", **kw) -> Disclosure:
    """One ledger row; defaults: an accountable warning to a victim."""
    values = {
        "case_id": f"{kw.get('clinic_id', CLINIC)}.F-{uuid.uuid4().hex[:10]}",
        "step": "warn.victim",
        "recipient_key": "victim-0",
        "clinic_id": CLINIC,
        "patient_ref": patient,
        "disclosed_at": when,
        "recipient_name": "Casey Rivera",
        "recipient_address": "casey@example.org",
        "channel": "email",
        **WARN,
    }
    values.update(kw)
    return Disclosure.model_validate(values)


def query(patient: str = "P-301", **kw) -> AccountingQuery:
    return AccountingQuery.model_validate(
        {
            "clinic_id": CLINIC,
            "patient_ref": patient,
            "requested_at": REQUESTED,
            "timezone": ZONE,
            **kw,
        }
    )


def suspension(
    statement: str, received: datetime, until: datetime, patient: str = "P-301", **kw
) -> Suspension:
    return Suspension.model_validate(
        {
            "clinic_id": CLINIC,
            "patient_ref": patient,
            "agency": POLICE,
            "official": "Det. R. Alvarez, Investigations",
            "statement": statement,
            "received_at": received,
            "until": until,
            **kw,
        }
    )


def dates(acc: Accounting) -> list[datetime]:
    return [e.date for e in acc.entries]


# -- the window ------------------------------------------------------------------------------


def test_six_years_back_to_the_first_local_day_and_nothing_after_the_request():
    too_old = row(datetime(2020, 3, 31, 23, 59, tzinfo=PT))
    first_day = row(datetime(2020, 4, 1, 0, 1, tzinfo=PT))
    same_morning = row(datetime(2026, 4, 1, 11, 0, tzinfo=PT))
    after_request = row(datetime(2026, 4, 1, 12, 1, tzinfo=PT))

    acc = build_accounting(
        query(summarize=False), [after_request, same_morning, too_old, first_day], []
    )

    assert (acc.period_from, acc.period_to) == (date(2020, 4, 1), date(2026, 4, 1))
    assert dates(acc) == [first_day.disclosed_at, same_morning.disclosed_at]


def test_the_days_are_the_clinics_not_utcs():
    # 2026-04-01 03:00Z is still March 31 in California: the period ends on March 31.
    acc = build_accounting(query(requested_at=datetime(2026, 4, 1, 3, 0, tzinfo=UTC)), [], [])
    assert (acc.period_from, acc.period_to) == (date(2020, 3, 31), date(2026, 3, 31))


def test_a_request_on_february_29_reaches_back_to_february_28():
    acc = build_accounting(query(requested_at=datetime(2028, 2, 29, 9, 0, tzinfo=PT)), [], [])
    assert acc.period_from == date(2022, 2, 28)


def test_a_shorter_period_starts_on_the_day_asked_for():
    rows = [
        row(datetime(2024, 12, 31, 23, 0, tzinfo=PT)),
        row(datetime(2025, 1, 1, 8, 0, tzinfo=PT)),
        row(datetime(2026, 3, 1, 8, 0, tzinfo=PT)),
    ]

    acc = build_accounting(query(period_from=date(2025, 1, 1), summarize=False), rows, [])

    assert acc.period_from == date(2025, 1, 1)
    assert dates(acc) == [r.disclosed_at for r in rows[1:]]


def test_a_period_asked_for_further_back_than_six_years_is_clamped():
    rows = [row(datetime(2019, 6, 1, tzinfo=PT)), row(datetime(2021, 6, 1, tzinfo=PT))]

    acc = build_accounting(query(period_from=date(2010, 1, 1), summarize=False), rows, [])

    assert acc.period_from == date(2020, 4, 1)
    assert dates(acc) == [rows[1].disclosed_at]


def test_a_period_starting_after_the_request_is_refused():
    with pytest.raises(ValueError, match="after the request"):
        build_accounting(query(period_from=date(2026, 4, 2)), [], [])
    # The request's own day is a valid (one-day) period.
    assert build_accounting(query(period_from=date(2026, 4, 1)), [], []).entries == []


def test_a_naive_request_time_is_refused():
    with pytest.raises(ValidationError):
        query(requested_at=datetime(2026, 4, 1, 12, 0))


# -- which rows ------------------------------------------------------------------------------


def test_exempt_rows_are_left_out():
    when = datetime(2025, 5, 1, 9, 0, tzinfo=PT)
    kept = row(when)
    authorization = row(
        when + timedelta(hours=1),
        recipient_name="Dr. Patel (new therapist)",
        purpose="release under the patient's authorization",
        legal_basis="45 CFR 164.508",
        accountable=False,
    )

    acc = build_accounting(query(), [kept, authorization], [])

    assert [e.recipient for e in acc.entries] == ["Casey Rivera"]


def test_another_patients_and_another_clinics_rows_are_left_out():
    when = datetime(2025, 5, 1, 9, 0, tzinfo=PT)
    mine = row(when)
    rows = [
        mine,
        row(when, patient="P-302", recipient_name="Someone Else"),
        row(when, clinic_id="other-clinic", recipient_name="Other Clinic Recipient"),
    ]

    acc = build_accounting(query(), rows, [])

    assert [e.recipient for e in acc.entries] == ["Casey Rivera"]
    assert (acc.clinic_id, acc.patient_ref) == (CLINIC, "P-301")


# -- summaries -------------------------------------------------------------------------------


def cps_reports() -> list[Disclosure]:
    return [
        row(datetime(2026, 1, 5, 9, 0, tzinfo=PT), **{**CPS, "description": "initial report"}),
        row(datetime(2026, 2, 1, 9, 0, tzinfo=PT), **{**CPS, "description": "follow-up report"}),
        # Late evening in California, already March 3 in UTC: the summary says March 2.
        row(datetime(2026, 3, 2, 21, 0, tzinfo=PT), **{**CPS, "description": "second follow-up"}),
    ]


def test_summary_groups_repeated_disclosures_to_one_recipient_for_one_purpose():
    reports = cps_reports()
    warning = row(datetime(2026, 1, 20, 9, 0, tzinfo=PT))
    # Same recipient, another purpose: its own entry.
    court = row(
        datetime(2026, 2, 10, 9, 0, tzinfo=PT),
        recipient_name=CPS["recipient_name"].upper(),
        recipient_address="cps@agency.test",
        purpose="response to a court order",
        legal_basis="45 CFR 164.512(e)(1)(i)",
        description="progress notes from 2024",
    )

    acc = build_accounting(query(), [*reports, warning, court], [])

    assert acc.summarized is True
    assert [(e.recipient, e.count) for e in acc.entries] == [
        (CPS["recipient_name"], 3),
        ("Casey Rivera", 1),
        (CPS["recipient_name"].upper(), 1),
    ]
    summary = acc.entries[0]
    assert summary.date == reports[0].disclosed_at
    assert summary.last_date == reports[-1].disclosed_at
    assert summary.description == "initial report"  # the first disclosure's details
    assert summary.frequency == "3 disclosures between 2026-01-05 and 2026-03-02"
    assert summary.basis == (
        "Mandated report of suspected child abuse (under Cal. Penal Code 11166; 45 CFR 164.512(b))"
    )
    single = acc.entries[1]
    assert (single.count, single.last_date, single.frequency) == (1, None, None)


def test_without_summary_every_disclosure_is_its_own_entry_oldest_first():
    reports = cps_reports()
    warning = row(datetime(2026, 1, 20, 9, 0, tzinfo=PT))

    acc = build_accounting(query(summarize=False), [*reversed(reports), warning], [])

    assert acc.summarized is False
    assert dates(acc) == sorted(r.disclosed_at for r in [*reports, warning])
    assert {e.count for e in acc.entries} == {1}
    assert [e.description for e in acc.entries if e.recipient == CPS["recipient_name"]] == [
        "initial report",
        "follow-up report",
        "second follow-up",
    ]


# -- suspensions -----------------------------------------------------------------------------


def police_rows() -> list[Disclosure]:
    return [
        row(
            datetime(2026, 2, 1, 9, 0, tzinfo=PT),
            recipient_name=POLICE,
            recipient_address="police@agency.test",
            purpose="to report a crime on the premises",
            legal_basis="45 CFR 164.512(f)(5)",
            description="incident summary",
        ),
        row(
            datetime(2026, 2, 15, 9, 0, tzinfo=PT),
            recipient_name=POLICE,
            recipient_address="police@agency.test",
            purpose="to report a crime on the premises",
            legal_basis="45 CFR 164.512(f)(5)",
            description="follow-up",
        ),
    ]


def test_a_written_suspension_hides_disclosures_to_that_agency_until_it_ends():
    received = datetime(2026, 3, 1, 9, 0, tzinfo=PT)
    written = suspension(
        "written", received, datetime(2026, 9, 1, 0, 0, tzinfo=PT), agency=POLICE.lower()
    )
    rows = [*police_rows(), row(datetime(2026, 2, 20, 9, 0, tzinfo=PT))]

    during = build_accounting(query(), rows, [written])
    after = build_accounting(
        query(requested_at=datetime(2026, 9, 2, 9, 0, tzinfo=PT)), rows, [written]
    )

    # Months beyond 30 days: a written statement lasts as long as it says.
    assert [e.recipient for e in during.entries] == ["Casey Rivera"]
    assert [(e.recipient, e.count) for e in after.entries] == [(POLICE, 2), ("Casey Rivera", 1)]


def test_an_oral_suspension_lasts_30_days_at_most():
    received = datetime(2026, 3, 1, 9, 0, tzinfo=PT)
    oral = suspension("oral", received, received + timedelta(days=90))
    assert oral.ends() == received + timedelta(days=30)
    rows = police_rows()

    day_29 = build_accounting(query(requested_at=received + timedelta(days=29)), rows, [oral])
    day_31 = build_accounting(query(requested_at=received + timedelta(days=31)), rows, [oral])

    assert day_29.entries == []
    assert [(e.recipient, e.count) for e in day_31.entries] == [(POLICE, 2)]
    # An oral statement asking for less than 30 days gets what it asked for.
    short = suspension("oral", received, received + timedelta(days=10))
    assert short.ends() == received + timedelta(days=10)


def test_a_suspension_covers_only_its_patient_and_disclosures_made_before_it_ends():
    received = datetime(2026, 3, 1, 9, 0, tzinfo=PT)
    others = suspension("written", received, datetime(2027, 1, 1, tzinfo=PT), patient="P-999")

    acc = build_accounting(query(), police_rows(), [others])

    assert [e.count for e in acc.entries] == [2]


def test_nothing_in_an_accounting_tells_of_a_suspended_disclosure():
    received = datetime(2026, 3, 1, 9, 0, tzinfo=PT)
    written = suspension("written", received, datetime(2026, 9, 1, tzinfo=PT))
    rows = [*police_rows(), row(datetime(2026, 2, 20, 9, 0, tzinfo=PT))]

    acc = build_accounting(query(), rows, [written])
    with_summary_off = build_accounting(query(summarize=False), rows, [written])

    for result in (acc, with_summary_off):
        dumped = result.model_dump_json().lower()
        for word in ("suspen", "withheld", "omitted", "police", "alvarez", "crime"):
            assert word not in dumped
        assert [e.count for e in result.entries] == [1]
    pdf, _ = render_accounting(document(acc))
    shown = " ".join(page_texts(pdf)).lower()
    assert "suspen" not in shown and "police" not in shown


def test_a_suspension_must_end_after_it_was_received_and_be_dated_with_a_zone():
    received = datetime(2026, 3, 1, 9, 0, tzinfo=PT)
    with pytest.raises(ValidationError, match="end after"):
        suspension("written", received, received)
    with pytest.raises(ValidationError):
        suspension("written", datetime(2026, 3, 1, 9, 0), datetime(2026, 4, 1, tzinfo=PT))
    with pytest.raises(ValidationError):
        suspension("phoned", received, received + timedelta(days=1))


# -- the suspensions table -------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def led(request, tmp_path):
    """A migrated ledger on each backend (PostgreSQL: one database per session)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    ledger = Ledger(url)
    ledger.migrate()
    yield ledger
    ledger.engine.dispose()


@pytest.fixture
def patient() -> str:
    """A patient ref no other test uses (the PostgreSQL database is shared)."""
    return f"P-{uuid.uuid4().hex[:10]}"


def test_the_ledger_stores_and_returns_suspensions_in_utc(led, patient):
    oral = suspension(
        "oral",
        datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=PT),
        datetime(2026, 5, 1, tzinfo=PT),
        patient=patient,
    )
    written = suspension(
        "written",
        datetime(2026, 3, 20, 17, 0, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 12, 1, tzinfo=PT),
        patient=patient,
        agency="State Medical Board",
        official="J. Moss, Chief Investigator",
    )

    ids = [led.record_suspension(written), led.record_suspension(oral)]

    assert len(set(ids)) == 2
    back = led.suspensions_for(CLINIC, patient)
    assert [s.statement for s in back] == ["oral", "written"]  # in the order received
    for got, sent in zip(back, [oral, written], strict=True):
        assert got.received_at.utcoffset() == timedelta(0)
        assert got.received_at == sent.received_at and got.until == sent.until
        assert got.model_dump(exclude={"received_at", "until"}) == sent.model_dump(
            exclude={"received_at", "until"}
        )
    assert led.suspensions_for("other-clinic", patient) == []
    assert led.suspensions_for(CLINIC, f"{patient}-x") == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE accounting_suspensions SET until = received_at WHERE patient_ref = :p",
        "DELETE FROM accounting_suspensions WHERE patient_ref = :p",
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_rewrite_or_remove_a_suspension(led, patient, statement):
    s = suspension(
        "written", datetime(2026, 3, 1, tzinfo=PT), datetime(2026, 9, 1, tzinfo=PT), patient=patient
    )
    led.record_suspension(s)
    led.migrate()  # idempotent, and the triggers stay

    with pytest.raises(DBAPIError) as caught, led.engine.begin() as conn:
        conn.execute(text(statement), {"p": patient})

    assert "append-only" in str(caught.value.orig)
    [kept] = led.suspensions_for(CLINIC, patient)
    assert kept.until == s.until


def test_a_ledger_from_before_suspensions_gains_their_table_and_keeps_its_rows(tmp_path):
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    old = MetaData()
    Table("disclosures", old, *[c._copy() for c in disclosures.columns])
    old.create_all(engine)
    engine.dispose()
    upgraded = Ledger(url)
    upgraded.migrate()
    s = suspension("oral", datetime(2026, 3, 1, tzinfo=PT), datetime(2026, 4, 1, tzinfo=PT))
    upgraded.record_suspension(s)
    assert upgraded.suspensions_for(CLINIC, "P-301") == [
        s.model_copy(
            update={"received_at": s.received_at.astimezone(UTC), "until": s.until.astimezone(UTC)}
        )
    ]
    with upgraded.engine.connect() as conn:
        count = select(func.count()).select_from(accounting_suspensions)
        assert conn.execute(count).scalar_one() == 1
    upgraded.engine.dispose()


# -- the PDF ---------------------------------------------------------------------------------


def document(acc: Accounting, patient_name: str | None = "Jordan Example") -> AccountingDocument:
    return AccountingDocument(
        accounting=acc,
        clinic_name="Demo Clinic",
        clinic_reply_to="privacy@demo-clinic.test",
        timezone=ZONE,
        patient_name=patient_name,
    )


def page_texts(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def flat(text: str) -> str:
    return " ".join(text.split())


def sample_accounting(**kw) -> Accounting:
    court = row(
        datetime(2026, 3, 10, 9, 0, tzinfo=PT),
        recipient_name="Superior Court <Dept 12> & Clerk",
        recipient_address="1225 Fallon St, Oakland CA",
        purpose="response to a court order",
        legal_basis="45 CFR 164.512(e)(1)(i)",
        description="progress notes from 2024",
    )
    warning = row(datetime(2025, 11, 27, 10, 15, tzinfo=PT))
    return build_accounting(query(**kw), [warning, *cps_reports(), court], [])


def test_the_pdf_names_the_clinic_the_period_and_every_recipient():
    acc = sample_accounting()
    pdf, pages = render_accounting(document(acc))

    texts = page_texts(pdf)
    assert len(texts) == pages == 1
    first = flat(texts[0])
    assert "Demo Clinic" in first
    assert "Accounting of disclosures of your health information" in first
    assert "Period covered: April 1, 2020 to April 1, 2026" in first
    assert "Prepared for: Jordan Example" in first
    assert "privacy@demo-clinic.test" in first
    assert "treatment" in first and "written permission" in first
    for name in ("Casey Rivera", CPS["recipient_name"], "Superior Court <Dept 12> & Clerk"):
        assert name in first
    assert "November 27, 2025" in first
    assert "3 times between January 5, 2026 and March 2, 2026" in first
    assert "Demo Clinic · Accounting of disclosures of your health information · page 1 of 1" in (
        first
    )


def test_an_empty_accounting_says_so_and_a_long_one_numbers_its_pages():
    empty, _ = render_accounting(document(build_accounting(query(), [], [])))
    assert "We made no such disclosures in this period." in flat(page_texts(empty)[0])

    many = [
        row(datetime(2025, 1, 1, 9, 0, tzinfo=PT) + timedelta(days=i), recipient_name=f"R{i}")
        for i in range(60)
    ]
    pdf, pages = render_accounting(document(build_accounting(query(), many, []), None))
    texts = page_texts(pdf)
    assert pages == len(texts) > 1
    for n, t in enumerate(texts, start=1):
        assert f"page {n} of {pages}" in t
    assert "Prepared for" not in texts[0]
    joined = flat(" ".join(texts))
    assert all(f"R{i}" in joined for i in range(60))


def test_the_pdf_is_the_same_bytes_every_time_and_renders_to_a_png(tmp_path):
    inp = document(sample_accounting())
    pdf, _ = render_accounting(inp)
    assert render_accounting(inp)[0] == pdf

    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.fail("pdftoppm not found: apt-get install poppler-utils")
    (tmp_path / "accounting.pdf").write_bytes(pdf)
    subprocess.run(
        [pdftoppm, "-png", "-r", "70", "-f", "1", "-l", "1", "accounting.pdf", "page"],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    [png] = list(tmp_path.glob("page*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


# -- the activity ----------------------------------------------------------------------------


@pytest.fixture
def records(led):
    """The records store beside the ledger (same database)."""
    store = RecordsStore(led.url)
    store.migrate()
    yield store
    store.engine.dispose()


def prepare_input(patient: str, **kw) -> PrepareAccountingInput:
    return PrepareAccountingInput.model_validate(
        {
            "case_id": f"{CLINIC}.A-{patient}",
            "step": "accounting.deliver",
            "clinic_id": CLINIC,
            "clinic_name": "Demo Clinic",
            "clinic_reply_to": "privacy@demo-clinic.test",
            "timezone": ZONE,
            "patient_ref": patient,
            "patient_name": "Jordan Example",
            "requested_at": REQUESTED,
            **kw,
        }
    )


async def prepare(led: Ledger, records: RecordsStore, inp) -> PreparedAccounting:
    return await ActivityEnvironment().run(
        AccountingActivities(led, records).prepare_accounting, inp
    )


def packet_count(store: RecordsStore, case_id: str) -> int:
    with store.engine.connect() as conn:
        q = select(func.count()).select_from(packets).where(packets.c.case_id == case_id)
        return conn.execute(q).scalar_one()


async def test_prepare_accounting_stores_the_pdf_it_describes_and_is_idempotent(
    led, records, patient
):
    for r in [*cps_reports(), row(datetime(2025, 11, 27, 10, 15, tzinfo=PT))]:
        led.record(r.model_copy(update={"patient_ref": patient}))
    led.record(row(datetime(2026, 1, 2, tzinfo=PT), patient=patient, accountable=False))
    inp = prepare_input(patient)

    first = await prepare(led, records, inp)
    retry = await prepare(led, records, inp)

    assert retry == first
    assert packet_count(records, inp.case_id) == 1
    stored = records.packet(first.packet_id)
    assert stored is not None
    assert hashlib.sha256(stored).hexdigest() == first.sha256
    assert first.packet_id == f"{inp.case_id}.{inp.step}.{first.sha256[:8]}"
    assert first.pages == len(pypdf.PdfReader(io.BytesIO(stored)).pages)
    assert [(e.recipient, e.count) for e in first.accounting.entries] == [
        ("Casey Rivera", 1),
        (CPS["recipient_name"], 3),
    ]
    assert first.accounting.patient_ref == patient


async def test_a_ledger_changed_between_attempts_gives_a_new_packet_not_a_conflict(
    led, records, patient
):
    led.record(row(datetime(2025, 11, 27, 10, 15, tzinfo=PT), patient=patient))
    inp = prepare_input(patient)
    first = await prepare(led, records, inp)

    led.record(row(datetime(2026, 1, 5, 9, 0, tzinfo=PT), patient=patient, **CPS))
    second = await prepare(led, records, inp)

    assert second.packet_id != first.packet_id and second.sha256 != first.sha256
    assert len(second.accounting.entries) == 2
    assert packet_count(records, inp.case_id) == 2


async def test_prepare_accounting_refuses_a_period_after_the_request_for_good(
    led, records, patient
):
    with pytest.raises(ApplicationError) as caught:
        await prepare(led, records, prepare_input(patient, period_from="2026-05-01"))
    assert caught.value.type == "InvalidAccountingRequest" and caught.value.non_retryable


async def test_a_database_error_reaches_temporal_without_the_patient(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"  # never migrated: every read fails
    store = RecordsStore(url)
    inp = prepare_input("P-SECRET-301")

    with pytest.raises(ApplicationError) as caught:
        await prepare(Ledger(url), store, inp)

    err = caught.value
    assert err.type == "AccountingStoreFailed" and not err.non_retryable
    assert "P-SECRET" not in str(err) and "Jordan" not in str(err)


# -- the command -----------------------------------------------------------------------------


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.command("accounting")(accounting_command)
    app.command("other")(lambda: None)  # two commands, so "accounting" is a subcommand
    return app


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger(url).migrate()
    return {
        "CONFIDE_LEDGER_URL": url,
        "CONFIDE_CLINICS": str(ROOT / "deploy/dev/clinics.json"),
        "COLUMNS": "250",
    }


def test_the_command_prints_the_accounting_and_writes_the_pdf(cli_env, tmp_path):
    ledger = Ledger(cli_env["CONFIDE_LEDGER_URL"])
    now = datetime.now(UTC)
    for days in (40, 30, 20):
        ledger.record(row(now - timedelta(days=days), **CPS))
    ledger.record(row(now - timedelta(days=400)))
    ledger.record(row(now - timedelta(days=10), accountable=False, recipient_name="Exempt One"))
    ledger.record(row(now - timedelta(days=10), patient="P-302", recipient_name="Not Theirs"))
    ledger.engine.dispose()
    runner = CliRunner()
    out_pdf = tmp_path / "out" / "accounting.pdf"
    out_pdf.parent.mkdir()

    summary = runner.invoke(cli_app(), ["accounting", "P-301", "--pdf", str(out_pdf)], env=cli_env)
    full = runner.invoke(cli_app(), ["accounting", "P-301", "--no-summary"], env=cli_env)
    recent = runner.invoke(
        cli_app(),
        ["accounting", "P-301", "--from", (now - timedelta(days=100)).date().isoformat()],
        env=cli_env,
    )

    assert summary.exit_code == 0, summary.output
    out = summary.output
    assert "Accounting of disclosures for P-301 at Demo Clinic" in out
    assert "(dates in America/Los_Angeles)" in out
    assert "Casey Rivera" in out and CPS["recipient_name"] in out
    assert "Exempt One" not in out and "Not Theirs" not in out
    cps_line = next(line for line in out.splitlines() if CPS["recipient_name"] in line)
    assert " 3 " in cps_line and " to " in cps_line
    assert full.exit_code == 0, full.output
    assert sum(CPS["recipient_name"] in line for line in full.output.splitlines()) == 3
    assert recent.exit_code == 0 and "Casey Rivera" not in recent.output
    pdf = out_pdf.read_bytes()
    assert "wrote" in out and pdf.startswith(b"%PDF")
    assert CPS["recipient_name"] in flat(page_texts(pdf)[0])


def test_the_command_says_when_there_is_nothing_and_refuses_bad_input(cli_env, tmp_path):
    runner = CliRunner()

    empty = runner.invoke(cli_app(), ["accounting", "P-301"], env=cli_env)
    future = runner.invoke(cli_app(), ["accounting", "P-301", "--from", "2999-01-01"], env=cli_env)
    clinic = runner.invoke(cli_app(), ["accounting", "P-301", "--clinic", "nope"], env=cli_env)
    missing = runner.invoke(
        cli_app(),
        ["accounting", "P-301"],
        env={**cli_env, "CONFIDE_LEDGER_URL": f"sqlite:///{tmp_path / 'none.db'}"},
    )

    assert empty.exit_code == 0
    assert flat(empty.output).startswith("No disclosures to account for between ")
    assert future.exit_code == 2 and "after the request" in future.output
    assert clinic.exit_code == 2 and "nope" in clinic.output
    assert missing.exit_code == 1 and "no ledger" in missing.output
