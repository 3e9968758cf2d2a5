"""The release packet: a PDF that reads right (cover letter, manifest with every hash, one
document per section, "page N of M"), the same bytes every time, built and stored once per
(case, step), and mailed as an attachment that hashes to its manifest."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess

import pypdf
import pytest
from sqlalchemy import func, select, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import SmtpSettings
from activities.records import (
    BuildPacketInput,
    PacketManifest,
    RecordsActivities,
    SendPacketInput,
)
from domain.documents import DocumentMeta, RecordCategory
from domain.notices import message_id
from infra.packet_pdf import PacketContent, render_packet
from infra.records_db import RecordsStore, packets, records

PATIENT_NAME = "Jordan Example"
FIRST_SENTENCE = "In response to the subpoena served on Demo Clinic, we enclose the records below."
LETTER = f"""Clerk of the Superior Court
County of Demo, Department 12

{FIRST_SENTENCE} They are those the subpoena names that the law lets us release.

Psychotherapy notes & substance-use program records are withheld (45 CFR 164.508(a)(2)).

Sincerely,
Privacy Officer, Demo Clinic"""
CASE = "demo-clinic.L-2001"
IDS_2024 = [
    "P-301.doc-2024-progress_note-1",
    "P-301.doc-2024-assessment-1",
    "P-301.doc-2024-lab-1",
    "P-301.doc-2024-progress_note-2",
]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path):
    st = RecordsStore(f"sqlite:///{tmp_path / 'records.db'}")
    st.migrate()
    st.seed_demo()
    yield st
    st.engine.dispose()


def content_of(store: RecordsStore, ids: list[str] | None = None) -> PacketContent:
    docs = store.list_documents("demo-clinic", "P-301")
    chosen = [d.id for d in docs] if ids is None else ids
    return PacketContent(
        title="Records produced under subpoena",
        cover_letter=LETTER,
        clinic_name="Demo Clinic",
        case_id=CASE,
        generated_at_local="2026-11-27 10:15 PST",
        documents=[store.fetch("demo-clinic", i) for i in chosen],
    )


def page_texts(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def squashed(text: str) -> str:
    return "".join(text.split())


def test_packet_has_the_letter_a_manifest_of_every_hash_and_a_footer_on_each_page(store):
    inp = content_of(store)
    pdf, pages = render_packet(inp)

    texts = page_texts(pdf)
    assert len(texts) == pages > len(inp.documents) + 1
    assert "Demo Clinic" in texts[0]
    assert FIRST_SENTENCE in " ".join(texts[0].split())
    assert "Psychotherapy notes & substance-use" in texts[0]  # escaped, shown as written
    first_doc_page = next(i for i, t in enumerate(texts) if "Document 1 of" in t)
    manifest = squashed(" ".join(texts[1:first_doc_page]))
    assert "Manifest" in manifest
    assert f"Documentsinthispacket:{len(inp.documents)}." in manifest
    for meta, data in inp.documents:
        assert squashed(meta.id) in manifest
        assert sha(data) in manifest
    for n, text in enumerate(texts, start=1):
        assert f"Demo Clinic · case {CASE} · page {n} of {pages}" in text


def test_each_document_starts_on_a_new_page_with_its_header_and_text(store):
    inp = content_of(store, IDS_2024)
    pdf, _ = render_packet(inp)

    texts = page_texts(pdf)
    for i, (meta, data) in enumerate(inp.documents, start=1):
        [page] = [t for t in texts if f"Document {i} of {len(inp.documents)}" in t]
        assert page.index(f"Document {i} of") < page.index("SHA-256")
        assert sha(data) in squashed(page) and meta.date.isoformat() in page
        first_line = data.decode().splitlines()[0]
        assert " ".join(first_line.split()) in " ".join(page.split())


def test_rendering_twice_gives_identical_bytes(store):
    inp = content_of(store, IDS_2024)

    assert render_packet(inp) == render_packet(inp)


def test_markup_in_a_record_is_shown_as_text_and_non_text_content_is_named(store):
    text = b"Client wrote: <b>not bold</b> & <para> stays literal.\n\nSecond paragraph.\n"
    pdf_bytes = b"%PDF-1.4 scanned referral"
    docs = []
    for doc_id, data, ctype in [("x-1", text, "text/plain"), ("x-2", pdf_bytes, "application/pdf")]:
        meta = DocumentMeta(
            id=doc_id,
            clinic_id="demo-clinic",
            patient_ref="P-1",
            category=RecordCategory.correspondence,
            date="2024-01-02",
            author="dr-lee",
            title="Letter <from> client & family",
            content_type=ctype,
            sha256=sha(data),
        )
        docs.append((meta, data))
    inp = content_of(store, []).model_copy(update={"documents": docs})

    texts = page_texts(render_packet(inp)[0])

    joined = " ".join(" ".join(texts).split())
    assert "Client wrote: <b>not bold</b> & <para> stays literal." in joined
    assert "Letter <from> client & family" in joined
    assert "attached separately" in joined


def test_page_one_renders_to_a_png(store, tmp_path):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.fail("pdftoppm not found: apt-get install poppler-utils")
    pdf, _ = render_packet(content_of(store, IDS_2024))
    (tmp_path / "packet.pdf").write_bytes(pdf)

    subprocess.run(
        [pdftoppm, "-png", "-r", "60", "-f", "1", "-l", "1", "packet.pdf", "page"],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )

    [png] = list(tmp_path.glob("page*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5_000


# -- activities -----------------------------------------------------------------------------


def acts_for(store: RecordsStore, smtp=None) -> RecordsActivities:
    port = smtp[0].port if smtp else 1
    return RecordsActivities(store, SmtpSettings(host="127.0.0.1", port=port, timeout_seconds=10))


def build_input(ids: list[str], step: str = "release.court") -> BuildPacketInput:
    return BuildPacketInput(
        case_id=CASE,
        step=step,
        clinic_id="demo-clinic",
        clinic_name="Demo Clinic",
        title="Records produced under court order",
        cover_letter=LETTER,
        generated_at_local="2026-11-27 10:15 PST",
        document_ids=ids,
    )


async def build(acts: RecordsActivities, inp: BuildPacketInput) -> PacketManifest:
    return await ActivityEnvironment().run(acts.build_packet, inp)


def packet_rows(store: RecordsStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(packets).where(packets.c.case_id == CASE)
        ).scalar_one()


async def test_build_packet_returns_a_manifest_of_the_stored_bytes_and_fetched_documents(store):
    manifest = await build(acts_for(store), build_input(IDS_2024))

    stored = store.packet(manifest.packet_id)
    assert manifest.packet_id == f"{CASE}.release.court"
    assert stored is not None and manifest.sha256 == sha(stored)
    assert manifest.pages == len(pypdf.PdfReader(io.BytesIO(stored)).pages)
    assert [d.id for d in manifest.documents] == IDS_2024
    for d in manifest.documents:
        meta, data = store.fetch("demo-clinic", d.id)
        assert (d.sha256, d.category, d.date) == (sha(data), meta.category.value, meta.date)


async def test_building_the_same_case_and_step_again_returns_the_same_manifest_and_one_packet(
    store,
):
    acts = acts_for(store)

    first = await build(acts, build_input(IDS_2024))
    retry = await build(acts, build_input(IDS_2024))

    assert retry == first
    assert packet_rows(store) == 1
    other = await build(acts, build_input(IDS_2024[:1], step="release.court.2"))
    assert other.packet_id != first.packet_id and packet_rows(store) == 2


async def test_a_missing_document_fails_for_good_naming_only_its_id(store):
    ids = [*IDS_2024, "P-301.doc-2019-lab-9"]

    with pytest.raises(ApplicationError) as caught:
        await build(acts_for(store), build_input(ids))

    err = caught.value
    assert err.non_retryable and err.type == "DocumentNotFound"
    assert err.message == "document P-301.doc-2019-lab-9 not found"
    assert packet_rows(store) == 0


async def test_another_clinics_document_is_not_found(store):
    store.seed_demo(clinic_id="other-clinic", patient_ref="P-777")

    with pytest.raises(ApplicationError) as caught:
        await build(acts_for(store), build_input(["P-777.doc-2024-lab-1"]))

    assert caught.value.type == "DocumentNotFound" and caught.value.non_retryable


async def test_a_document_whose_bytes_changed_fails_for_good_without_its_text(store):
    tampered = "P-301.doc-2024-lab-1"
    with store.engine.begin() as conn:
        # The store has no update path: a direct write is how corruption would look.
        conn.execute(update(records).where(records.c.id == tampered).values(content=b"GGT: 20 U/L"))

    with pytest.raises(ApplicationError) as caught:
        await build(acts_for(store), build_input(IDS_2024))

    err = caught.value
    assert err.non_retryable and err.type == "DocumentHashMismatch"
    assert err.message == f"document {tampered} does not match its recorded hash"
    assert packet_rows(store) == 0


def send_input(manifest: PacketManifest, to: str = "clerk@court.test") -> SendPacketInput:
    return SendPacketInput(
        case_id=CASE,
        step="release.court",
        recipient_key="court-clerk",
        to=to,
        subject=f"Records produced under court order (ref {CASE})",
        body="The records named in the order are attached, with their manifest.\n",
        packet_id=manifest.packet_id,
        filename="demo-clinic-L-2001-records.pdf",
        reply_to="privacy@demo-clinic.test",
    )


async def test_send_packet_attaches_the_stored_pdf_with_a_deterministic_message_id(
    smtp, mail, store
):
    acts = acts_for(store, smtp)
    manifest = await build(acts, build_input(IDS_2024))

    receipt = await ActivityEnvironment().run(acts.send_packet, send_input(manifest))
    again = await ActivityEnvironment().run(acts.send_packet, send_input(manifest))

    sent = mail.to("clerk@court.test")
    assert len(sent) == 2
    msg = sent[0]
    expected = message_id(CASE, "release.court", "court-clerk")
    assert receipt.message_id == again.message_id == str(msg["Message-ID"]) == expected
    assert str(sent[1]["Message-ID"]) == expected
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "demo-clinic-L-2001-records.pdf"
    assert sha(attachment.get_content()) == manifest.sha256
    assert PATIENT_NAME not in msg["Subject"] and "Jordan" not in msg["Subject"]
    assert msg["Reply-To"] == "privacy@demo-clinic.test"
    assert "attached" in msg.get_body(preferencelist=("plain",)).get_content()


async def test_a_5xx_refusal_of_the_packet_is_a_permanent_failure_without_the_address(
    smtp, mail, store
):
    acts = acts_for(store, smtp)
    manifest = await build(acts, build_input(IDS_2024))
    mail.script["gone@court.test"] = ["550 5.1.1 <gone@court.test> no such user"]

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(acts.send_packet, send_input(manifest, "gone@court.test"))

    err = caught.value
    assert err.type == "PermanentDeliveryFailure" and err.non_retryable is True
    assert "550" in err.message and "court.test" not in err.message
    assert mail.messages == []


async def test_sending_a_packet_that_was_never_built_fails_for_good(smtp, mail, store):
    manifest = PacketManifest(packet_id=f"{CASE}.nothing", sha256="0" * 64, pages=1, documents=[])

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(acts_for(store, smtp).send_packet, send_input(manifest))

    assert caught.value.type == "PacketNotFound" and caught.value.non_retryable
    assert mail.messages == []
