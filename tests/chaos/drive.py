"""Cases across every path, driven the way people would drive them: each open task completed
through the intake API with its ready-to-paste example, as a roster member who may act, with
the approval code read from the e-mail where the task asks for one. And the checks every fault
test ends with: each notice once at the mail server, one ledger row per disclosure."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from domain.notices import message_id
from domain.tasks import TaskCompletion
from harness import demo_clinic, flag_body
from harness.counting_mail import CountingSink
from infra.ledger_db import Ledger
from tests.support import CODE_PATTERN, authorization_body, legal_request_body

CLINIC = demo_clinic()
EMAIL = {s.id: s.email for s in CLINIC.staff}

# The paths, in the order cases are dealt out (case n takes PATHS[n % len(PATHS)]).
PATHS = [
    "threat_to_others",
    "child_abuse",
    "court_order",
    "authorization",
    "self_harm",
    "elder_abuse",
]


@dataclass
class Case:
    case_id: str
    path: str
    started_at: float = field(default_factory=time.time)
    completed: list[str] = field(default_factory=list)
    completed_kinds: list[str] = field(default_factory=list)
    settled_at: float | None = None
    view: dict | None = None


def new_case_body(
    path: str, tag: str, known_minutes_ago: float = 1.0, known_at: datetime | None = None
) -> tuple[str, dict]:
    """(endpoint, body) of one new case on `path`; `tag` makes its ids unique; `known_at`
    (abuse paths) sets when the clinic learned of it, which starts the statutory clock."""
    at = datetime.now(UTC) - timedelta(minutes=known_minutes_ago)
    if path == "court_order":
        return "/v1/legal-requests", legal_request_body(
            request_id=f"L-{tag}",
            instrument="court_order",
            served_at=at.isoformat(),
            response_due=(at + timedelta(days=20)).isoformat(),
        )
    if path == "authorization":
        return "/v1/authorizations", authorization_body(
            authorization_id=f"A-{tag}", signed_at=at.date().isoformat()
        )
    body = flag_body(flag_id=f"F-{tag}", flagged_at=at.isoformat())
    victim = {"name": "Casey Rivera", "email": f"victim-{tag}@example.org", "age": 34}
    concern: dict = {"kind": path, "summary": "Chaos test concern"}
    if path == "threat_to_others":
        concern["victims"] = [{**victim, "relationship": "coworker"}]
    elif path == "self_harm":
        concern["contacts"] = [
            {"name": "Sam Rivera", "email": f"contact-{tag}@example.org", "relationship": "sister"}
        ]
    else:  # child / elder abuse
        concern["victims"] = [
            {
                "name": "Robin Child",
                "age": 9 if path == "child_abuse" else 81,
                "address": "1 Elm St",
            }
        ]
        concern["alleged_abuser"] = {"name": "Pat Parent", "relationship": "parent"}
        concern["abuser_is_caretaker"] = True
        if known_at is not None:
            concern["known_at"] = known_at.isoformat()
    body["concerns"] = [concern]
    return "/v1/flags", body


async def start_cases(http: httpx.AsyncClient, n: int, seed_tag: str, first: int = 0) -> list[Case]:
    """n new cases, dealt out over PATHS from the `first`th."""
    cases = []
    for i in range(n):
        path = PATHS[(first + i) % len(PATHS)]
        url, body = new_case_body(path, f"{seed_tag}-{i}")
        r = await http.post(url, json=body)
        assert r.status_code == 202, (path, r.status_code, r.text)
        cases.append(Case(r.json()["case_id"], path))
    return cases


def actor_for(task: dict) -> str:
    """A roster member who may complete the task: its assignee, else the first holder of an
    allowed role who is not the requester of a four-eyes decision."""
    if task.get("assignee"):
        return task["assignee"]
    for s in CLINIC.staff:
        if {r.value for r in s.roles} & set(task["allowed_roles"]) and not (
            task.get("four_eyes") and s.id == task.get("requester")
        ):
            return s.id
    raise AssertionError(f"no one may complete {task['task_id']}")


def code_for(sink: CountingSink, case_id: str, task_id: str, actor: str) -> str | None:
    """The approval code e-mailed to `actor` for this task (found by its Message-ID)."""
    mid = message_id(case_id, f"{task_id}.code", f"staff-{actor}")
    for m in list(sink.messages):
        if m["Message-ID"] == mid:
            found = re.search(CODE_PATTERN, m.get_content())
            if found:
                return found.group(1)
    return None


def answer(task: dict) -> dict:
    """The task's example, with times that record something done set to now (an example's
    fixed date could lie before the case began or in the future)."""
    ex = task["example"]
    data = dict(ex.get("data") or {})
    stamp = datetime.now(UTC) - timedelta(seconds=2)
    for k, v in data.items():
        if k.endswith("_at") and isinstance(v, str):
            data[k] = stamp.isoformat()
    if "reason" in data and data["reason"] == "...":
        data["reason"] = "chaos test"
    return {"outcome": ex.get("outcome"), "data": data}


async def complete_open_tasks(client: Client, sink: CountingSink, case: Case, view: dict) -> int:
    """Complete every open task of a case that can be completed now, through the
    `complete_task` Update (what the Web UI sends); returns how many."""
    done = 0
    for task in view.get("tasks", []):
        if task["task_id"] in case.completed:
            continue
        actor = actor_for(task)
        body = {"actor": actor, **answer(task)}
        if "code" in task["example"]:
            code = code_for(sink, case.case_id, task["task_id"], actor)
            if code is None:
                continue  # the code e-mail has not arrived yet
            body["code"] = code
        handle = client.get_workflow_handle(task["workflow_id"] or case.case_id)
        try:
            await asyncio.wait_for(
                handle.execute_update(
                    "complete_task", TaskCompletion(task_id=task["task_id"], **body)
                ),
                20,
            )
        except WorkflowUpdateFailedError as e:
            message = str(getattr(e.cause, "message", e.cause))
            if "not open" in message or "unknown" in message or "closed" in message:
                continue  # completed meanwhile (a retry after a timeout)
            if "still being sent" in message:
                # The mail server took the code e-mail before the workflow heard back from
                # the activity that sent it (a retry after the outage): the next round sees it.
                continue
            raise AssertionError(f"{case.case_id} {task['kind']} refused: {message}") from None
        except (TimeoutError, RPCError):
            continue  # no worker right now: the next round tries again
        case.completed.append(task["task_id"])
        case.completed_kinds.append(task["kind"])
        done += 1
    return done


async def case_view(http: httpx.AsyncClient, case_id: str) -> dict | None:
    try:
        r = await asyncio.wait_for(http.get(f"/v1/cases/{case_id}"), 15)
    except (TimeoutError, httpx.HTTPError):
        return None
    return r.json() if r.status_code == 200 else None


def _stale(view: dict) -> bool:
    """Some concern did not answer the view's query: its notices and disclosures may be missing."""
    return any(x.get("stale") for x in view.get("concerns") or [])


