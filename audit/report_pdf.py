"""The audit report as a printable PDF, with a timeline chart of the case's tasks.

Rendered from `AuditReport` alone: the same model the terminal tables and the JSON come from, so
the three cannot disagree. Times are printed in the clinic's zone with the same wording the
letters use (`domain.legal_letters.local`). The house style (styles, escaping, the numbered
footer, reportlab's invariant mode) is the release packet's, so the same report gives the same
bytes.

The chart is drawn with matplotlib's object API on the Agg canvas: no pyplot, so no global figure
state and no display, and it is safe to call from a worker thread.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, date2num, num2date
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import Formatter
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from audit.report_model import (
    AuditReport,
    DisclosureRow,
    NotificationRow,
    PolicyView,
    TaskRow,
    WorkflowView,
)
from domain.legal_letters import local
from infra.packet_pdf import MARGIN, _numbered_canvas, _styles, _text, letter_document

# The frame inside the margins pads 6 pt on each side; a table as wide as the margins would
# stick out past the text on both sides.
CONTENT_WIDTH = LETTER[0] - 2 * MARGIN - 12

# -- wording shared by the chart and the tables ----------------------------------------------


def duration_text(span: timedelta) -> str:
    """'3 h 10 min', '2 d 4 h', '45 min': the two largest units, which is what a reader compares
    (seconds never matter against deadlines counted in hours and days)."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _overdue(task: TaskRow, now: datetime) -> timedelta | None:
    """How far past due: the model's figure when it gives one; for an open task the model may
    leave it out, so it is measured against the report's own "now"."""
    if task.late_by is not None:
        return task.late_by
    if task.status == "open" and task.due_at < now:
        return now - task.due_at
    return None


def _state(task: TaskRow, now: datetime) -> str:
    """The task's standing as the chart colours it and the table words it."""
    if task.status == "cancelled":
        return "cancelled"
    late = _overdue(task, now) is not None
    if task.status == "open":
        return "open, overdue" if late else "open"
    return "late" if late else "on time"


def _result_text(task: TaskRow, now: datetime) -> str:
    state = _state(task, now)
    over = _overdue(task, now)
    if state == "late" and over is not None:
        return f"Late by {duration_text(over)}"
    if state == "open, overdue" and over is not None:
        return f"Open, overdue by {duration_text(over)}"
    if state == "open":
        return "Open, not yet due"
    return state.capitalize()


def _zone_label(report: AuditReport, start: datetime, end: datetime) -> str:
    """'America/Los_Angeles (PST)', or '(PDT, then PST)' when the span crosses a clock change,
    so nobody reads an hour's jump in the axis as a gap."""
    zone = ZoneInfo(report.timezone)
    first, last = start.astimezone(zone).tzname(), end.astimezone(zone).tzname()
    names = first if first == last else f"{first}, then {last}"
    return f"{report.timezone} ({names})"


# -- the timeline chart ---------------------------------------------------------------------

# One colour per standing; the late part of a bar (past its due time) is drawn darker so the
# overshoot reads as a length, not only as a colour.
COLOURS = {
    "on time": ("#4E9A5B", "#4E9A5B"),
    "late": ("#E8A09A", "#C0392B"),
    "open": ("#5B8DD6", "#5B8DD6"),
    "open, overdue": ("#5B8DD6", "#C0392B"),
    "cancelled": ("#B8B8B8", "#B8B8B8"),
}
BAR_HEIGHT = 0.5
ROW_INCHES = 0.36
# Below this a row has no room for the role under the title: they share one line.
TWO_LINE_INCHES = 0.3
# The chart's tallest: at the PDF's width it still fits a page under its heading.
MAX_HEIGHT = 9.0
CHROME_INCHES = 1.45  # axis, its label and the legend
FIG_WIDTH = 7.5
TITLE_CHARS = 38
MIN_SPAN = 10 / (24 * 60)  # ten minutes, in matplotlib's unit (days)


@dataclass(frozen=True)
class _Frame:
    """What every drawing step needs: the axis limits (as matplotlib date numbers), the
    report's "now", the clinic's zone, and the figure's height in inches."""

    lo: float
    hi: float
    now: datetime
    zone: ZoneInfo
    height: float
    rows: int

    @property
    def compact(self) -> bool:
        """Rows too thin for a two-line label (a case with many tasks)."""
        return self.row_inches < TWO_LINE_INCHES

    @property
    def row_inches(self) -> float:
        return (self.height - CHROME_INCHES) / self.rows

    @property
    def span(self) -> float:
        return self.hi - self.lo


