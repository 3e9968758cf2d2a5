"""The audit report's PDF and its timeline chart, from a synthetic report (fake data): the facts
an auditor looks for are in the text, in clinic time; page 1 renders; the chart is a PNG."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta

import pypdf
import pytest

from audit.report_model import (
    AuditReport,
    DisclosureRow,
    Escalation,
    NotificationRow,
    OutcomeView,
    PolicyView,
    RuleView,
    TaskRow,
    Trigger,
    WorkflowView,
)
from audit.report_pdf import duration_text, render_pdf, timeline_png
from domain.notices import message_id
from domain.records import DisclosedDocument

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CASE = "demo-clinic.C-7F3A"
ZONE = "America/Los_Angeles"
WF_MAIN = f"duty-to-warn-{CASE}"
WF_BOARD = f"task-board-{CASE}"
MESSAGE_ID = message_id(CASE, "warn.notice", "intended-victim")
MANIFEST = "9f2c1e7b" * 8


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    """December 2026, given in UTC (PST is UTC-8): the report's times are aware UTC values."""
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def task(**kw) -> TaskRow:
    base = dict(
        workflow_id=WF_MAIN,
        kind="decide",
        role="clinician",
        allowed_roles=["clinician"],
        assignee=None,
        approval_code="not required",
    )
    return TaskRow(**(base | kw))


def tasks() -> list[TaskRow]:
    return [
        task(
            task_id="t1",
            title="Assess the threat and decide whether to warn",
            assignee="dr-lee",
            created_at=utc(1, 17),
            due_at=utc(1, 19),
            status="done",
            completed_by="dr-lee",
            caller_identity="web-ui@confide-web-1",
            completed_at=utc(1, 18, 20),
            outcome="warn",
            approval_code="verified",
        ),
        task(
            task_id="t2",
            kind="warn",
            title="Warn the intended victim by phone",
            role="privacy-officer",
            allowed_roles=["privacy-officer", "clinical-director"],
            created_at=utc(1, 18, 20),
            due_at=utc(1, 20, 20),
            status="done",
            reminders=[utc(1, 19, 20)],
            escalations=[
                Escalation(at=utc(1, 20, 20), round=1, to_role="clinical-director"),
                Escalation(at=utc(1, 21, 50), round=2, to_role="clinic-owner"),
            ],
            completed_by="po-garcia",
            caller_identity="cli:po-garcia@laptop-22",
            completed_at=utc(1, 23, 30),
            outcome="warned",
            approval_code="verified",
            late_by=timedelta(hours=3, minutes=10),
        ),
        task(
            task_id="t3",
            kind="notify",
            title="Call the police (superseded by the warning)",
            role="privacy-officer",
            created_at=utc(1, 18, 25),
            due_at=utc(1, 22),
            status="cancelled",
            approval_code="not issued",
        ),
        task(
            task_id="t4",
            kind="document",
            title="Document the warning in the chart",
            workflow_id=WF_BOARD,
            created_at=utc(1, 23, 30),
            due_at=utc(2, 23, 30),
            status="open",
            approval_code="not completed",
        ),
    ]


def notifications() -> list[NotificationRow]:
    return [
        NotificationRow(
            workflow_id=WF_MAIN,
            step="warn.reminder",
            kind="reminder",
            recipient="privacy-officer",
            to="privacy@demo-clinic.example",
            channel="email",
            scheduled_at=utc(1, 19, 20),
            sent_at=utc(1, 19, 20),
            message_id=message_id(CASE, "warn.reminder", "privacy-officer"),
            status="sent",
        ),
        NotificationRow(
            workflow_id=WF_MAIN,
            step="warn.escalation.1",
            kind="escalation",
            recipient="clinical-director",
            to="director@demo-clinic.example",
            channel="email",
            scheduled_at=utc(1, 20, 20),
            status="failed",
        ),
        NotificationRow(
            workflow_id=WF_MAIN,
            step="warn.notice",
            kind="notice",
            recipient="intended-victim",
            to="victim@example.net",
            channel="email",
            subject="Demo Clinic: an important notice",
            scheduled_at=utc(1, 23, 35),
            sent_at=utc(1, 23, 35),
            message_id=MESSAGE_ID,
            status="sent",
        ),
    ]


def disclosure() -> DisclosureRow:
    return DisclosureRow(
        case_id=CASE,
        step="warn.notice",
        recipient_key="intended-victim",
        clinic_id="demo-clinic",
        patient_ref="P-301",
        disclosed_at=utc(1, 23, 35),
        recipient_name="Santa Demo County Sheriff",
        recipient_address="100 Main St, Demo City, CA",
        channel="email",
        description="the threat, its target and the patient's identity",
        purpose="warning of a serious threat of violence",
        legal_basis="Cal. Civ. Code 43.92; 45 CFR 164.512(j)",
        documents=[
            DisclosedDocument(
                id="P-301.doc-2026-progress_note-1",
                category="progress_note",
                date=date(2026, 11, 30),
                sha256="a" * 64,
            ),
            DisclosedDocument(
                id="P-301.doc-2026-assessment-1",
                category="assessment",
                date=date(2026, 12, 1),
                sha256="b" * 64,
            ),
        ],
        manifest_sha256=MANIFEST,
    )


