"""The built-in records store on SQLite and PostgreSQL: the demo record, documents by clinic,
packets stored once, and one-time download links that only one redeemer can use."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import SmtpSettings
from activities.records import ListDocumentsInput, RecordsActivities
from domain.documents import DocumentMeta, RecordCategory
from infra.records_db import DocumentNotFound, RecordsSource, RecordsStore, packet_links

YEARS = (2023, 2024, 2025)


class Clock:
    """A clock the test moves by hand: link expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", id="postgresql")])
def store(request, tmp_path, clock):
    """A migrated store on each backend; on PostgreSQL in a schema of its own for this test."""
    if request.param == "sqlite":
        st = RecordsStore(f"sqlite:///{tmp_path / 'records.db'}", clock=clock)
        st.migrate()
        yield st
        st.engine.dispose()
        return
    url = make_url(request.getfixturevalue("postgres_url"))
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"records_{uuid.uuid4().hex}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
    st = RecordsStore(scoped.render_as_string(hide_password=False), clock=clock)
    st.migrate()
    try:
        yield st
    finally:
        st.engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def document(
    doc_id: str,
    content: bytes = b"progress note text\n",
    *,
    clinic_id: str = "demo-clinic",
    patient_ref: str = "P-900",
    date: str = "2024-03-01",
    **kw,
) -> tuple[DocumentMeta, bytes]:
    meta = DocumentMeta(
        id=doc_id,
        clinic_id=clinic_id,
        patient_ref=patient_ref,
        category=kw.pop("category", RecordCategory.progress_note),
        date=date,
        author=kw.pop("author", "dr-lee"),
        title=kw.pop("title", "Progress note"),
        sha256=kw.pop("sha256", sha(content)),
        **kw,
    )
    return meta, content


def test_the_store_is_a_records_source(store):
    source: RecordsSource = store
    assert source.list_documents("demo-clinic", "nobody") == []


def test_seed_is_idempotent_and_has_every_category_in_each_year(store):
    added = store.seed_demo()
    docs = store.list_documents("demo-clinic", "P-301")

    assert added == len(docs) >= 27
    assert store.seed_demo() == 0
    assert store.list_documents("demo-clinic", "P-301") == docs
    for year in YEARS:
        assert {d.category for d in docs if d.date.year == year} == set(RecordCategory), year
    per_year = Counter(d.date.year for d in docs if d.category == RecordCategory.progress_note)
    assert per_year[2024] >= 3
    assert {d.date.year for d in docs} == set(YEARS)
    assert len({d.date for d in docs if d.date.year == 2024}) >= 8  # spread over the year
    assert {d.author for d in docs} == {"dr-lee", "sup-kim"}
    assert all(d.id.startswith("P-301.doc-") for d in docs)
    assert "P-301.doc-2024-progress_note-1" in {d.id for d in docs}
    assert len({d.id for d in docs}) == len(docs)


def test_seeded_flags_follow_the_categories_and_some_name_third_parties(store):
    store.seed_demo()
    docs = store.list_documents("demo-clinic", "P-301")

    for d in docs:
        assert d.psychotherapy_note == (d.category == RecordCategory.psychotherapy_note), d.id
        assert d.part2 == (d.category == RecordCategory.sud_treatment), d.id
    third = [d for d in docs if d.third_party]
    assert {d.category for d in third} >= {
        RecordCategory.progress_note,
        RecordCategory.correspondence,
    }
    [note_about_sister] = [d for d in third if d.id == "P-301.doc-2024-progress_note-2"]
    _, text = store.fetch("demo-clinic", note_about_sister.id)
    assert b"Morgan Example" in text


def test_seeded_documents_are_multi_paragraph_text_matching_their_hashes(store):
    store.seed_demo()

    for meta in store.list_documents("demo-clinic", "P-301"):
        fetched, content = store.fetch("demo-clinic", meta.id)
        assert fetched == meta
        assert sha(content) == meta.sha256
        text = content.decode("utf-8")
        assert text.count("\n\n") >= 2 and len(text) > 300, meta.id
    _, note = store.fetch("demo-clinic", "P-301.doc-2024-progress_note-1")
    assert b"SUBJECTIVE" in note and b"PLAN" in note


def test_seed_for_another_clinic_and_patient_is_separate(store):
    store.seed_demo()
    store.seed_demo(clinic_id="other-clinic", patient_ref="P-777")

    mine = store.list_documents("demo-clinic", "P-301")
    theirs = store.list_documents("other-clinic", "P-777")
    assert len(mine) == len(theirs)
    assert {d.clinic_id for d in theirs} == {"other-clinic"}
    assert store.list_documents("other-clinic", "P-301") == []


def test_list_is_ordered_by_date_then_id_and_holds_only_that_patient(store):
    for doc_id, date in [("d-c", "2024-05-01"), ("d-b", "2024-01-01"), ("d-a", "2024-05-01")]:
        store.add(*document(doc_id, date=date))
    store.add(*document("d-other-patient", patient_ref="P-901"))
    store.add(*document("d-other-clinic", clinic_id="other-clinic"))

    assert [d.id for d in store.list_documents("demo-clinic", "P-900")] == ["d-b", "d-a", "d-c"]


def test_fetch_returns_metadata_and_bytes_of_this_clinic_only(store):
    meta, content = document("d-1", "Überweisung & <notes>\n".encode())
    store.add(meta, content)

    assert store.fetch("demo-clinic", "d-1") == (meta, content)
    with pytest.raises(DocumentNotFound) as caught:
        store.fetch("other-clinic", "d-1")
    assert str(caught.value) == "document d-1 not found"
    assert caught.value.document_id == "d-1"
    with pytest.raises(KeyError):
        store.fetch("demo-clinic", "d-missing")