def _task_end(task: TaskRow, report: AuditReport) -> datetime:
    """Where a task's bar stops: its completion, else its workflow's close (a cancelled task
    ends with the run that cancelled it); an open task runs to the report's "now"."""
    if task.completed_at is not None:
        return task.completed_at
    if task.status == "open":
        return report.generated_at
    closed = [w.closed_at for w in report.workflows if w.workflow_id == task.workflow_id]
    # Ended, but nothing says when: a sliver at its start rather than a bar up to a "now"
    # that may be months later.
    return closed[0] if closed and closed[0] is not None else task.created_at


def _frame(report: AuditReport) -> _Frame:
    """Axis limits around everything drawn. "Now" stretches the axis only when a task is still
    open: a report printed months after a closed case must not squash the case into a sliver."""
    times = [report.trigger.received_at]
    for t in report.tasks:
        times += [t.created_at, t.due_at, _task_end(t, report), *t.reminders]
        times += [e.at for e in t.escalations]
    times += [n.sent_at or n.scheduled_at for n in report.notifications]
    times += [d.disclosed_at for d in report.disclosures]
    if any(t.status == "open" for t in report.tasks):
        times.append(report.generated_at)
    lo, hi = float(date2num(min(times))), float(date2num(max(times)))
    # A case that happened within minutes still gets a ten-minute axis, so the ticks stay
    # readable and a lone instant has room around it.
    widen = max(0.0, MIN_SPAN - (hi - lo)) / 2
    pad = (hi - lo) * 0.03 + widen
    zone = ZoneInfo(report.timezone)
    rows = len(report.tasks) + 2
    height = min(CHROME_INCHES + ROW_INCHES * rows, MAX_HEIGHT)
    return _Frame(lo - pad, hi + pad, report.generated_at, zone, height, rows)