def report() -> AuditReport:
    return AuditReport(
        case_id=CASE,
        clinic_id="demo-clinic",
        timezone=ZONE,
        generated_at=utc(2, 17),
        trigger=Trigger(
            kind="flag",
            reference="flag-7f3a",
            received_at=utc(1, 16, 55),
            source="session note, Dr. Lee",
            details={"flag_kind": "threat_to_others", "severity": "imminent"},
        ),
        policies=[
            PolicyView(
                workflow_id=WF_MAIN,
                jurisdiction="US-CA",
                version="sha256:5d41402abc4b2a76b9719d911017c592",
                rules=[
                    RuleView(
                        name="duty_to_warn",
                        reference="Cal. Civ. Code 43.92",
                        sources=["leginfo.legislature.ca.gov 43.92", "Tarasoff (1976)"],
                    ),
                    RuleView(
                        name="discharge",
                        reference="Cal. Civ. Code 43.92(b)",
                        sources=["CAMFT summary (2024)"],
                        unverified=["discharge_plans"],
                    ),
                ],
            )
        ],
        workflows=[
            WorkflowView(
                workflow_id=WF_MAIN,
                run_id="1a2b3c4d-0000-4000-8000-000000000001",
                workflow_type="DutyToWarnWorkflow",
                source="temporal",
                started_at=utc(1, 16, 56),
                closed_at=utc(1, 23, 40),
                status="COMPLETED",
                events=212,
                phase="closed",
                replay="clean",
            ),
            WorkflowView(
                workflow_id=WF_BOARD,
                run_id="1a2b3c4d-0000-4000-8000-000000000002",
                workflow_type="TaskBoardWorkflow",
                source="archive",
                started_at=utc(1, 16, 56),
                closed_at=None,
                status="CONTINUED_AS_NEW",
                events=1804,
                replay="nondeterminism at event 42 (ActivityTaskScheduled)",
            ),
        ],
        tasks=tasks(),
        notifications=notifications(),
        disclosures=[disclosure()],
        outcomes=[
            OutcomeView(
                workflow_id=WF_MAIN,
                status="COMPLETED",
                phase="closed",
                summary="The intended victim was warned by phone and by email.",
            )
        ],
        ledger_chain={"head": "c" * 64, "links": 17},
    )


def pdf_text(pdf: bytes) -> str:
    """The PDF's text with whitespace collapsed: a table cell may wrap anywhere."""
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    return " ".join(" ".join(p.extract_text().split()) for p in pages)


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_pdf(report())


def test_the_pdf_states_what_an_auditor_checks(pdf):
    text = pdf_text(pdf)
    assert f"Audit report — {CASE}" in text
    for t in tasks():
        assert t.title in text
    # The actor the completion named and the client that sent it, both shown.
    assert "po-garcia" in text and "cli:po-garcia@laptop-22" in text
    assert "web-ui@confide-web-1" in text
    assert "Late by 3 h 10 min" in text
    assert "Open, not yet due" in text
    assert MESSAGE_ID in text
    assert "Santa Demo County Sheriff" in text
    assert "2 documents" in text and MANIFEST in text
    assert "UNVERIFIED: discharge_plans" in text
    assert "nondeterminism at event 42" in text and "archive" in text
    assert "page 1 of" in text


def test_times_are_in_clinic_time_not_utc(pdf):
    text = pdf_text(pdf)
    # 23:30 UTC on Dec 1 is 3:30 PM in Los Angeles; the trigger came at 8:55 AM.
    assert "Tue, Dec 1, 2026, 3:30 PM PST" in text
    assert "Received Tue, Dec 1, 2026, 8:55 AM PST" in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", text)
    assert "+00:00" not in text and "UTC" not in text


def test_the_same_report_gives_the_same_bytes(pdf):
    assert render_pdf(report()) == pdf


def test_page_one_renders_to_a_png(pdf, tmp_path):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.fail("pdftoppm not found: apt-get install poppler-utils")
    (tmp_path / "report.pdf").write_bytes(pdf)

    subprocess.run(
        [pdftoppm, "-png", "-r", "60", "-f", "1", "-l", "1", "report.pdf", "page"],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )

    [png] = list(tmp_path.glob("page*.png"))
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 5_000


def test_timeline_is_a_png():
    png = timeline_png(report())
    assert png[:8] == PNG_MAGIC
    assert 20_000 < len(png) < 2_000_000


@pytest.mark.parametrize(
    "span",
    [timedelta(minutes=12), timedelta(days=65)],
    ids=["minutes", "two-months"],
)
def test_timeline_handles_short_and_long_spans(span):
    """Everything squeezed into minutes, or stretched over an accounting's 60+ days."""
    start = utc(1, 17)
    one = task(
        task_id="only",
        title="Answer the accounting request",
        created_at=start,
        due_at=start + span * 0.9,
        completed_at=start + span,
        completed_by="po-garcia",
        status="done",
        late_by=span * 0.1,
    )
    rep = report().model_copy(
        update={"tasks": [one], "notifications": [], "disclosures": [], "generated_at": start}
    )
    rep = rep.model_copy(update={"trigger": rep.trigger.model_copy(update={"received_at": start})})
    png = timeline_png(rep)
    assert png[:8] == PNG_MAGIC
    assert len(png) > 10_000


def test_many_tasks_still_fit_a_page():
    """A chart of 45 tasks is capped in height, so the PDF lays out instead of failing on an
    image taller than the page."""
    start = utc(1, 17)
    many = [
        task(
            task_id=f"m{i}",
            title=f"Review request {i}",
            created_at=start + timedelta(hours=i),
            due_at=start + timedelta(hours=i + 4),
            completed_at=start + timedelta(hours=i + 2),
            status="done",
        )
        for i in range(45)
    ]
    pdf = render_pdf(report().model_copy(update={"tasks": many}))
    text = pdf_text(pdf)
    assert "45 tasks: 45 on time." in text
    assert "Review request 44" in text


def test_duration_text():
    assert duration_text(timedelta(hours=3, minutes=10)) == "3 h 10 min"
    assert duration_text(timedelta(minutes=45)) == "45 min"
    assert duration_text(timedelta(days=2, hours=4, minutes=59)) == "2 d 4 h"
    assert duration_text(timedelta(days=61)) == "61 d"