async def quiet(client: Client, workflow_id: str) -> bool:
    """The workflow and its children have nothing in flight: no activity, no workflow task,
    and none of them failed or was terminated (waiting on a timer or a person is quiet)."""
    try:
        d = await client.get_workflow_handle(workflow_id).describe(
            rpc_timeout=timedelta(seconds=10)
        )
    except RPCError:
        return False
    raw = d.raw_description
    status = raw.workflow_execution_info.status
    if status not in (
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING,
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED,
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW,
    ):
        why = ""
        async for e in client.get_workflow_handle(workflow_id).fetch_history_events():
            if e.HasField("workflow_execution_failed_event_attributes"):
                f = e.workflow_execution_failed_event_attributes.failure
                why = f"{f.message} / {f.cause.message} / {f.stack_trace[-1500:]}"
        raise AssertionError(f"{workflow_id} ended {WorkflowExecutionStatus.Name(status)}: {why}")
    if raw.pending_activities or raw.HasField("pending_workflow_task"):
        return False
    for child in raw.pending_children:
        if not await quiet(client, child.workflow_id):
            return False
    return True


async def drive(
    http_of,
    client_of,
    sink: CountingSink,
    cases: list[Case],
    timeout: float,
    hold: set[str] | None = None,
) -> None:
    """Complete tasks until every case is settled: no open task, no e-mail still sending,
    nothing in flight, twice in a row. `http_of()`/`client_of()` give the current API and
    Temporal clients (a fault test may replace them when it restarts the server). Tasks of
    cases in `hold` are left open (a test watching their deadline removes them)."""
    deadline = time.monotonic() + timeout
    calm: dict[str, int] = {}
    while True:
        open_cases = [c for c in cases if c.settled_at is None]
        if not open_cases:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                "not settled in time: "
                + "; ".join(
                    f"{c.case_id} ({c.path}): "
                    + (
                        f"status {c.view.get('status')}, tasks "
                        f"{[t['kind'] for t in c.view.get('tasks', [])]}, notices "
                        f"{[n['status'] for n in c.view.get('notifications', [])]}"
                        if c.view
                        else "no view"
                    )
                    for c in open_cases
                )
            )
        for c in open_cases:
            view = await case_view(http_of(), c.case_id)
            if view is None:
                calm[c.case_id] = 0
                continue
            c.view = view
            failed = [x for x in view.get("concerns") or [] if x.get("phase") == "failed"]
            if failed or view.get("status") == "failed":
                ids = [x["workflow_id"] for x in failed] or [c.case_id]
                reasons = []
                for wid in ids:
                    try:
                        await quiet(client_of(), wid)
                    except AssertionError as e:
                        reasons.append(str(e))
                raise AssertionError(f"{c.case_id} ({c.path}) failed: {reasons}")
            if view.get("tasks"):
                calm[c.case_id] = 0
                if not hold or c.case_id not in hold:
                    await complete_open_tasks(client_of(), sink, c, view)
                continue
            sending = [n for n in view.get("notifications", []) if n["status"] == "sending"]
            if sending or _stale(view) or not await quiet(client_of(), c.case_id):
                calm[c.case_id] = 0
                continue
            calm[c.case_id] = calm.get(c.case_id, 0) + 1
            if calm[c.case_id] >= 2:
                c.settled_at = time.time()
        await asyncio.sleep(0.5)  # the next look: polling, as `eventually` does


