"""A release packet as one PDF: cover letter, manifest with each document's SHA-256, then the
documents, with "page N of M" on every page.

Deterministic (reportlab's invariant mode: no creation time, a fixed document id), so a
retried build produces the same bytes and the same hash as the first.
"""

from __future__ import annotations

import hashlib
import io
import re
from xml.sax.saxutils import escape

from pydantic import BaseModel
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from domain.documents import DocumentMeta

MARGIN = 0.75 * inch
FOOTER_Y = 0.45 * inch
_SPACES = re.compile(r"^ +| {2,}")


class PacketContent(BaseModel):
    """Everything a packet shows. The letter and the timestamp come already written in the
    clinic's time zone: rendering makes no decisions and reads no clock."""

    title: str
    cover_letter: str
    clinic_name: str
    case_id: str
    generated_at_local: str
    documents: list[tuple[DocumentMeta, bytes]]
    # Roster id -> name as the clinic's roster gives it ("dr-lee" -> "Dr. Lee").
    authors: dict[str, str] = {}

    def author(self, meta: DocumentMeta) -> str:
        """The document's author by name where the roster knows the id."""
        return self.authors.get(meta.author, meta.author)


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontSize=10.5, leading=14.5)
    return {
        "clinic": ParagraphStyle("clinic", parent=base["Title"], fontSize=18, alignment=TA_LEFT),
        "meta": ParagraphStyle("meta", parent=body, fontSize=9, leading=12, textColor="#444444"),
        "h1": ParagraphStyle("h1", parent=base["Heading1"], fontSize=15, spaceAfter=6),
        "body": body,
        "letter": ParagraphStyle("letter", parent=body, spaceAfter=8),
        "doc": ParagraphStyle("doc", parent=body, fontSize=10, leading=13.5),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8, leading=10),
        "cell_head": ParagraphStyle(
            "cell_head", parent=body, fontSize=8, leading=10, fontName="Helvetica-Bold"
        ),
        "mono": ParagraphStyle("mono", parent=body, fontName="Courier", fontSize=7.5, leading=9.5),
        "mono_id": ParagraphStyle(
            "mono_id", parent=body, fontName="Courier", fontSize=7, leading=10
        ),
        "doc_no": ParagraphStyle("doc_no", parent=body, fontSize=9, leading=12, spaceAfter=4),
        "label": ParagraphStyle(
            "label", parent=body, fontSize=9, leading=12, fontName="Helvetica-Bold"
        ),
        "value": ParagraphStyle("value", parent=body, fontSize=9, leading=12),
        "value_mono": ParagraphStyle(
            "value_mono", parent=body, fontName="Courier", fontSize=8.5, leading=12
        ),
    }


def _text(value: str) -> str:
    """Plain text as reportlab markup: escaped, so '<', '&' in a record cannot break (or
    inject into) the layout."""
    return escape(value)


def _lines_markup(block: str) -> str:
    """One paragraph of plain text, its own line breaks, indentation and column spacing kept
    (markup would collapse runs of spaces)."""
    lines = [_SPACES.sub(lambda m: "&nbsp;" * len(m.group()), _text(x)) for x in block.split("\n")]
    return "<br/>".join(lines)


def _paragraphs(text: str, style: ParagraphStyle) -> list[Flowable]:
    """Plain text with blank lines between paragraphs as flowables."""
    blocks = [b for b in _split_blocks(text) if b.strip()]
    return [Paragraph(_lines_markup(b), style) for b in blocks]


def _split_blocks(text: str) -> list[str]:
    blocks, current = [], []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").rstrip().split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cover(inp: PacketContent, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [
        Paragraph(_text(inp.clinic_name), st["clinic"]),
        Paragraph(
            f"{_text(inp.title)}<br/>Case {_text(inp.case_id)} · prepared "
            f"{_text(inp.generated_at_local)}",
            st["meta"],
        ),
        Spacer(1, 0.3 * inch),
    ]
    story += _paragraphs(inp.cover_letter, st["letter"])
    return story


