"""Records for a legal request: list a patient's documents, build the release packet, send it.

Document text never passes through workflow history: the workflow sees metadata and hashes,
the packet is built and stored here, and the e-mail reads it back from the store.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import TypeVar

import structlog
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notify import (
    NoticeReceipt,
    SendNoticeInput,
    SentLog,
    SmtpSettings,
    compose,
    deliver,
)
from domain.documents import DocumentMeta
from domain.records import DisclosedDocument
from infra.packet_pdf import PacketContent, render_packet
from infra.records_db import DocumentNotFound, RecordsSource, RecordsStore

log = structlog.get_logger("confide.records")
T = TypeVar("T")


class ListDocumentsInput(BaseModel):
    """One patient's record."""

    clinic_id: str
    patient_ref: str


class BuildPacketInput(BaseModel):
    """A packet to build: (case_id, step) names it, so a retry finds the one already built."""

    case_id: str
    step: str
    clinic_id: str
    clinic_name: str
    title: str
    cover_letter: str
    generated_at_local: str
    document_ids: list[str]
    # The documents as they were listed when the release set was computed and approved: a
    # record whose metadata or content changed since (re-flagged as Part 2 or psychotherapy
    # note, moved to another patient, edited) is not released on an approval of another one.
    listed: list[DocumentMeta] = []
    # Roster id -> name, so the packet names each record's author as the court reads it.
    authors: dict[str, str] = {}


class PacketManifest(BaseModel):
    """What a built packet holds, by hash: what the ledger records and the e-mail attaches."""

    packet_id: str
    sha256: str
    pages: int
    documents: list[DisclosedDocument]


class SendPacketInput(SendNoticeInput):
    """A notice with the stored packet attached (read from the store inside the activity)."""

    packet_id: str
    filename: str


def packet_id_for(case_id: str, step: str) -> str:
    """The packet's id: deterministic per (case, step), so a retried build cannot make a second."""
    return f"{case_id}.{step}"


