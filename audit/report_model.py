"""The audit report: what an auditor reads about one case (or legal request, authorization,
accounting request), as a validated model. The terminal tables, the JSON (`--json`) and the PDF
are all rendered from this one object.

Times are aware datetimes; renderers show them in the clinic's zone (`timezone`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain.records import Disclosure


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trigger(_Model):
    """What started it and where it came from."""

    kind: str  # "flag", "legal request", "authorization", "accounting request"
    reference: str  # the clinic's own key: flag id, request id, authorization id
    received_at: datetime
    source: str  # who or what sent it (clinic system, session, clinician, issuer)
    details: dict[str, str] = {}


class RuleView(_Model):
    """One rule of the policy snapshot the case ran on."""

    name: str
    reference: str | None = None
    sources: list[str] = []
    unverified: list[str] = []


class PolicyView(_Model):
    """The policy snapshot as it travelled in the workflow input (frozen at start)."""

    workflow_id: str
    jurisdiction: str
    version: str
    rules: list[RuleView]

    @property
    def unverified(self) -> bool:
        return any(r.unverified for r in self.rules)


class WorkflowView(_Model):
    """One workflow run of the case, where its history came from, and whether it replays."""

    workflow_id: str
    run_id: str
    workflow_type: str
    source: Literal["temporal", "archive", "file"]
    started_at: datetime
    closed_at: datetime | None
    status: str  # COMPLETED, RUNNING, CONTINUED_AS_NEW, FAILED, TERMINATED...
    events: int
    phase: str | None = None
    replay: str  # "clean" or the failure in one line


class Escalation(_Model):
    at: datetime
    round: int
    to_role: str | None = None


class TaskRow(_Model):
    """One human task from creation to completion."""

    workflow_id: str
    task_id: str
    kind: str
    title: str
    role: str
    allowed_roles: list[str]
    assignee: str | None
    created_at: datetime
    due_at: datetime
    status: str  # open, done, cancelled
    reminders: list[datetime] = []
    escalations: list[Escalation] = []
    completed_by: str | None = None  # the actor the completion named
    caller_identity: str | None = None  # the history event's own identity field (the client)
    completed_at: datetime | None = None
    outcome: str | None = None
    note: str | None = None
    approval_code: Literal["not required", "verified", "not completed", "not issued"]
    late_by: timedelta | None = None  # None: on time (or still open and not yet due)

    @property
    def on_time(self) -> bool | None:
        if self.completed_at is None:
            return None
        return self.late_by is None


class NotificationRow(_Model):
    """One message Confide sent (or tried to)."""

    workflow_id: str
    step: str
    kind: str  # notice, reminder, escalation, approval codes, records packet
    recipient: str  # who, as the workflow keyed them (role key or staff id)
    to: str  # address
    channel: str
    subject: str | None = None
    scheduled_at: datetime
    sent_at: datetime | None = None
    message_id: str | None = None
    status: Literal["sent", "failed", "pending", "cancelled"]


class DisclosureRow(Disclosure):
    """A ledger row, as the ledger holds it."""


class OutcomeView(_Model):
    """How each workflow ended (or where it stands)."""

    workflow_id: str
    status: str
    phase: str | None
    summary: str


class AuditReport(_Model):
    """Everything an auditor reads about one case."""

    report_version: Literal[1] = 1
    case_id: str
    clinic_id: str
    timezone: str
    generated_at: datetime
    trigger: Trigger
    policies: list[PolicyView]
    workflows: list[WorkflowView]
    tasks: list[TaskRow]
    notifications: list[NotificationRow]
    disclosures: list[DisclosureRow]
    outcomes: list[OutcomeView]
    # The ledger's hash chain at the time of the report (head hash, links): what an auditor
    # notes to compare against later.
    ledger_chain: dict[str, Any] = {}
