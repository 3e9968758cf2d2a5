"""The accounting of disclosures as a PDF a patient can read: plain words, the clinic's name,
the period covered, one row per disclosure (or per summary of repeated ones).

Built with the release packet's styles, escaping and numbered footer, and deterministic the
same way (reportlab's invariant mode), so a retried build gives the same bytes.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, Paragraph, Spacer, Table, TableStyle

from domain.accounting import Accounting, AccountingEntry
from infra.packet_pdf import MARGIN, _numbered_canvas, _styles, _text, letter_document

TITLE = "Accounting of disclosures of your health information"


class AccountingDocument(BaseModel):
    """What the document shows. `timezone` (the clinic's) decides the printed dates."""

    accounting: Accounting
    clinic_name: str
    clinic_reply_to: str
    timezone: str
    patient_name: str | None = None


def plain_date(day: date | datetime, zone: ZoneInfo | None = None) -> str:
    """ "March 2, 2026": a datetime is first put in the clinic's zone."""
    if isinstance(day, datetime):
        day = day.astimezone(zone).date() if zone else day.date()
    # Built by hand: strftime's "%-d" is not portable, and "%d" prints "02".
    return f"{day:%B} {day.day}, {day.year}"


def _intro(inp: AccountingDocument, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    acc = inp.accounting
    clinic = _text(inp.clinic_name)
    period = f"{plain_date(acc.period_from)} to {plain_date(acc.period_to)}"
    zone = ZoneInfo(inp.timezone)
    facts = [f"<b>Period covered:</b> {period}"]
    if inp.patient_name:
        facts.insert(0, f"<b>Prepared for:</b> {_text(inp.patient_name)}")
    facts.append(f"<b>You asked on:</b> {plain_date(acc.requested_at, zone)}")
    paragraphs = [
        f"<b>What this lists.</b> Each time {clinic} shared information about your health "
        "with someone else without your written permission, from "
        f"{period}. These are times the law allowed or required us to share it, for example "
        "to warn someone of a danger, to report suspected abuse, or to answer a court order.",
        "<b>What it does not list.</b> By law, this list leaves out information we gave to you, "
        "information shared with your written permission, and information shared for your "
        "treatment, to get paid for your care, or to run our practice. A few other kinds the "
        "law sets aside, such as disclosures for national security, are not listed either.",
    ]
    if acc.summarized and any(e.count > 1 for e in acc.entries):
        paragraphs.append(
            "<b>Repeated disclosures.</b> When we shared information with the same person or "
            "organization several times for the same reason, we list it once, with the number "
            "of times and the dates of the first and the last."
        )
    paragraphs.append(
        "<b>Questions.</b> If you have questions about this list, write to us at "
        f"{_text(inp.clinic_reply_to)}."
    )
    return [
        Paragraph(clinic, st["clinic"]),
        Paragraph(TITLE, st["h1"]),
        Paragraph("<br/>".join(facts), st["body"]),
        Spacer(1, 10),
        *[Paragraph(p, st["letter"]) for p in paragraphs],
    ]


def _sentence(value: str) -> str:
    """A ledger's phrase ("warning of a threat") as a table cell starts: capitalized."""
    value = value.strip()
    return value[:1].upper() + value[1:]


def _date_cell(e: AccountingEntry, zone: ZoneInfo, st: dict[str, ParagraphStyle]) -> Paragraph:
    if e.count > 1 and e.last_date is not None:
        return Paragraph(
            f"{e.count} times between {plain_date(e.date, zone)} and "
            f"{plain_date(e.last_date, zone)}",
            st["row"],
        )
    return Paragraph(plain_date(e.date, zone), st["row"])


def _table(inp: AccountingDocument, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    entries = inp.accounting.entries
    if not entries:
        return [Paragraph("We made no such disclosures in this period.", st["letter"])]
    zone = ZoneInfo(inp.timezone)
    rows: list[list] = [
        [Paragraph(h, st["row_head"]) for h in ("Date", "Shared with", "What was shared", "Why")]
    ]
    for e in entries:
        recipient = f"<b>{_text(e.recipient)}</b>"
        if e.recipient_address.strip():
            recipient += f"<br/>{_text(e.recipient_address)}"
        rows.append(
            [
                _date_cell(e, zone, st),
                Paragraph(recipient, st["row"]),
                Paragraph(_text(_sentence(e.description)), st["row"]),
                Paragraph(_text(e.basis), st["row"]),
            ]
        )
    widths = [100, 130, 120]
    widths.append(LETTER[0] - 2 * MARGIN - sum(widths))
    table = Table(rows, colWidths=widths, repeatRows=1)
    style: list[tuple] = [
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]
    style += [
        ("BACKGROUND", (0, r), (-1, r), colors.HexColor("#F2F2F2")) for r in range(2, len(rows), 2)
    ]
    table.setStyle(TableStyle(style))
    return [Paragraph("The disclosures", st["h2"]), table]


def render_accounting(inp: AccountingDocument) -> tuple[bytes, int]:
    """The accounting as PDF bytes and its page count. Same input, same bytes."""
    st = _styles()
    st["row"] = ParagraphStyle("row", parent=st["body"], fontSize=9.5, leading=12.5)
    st["row_head"] = ParagraphStyle("row_head", parent=st["row"], fontName="Helvetica-Bold")
    st["h2"] = ParagraphStyle("h2", parent=st["h1"], fontSize=12.5, spaceBefore=8)
    buf = io.BytesIO()
    doc = letter_document(buf, TITLE, inp.clinic_name)
    story = _intro(inp, st) + [Spacer(1, 6)] + _table(inp, st)
    doc.build(story, canvasmaker=_numbered_canvas(f"{inp.clinic_name} · {TITLE}"))
    return buf.getvalue(), doc.page