async def final_views(http: httpx.AsyncClient, cases: list[Case]) -> list[str]:
    """Look at every settled case once more (what the tally compares with the ledger);
    returns the cases whose view changed since they settled."""
    changed = []
    for c in cases:
        view = await case_view(http, c.case_id)
        for _ in range(60):  # a concern that did not answer is shown as last heard of: ask again
            if view is None or not _stale(view):
                break
            await asyncio.sleep(0.5)
            view = await case_view(http, c.case_id)
        if view is not None:
            if c.view is not None and view.get("disclosures") != c.view.get("disclosures"):
                changed.append(c.case_id)
            c.view = view
    return changed


@dataclass
class Tally:
    cases: int = 0
    mails: int = 0
    duplicates: dict = field(default_factory=dict)
    missing_mail: list = field(default_factory=list)
    ledger_rows: int = 0
    missing_rows: list = field(default_factory=list)
    extra_rows: list = field(default_factory=list)
    disclosures: int = 0
    by_path: dict = field(default_factory=dict)


def tally(cases: list[Case], sink: CountingSink, ledger: Ledger) -> Tally:
    """Count what the mail server and the ledger hold against what the cases say they did."""
    t = Tally(cases=len(cases), mails=sink.total(), duplicates=sink.duplicates())
    for c in cases:
        view = c.view or {}
        t.by_path[c.path] = t.by_path.get(c.path, 0) + 1
        for n in view.get("notifications", []):
            if n["status"] != "sent":
                continue
            want = message_id(c.case_id, n["step"], n["recipient_key"])
            got = [k for k, v in sink.counts.items() if k[1] == want]
            if not got:
                t.missing_mail.append((c.case_id, n["step"], n["recipient_key"]))
        shown = {(d["step"], d["recipient_key"]) for d in view.get("disclosures", [])}
        auth = view.get("authorization")
        if auth:  # each release continues the run as new; the view counts the earlier ones
            shown |= {(f"a.release{k}", "requester") for k in range(1, auth["releases_made"] + 1)}
        rows = ledger.for_case(c.case_id)
        keys = [(r.step, r.recipient_key) for r in rows]
        t.ledger_rows += len(rows)
        t.disclosures += len(shown)
        t.missing_rows += [(c.case_id, *k) for k in shown - set(keys)]
        t.extra_rows += [(c.case_id, *k) for k in set(keys) - shown]
        t.extra_rows += [(c.case_id, *k) for k in keys if keys.count(k) > 1]
        for r in rows:
            if r.channel == "email":
                # The notice's recipient key, which an abuse report's ledger row does not share
                # (its row is keyed by the kind of report, its e-mail by the agency).
                keys = {r.recipient_key} | {
                    n["recipient_key"] for n in view.get("notifications", []) if n["step"] == r.step
                }
                if not any(
                    sink.received(r.recipient_address, message_id(c.case_id, r.step, k))
                    for k in keys
                ):
                    t.missing_mail.append((c.case_id, r.step, r.recipient_key))
    return t


def tag() -> str:
    return uuid.uuid4().hex[:6]
