"""The auditor's report of a finished duty-to-warn case, built from its histories and the ledger
alone, checked against what independently happened: the mails the SMTP server received, the
ledger's rows, the completions the test made."""

from __future__ import annotations

import re
import subprocess
import uuid
from datetime import timedelta

import pytest

from audit.replay import recorded
from audit.report_model import AuditReport
from audit.timeline import build_report
from cli.audit_text import ReportText, render_report
from domain.flags import Flag
from domain.tasks import TaskCompletion
from intake.cases import start_case
from tests.conftest import make_worker
from tests.support import (
    code_from_mail,
    demo_clinic,
    eventually,
    flag_body,
    task_of,
    with_code,
)
from workflows.case import CaseWorkflow

THREAT = {"serious_threat": True, "identifiable_victims": True, "imminent": True}
NO_THREAT = {"serious_threat": False, "identifiable_victims": False, "imminent": False}


async def _complete(client, task, **kw) -> None:
    await client.get_workflow_handle(task.workflow_id).execute_update(
        "complete_task", TaskCompletion(**with_code(task, {"task_id": task.task_id, **kw}))
    )


@pytest.fixture
async def finished_tx_case(ts_env, smtp, mail, ledger, task_queue):
    """A Texas (permissive) threat: assessment, supervisor's coded approval, police notified,
    reassessment a week later; run to the end on the time-skipping server."""
    client = ts_env.client
    flag = Flag.model_validate(
        flag_body(flag_id=f"AUD-{uuid.uuid4().hex[:8]}", jurisdiction="US-TX")
    )
    done: dict[str, str] = {}
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        h = started.handle
        assessment = await task_of(h, "risk_assessment")
        await _complete(client, assessment, actor="dr-lee", data=THREAT)
        done[assessment.task_id] = "dr-lee"
        decision = await task_of(h, "release_decision")
        code = await code_from_mail(mail, "kim@demo-clinic.test", decision.task_id)
        await _complete(
            client,
            decision,
            actor="sup-kim",
            outcome="approve",
            code=code,
            data={"actions": ["notify_law_enforcement"], "reason": "imminent"},
        )
        done[decision.task_id] = "sup-kim"
        await eventually(lambda: mail.to("police@agency.test"))
        await ts_env.sleep(timedelta(days=7))
        again = await task_of(h, "reassessment")
        await _complete(client, again, actor="dr-lee", data=NO_THREAT)
        done[again.task_id] = "dr-lee"
        await h.result()
        status = await h.query(CaseWorkflow.status)
    ids = [started.case_id] + [c.workflow_id for c in status.concerns]
    runs = [recorded(await client.get_workflow_handle(w).fetch_history(), "temporal") for w in ids]
    report = await build_report(runs, ledger)
    return report, status, done, client


async def test_every_task_notification_and_disclosure_appears_with_actor_and_times(
    finished_tx_case, mail, ledger
):
    report, status, done, client = finished_tx_case

    # Tasks: each completion the test made, with the actor it named and the caller's identity
    # as the history recorded it, side by side; every decision shows its code checked (the
    # assessments too, since issue 12).
    tasks = {t.task_id: t for t in report.tasks}
    assert set(tasks) == set(done)
    for task_id, actor in done.items():
        t = tasks[task_id]
        assert t.status == "done" and t.completed_by == actor
        assert t.caller_identity == client.identity
        assert t.created_at <= t.completed_at and t.due_at > t.created_at
        assert t.late_by is None and t.on_time
    codes = {t.kind: t.approval_code for t in report.tasks}
    assert codes == {
        "risk_assessment": "verified",
        "release_decision": "verified",
        "reassessment": "verified",
    }

    # Notifications: every message the SMTP server received is in the report, to the same
    # address, with the same Message-ID; nothing in the report that was not received.
    received = {(m["Message-ID"], m["To"]) for m in mail.messages}
    reported = {(n.message_id, n.to) for n in report.notifications if n.message_id}
    assert received == reported
    assert all(n.status == "sent" and n.sent_at for n in report.notifications)
    # Approval codes are listed per approver (their mail's Message-ID is not returned).
    assert any(n.kind == "approval code" and n.recipient == "sup-kim" for n in report.notifications)

    # Disclosures: exactly the ledger's rows.
    rows = ledger.for_case(report.case_id)
    assert rows and [d.model_dump() for d in report.disclosures] == [r.model_dump() for r in rows]

    # The trigger, the policy snapshot the case ran on, and the outcome.
    assert report.trigger.kind == "flag" and report.case_id.endswith(report.trigger.reference)
    [policy] = report.policies
    assert policy.jurisdiction == "US-TX" and policy.version == status.policy_version
    assert policy.rules and all(r.sources for r in policy.rules)
    assert {o.status for o in report.outcomes} == {"COMPLETED"}
    assert [w.replay for w in report.workflows] == ["clean", "clean"]
    assert report.timezone == "America/Los_Angeles"