class _ClinicTimeFormatter(Formatter):
    """Tick labels in clinic time: the clock ('3:05 PM') when the ticks fall within days, the
    day ('Tue 1 Dec') under the first tick and wherever the day changes. Built by hand because
    strftime's '%-I' and '%-d' are not portable and '%I' prints '03'."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._label(num2date(x, self.zone), True, True, True)

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        ticks = [num2date(v, self.zone) for v in values]
        with_clock = any(t.hour or t.minute for t in ticks)
        labels, previous = [], None
        for t in ticks:
            labels.append(self._label(t, with_clock, t.date() != previous, previous is None))
            previous = t.date()
        return labels

    @staticmethod
    def _label(t: datetime, clock: bool, day: bool, year: bool = False) -> str:
        # The first tick carries the year; the rest would only repeat it.
        parts = [f"{t.hour % 12 or 12}:{t:%M %p}"] if clock else []
        if day or not clock:
            parts.append(f"{t:%a} {t.day} {t:%b}" + (f" {t.year}" if year else ""))
        return "\n".join(parts)


def _hbar(ax: Axes, y: float, start: float, end: float, colour: str, frame: _Frame) -> None:
    # A task of minutes on a 60-day axis still gets a visible sliver.
    width = max(end - start, frame.span * 0.004)
    ax.barh(y, width, left=start, height=BAR_HEIGHT, color=colour, edgecolor="none", zorder=2)


def _draw_bar(ax: Axes, y: int, task: TaskRow, frame: _Frame, report: AuditReport) -> None:
    """The bar from creation to completion (or now), darker past the due time."""
    state = _state(task, frame.now)
    start, end = float(date2num(task.created_at)), float(date2num(_task_end(task, report)))
    due = float(date2num(task.due_at))
    before, after = COLOURS[state]
    if state in ("late", "open, overdue") and start < due < end:
        _hbar(ax, y, start, due, before, frame)
        _hbar(ax, y, due, end, after, frame)
    else:
        _hbar(ax, y, start, end, after if state in ("late", "open, overdue") else before, frame)


def _draw_marks(ax: Axes, y: int, task: TaskRow) -> None:
    """Due time as a tall black tick through the bar; reminders and escalations as small marks
    on it, so a reader sees the nudges a late task got."""
    ax.plot(date2num(task.due_at), y, marker="|", color="black", ms=15, mew=2, zorder=4)
    for at in task.reminders:
        ax.plot(date2num(at), y, marker="o", mfc="white", mec="#333333", ms=4, zorder=5)
    for esc in task.escalations:
        ax.plot(date2num(esc.at), y, marker="^", mfc="#F39C12", mec="black", ms=6, zorder=5)


def _draw_late_note(ax: Axes, y: int, task: TaskRow, frame: _Frame, report: AuditReport) -> None:
    """'late 3 h 10 min' beside a late bar, on whichever side has room; a bar spanning the
    whole axis carries it inside, at its start, where reminders and escalations rarely are."""
    over = _overdue(task, frame.now)
    if over is None or task.status == "cancelled":
        return
    word = "late" if task.status != "open" else "overdue"
    note = f"{word} {duration_text(over)}"
    start, end = float(date2num(task.created_at)), float(date2num(_task_end(task, report)))
    if frame.hi - end > frame.span * 0.16:
        x, align = end + frame.span * 0.01, "left"
    elif start - frame.lo > frame.span * 0.16:
        x, align = start - frame.span * 0.01, "right"
    else:
        x, align = max(start, frame.lo) + frame.span * 0.01, "left"
    ax.text(
        x,
        y,
        note,
        ha=align,
        va="center",
        fontsize=8,
        color="#C0392B",
        weight="bold",
        zorder=6,
        bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
    )


def _short(title: str, limit: int = TITLE_CHARS) -> str:
    if len(title) <= limit:
        return title
    # Cut at a word: "Call the police…" reads, "Call the pol…" does not.
    return title[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-") + "…"


def _row_label(ax: Axes, y: float, title: str, role: str, frame: _Frame) -> None:
    """Short title over the role, left of the axis; on one line when rows are thin."""
    transform = ax.get_yaxis_transform()
    if frame.compact:
        # Title and role share the label column's width, so the title gets less of it.
        size = max(4.5, min(7.0, frame.row_inches * 72 * 0.7))
        label = f"{_short(title, TITLE_CHARS - 14)} · {role}"
        ax.text(-0.012, y, label, transform=transform, ha="right", va="center", fontsize=size)
        return
    dy = 0.17
    ax.text(-0.012, y - dy, _short(title), transform=transform, ha="right", va="center", fontsize=8)
    if role:
        ax.text(
            -0.012,
            y + dy,
            role,
            transform=transform,
            ha="right",
            va="center",
            fontsize=7,
            color="#555555",
            style="italic",
        )


def _draw_task_row(ax: Axes, y: int, task: TaskRow, frame: _Frame, report: AuditReport) -> None:
    _row_label(ax, y, task.title, task.role, frame)
    _draw_bar(ax, y, task, frame, report)
    _draw_marks(ax, y, task)
    _draw_late_note(ax, y, task, frame, report)


def _draw_notifications(ax: Axes, y: float, report: AuditReport, frame: _Frame) -> None:
    """Sent messages as dots; a failed or pending one where it was due, hollow or crossed, so
    a message that never left is as visible as one that did."""
    notes = report.notifications
    _row_label(ax, y, "Notifications", _count(len(notes), "message"), frame)
    for n in notes:
        x = date2num(n.sent_at or n.scheduled_at)
        if n.status == "sent":
            ax.plot(x, y, marker="o", mfc="#2C3E50", mec="white", ms=6, zorder=4)
        elif n.status == "failed":
            ax.plot(x, y, marker="X", mfc="#C0392B", mec="white", ms=7, zorder=4)
        else:
            ax.plot(x, y, marker="o", mfc="white", mec="#2C3E50", ms=6, zorder=4)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _draw_disclosures(ax: Axes, y: float, report: AuditReport, frame: _Frame) -> None:
    rows = report.disclosures
    _row_label(ax, y, "Disclosures", f"{_count(len(rows), 'row')} in the ledger", frame)
    for d in rows:
        ax.plot(date2num(d.disclosed_at), y, marker="D", mfc="#8E44AD", mec="white", ms=7)


def _draw_instants(ax: Axes, report: AuditReport, frame: _Frame) -> None:
    """The trigger's arrival and the report's "now" as labelled verticals."""
    for at, label in ((report.trigger.received_at, "received"), (frame.now, "report")):
        x = float(date2num(at))
        if frame.lo <= x <= frame.hi:
            ax.axvline(x, color="#777777", lw=0.8, ls=(0, (4, 3)), zorder=1)
            ax.text(
                x,
                1.0,
                label,
                ha="center",
                va="bottom",
                fontsize=7,
                color="#555555",
                transform=ax.get_xaxis_transform(),
            )


LABELS = {"late": "late (dark red: past due)", "open, overdue": "open (red: overdue)"}


def _state_keys(report: AuditReport, frame: _Frame) -> list[tuple[Any, str]]:
    """A key per standing the chart shows; a two-tone bar gets a two-tone key."""
    keys: list[tuple[Any, str]] = []
    for s in COLOURS:
        if any(_state(t, frame.now) == s for t in report.tasks):
            before, after = COLOURS[s]
            pair = (Patch(color=before), Patch(color=after))
            keys.append((pair if before != after else pair[0], LABELS.get(s, s)))
    return keys


def _mark_keys(report: AuditReport) -> list[tuple[Any, str]]:
    """A key per kind of mark the chart shows."""
    notes = {n.status for n in report.notifications}
    wanted = [
        (True, Line2D([], [], marker="|", color="black", ls="", ms=10, mew=2), "due"),
        (any(t.reminders for t in report.tasks), _mark("o", "white", "#333333"), "reminder"),
        (any(t.escalations for t in report.tasks), _mark("^", "#F39C12", "black"), "escalation"),
        ("sent" in notes, _mark("o", "#2C3E50", "white"), "message sent"),
        ("failed" in notes, _mark("X", "#C0392B", "white"), "message failed"),
        (
            bool(notes & {"pending", "cancelled"}),
            _mark("o", "white", "#2C3E50"),
            "message not sent (pending or cancelled)",
        ),
        (bool(report.disclosures), _mark("D", "#8E44AD", "white"), "disclosure"),
    ]
    return [(handle, label) for shown, handle, label in wanted if shown]


def _legend(fig: Figure, report: AuditReport, frame: _Frame, bottom: float) -> None:
    """Only what the chart shows, so the legend never explains a colour that is not there."""
    keys = _state_keys(report, frame) + _mark_keys(report)
    fig.legend(
        [h for h, _ in keys],
        [label for _, label in keys],
        loc="lower center",
        ncol=min(len(keys), 6),
        fontsize=7.5,
        frameon=False,
        bbox_to_anchor=(0.5, bottom),
        handlelength=1.6,
        columnspacing=1.2,
        handler_map={tuple: HandlerTuple(ndivide=None, pad=0)},
    )


def _mark(marker: str, face: str, edge: str) -> Line2D:
    return Line2D([], [], marker=marker, mfc=face, mec=edge, ls="", ms=6)


def _time_axis(ax: Axes, report: AuditReport, frame: _Frame) -> None:
    """X axis in clinic time, ticks on round local hours/days whatever the span (minutes to
    months), the zone named in the label."""
    locator = AutoDateLocator(tz=frame.zone, minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(_ClinicTimeFormatter(frame.zone))
    ax.set_xlim(frame.lo, frame.hi)
    ax.tick_params(axis="x", labelsize=7.5)
    ax.grid(axis="x", color="#E3E3E3", lw=0.6, zorder=0)
    start, end = num2date(frame.lo, frame.zone), num2date(frame.hi, frame.zone)
    ax.set_xlabel(f"Clinic time, {_zone_label(report, start, end)}", fontsize=8)


def timeline_png(report: AuditReport) -> bytes:
    """The case as a Gantt chart, PNG bytes: one row per task, then the messages and the
    disclosures. Same report, same bytes."""
    frame = _frame(report)
    height = frame.height
    fig = Figure(figsize=(FIG_WIDTH, height), dpi=200)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.33, right=0.97, top=1 - 0.2 / height, bottom=1.1 / height)
    ax = fig.add_subplot()
    for y, task in enumerate(report.tasks):
        _draw_task_row(ax, y, task, frame, report)
    base = len(report.tasks) + 0.4
    ax.axhline(base - 0.45, color="#999999", lw=0.6)
    _draw_notifications(ax, base + 0.1, report, frame)
    _draw_disclosures(ax, base + 1.1, report, frame)
    _draw_instants(ax, report, frame)
    ax.set_ylim(base + 1.6, -0.7)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    _time_axis(ax, report, frame)
    _legend(fig, report, frame, 0.02 / height)
    buf = io.BytesIO()
    # No "Software" entry: the bytes stay the same across matplotlib patch releases.
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


# -- the PDF ----------------------------------------------------------------------------------


def _report_styles() -> dict[str, ParagraphStyle]:
    st = _styles()
    # A heading never ends a page: it stays with the table or paragraph it introduces.
    st["h2"] = ParagraphStyle(
        "h2", parent=st["h1"], fontSize=12.5, spaceBefore=10, spaceAfter=4, keepWithNext=1
    )
    st["cell"] = ParagraphStyle("cell7", parent=st["cell"], fontSize=7.5, leading=9.3)
    st["cell_head"] = ParagraphStyle("head7", parent=st["cell_head"], fontSize=7.5, leading=9.3)
    st["cell_grey"] = ParagraphStyle("grey", parent=st["cell"], textColor="#555555")
    st["cell_mono"] = ParagraphStyle("mono7", parent=st["mono"], fontSize=6.5, leading=8.8)
    # Confide's Message-IDs are 50 characters: at this size one fits its column unbroken.
    st["cell_msgid"] = ParagraphStyle("msgid", parent=st["mono"], fontSize=6.2, leading=8.8)
    st["flag"] = ParagraphStyle("flag", parent=st["cell"], textColor="#B03A2E")
    st["warn"] = ParagraphStyle(
        "warn",
        parent=st["body"],
        fontSize=9,
        leading=12,
        textColor="#B03A2E",
        borderColor="#B03A2E",
        borderWidth=0.6,
        borderPadding=5,
        backColor="#FDEDEC",
        spaceBefore=4,
        spaceAfter=8,
        leftIndent=5,
        rightIndent=5,
    )
    return st


def _when(ts: datetime | None, report: AuditReport) -> str:
    """A table cell's time: the letters' wording, the clock on its own line so narrow columns
    break it in one place."""
    if ts is None:
        return "—"
    day, clock = local(ts, report.timezone).rsplit(", ", 1)
    return f"{_text(day)},<br/>{_text(clock)}"


def _table(
    rows: list[list], widths: list[float], extra: Sequence[tuple] = (), ruled: bool = True
) -> Table:
    """The house table: the last column takes the rest of the width, the bold header repeats
    on every page, a hairline under each row (`ruled`) or only where `extra` says."""
    widths = [*widths, CONTENT_WIDTH - sum(widths)]
    table = Table(rows, colWidths=widths, repeatRows=1)
    style: list[tuple] = [
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        *([("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey)] if ruled else []),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        *extra,
    ]
    table.setStyle(TableStyle(style))
    return table


def _head(st: dict[str, ParagraphStyle], *names: str) -> list[Paragraph]:
    return [Paragraph(n, st["cell_head"]) for n in names]


def _cell(value: str | None, style: ParagraphStyle) -> Paragraph:
    return Paragraph(_text(value) if value else "—", style)


def _facts(pairs: Sequence[tuple[str, str]], st: dict[str, ParagraphStyle]) -> Table:
    """Label/value lines (values already markup), as the packet's document headers set them."""
    rows = [
        [Paragraph(label, st["label"]), Paragraph(value, st["value"])] for label, value in pairs
    ]
    table = Table(rows, colWidths=[95, CONTENT_WIDTH - 95])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return table


