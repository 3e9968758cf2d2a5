"""Build the audit report of a case from its histories (Temporal's or the archive's) and the
ledger.

Two readings of each run, both from the record alone:
- the workflow's own state at the end of its history, rebuilt by replaying it with today's code
  (tasks with their deadlines, completions, escalation levels; the phase; the input with its
  policy snapshot);
- the history's events, decoded with the shared converter: who called each Update (the
  event's identity field), every message sent with its Message-ID, when each happened.
Nothing is asked of a running worker, so a case deleted from Temporal years ago reads the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import DataConverter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from activities.approvals import IssueCodesInput
from activities.notify import NoticeReceipt, SendNoticeInput, StaffNoticeInput
from activities.records import SendPacketInput
from audit.replay import Recorded, ReplayOutcome, replay, replayer
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
from domain.legal_letters import local
from domain.notices import message_id
from domain.tasks import TaskCompletion
from infra.ledger_db import Ledger
from infra.temporal import data_converter


class _Capture(Interceptor):
    """Keeps each replayed workflow's instance, to read its final state after replay."""

    def __init__(self) -> None:
        self.instances: list[Any] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        instances = self.instances

        class _Inbound(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                instances.append(workflow.instance())
                return await super().execute_workflow(input)

        return _Inbound


@dataclass
class _Activity:
    type: str
    scheduled_at: datetime
    input: Any = None
    result: Any = None
    finished_at: datetime | None = None
    failed: bool = False
    cancelled: bool = False


@dataclass
class _Update:
    identity: str
    accepted_at: datetime
    completion: TaskCompletion | None
    succeeded: bool | None = None


@dataclass
class _RunReading:
    """What one run's history and final state say."""

    recorded: Recorded
    replay: ReplayOutcome
    instance: Any
    activities: list[_Activity] = field(default_factory=list)
    updates: list[_Update] = field(default_factory=list)
    status: str = "RUNNING"
    closed_at: datetime | None = None


_INPUTS: dict[str, type[BaseModel]] = {
    "send_notice": SendNoticeInput,
    "issue_approval_codes": IssueCodesInput,
    "send_packet": SendPacketInput,
    "send_staff_notice": StaffNoticeInput,
}
_RESULTS: dict[str, Any] = {
    # recipient key -> receipt, for the staff whose mail was accepted (a refused address is
    # left out).
    "send_staff_notice": dict[str, NoticeReceipt],
    "send_notice": NoticeReceipt,
    "send_packet": NoticeReceipt,
    # staff id -> salted code hash, for the approvers whose mail was accepted (a refused
    # address is left out: that approver never got a code).
    "issue_approval_codes": dict[str, str],
}
_CLOSING = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "COMPLETED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "FAILED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "TIMED_OUT",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "CANCELED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "TERMINATED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "CONTINUED_AS_NEW",
}


def _time(e: HistoryEvent) -> datetime:
    return e.event_time.ToDatetime(tzinfo=UTC)


async def _decode(dc: DataConverter, payloads: Sequence[Any], kind: Any) -> Any:
    if not payloads:
        return None
    return (await dc.decode(list(payloads), [kind]))[0]


