"""The work waiting on one role at one clinic: the page a role link opens.

The Temporal Web UI's own list cannot be the whole answer. On the dev server's SQL visibility it
cannot sort ("ORDER BY is not supported"), so it cannot put overdue work first, and its columns
are chosen per browser (local storage), so no link can show the due time or the task's name.
This page asks the same visibility store for the same workflows (open, waiting on the role,
concern and request workflows only: never the case as well), queries each for its open tasks,
and lists the tasks overdue first, then by due time, in the clinic's zone. Each row links to the
workflow's page in the Web UI, where the task is done (User Metadata → Current Details holds the
context and the ready-to-paste Update).

What it shows is what the Web UI's list already shows anyone who can open it (ids, task names,
times, roster ids): no patient data. Serve it behind the same sign-in as the Web UI.
"""

from __future__ import annotations

import asyncio
import html
from datetime import datetime, timedelta
from urllib.parse import quote

from pydantic import BaseModel
from temporalio.client import Client

from domain.clinic import ROLE_WORDS, Clinic, Role, StaffLinks
from domain.local_time import local
from domain.tasks import TaskView, eligible_actors
from workflows import search_attributes as sa

# What each ConfidePath value is, in words (the values are the search attribute's, documented in
# the README's "Search attributes").
PATH_WORDS = {
    "case": "case",
    "threat_to_others": "threat to others",
    "self_harm": "self-harm",
    "child_abuse": "child abuse report",
    "elder_abuse": "elder abuse report",
    "dependent_adult_abuse": "dependent-adult abuse report",
    "legal_request": "court order or subpoena",
    "authorization": "patient authorization",
    "accounting": "accounting of disclosures",
}

# Who a list is for, in the plural a page heading needs.
ROLE_PLURAL = {
    Role.clinician: "clinicians",
    Role.supervisor: "supervisors",
    Role.privacy_officer: "the privacy officer",
    Role.counsel: "counsel",
}


class WorkItem(BaseModel):
    """One open task a role may act on, with where to do it."""

    case_id: str
    workflow_id: str
    path: str
    task: TaskView
    web_ui: str


def visibility_query(clinic_id: str, role: Role, overdue_only: bool = False) -> str:
    """The list query for open work waiting on a role: running workflows of the clinic whose
    ConfideWaitingOn holds the role, not the case workflows (whose concerns carry the work)."""
    query = (
        f"ExecutionStatus = 'Running' AND ConfideClinic = '{clinic_id}' "
        f"AND ConfideWaitingOn = '{role.value}' AND ConfidePath != 'case'"
    )
    return query + (" AND ConfideOverdue = true" if overdue_only else "")


def ui_list_url(ui_url: str, namespace: str, query: str) -> str:
    """The Web UI's workflow list filtered by a visibility query."""
    return f"{ui_url}/namespaces/{namespace}/workflows?query={quote(query, safe='')}"


def work_page_url(api_url: str, clinic_id: str, role: Role) -> str:
    """The role link: this module's page for one role at one clinic."""
    return StaffLinks(work=api_url, ui="").work_list(clinic_id, role)


def case_of(workflow_id: str) -> str:
    """The case a workflow belongs to: a case id is '<clinic>.<flag>'; concern ids extend it."""
    return ".".join(workflow_id.split(".")[:2])


class WorkList(BaseModel):
    """What a role link shows: the tasks read, and the workflows whose tasks could not be read
    (each still listed, by its Web UI page: a failed read must never look like no work)."""

    items: list[WorkItem]
    unreadable: dict[str, str] = {}


async def waiting_work(
    client: Client, clinic_id: str, role: Role, ui_url: str, namespace: str
) -> WorkList:
    """Open tasks the role may act on, overdue first, then soonest due."""
    found = [wf async for wf in client.list_workflows(visibility_query(clinic_id, role))]
    unreadable: dict[str, str] = {}

    async def tasks_of(wf) -> list[WorkItem]:
        page = f"{ui_url}/namespaces/{namespace}/workflows/{quote(wf.id)}/{wf.run_id}"
        try:
            views = await client.get_workflow_handle(wf.id, run_id=wf.run_id).query(
                "tasks", result_type=list[TaskView], rpc_timeout=timedelta(seconds=10)
            )
        except Exception:  # noqa: BLE001 (no worker, a failing replay, a payload it cannot read)
            # Listed anyway: visibility says work waits there, and the page must not say
            # "nothing is waiting" because one workflow could not answer.
            unreadable[wf.id] = f"{page}/user-metadata"
            return []
        path = wf.typed_search_attributes.get(sa.PATH) or ""
        return [
            WorkItem(
                case_id=case_of(wf.id),
                workflow_id=wf.id,
                path=path,
                task=t,
                web_ui=f"{page}/user-metadata",
            )
            for t in views
            if role in t.allowed_roles
        ]

    per_workflow = await asyncio.gather(*(tasks_of(wf) for wf in found))
    items = by_urgency([item for items in per_workflow for item in items])
    return WorkList(items=items, unreadable=unreadable)