def _title(report: AuditReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    generated = local(report.generated_at, report.timezone)
    return [
        Paragraph(f"Audit report — {_text(report.case_id)}", st["clinic"]),
        Paragraph(
            f"Clinic {_text(report.clinic_id)} · generated {_text(generated)} · all times are "
            f"clinic time ({_text(report.timezone)})",
            st["meta"],
        ),
        Spacer(1, 6),
    ]


def _trigger(report: AuditReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    trig = report.trigger
    pairs = [
        ("Kind", _text(trig.kind)),
        ("Reference", _text(trig.reference)),
        ("Received", _text(local(trig.received_at, report.timezone))),
        ("Source", _text(trig.source)),
    ]
    pairs += [(_text(k.replace("_", " ").capitalize()), _text(v)) for k, v in trig.details.items()]
    return [Paragraph("What started it", st["h2"]), _facts(pairs, st)]


def _rules_table(policy: PolicyView, st: dict[str, ParagraphStyle]) -> Table:
    rows: list[list] = [_head(st, "Rule", "Reference", "Sources", "Unverified")]
    extra: list[tuple] = []
    for rule in policy.rules:
        if rule.unverified:
            # Flagged in words and in colour: a grey printout must still say it.
            flag = "UNVERIFIED: " + ", ".join(rule.unverified)
            extra.append(("BACKGROUND", (0, len(rows)), (-1, len(rows)), "#FDEDEC"))
            last = Paragraph(f"<b>{_text(flag)}</b>", st["flag"])
        else:
            last = Paragraph("nothing flagged", st["cell_grey"])
        sources = "<br/>".join(_text(s) for s in rule.sources) or "—"
        rows.append(
            [
                _cell(rule.name, st["cell"]),
                _cell(rule.reference, st["cell"]),
                Paragraph(sources, st["cell"]),
                last,
            ]
        )
    return _table(rows, [100, 110, 170], extra)


def _policy(policy: PolicyView, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [
        Paragraph(
            f"Jurisdiction {_text(policy.jurisdiction)}, version "
            f"<font face='Courier'>{_text(policy.version)}</font>, as frozen into workflow "
            f"<font face='Courier'>{_text(policy.workflow_id)}</font> at its start.",
            st["value"],
        ),
        Spacer(1, 3),
    ]
    flagged = [r.name for r in policy.rules if r.unverified]
    if flagged:
        story.append(
            Paragraph(
                f"<b>Unverified rules:</b> {_text(', '.join(flagged))}. Parts of these were not "
                "confirmed against a source actually seen; check them against the official text "
                "before relying on this case's deadlines or duties.",
                st["warn"],
            )
        )
    story.append(_rules_table(policy, st))
    return story


def _policies(report: AuditReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [Paragraph("Policy the case ran on", st["h2"])]
    if not report.policies:
        return [*story, Paragraph("No policy snapshot was found in the workflows.", st["body"])]
    for policy in report.policies:
        story += [*_policy(policy, st), Spacer(1, 6)]
    return story


def _timeline_summary(report: AuditReport) -> str:
    """One sentence an auditor reads before the chart: how many tasks, how many late."""
    if not report.tasks:
        return "No human tasks were created."
    states = [_state(t, report.generated_at) for t in report.tasks]
    parts = [f"{states.count(s)} {s}" for s in COLOURS if s in states]
    noun = "task" if len(report.tasks) == 1 else "tasks"
    return f"{len(report.tasks)} {noun}: {', '.join(parts)}."


def _timeline(report: AuditReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    png = timeline_png(report)
    w, h = ImageReader(io.BytesIO(png)).getSize()
    width = CONTENT_WIDTH
    image = Image(io.BytesIO(png), width=width, height=width * h / w)
    return [
        KeepTogether(
            [
                Paragraph("Timeline", st["h2"]),
                Paragraph(_text(_timeline_summary(report)), st["value"]),
                Spacer(1, 4),
                image,
                Paragraph(
                    "Each bar runs from a task's creation to its completion; an open task's bar "
                    "runs to the time of this report. The dashed lines mark when the trigger "
                    "was received and when this report was generated.",
                    st["meta"],
                ),
            ]
        )
    ]


def _workflow_row(wf: WorkflowView, st: dict[str, ParagraphStyle]) -> list:
    clean = wf.replay == "clean"
    replay = _text(wf.replay) if clean else f"<b>{_text(wf.replay)}</b>"
    status = _text(wf.status) + (f"<br/>{_text(wf.phase)}" if wf.phase else "")
    ids = f"{_text(wf.workflow_id)}<br/><font color='#555555'>{_text(wf.run_id)}</font>"
    return [
        Paragraph(ids, st["cell_mono"]),
        _cell(wf.workflow_type, st["cell"]),
        _cell(wf.source, st["cell"]),
        Paragraph(status, st["cell"]),
        Paragraph(str(wf.events), st["cell"]),
        Paragraph(replay, st["cell"] if clean else st["flag"]),
    ]


def _workflows(report: AuditReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    rows = [_head(st, "Workflow id / run id", "Type", "History from", "Status", "Events", "Replay")]
    rows += [_workflow_row(wf, st) for wf in report.workflows]
    return [Paragraph("Workflows", st["h2"]), _table(rows, [156, 82, 44, 92, 32])]


def _task_cells(task: TaskRow, report: AuditReport, st: dict[str, ParagraphStyle]) -> list:
    now = report.generated_at
    state = _state(task, now)
    result = _text(_result_text(task, now))
    late = state in ("late", "open, overdue")
    return [
        Paragraph(f"<b>{_text(task.title)}</b><br/><i>{_text(task.role)}</i>", st["cell"]),
        Paragraph(_when(task.created_at, report), st["cell"]),
        Paragraph(_when(task.due_at, report), st["cell"]),
        Paragraph(_when(task.completed_at, report), st["cell"]),
        Paragraph(f"<b>{result}</b>" if late else result, st["flag"] if late else st["cell"]),
    ]


def _who(task: TaskRow) -> str:
    """The actor the completion named beside the client identity Temporal recorded for the
    call, on one line so a mismatch (someone completing as someone else) is seen."""
    actor = _text(task.completed_by) if task.completed_by else "—"
    caller = "—"
    if task.caller_identity:
        caller = f"<font face='Courier'>{_text(task.caller_identity)}</font>"
    gap = "&nbsp;" * 4
    return (
        f"<b>Completed by (actor):</b> {actor}{gap}<b>Caller identity:</b> "
        f"{caller}{gap}<b>Approval code:</b> "
        f"{_text(task.approval_code)}"
    )


def _task_detail(task: TaskRow, report: AuditReport) -> str:
    """The line under a task: who, then what the chart shows only as marks."""
    parts = []
    if task.outcome:
        parts.append(f"Outcome: {task.outcome}.")
    if task.reminders:
        times = "; ".join(local(r, report.timezone) for r in task.reminders)
        parts.append(f"Reminded {len(task.reminders)}×: {times}.")
    for e in task.escalations:
        to = f" to {e.to_role}" if e.to_role else ""
        parts.append(f"Escalation {e.round}{to}: {local(e.at, report.timezone)}.")
    if task.note:
        parts.append(f"Note: {task.note}")
    rest = f"<br/>{_text(' '.join(parts))}" if parts else ""
    return _who(task) + rest


def _paired(rows: list[list], main: list, detail: Paragraph) -> list[tuple]:
    """Append a row and a full-width row under it; returns the style that keeps the two on one
    page and rules a line under the pair only."""
    r = len(rows)
    rows += [main, [detail] + [""] * (len(main) - 1)]
    return [
        ("SPAN", (0, r + 1), (-1, r + 1)),
        ("NOSPLIT", (0, r), (-1, r + 1)),
        ("LINEBELOW", (0, r + 1), (-1, r + 1), 0.25, colors.grey),
        ("TOPPADDING", (0, r + 1), (-1, r + 1), 0),
    ]


def _tasks(report: AuditReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    rows: list[list] = [_head(st, "Task / role", "Created", "Due", "Completed", "Result")]
    extra: list[tuple] = []
    for task in report.tasks:
        detail = Paragraph(_task_detail(task, report), st["cell_grey"])
        extra += _paired(rows, _task_cells(task, report, st), detail)
    return [Paragraph("Tasks", st["h2"]), _table(rows, [150, 76, 76, 76], extra, ruled=False)]


def _notification_row(n: NotificationRow, report: AuditReport, st: dict[str, ParagraphStyle]):
    if n.status == "sent":
        sent = _when(n.sent_at, report)
    else:
        sent = f"<b>{n.status}</b>; was due {_when(n.scheduled_at, report)}"
    return [
        Paragraph(f"{_text(n.kind)}<br/><i>{_text(n.step)}</i>", st["cell"]),
        Paragraph(f"{_text(n.recipient)}<br/>{_text(n.to)} ({_text(n.channel)})", st["cell"]),
        Paragraph(sent, st["cell"] if n.status == "sent" else st["flag"]),
        _cell(n.message_id, st["cell_msgid"] if n.message_id else st["cell"]),
    ]


def _notifications(report: AuditReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [Paragraph("Notifications", st["h2"])]
    if not report.notifications:
        return [*story, Paragraph("Confide sent no messages for this case.", st["body"])]
    rows = [_head(st, "Kind / step", "Recipient / address", "Sent", "Message-ID")]
    rows += [_notification_row(n, report, st) for n in report.notifications]
    return [*story, _table(rows, [88, 132, 76])]


def _documents_line(d: DisclosureRow) -> str:
    """What left, by id, and the packet's manifest hash unbroken on its own line: a clerk
    compares it character by character."""
    if not d.documents:
        return "No records left with this disclosure."
    ids = ", ".join(f"<font face='Courier'>{_text(doc.id)}</font>" for doc in d.documents)
    line = f"<b>{_count(len(d.documents), 'document')} released:</b> {ids}"
    if d.manifest_sha256:
        line += (
            f"<br/><b>Packet manifest SHA-256:</b> "
            f"<font face='Courier'>{_text(d.manifest_sha256)}</font>"
        )
    return line


def _disclosure_row(d: DisclosureRow, report: AuditReport, st: dict[str, ParagraphStyle]):
    what = f"{_text(d.description)}<br/><i>{_text(d.purpose)}</i>"
    if not d.accountable:
        what += "<br/>(not listed in the patient's accounting)"
    recipient = f"<b>{_text(d.recipient_name)}</b><br/>{_text(d.recipient_address)}"
    return [
        Paragraph(_when(d.disclosed_at, report), st["cell"]),
        Paragraph(f"{recipient}<br/><i>{_text(d.channel)}</i>", st["cell"]),
        Paragraph(what, st["cell"]),
        _cell(d.legal_basis, st["cell"]),
    ]


def _disclosures(report: AuditReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [Paragraph("Disclosures (the ledger)", st["h2"])]
    if not report.disclosures:
        return [*story, Paragraph("The ledger holds no disclosure for this case.", st["body"])]
    rows: list[list] = [_head(st, "Date", "Recipient", "What and why", "Legal basis")]
    extra: list[tuple] = []
    for d in report.disclosures:
        docs = Paragraph(_documents_line(d), st["cell_grey"])
        extra += _paired(rows, _disclosure_row(d, report, st), docs)
    return [*story, _table(rows, [76, 130, 150], extra, ruled=False)]


def _outcomes(report: AuditReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    rows = [_head(st, "Workflow", "Status", "Phase", "Summary")]
    rows += [
        [
            _cell(o.workflow_id, st["cell_mono"]),
            _cell(o.status, st["cell"]),
            _cell(o.phase, st["cell"]),
            _cell(o.summary, st["cell"]),
        ]
        for o in report.outcomes
    ]
    return [Paragraph("Outcomes", st["h2"]), _table(rows, [150, 75, 80])]


def _ledger_chain(report: AuditReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The ledger's hash chain as of the report: what an auditor notes to compare later."""
    if not report.ledger_chain:
        return []
    pairs = [
        (_text(k.replace("_", " ").capitalize()), f"<font face='Courier'>{_text(str(v))}</font>")
        for k, v in report.ledger_chain.items()
    ]
    return [Paragraph("Ledger hash chain", st["h2"]), _facts(pairs, st)]


def _header(report: AuditReport):
    """Pages after the first carry the case and the report time at the top, so a loose page
    still says what it belongs to."""
    line = (
        f"Audit report — {report.case_id} · generated {local(report.generated_at, report.timezone)}"
    )

    def draw(canvas: Canvas, _doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.HexColor("#444444"))
        canvas.drawString(MARGIN, LETTER[1] - 0.5 * inch, line)
        canvas.restoreState()

    return draw


def render_pdf(report: AuditReport) -> bytes:
    """The audit report as PDF bytes, letter size. Same report, same bytes."""
    st = _report_styles()
    buf = io.BytesIO()
    doc = letter_document(
        buf, f"Audit report — {report.case_id}", report.clinic_id, f"case {report.case_id}"
    )
    story = _title(report, st) + _trigger(report, st) + _policies(report, st)
    story += _timeline(report, st) + _workflows(report, st) + _tasks(report, st)
    story += _notifications(report, st) + _disclosures(report, st) + _outcomes(report, st)
    story += _ledger_chain(report, st)
    footer = f"{report.clinic_id} · audit report · case {report.case_id}"
    doc.build(story, onLaterPages=_header(report), canvasmaker=_numbered_canvas(footer))
    return buf.getvalue()
