"""`confide audit report CASE` on a terminal: each workflow, task, notice and disclosure as a
block of labelled lines that fits the width (cli.layout), times in the clinic's zone with its
abbreviation, ids, hashes and Message-IDs whole. The JSON (`--json`) and the PDF are rendered
from the same AuditReport elsewhere (audit.report_model, audit.report_pdf)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from audit.report_model import AuditReport, NotificationRow, PolicyView, TaskRow, WorkflowView
from cli.layout import Zones, bullet, count, fields, para
from cli.listings import LedgerListing, render_ledger
from domain.local_time import local


def duration(d: timedelta) -> str:
    """'2 d 3 h', '3 h 10 min', '4 min': how late, as a person says it."""
    minutes = int(d.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{mins} min"] * bool(mins)
    return " ".join(parts[:2]) or "under a minute"


class ReportText(BaseModel):
    """The report and the width it must fit."""

    report: AuditReport
    width: int = 80


def _at(a: ReportText, ts: datetime | None) -> str:
    return local(ts, a.report.timezone) if ts else ""


def _section(title: str, n: int | None, a: ReportText) -> list[str]:
    return ["", *para(title if n is None else f"{title} ({n})", a.width)]


def _trigger(a: ReportText) -> list[str]:
    r, t = a.report, a.report.trigger
    rows = [
        ("clinic", f"{r.clinic_id} (times in {r.timezone})"),
        ("generated", _at(a, r.generated_at)),
        ("started by", f"a {t.kind} ({t.reference}) from {t.source}"),
        ("received", _at(a, t.received_at)),
    ]
    rows += [(k, v) for k, v in t.details.items()]
    return para(f"Audit report: {r.case_id}", a.width) + fields(rows, a.width)


def _policy(p: PolicyView, a: ReportText) -> list[str]:
    out = para(
        f"{p.jurisdiction}, version {p.version}, frozen at the start of {p.workflow_id}:",
        a.width,
        "  ",
    )
    for rule in p.rules:
        said = rule.name + (f": {rule.reference}" if rule.reference else "")
        if rule.unverified:
            said += "; unverified: " + ", ".join(rule.unverified)
        out += bullet(said, a.width)
        out += (
            fields([("sources", "\n".join(rule.sources))], a.width, "    ") if rule.sources else []
        )
    return out


def _workflow(w: WorkflowView, a: ReportText) -> list[str]:
    replay = "clean" if w.replay == "clean" else f"FAIL: {w.replay}"
    rows = [
        ("type", w.workflow_type),
        ("status", w.status + (f", phase {w.phase}" if w.phase else "")),
        ("history", f"{count(w.events, 'event')} from {w.source}; run {w.run_id}"),
        ("started", _at(a, w.started_at)),
    ]
    if w.closed_at:
        rows.append(("closed", _at(a, w.closed_at)))
    rows.append(("replay", replay))
    return para(w.workflow_id, a.width, "  ") + fields(rows, a.width, "    ")


def _task(k: TaskRow, a: ReportText) -> list[str]:
    state = k.status
    if k.completed_at:
        state = "on time" if k.late_by is None else f"late by {duration(k.late_by)}"
    rows = [
        ("task", f"{k.task_id} in {k.workflow_id}"),
        ("role", k.role),
        ("created", _at(a, k.created_at)),
        ("due", _at(a, k.due_at)),
    ]
    rows += [("reminded", _at(a, x)) for x in k.reminders]
    rows += [
        ("escalated", _at(a, e.at) + (f" to {e.to_role}" if e.to_role else ""))
        for e in k.escalations
    ]
    if k.completed_at:
        rows.append(("completed", f"{_at(a, k.completed_at)} by {k.completed_by or 'unknown'}"))
        rows.append(("outcome", k.outcome or ""))
    if k.caller_identity:
        rows.append(("sent by", f"{k.caller_identity} (the history event's identity)"))
    rows.append(("code", k.approval_code))
    return para(f"{k.title}: {state}", a.width, "  ") + fields(rows, a.width, "    ")


def _notice(n: NotificationRow, a: ReportText) -> list[str]:
    status = "FAILED" if n.status == "failed" else n.status
    when = _at(a, n.sent_at) if n.sent_at else f"scheduled {_at(a, n.scheduled_at)}"
    rows = [
        ("to", f"{n.to} ({n.recipient}, by {n.channel})"),
        ("step", f"{n.step} in {n.workflow_id}"),
    ]
    if n.message_id:
        rows.append(("Message-ID", n.message_id))
    return para(f"{n.kind}, {status}: {when}", a.width, "  ") + fields(rows, a.width, "    ")


def render_report(a: ReportText) -> list[str]:
    """Every section of the report, in reading order."""
    r = a.report
    out = _trigger(a)
    out += _section("Policy", None, a)
    for p in r.policies:
        out += _policy(p, a)
    out += _section("Workflows", len(r.workflows), a)
    for w in r.workflows:
        out += _workflow(w, a)
    out += _section("Tasks", len(r.tasks), a)
    for k in r.tasks:
        out += _task(k, a)
    if not r.tasks:
        out += ["  No human tasks were created."]
    out += _section("Notifications", len(r.notifications), a)
    for n in r.notifications:
        out += _notice(n, a)
    out += ["", "Disclosures (the ledger)"]
    zones = Zones(by_clinic={r.clinic_id: r.timezone})
    out += render_ledger(
        LedgerListing(case_id=r.case_id, rows=list(r.disclosures), zones=zones, width=a.width)
    )
    out += _section("Outcome", None, a)
    for o in r.outcomes:
        status = o.status + (f", phase {o.phase}" if o.phase else "")
        out += para(f"{o.workflow_id}: {status}", a.width, "  ")
        out += para(o.summary, a.width, "    ")
    if r.ledger_chain:
        # No full stop after the hash: it is copied to compare with the next verify.
        out += [""] + para(
            f"Ledger chain at report time: {r.ledger_chain['links']} entries, head "
            f"{r.ledger_chain['head_sha256']}",
            a.width,
        )
    return out