async def _read_events(dc: DataConverter, reading: _RunReading) -> None:
    """Decode the events an auditor needs: activities (messages), Updates, the close."""
    by_scheduled: dict[int, _Activity] = {}
    by_update: dict[str, _Update] = {}
    for e in reading.recorded.history.events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            a = e.activity_task_scheduled_event_attributes
            kind = _INPUTS.get(a.activity_type.name)
            act = _Activity(
                a.activity_type.name,
                _time(e),
                await _decode(dc, a.input.payloads, kind) if kind else None,
            )
            by_scheduled[e.event_id] = act
            reading.activities.append(act)
        elif e.HasField("activity_task_completed_event_attributes"):
            c = e.activity_task_completed_event_attributes
            act = by_scheduled[c.scheduled_event_id]
            act.finished_at = _time(e)
            if result_kind := _RESULTS.get(act.type):
                act.result = await _decode(dc, c.result.payloads, result_kind)
        elif e.HasField("activity_task_failed_event_attributes"):
            act = by_scheduled[e.activity_task_failed_event_attributes.scheduled_event_id]
            act.finished_at, act.failed = _time(e), True
        elif e.HasField("activity_task_timed_out_event_attributes"):
            act = by_scheduled[e.activity_task_timed_out_event_attributes.scheduled_event_id]
            act.finished_at, act.failed = _time(e), True
        elif e.HasField("activity_task_canceled_event_attributes"):
            act = by_scheduled[e.activity_task_canceled_event_attributes.scheduled_event_id]
            act.finished_at, act.cancelled = _time(e), True
        elif e.HasField("marker_recorded_event_attributes"):
            if act := await _local_codes(dc, reading, e):
                reading.activities.append(act)
        elif e.HasField("workflow_execution_update_accepted_event_attributes"):
            req = e.workflow_execution_update_accepted_event_attributes.accepted_request
            completion = None
            if req.input.name == "complete_task":
                completion = await _decode(dc, req.input.args.payloads, TaskCompletion)
            upd = _Update(req.meta.identity, _time(e), completion)
            by_update[req.meta.update_id] = upd
            reading.updates.append(upd)
        elif e.HasField("workflow_execution_update_completed_event_attributes"):
            done = e.workflow_execution_update_completed_event_attributes
            accepted = by_update.get(done.meta.update_id)
            if accepted is not None:
                accepted.succeeded = done.outcome.HasField("success")
        elif e.event_type in _CLOSING:
            reading.status = _CLOSING[EventType.ValueType(e.event_type)]
            reading.closed_at = _time(e)


async def _local_codes(dc: DataConverter, reading: _RunReading, e: HistoryEvent) -> Any:
    """Approval codes issued as a local activity (workflows.task_board.CODES_FOR_DECISIONS):
    the marker holds the result ({staff id: salted hash}) but not the input, so the task and
    the addresses come from the replayed board: the task whose hashes these are (each task has
    its own salt) and the roster of the case's clinic snapshot. An approver whose address
    refused the mail got no hash, and is not listed."""
    m = e.marker_recorded_event_attributes
    if m.marker_name != "core_local_activity" or m.HasField("failure"):
        return None
    if "data" not in m.details or "result" not in m.details:
        return None
    try:
        meta = json.loads(m.details["data"].payloads[0].data)
    except (IndexError, ValueError):
        return None
    if meta.get("activity_type") != "issue_approval_codes":
        return None
    hashes = await _decode(dc, m.details["result"].payloads, dict[str, str]) or {}
    board = getattr(reading.instance, "board", None)
    tasks = getattr(board, "tasks", {}).values()
    task = next(
        (t for t in tasks if hashes and hashes.items() <= t.code_hashes.items()),
        None,
    )
    if task is None or board is None:
        return None
    approvers = [p for p in board.clinic.staff if p.id in hashes]
    inp = IssueCodesInput(
        case_id=board.case_id,
        task_id=task.task_id,
        salt=task.code_salt,
        due_at=task.due_at,
        clinic=board.clinic,
        approvers=approvers,
    )
    return _Activity("issue_approval_codes", _time(e), inp, hashes, finished_at=_time(e))


async def read_runs(recorded: Sequence[Recorded]) -> list[_RunReading]:
    """Replay each run (capturing its final state) and decode its events."""
    dc = data_converter()
    readings = []
    for rec in recorded:
        capture = _Capture()
        # Unsandboxed: the captured instance must be the real object, readable after replay.
        r = replayer(interceptors=[capture], workflow_runner=UnsandboxedWorkflowRunner())
        [outcome] = await replay([rec], r)
        reading = _RunReading(rec, outcome, capture.instances[-1] if capture.instances else None)
        await _read_events(dc, reading)
        readings.append(reading)
    return readings


# -- the report's parts ---------------------------------------------------------------------


def _inp(reading: _RunReading) -> Any:
    return getattr(reading.instance, "inp", None)