def test_add_refuses_a_hash_that_is_not_the_contents_and_stores_nothing(store):
    meta, _ = document("d-1", b"what the hash was computed over")

    with pytest.raises(ValueError, match="sha256"):
        store.add(meta, b"other bytes")

    with pytest.raises(DocumentNotFound):
        store.fetch("demo-clinic", "d-1")


def test_adding_the_same_id_again_keeps_the_first(store):
    assert store.add(*document("d-1", b"first")) is True
    assert store.add(*document("d-1", b"second", title="Rewritten")) is False

    meta, content = store.fetch("demo-clinic", "d-1")
    assert (meta.title, content) == ("Progress note", b"first")


def test_migrate_is_idempotent_and_keeps_rows(store):
    store.seed_demo()
    before = store.list_documents("demo-clinic", "P-301")

    store.migrate()
    store.migrate()

    assert store.list_documents("demo-clinic", "P-301") == before


def test_a_packet_is_saved_once_and_the_first_bytes_stay(store):
    first, second = b"%PDF-1.4 first", b"%PDF-1.4 second"

    assert store.save_packet("c-1.release", "c-1", first, 3) == sha(first)
    assert store.save_packet("c-1.release", "c-1", second, 4) == sha(first)

    assert store.packet("c-1.release") == first
    assert store.packet_sha256("c-1.release") == sha(first)
    assert store.packet_pages("c-1.release") == 3
    assert store.packet("c-1.other") is None
    assert store.packet_sha256("c-1.other") is None


def test_a_link_redeems_once_and_stores_only_the_tokens_hash(store):
    store.save_packet("c-1.release", "c-1", b"%PDF packet", 1)
    token = store.create_link("c-1.release", timedelta(hours=72))

    assert len(token) >= 43  # 32 random bytes, URL-safe
    assert store.redeem(token) == ("c-1.release", b"%PDF packet")
    assert store.redeem(token) is None
    with store.engine.connect() as conn:
        [row] = conn.execute(select(packet_links)).mappings().all()
    assert row["token_sha256"] == sha(token.encode())
    assert token not in str(dict(row))
    assert row["used_at"] is not None


def test_a_packet_downloads_once_in_all_whatever_the_number_of_links(store):
    store.save_packet("c-1.release", "c-1", b"%PDF packet", 1)
    one = store.create_link("c-1.release", timedelta(hours=1))
    two = store.create_link("c-1.release", timedelta(hours=1))

    assert one != two and not store.downloaded("c-1.release")
    assert store.redeem(one) is not None
    assert store.downloaded("c-1.release")
    assert store.redeem(two) is None
    assert store.redeem("not-a-token") is None


def test_an_expired_link_redeems_nothing(store, clock):
    store.save_packet("c-1.release", "c-1", b"%PDF packet", 1)
    token = store.create_link("c-1.release", timedelta(hours=72))
    kept = store.create_link("c-1.release", timedelta(hours=72))

    clock.now += timedelta(hours=72)  # the instant it expires
    assert store.redeem(token) is None
    clock.now -= timedelta(microseconds=1)
    assert store.redeem(kept) == ("c-1.release", b"%PDF packet")


def test_a_non_positive_ttl_is_refused(store):
    with pytest.raises(ValueError):
        store.create_link("c-1.release", timedelta(0))


def redeem_at_once(store: RecordsStore, token: str, n: int) -> tuple[list, list]:
    """n threads redeem the same token, released together by a barrier: (results, errors)."""
    start = threading.Barrier(n)
    results: list[tuple[str, bytes] | None] = []
    errors: list[BaseException] = []

    def redeem() -> None:
        start.wait()
        try:
            results.append(store.redeem(token))
        except BaseException as e:  # surfaced by the caller: a lock error must fail the test
            errors.append(e)

    threads = [threading.Thread(target=redeem) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_of_concurrent_redeems_exactly_one_succeeds(store):
    for n in range(5):
        packet_id = f"c-1.release{n}"
        store.save_packet(packet_id, "c-1", b"%PDF packet", 1)
        token = store.create_link(packet_id, timedelta(hours=1))

        results, errors = redeem_at_once(store, token, 8)

        assert errors == []
        assert [r for r in results if r is not None] == [(packet_id, b"%PDF packet")]
        assert results.count(None) == 7


async def test_list_documents_activity_returns_metadata_only(store):
    store.seed_demo()
    acts = RecordsActivities(store, SmtpSettings())

    docs = await ActivityEnvironment().run(
        acts.list_documents, ListDocumentsInput(clinic_id="demo-clinic", patient_ref="P-301")
    )

    assert docs == store.list_documents("demo-clinic", "P-301")
    assert all(isinstance(d, DocumentMeta) for d in docs)


async def test_a_database_error_reaches_temporal_without_the_row(tmp_path):
    unmigrated = RecordsStore(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables: reads fail
    acts = RecordsActivities(unmigrated, SmtpSettings())

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            acts.list_documents, ListDocumentsInput(clinic_id="demo-clinic", patient_ref="P-301")
        )

    assert caught.value.type == "RecordsStoreFailed" and not caught.value.non_retryable
    assert "P-301" not in str(caught.value) and "demo-clinic" not in str(caught.value)