async def test_the_report_as_json_tables_and_a_rendered_pdf(finished_tx_case, tmp_path):
    report, _, _, _ = finished_tx_case

    # JSON round-trips through the model: what `--json` prints validates.
    assert AuditReport.model_validate_json(report.model_dump_json()) == report

    # Tables: times in the clinic's zone, not UTC ISO.
    text = "\n".join(render_report(ReportText(report=report, width=1000)))
    assert re.search(r"\b(PST|PDT)\b", text)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text)
    for t in report.tasks:
        assert t.title in text
    assert "verified" in text and "on time" in text

    from audit.report_pdf import render_pdf

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(report))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    [png] = list(tmp_path.glob("page*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_escalations_read_the_role_from_old_and_new_subjects():
    """Subjects said "task OVERDUE, escalated to privacy_officer (case X)"; they now say
    "OVERDUE task escalated to privacy officer (case X)": both give the role."""
    from datetime import UTC, datetime

    from audit.report_model import NotificationRow
    from audit.timeline import _escalations

    def row(step: str, subject: str, hour: int) -> NotificationRow:
        return NotificationRow(
            workflow_id="w",
            step=step,
            kind="escalation",
            recipient="staff-po-diaz",
            to="po@demo-clinic.test",
            channel="email",
            subject=subject,
            scheduled_at=datetime(2026, 12, 4, hour, tzinfo=UTC),
            status="sent",
        )

    rounds = _escalations(
        "t",
        [
            row("t.overdue1", "Confide: task OVERDUE, escalated to supervisor (case c)", 1),
            row(
                "t.overdue2", "[Demo Clinic] OVERDUE task escalated to privacy officer (case c)", 2
            ),
            row("t.overdue3", "Confide: task OVERDUE, escalated to privacy_officer (case c)", 3),
        ],
    )
    assert [r.to_role for r in rounds] == ["supervisor", "privacy_officer", "privacy_officer"]


async def test_a_running_concern_reports_its_phase_not_failed(
    ts_env, smtp, mail, ledger, task_queue
):
    """Replaying a running case to the end of its history cancels the replay's tasks (as a
    cache eviction does): that must not read as the concern failing."""
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id=f"RUN-{uuid.uuid4().hex[:8]}"))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        assessment = await task_of(started.handle, "risk_assessment")
        await _complete(client, assessment, actor="dr-lee", data=THREAT)
        await eventually(lambda: len(ledger.for_case(started.case_id)) == 2)
        status = await started.handle.query(CaseWorkflow.status)
        concern = status.concerns[0].workflow_id
        phase = await client.get_workflow_handle(concern).query("status")
        ids = [started.case_id, concern]
        runs = [
            recorded(await client.get_workflow_handle(w).fetch_history(), "temporal") for w in ids
        ]
        report = await build_report(runs, ledger)
        await client.get_workflow_handle(concern).terminate("test done")
        await started.handle.terminate("test done")
    (view,) = [w for w in report.workflows if w.workflow_id == concern]
    assert view.phase == phase["phase"] == "follow_up"