def _zone(inp: Any) -> str:
    clinic = getattr(inp, "clinic", None)
    return clinic.timezone if clinic else "UTC"


def _trigger(readings: list[_RunReading]) -> Trigger:
    first = readings[0]
    inp = _inp(first)
    started = _time(first.recorded.history.events[0])
    flag = getattr(inp, "flag", None)
    if flag is not None:
        return Trigger(
            kind="flag",
            reference=flag.flag_id,
            received_at=flag.flagged_at,
            source=f"clinic system, session {flag.session_id}, clinician {flag.clinician.id}",
            details={
                "jurisdiction": flag.jurisdiction,
                "concerns": ", ".join(c.kind.value for c in flag.concerns),
            },
        )
    request = getattr(inp, "request", None)
    if request is not None and hasattr(request, "instrument"):
        return Trigger(
            kind="legal request",
            reference=request.request_id,
            received_at=request.served_at,
            source=f"{request.issuer.name}, case no. {request.issuer.case_number}",
            details={
                "instrument": request.instrument.value,
                "jurisdiction": request.jurisdiction,
                "response due": local(request.response_due, _zone(inp)),
            },
        )
    if request is not None:
        return Trigger(
            kind="accounting request",
            reference=request.request_id,
            received_at=request.requested_at or started,
            source="the patient (45 CFR 164.528)",
            details={"itemized": "yes" if request.itemized else "no"},
        )
    auth = getattr(inp, "authorization", None)
    if auth is not None:
        return Trigger(
            kind="authorization",
            reference=auth.authorization_id,
            received_at=started,
            source="the patient's signed authorization (45 CFR 164.508)",
            details={"jurisdiction": auth.jurisdiction},
        )
    return Trigger(
        kind="workflow", reference=first.recorded.workflow_id, received_at=started, source=""
    )


def _rules(model: Any, path: str = "") -> list[RuleView]:
    """Every part of a policy snapshot that carries sources: a rule with its citations."""
    if not isinstance(model, BaseModel):
        return []
    out = []
    data = dict(model)
    if "sources" in data:
        reference = next(
            (
                str(data[k])
                for k in ("statute", "reference", "category_reference")
                if isinstance(data.get(k), str)
            ),
            None,
        )
        out.append(
            RuleView(
                name=_rule_name(path, data.get("name"), type(model).__name__),
                reference=reference,
                sources=[str(s) for s in data.get("sources") or []],
                unverified=[str(u) for u in data.get("unverified") or []],
            )
        )
    for key, value in data.items():
        if isinstance(value, BaseModel):
            out.extend(_rules(value, f"{path}.{key}" if path else key))
    return out


def _rule_name(path: str, name: object, class_name: str) -> str:
    """'duty to warn: California', 'child abuse', or the class name for an unnamed root."""
    where = path.replace("_", " ").replace(".", ": ")
    if name:
        return f"{where}: {name}" if where else str(name)
    return where or class_name


def _policies(readings: list[_RunReading]) -> list[PolicyView]:
    seen, out = set(), []
    for r in readings:
        policy = getattr(_inp(r), "policy", None)
        if policy is None:
            continue
        version = str(getattr(policy, "version", "") or getattr(policy, "digest", lambda: "")())
        jurisdiction = str(
            getattr(policy, "jurisdiction", None) or getattr(_inp(r).request, "jurisdiction", "")
        )
        key = (jurisdiction, version)
        if key in seen:
            continue
        seen.add(key)
        out.append(
            PolicyView(
                workflow_id=r.recorded.workflow_id,
                jurisdiction=jurisdiction,
                version=version,
                rules=_rules(policy),
            )
        )
    return out


_STEP_KIND = [
    (re.compile(r"\.reminder\d*$"), "reminder"),
    (re.compile(r"\.overdue(\d+)$"), "escalation"),
    (re.compile(r"\.resolved$"), "task resolved"),
]


def _notice_kind(step: str) -> str:
    for pattern, kind in _STEP_KIND:
        if pattern.search(step):
            return kind
    return "notice"