def _manifest(inp: PacketContent, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    count = len(inp.documents)
    head = [
        Paragraph(h, st["cell_head"])
        for h in ("#", "Document id / SHA-256", "Category", "Date", "Author", "Title")
    ]
    rows: list[list] = [head]
    style: list[tuple] = [
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for i, (meta, content) in enumerate(inp.documents, start=1):
        r = len(rows)
        rows.append(
            [
                Paragraph(str(i), st["cell"]),
                Paragraph(_text(meta.id), st["mono_id"]),
                Paragraph(_text(meta.category.value.replace("_", " ")), st["cell"]),
                Paragraph(meta.date.isoformat(), st["cell"]),
                Paragraph(_text(inp.author(meta)), st["cell"]),
                Paragraph(_text(meta.title), st["cell"]),
            ]
        )
        # The hash gets a row of its own, unbroken: a clerk compares it character by character.
        rows.append(["", Paragraph(f"SHA-256 {_sha256(content)}", st["mono"]), "", "", "", ""])
        style += [
            ("SPAN", (0, r), (0, r + 1)),
            ("SPAN", (1, r + 1), (-1, r + 1)),
            # A document's two rows stay on one page.
            ("NOSPLIT", (0, r), (-1, r + 1)),
            ("LINEBELOW", (0, r + 1), (-1, r + 1), 0.25, colors.grey),
        ]
        if i % 2 == 0:
            style.append(("BACKGROUND", (0, r), (-1, r + 1), colors.HexColor("#F2F2F2")))
    widths = [22, 160, 80, 52, 44]
    widths.append(LETTER[0] - 2 * MARGIN - sum(widths))
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(style))
    noun = "document" if count == 1 else "documents"
    return [
        Paragraph("Manifest", st["h1"]),
        Paragraph(
            f"This packet contains {count} {noun}, listed below in the order they follow. "
            "Each SHA-256 is computed over the document exactly as held in the record.",
            st["body"],
        ),
        Spacer(1, 8),
        table,
        Spacer(1, 8),
        Paragraph(f"Documents in this packet: {count}.", st["body"]),
    ]


def _document(
    i: int,
    count: int,
    meta: DocumentMeta,
    content: bytes,
    st: dict[str, ParagraphStyle],
    author: str,
) -> list[Flowable]:
    fields = [
        ("Document", Paragraph(_text(meta.id), st["value_mono"])),
        ("Category", Paragraph(_text(meta.category.value.replace("_", " ")), st["value"])),
        ("Date", Paragraph(meta.date.isoformat(), st["value"])),
        ("Author", Paragraph(_text(author), st["value"])),
        ("Title", Paragraph(_text(meta.title), st["value"])),
        ("SHA-256", Paragraph(_sha256(content), st["value_mono"])),
    ]
    header = Table(
        [[Paragraph(label, st["label"]), value] for label, value in fields],
        colWidths=[70, LETTER[0] - 2 * MARGIN - 70],
    )
    header.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.6, colors.black),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#F2F2F2")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    mime = meta.content_type.split(";")[0].strip().lower()
    if mime.startswith("text/"):
        body = _paragraphs(content.decode("utf-8", errors="replace"), st["doc"])
    else:
        # Appending the original's pages would need them stamped with this packet's footer;
        # until then the original travels beside the packet, bound by the hash above.
        body = [
            Paragraph(
                f"Original is a {_text(mime)} file of {len(content):,} bytes, attached "
                "separately; its SHA-256 is stated above.",
                st["doc"],
            )
        ]
    numbered = Paragraph(f"Document {i} of {count}", st["doc_no"])
    return [PageBreak(), KeepTogether([numbered, header, Spacer(1, 12)]), *body]


def _numbered_canvas(footer: str) -> type[Canvas]:
    """A canvas that holds every page until the end so each footer can say "of M"."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("Helvetica", 8)
                self.setFillColor(colors.HexColor("#444444"))
                self.drawCentredString(
                    LETTER[0] / 2,
                    FOOTER_Y,
                    f"{footer} · page {self._pageNumber} of {total}",
                )
                super().showPage()
            super().save()

    return NumberedCanvas


def letter_document(
    buf: io.BytesIO, title: str, author: str, subject: str | None = None
) -> SimpleDocTemplate:
    """Letter size, Confide's margins and metadata, and `invariant` so the same content always
    makes the same bytes (a manifest or an auditor may hash them). Shared by every PDF."""
    meta = {"title": title, "author": author, "creator": "Confide"}
    if subject is not None:
        meta["subject"] = subject
    return SimpleDocTemplate(
        buf,
        pagesize=LETTER,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        invariant=1,
        **meta,
    )


def render_packet(inp: PacketContent) -> tuple[bytes, int]:
    """The packet as PDF bytes and its page count. Same input, same bytes."""
    st = _styles()
    buf = io.BytesIO()
    doc = letter_document(buf, inp.title, inp.clinic_name, f"case {inp.case_id}")
    story = _cover(inp, st)
    story += [PageBreak(), *_manifest(inp, st)]
    for i, (meta, content) in enumerate(inp.documents, start=1):
        story += _document(i, len(inp.documents), meta, content, st, inp.author(meta))
    canvas_class = _numbered_canvas(f"{inp.clinic_name} · case {inp.case_id}")
    doc.build(story, canvasmaker=canvas_class)
    return buf.getvalue(), doc.page
