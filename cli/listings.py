"""`confide tasks` and `confide ledger` as a person reads them: one block per record, times in
the clinic's zone, ids whole on lines of their own (pure functions of the rows, tested without
a server; the commands in cli/main.py fetch the rows)."""

from __future__ import annotations

from pydantic import BaseModel

from cli.layout import Zones, count, fields, fill, para, series
from domain.clinic import ROLE_WORDS, Clinic
from domain.records import Disclosure
from domain.tasks import TaskView, eligible_actors


class OpenTask(BaseModel):
    """One open task and the case it belongs to."""

    case_id: str
    task: TaskView


class TaskListing(BaseModel):
    """What `confide tasks` prints: the open tasks and the clinics they belong to."""

    tasks: list[OpenTask]
    clinics: dict[str, Clinic] = {}
    width: int = 80
    clinic_filter: str | None = None


def _clinic_of(case_id: str) -> str:
    # A case id is '<clinic>.<the clinic's own key>' (domain.flags.case_id_for).
    return case_id.split(".", 1)[0]


def _who(t: TaskView, clinic: Clinic | None) -> str:
    """Who may complete it: roster ids where the roster is known, and their roles in words."""
    roles = series([ROLE_WORDS[r] for r in t.allowed_roles], "or")
    if t.only_assignee and t.assignee:
        return f"{t.assignee} only (a personal duty)"
    actors = eligible_actors(t, clinic) if clinic is not None else []
    if actors:
        return f"{', '.join(actors)} ({roles})"
    if clinic is not None:
        return f"a {roles}; no one on the roster holds the role"
    return f"{t.assignee} ({roles})" if t.assignee else roles


def _task_block(item: OpenTask, listing: TaskListing) -> list[str]:
    t = item.task
    clinic = listing.clinics.get(_clinic_of(item.case_id))
    zone = Zones(by_clinic={clinic.id: clinic.timezone} if clinic else {})
    due = zone.at(_clinic_of(item.case_id), t.due_at)
    if t.escalation_level:
        due += f", escalated {count(t.escalation_level, 'time')}"
    rows = [("due", due), ("who", _who(t, clinic))]
    if t.requires_code:
        rows.append(("code", "needs the approval code e-mailed to the person deciding"))
    if t.locked:
        rows.append(
            ("locked", f"after wrong codes; a privacy officer decides ({t.unlock_task_id})")
        )
    rows += [("case", item.case_id), ("task", t.task_id), ("workflow", t.workflow_id)]
    title = fill(t.title.split(), "OVERDUE  " if t.overdue else "", "", listing.width)
    return title + fields(rows, listing.width)


def render_tasks(listing: TaskListing) -> list[str]:
    """The open tasks, overdue first, then the soonest due; a hint on completing one."""
    where = f" at {listing.clinic_filter}" if listing.clinic_filter else ""
    if not listing.tasks:
        return [f"No open tasks{where}."]
    ordered = sorted(listing.tasks, key=lambda i: (not i.task.overdue, i.task.due_at))
    late = sum(i.task.overdue for i in ordered)
    head = f"{count(len(ordered), 'open task')}{where}" + (f", {late} overdue" if late else "")
    out = para(head + ": overdue first, then the soonest due.", listing.width)
    for item in ordered:
        out += ["", *_task_block(item, listing)]
    return out + [
        "",
        *para(
            "Complete one with: confide complete CASE TASK --actor ID --data JSON. Each "
            "task's ready-to-paste answer is its example in confide tasks --json.",
            listing.width,
        ),
    ]


class LedgerListing(BaseModel):
    """What `confide ledger CASE` prints: the case's disclosures, oldest first."""

    case_id: str
    rows: list[Disclosure]
    zones: Zones = Zones()
    width: int = 80


def _disclosure_block(r: Disclosure, listing: LedgerListing) -> list[str]:
    head = f"{listing.zones.at(r.clinic_id, r.disclosed_at)}: to {r.recipient_name}"
    rows = [
        ("address", r.recipient_address),
        ("by", r.channel.replace("_", " ")),
        ("what", r.description),
        ("purpose", r.purpose),
        ("basis", r.legal_basis),
        ("step", r.step),
    ]
    if r.task_ref:
        rows.append(("task", r.task_ref))
    if not r.accountable:
        rows.append(("accounting", "exempt: not listed in the patient's accounting"))
    if r.manifest_sha256:
        rows.append(("packet", f"sha256 {r.manifest_sha256}"))
    for d in r.documents:
        what = f"{d.category.replace('_', ' ')} of {d.date.isoformat()}"
        rows.append(("document", f"{d.id}\n{what}, sha256\n{d.sha256}"))
    return para(head, listing.width) + fields(rows, listing.width)


def render_ledger(listing: LedgerListing) -> list[str]:
    """Every disclosure of the case: when (the clinic's time), to whom, what, why, on what
    basis, and the records released with their hashes."""
    if not listing.rows:
        return [f"No disclosures recorded for {listing.case_id}."]
    out = para(
        f"{count(len(listing.rows), 'disclosure')} recorded for {listing.case_id}, oldest first:",
        listing.width,
    )
    for r in listing.rows:
        out += ["", *_disclosure_block(r, listing)]
    return out