def _notifications(readings: list[_RunReading]) -> list[NotificationRow]:
    rows = []
    for r in readings:
        wid = r.recorded.workflow_id
        for act in r.activities:
            status = _status(act)
            if act.type in ("send_notice", "send_packet") and act.input is not None:
                receipt = act.result
                rows.append(
                    NotificationRow(
                        workflow_id=wid,
                        step=act.input.step,
                        kind="records packet"
                        if act.type == "send_packet"
                        else _notice_kind(act.input.step),
                        recipient=act.input.recipient_key,
                        to=act.input.to,
                        channel="email",
                        subject=getattr(act.input, "subject", None),
                        scheduled_at=act.scheduled_at,
                        # The history's time, not the activity's own clock: one time line.
                        sent_at=act.finished_at if receipt else None,
                        message_id=receipt.message_id if receipt else None,
                        status=status,
                    )
                )
            elif act.type == "send_staff_notice" and act.input is not None:
                for r in act.input.recipients:
                    receipt = (act.result or {}).get(r.recipient_key)
                    got = status
                    if status == "sent" and receipt is None:
                        got = "failed"  # the address refused the mail
                    rows.append(
                        NotificationRow(
                            workflow_id=wid,
                            step=act.input.step,
                            kind=_notice_kind(act.input.step),
                            recipient=r.recipient_key,
                            to=r.to,
                            channel="email",
                            subject=act.input.subject,
                            scheduled_at=act.scheduled_at,
                            sent_at=act.finished_at if receipt else None,
                            message_id=receipt.message_id if receipt else None,
                            status=got,
                        )
                    )
            elif act.type == "issue_approval_codes" and act.input is not None:
                for person in act.input.approvers:
                    step, key = f"{act.input.task_id}.code", f"staff-{person.id}"
                    got = status
                    if status == "sent" and person.id not in (act.result or {}):
                        got = "failed"  # the address refused the mail: no code for them
                    rows.append(
                        NotificationRow(
                            workflow_id=wid,
                            step=step,
                            kind="approval code",
                            recipient=person.id,
                            to=person.email,
                            channel="email",
                            scheduled_at=act.scheduled_at,
                            sent_at=act.finished_at if got == "sent" else None,
                            # Deterministic per (case, step, recipient), as the activity set it.
                            message_id=message_id(act.input.case_id, step, key)
                            if got == "sent"
                            else None,
                            status=got,
                        )
                    )
    return sorted(rows, key=lambda n: n.sent_at or n.scheduled_at)


def _status(act: _Activity) -> str:
    if act.failed:
        return "failed"
    if act.cancelled:
        return "cancelled"
    return "sent" if act.finished_at else "pending"


def _tasks(readings: list[_RunReading], notices: list[NotificationRow]) -> list[TaskRow]:
    rows = []
    for r in readings:
        board = getattr(r.instance, "board", None)
        if board is None:
            continue
        identities = {
            u.completion.task_id: u.identity
            for u in r.updates
            if u.completion is not None and u.succeeded
        }
        for task in board.tasks.values():
            done = board.answer(task.task_id)
            own = [n for n in notices if n.step.startswith(task.task_id + ".")]
            reminders = sorted({n.sent_at or n.scheduled_at for n in own if n.kind == "reminder"})
            escalations = _escalations(task.task_id, own)
            late = (
                task.completed_at - task.due_at
                if task.completed_at and task.completed_at > task.due_at
                else None
            )
            rows.append(
                TaskRow(
                    workflow_id=r.recorded.workflow_id,
                    task_id=task.task_id,
                    kind=task.kind.value,
                    title=task.title,
                    role=task.role.value,
                    allowed_roles=[x.value for x in task.allowed_roles],
                    assignee=task.assignee,
                    created_at=task.created_at,
                    due_at=task.due_at,
                    status=task.status.value,
                    reminders=reminders,
                    escalations=escalations,
                    completed_by=task.completed_by,
                    caller_identity=identities.get(task.task_id),
                    completed_at=task.completed_at,
                    outcome=task.outcome,
                    note=done.completion.note if done else None,
                    approval_code=_code_check(task, done),
                    late_by=late,
                )
            )
    return sorted(rows, key=lambda t: t.created_at)