class RecordsActivities:
    """Reads a records source, keeps packets in the store, mails them over SMTP.

    `source` is where documents come from (an EHR adapter, later); it defaults to the store.
    """

    def __init__(
        self,
        store: RecordsStore,
        smtp: SmtpSettings,
        source: RecordsSource | None = None,
        sent: SentLog | None = None,
    ) -> None:
        self._store = store
        self._source: RecordsSource = source if source is not None else store
        self._smtp = smtp
        # A packet is a disclosure: a retry after a crash must not release it twice.
        self._sent = sent

    @activity.defn(name="list_documents")
    async def list_documents(self, inp: ListDocumentsInput) -> list[DocumentMeta]:
        """Every document of one patient, metadata only, by date then id."""
        return await _guarded(self._source.list_documents, inp.clinic_id, inp.patient_ref)

    @activity.defn(name="build_packet")
    async def build_packet(self, inp: BuildPacketInput) -> PacketManifest:
        """Fetch the named documents, render the packet, store it once; return its manifest.

        Rendering is deterministic, so a retry after a crash renders the same bytes and finds
        them already stored: same manifest, one packet. A missing document, or one whose bytes
        no longer match its recorded hash, fails for good: a retry cannot fix either.
        """
        manifest = await _guarded(self._build, inp)
        log.info(
            "packet built",
            packet_id=manifest.packet_id,
            documents=len(manifest.documents),
            pages=manifest.pages,
        )
        return manifest

    def _build(self, inp: BuildPacketInput) -> PacketManifest:
        if len(set(inp.document_ids)) != len(inp.document_ids):
            raise ApplicationError(
                "a document is listed twice", type="InvalidPacketRequest", non_retryable=True
            )
        fetched: list[tuple[DocumentMeta, bytes]] = []
        released: list[DisclosedDocument] = []
        approved = {m.id: m for m in inp.listed}
        for document_id in inp.document_ids:
            meta, content = self._source.fetch(inp.clinic_id, document_id)
            digest = hashlib.sha256(content).hexdigest()
            if digest != meta.sha256:
                raise ApplicationError(
                    f"document {document_id} does not match its recorded hash",
                    type="DocumentHashMismatch",
                    non_retryable=True,
                )
            if inp.listed and approved.get(document_id) != meta:
                raise ApplicationError(
                    f"document {document_id} changed after the release set was approved",
                    type="DocumentChanged",
                    non_retryable=True,
                )
            if meta.content_type.split(";")[0].strip() != "text/plain":
                # The packet renders text; an original it cannot embed would be listed as
                # released without ever being sent.
                raise ApplicationError(
                    f"document {document_id} is {meta.content_type}: Confide can release only "
                    "text records in a packet yet",
                    type="UnsupportedDocument",
                    non_retryable=True,
                )
            fetched.append((meta, content))
            released.append(
                DisclosedDocument(
                    id=meta.id, category=meta.category.value, date=meta.date, sha256=digest
                )
            )
        packet_id = packet_id_for(inp.case_id, inp.step)
        try:
            pdf, pages = render_packet(
                PacketContent(
                    title=inp.title,
                    cover_letter=inp.cover_letter,
                    clinic_name=inp.clinic_name,
                    case_id=inp.case_id,
                    generated_at_local=inp.generated_at_local,
                    documents=fetched,
                    authors=inp.authors,
                )
            )
        except Exception as e:
            # reportlab's messages quote the text it choked on; the type is enough to look.
            raise ApplicationError(
                f"packet {packet_id} could not be rendered ({type(e).__name__})",
                type="PacketRenderFailed",
                non_retryable=True,
            ) from None
        rendered = hashlib.sha256(pdf).hexdigest()
        stored = self._store.save_packet(packet_id, inp.case_id, pdf, pages)
        if stored != rendered:
            # The first build may already have been sent: never describe other bytes than
            # those stored. Only changed documents or inputs for the same (case, step) get here.
            raise ApplicationError(
                f"packet {packet_id} already exists with different content",
                type="PacketConflict",
                non_retryable=True,
            )
        return PacketManifest(packet_id=packet_id, sha256=stored, pages=pages, documents=released)

    @activity.defn(name="send_packet")
    async def send_packet(self, inp: SendPacketInput) -> NoticeReceipt:
        """E-mail the stored packet as a PDF attachment; same Message-ID scheme and SMTP error
        mapping as send_notice (a 5xx refusal is a permanent failure)."""
        pdf = await _guarded(self._store.packet, inp.packet_id)
        if pdf is None:
            raise ApplicationError(
                f"packet {inp.packet_id} not found", type="PacketNotFound", non_retryable=True
            )
        msg = compose(self._smtp, inp)
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=inp.filename)
        return await deliver(self._smtp, msg, inp, what="packet", sent=self._sent)


async def _guarded(fn: Callable[..., T], *args: object) -> T:
    """Run a blocking records call in a thread; its failures become PHI-free ApplicationErrors.

    Driver messages can quote a row and a source adapter's can quote a record, and failures
    are stored in Temporal unencrypted: only ids, types and SQLSTATEs leave.
    """
    try:
        return await asyncio.to_thread(fn, *args)
    except ApplicationError:
        raise
    except DocumentNotFound as e:
        raise ApplicationError(str(e), type="DocumentNotFound", non_retryable=True) from None
    except SQLAlchemyError as e:
        code = getattr(getattr(e, "orig", None), "sqlstate", None) or ""
        raise ApplicationError(
            f"records store failed ({type(e).__name__} {code})".strip(),
            type="RecordsStoreFailed",
        ) from None
    except Exception as e:
        log.warning("records source failed", error_type=type(e).__name__)
        raise ApplicationError(
            f"records source failed ({type(e).__name__})", type="RecordsSourceFailed"
        ) from None
