"""The audit report as terminal tables (rich), times in the clinic's zone."""

from __future__ import annotations

from datetime import datetime, timedelta

from rich.console import Console
from rich.table import Table

from audit.report_model import AuditReport
from domain.legal_letters import local


def duration(d: timedelta) -> str:
    """'2 d 3 h', '3 h 10 min', '4 min': how late, as a person says it."""
    minutes = int(d.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{mins} min"] * bool(mins)
    return " ".join(parts[:2]) or "under a minute"


def _table(title: str, *columns: str) -> Table:
    t = Table(*columns, title=title, title_justify="left", show_lines=False)
    for c in t.columns:
        c.overflow = "fold"
    return t


def print_report(console: Console, r: AuditReport) -> None:
    """Every section of the report, in reading order."""

    def at(ts: datetime | None) -> str:
        return local(ts, r.timezone) if ts else ""

    console.print(
        f"[bold]Audit report: {r.case_id}[/]  (clinic {r.clinic_id}, times in {r.timezone})"
    )
    console.print(f"Generated {at(r.generated_at)}.")
    tr = r.trigger
    console.print(
        f"Started by a {tr.kind} ({tr.reference}) received {at(tr.received_at)} from {tr.source}."
    )
    for key, value in tr.details.items():
        console.print(f"  {key}: {value}")

    for p in r.policies:
        t = _table(
            f"Policy {p.jurisdiction}, version {p.version} (frozen at start of {p.workflow_id})",
            "rule",
            "reference",
            "sources",
            "unverified",
        )
        for rule in p.rules:
            t.add_row(
                rule.name,
                rule.reference or "",
                "\n".join(rule.sources),
                "[yellow]" + "\n".join(rule.unverified) + "[/]" if rule.unverified else "none",
            )
        console.print(t)

    t = _table("Workflows", "workflow", "type", "from", "status", "phase", "events", "replay")
    for w in r.workflows:
        t.add_row(
            w.workflow_id,
            w.workflow_type,
            w.source,
            w.status,
            w.phase or "",
            str(w.events),
            "[green]clean[/]" if w.replay == "clean" else f"[red]{w.replay}[/]",
        )
    console.print(t)

    t = _table(
        "Tasks",
        "task",
        "role",
        "created",
        "due",
        "reminded / escalated",
        "completed by",
        "caller identity",
        "code",
        "completed",
        "on time",
    )
    for k in r.tasks:
        when = "open" if k.status == "open" else k.status
        if k.completed_at:
            when = "on time" if k.late_by is None else f"[red]late by {duration(k.late_by)}[/]"
        t.add_row(
            f"{k.title}\n({k.task_id}, {k.outcome or k.status})",
            k.role,
            at(k.created_at),
            at(k.due_at),
            "\n".join(
                [f"reminder {at(x)}" for x in k.reminders]
                + [
                    f"escalated {at(e.at)}" + (f" to {e.to_role}" if e.to_role else "")
                    for e in k.escalations
                ]
            ),
            k.completed_by or "",
            k.caller_identity or "",
            k.approval_code,
            at(k.completed_at),
            when,
        )
    console.print(t)

    t = _table("Notifications", "kind", "step", "recipient", "to", "sent", "Message-ID", "status")
    for n in r.notifications:
        t.add_row(
            n.kind,
            n.step,
            n.recipient,
            n.to,
            at(n.sent_at),
            n.message_id or "",
            n.status if n.status == "sent" else f"[red]{n.status}[/]",
        )
    console.print(t)

    t = _table(
        "Disclosures (ledger)", "date", "recipient", "what", "purpose", "legal basis", "task"
    )
    for d in r.disclosures:
        what = d.description + (
            f"\n{len(d.documents)} document(s), manifest {d.manifest_sha256}" if d.documents else ""
        )
        t.add_row(
            at(d.disclosed_at),
            f"{d.recipient_name}\n{d.recipient_address}",
            what,
            d.purpose,
            d.legal_basis,
            d.task_ref or "",
        )
    console.print(t if r.disclosures else "No disclosures recorded in the ledger for this case.")

    t = _table("Outcome", "workflow", "status", "summary")
    for o in r.outcomes:
        t.add_row(o.workflow_id, o.status, o.summary)
    console.print(t)
    if r.ledger_chain:
        console.print(
            f"Ledger chain at report time: {r.ledger_chain['links']} entries, head "
            f"{r.ledger_chain['head_sha256']}."
        )