def _escalations(task_id: str, notices: list[NotificationRow]) -> list[Escalation]:
    rounds: dict[int, Escalation] = {}
    for n in notices:
        m = re.search(r"\.overdue(\d+)$", n.step)
        if m is None:
            continue
        at, k = n.sent_at or n.scheduled_at, int(m.group(1))
        if k not in rounds or at < rounds[k].at:
            # The mail's subject names the role the task was widened to: "escalated to
            # privacy officer (case X)" now, "escalated to privacy_officer (case X)" before.
            to = re.search(r"escalated to ([\w ]+?) \(case ", n.subject or "")
            role = to.group(1).replace(" ", "_") if to else None
            rounds[k] = Escalation(at=at, round=k, to_role=role)
    return [rounds[k] for k in sorted(rounds)]


def _code_check(task: Any, done: Any) -> str:
    if not task.requires_code:
        return "not required"
    # Wrong codes reach the Update handler, which counts them on the task (five lock it).
    wrong = len(getattr(task, "failed_tries", []))
    tries = f" ({wrong} wrong code{'s' if wrong != 1 else ''} before)" if wrong else ""
    if done is not None:
        # Checked against its salted hash before the completion was recorded.
        return f"verified{tries}"
    if getattr(task, "locked", False):
        return f"locked{tries}"
    return ("not completed" if task.code_hashes else "not issued") + tries


def _outcomes(readings: list[_RunReading]) -> list[OutcomeView]:
    out = []
    for r in readings:
        phase = getattr(getattr(r.instance, "phase", None), "value", None)
        decision = getattr(r.instance, "decision", None)
        summary = f"{r.status.lower().replace('_', ' ')}"
        if phase:
            summary += f", phase {phase}"
        if decision is not None:
            summary += f"; decision: {decision.mode.value} ({decision.legal_basis})"
        out.append(
            OutcomeView(
                workflow_id=r.recorded.workflow_id, status=r.status, phase=phase, summary=summary
            )
        )
    return out


def _workflow_view(r: _RunReading) -> WorkflowView:
    started = r.recorded.history.events[0]
    return WorkflowView(
        workflow_id=r.recorded.workflow_id,
        run_id=r.recorded.run_id,
        workflow_type=started.workflow_execution_started_event_attributes.workflow_type.name,
        source=r.recorded.source,
        started_at=_time(started),
        closed_at=r.closed_at,
        status=r.status,
        events=r.replay.events,
        phase=getattr(getattr(r.instance, "phase", None), "value", None),
        replay="clean" if r.replay.ok else (r.replay.error or "failed"),
    )


def _case_id(readings: list[_RunReading]) -> str:
    return str(getattr(_inp(readings[0]), "case_id", readings[0].recorded.workflow_id))


async def build_report(
    recorded: Sequence[Recorded], ledger: Ledger, *, now: datetime | None = None
) -> AuditReport:
    """The audit report of one case from its runs (oldest first) and the ledger."""
    if not recorded:
        raise ValueError("no history to report on")
    readings = await read_runs(recorded)
    inp = _inp(readings[0])
    clinic = getattr(inp, "clinic", None)
    case_id = _case_id(readings)
    notices = _notifications(readings)
    from audit.verify import ledger_head

    return AuditReport(
        case_id=case_id,
        clinic_id=clinic.id if clinic else "",
        timezone=clinic.timezone if clinic else "UTC",
        generated_at=now or datetime.now(UTC),
        trigger=_trigger(readings),
        policies=_policies(readings),
        workflows=[_workflow_view(r) for r in readings],
        tasks=_tasks(readings, notices),
        notifications=notices,
        disclosures=[
            DisclosureRow.model_validate(d.model_dump()) for d in ledger.for_case(case_id)
        ],
        outcomes=_outcomes(readings),
        ledger_chain=ledger_head(ledger),
    )