def by_urgency(items: list[WorkItem]) -> list[WorkItem]:
    """Overdue first, then the soonest due (the order the Web UI's list cannot give)."""
    return sorted(items, key=lambda i: (not i.task.overdue, i.task.due_at))


def render_page(clinic: Clinic, role: Role, work: WorkList, ui_list: str, now: datetime) -> str:
    """The work list as a page: one table, overdue first, times in the clinic's zone."""
    esc = html.escape
    items = work.items
    late = sum(1 for i in items if i.task.overdue)
    summary = (
        f"{len(items)} open task{'s' if len(items) != 1 else ''} waiting on "
        f"{ROLE_PLURAL[role]}" + (f", {late} overdue" if late else "") + "."
        if items
        else f"Nothing is waiting on {ROLE_PLURAL[role]}."
        if not work.unreadable
        else f"No task could be read for {ROLE_PLURAL[role]}."
    )
    warning = (
        '<p class="warn"><strong>Could not read the tasks of '
        f"{len(work.unreadable)} workflow{'s' if len(work.unreadable) != 1 else ''} waiting on "
        f"{esc(ROLE_PLURAL[role])}</strong> (no worker answering, or a fault): open "
        + ", ".join(f'<a href="{esc(u)}">{esc(w)}</a>' for w, u in sorted(work.unreadable.items()))
        + ".</p>"
        if work.unreadable
        else ""
    )
    rows = "\n".join(
        '<tr{cls}><td>{due}{flag}</td><td><a href="{link}">{title}</a></td><td>{what}</td>'
        "<td><code>{case}</code></td><td>{who}</td><td><code>{task_id}</code></td></tr>".format(
            cls=' class="late"' if i.task.overdue else "",
            due=esc(local(i.task.due_at, clinic.timezone)),
            flag=(" <strong>OVERDUE</strong>" if i.task.overdue else "")
            # Locked after five wrong codes: nobody on this list can act until the privacy
            # officer decides the unlock task (listed on their own page).
            + (" <strong>LOCKED</strong>" if i.task.locked else ""),
            link=esc(i.web_ui),
            title=esc(i.task.title),
            what=esc(PATH_WORDS.get(i.path, i.path)),
            case=esc(i.case_id),
            who=esc(
                ", ".join(eligible_actors(i.task, clinic))
                or " or ".join(ROLE_WORDS[r] for r in i.task.allowed_roles)
            ),
            task_id=esc(i.task.task_id),
        )
        for i in items
    )
    table = (
        "<table><thead><tr><th>Due</th><th>Task</th><th>About</th><th>Case</th>"
        f"<th>Who may do it</th><th>Task id</th></tr></thead><tbody>\n{rows}\n</tbody></table>"
        if items
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="60">
<title>Confide: work for {esc(ROLE_PLURAL[role])} at {esc(clinic.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1b1b1b; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .45rem .7rem; border-bottom: 1px solid #ddd; }}
tr.late td {{ background: #fdecea; }}
td strong, p.warn {{ color: #b00020; }}
p.how {{ max-width: 48rem; }}
</style></head><body>
<h1>Work for {esc(ROLE_PLURAL[role])} at {esc(clinic.name)}</h1>
<p><strong>{esc(summary)}</strong> Overdue work comes first, then the soonest due.
Times are {esc(clinic.timezone)}. Updated {esc(local(now, clinic.timezone))}; the page refreshes
every minute.</p>
{warning}
{table}
<p class="how">To do a task, open it: the Web UI shows the workflow. Under
<em>User Metadata → Current Details</em> are the task, what you decide on and a ready-to-paste
answer; send it with <em>More Actions → Send an Update</em>, name <code>complete_task</code>.
The same list in the Web UI's own view (newest first; it cannot sort by due time):
<a href="{esc(ui_list)}">open in the Web UI</a>.</p>
</body></html>
"""
