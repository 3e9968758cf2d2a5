"""Workflow inputs and the status a case reports (queries, search attributes, the API)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from domain.accounting_case import AccountingView
from domain.authorization_case import AuthorizationView
from domain.clinic import Clinic
from domain.flags import Concern, Flag
from domain.forms import PatientConsent
from domain.legal_case import LegalRequestView
from domain.policy import DutyDecision, PolicySnapshot
from domain.records import Disclosure, NoticeRecord
from domain.tasks import Completed, TaskView

# How a case's workflows spend history ("history is cost"). A case keeps the version it started
# with, so histories on record replay with the behaviour they were recorded under:
# 1: a concern signals its case and upserts search attributes on every change;
# 2: only when something a reader of the case sees from the case itself changes (phase, open
#    tasks and their deadlines, overdue); notices and disclosures are read from the concern.
# 3: the case hears of open tasks and deadlines changing and of the concern ending, not of
#    every phase (a phase alone is read from the concern), and the signal carries no notices
#    or disclosures; the case's ConfideStatus is open / overdue / closed / needs_attention.
# 4: every decision and personal duty asks for the actor's e-mailed approval code, and codes go
#    out as a local activity (issue 12; workflows/task_board.py CODES_FOR_DECISIONS, which
#    other paths gate with workflow.patched: the version costs no marker event).
# 5: a coded task is on the board, its clock running and its overdue mark shown, before its
#    codes are e-mailed (workflows/task_board.py VISIBLE_BEFORE_CODES): a mail outage no
#    longer hides a mandated report.
HISTORY_VERSION = 5


class CaseInput(BaseModel):
    """Everything a case needs, resolved at start: flag, clinic snapshot, policy snapshot."""

    case_id: str
    flag: Flag
    clinic: Clinic
    policy: PolicySnapshot
    history_version: int = 1
    # A case that continued as new (history version 3): its concerns as last heard of.
    carry: CaseCarry | None = None


class ConcernCarry(BaseModel):
    """What a duty-to-warn concern's next run takes over when a re-assessment finds the threat
    renewed (continue-as-new keeps each run's history bounded: a threat renewed weekly for a
    year is 52 short runs, not one that grows without end)."""

    round: int
    seq: int
    revision: int
    assessment: Completed
    decision: DutyDecision | None = None
    consent: PatientConsent | None = None
    # The run that ended's notices and disclosures (the case view shows them); earlier rounds'
    # are in the ledger and in the earlier runs' histories.
    notifications: list[NoticeRecord] = []
    disclosures: list[Disclosure] = []


class ConcernInput(BaseModel):
    """One concern's child workflow input."""

    case_id: str
    index: int
    flag: Flag
    concern: Concern
    clinic: Clinic
    policy: PolicySnapshot
    parent_workflow_id: str | None = None
    # Abuse reports: each (victim, reporter) pair is its own duty and its own workflow.
    victim_index: int = 0
    reporter: str | None = None
    history_version: int = 1
    carry: ConcernCarry | None = None


class Phase(StrEnum):
    """Where a concern's path stands (the ConfideStatus search attribute)."""

    assessing = "assessing"
    awaiting_decision = "awaiting_decision"
    notifying = "notifying"
    follow_up = "follow_up"
    oral_report = "oral_report"
    written_report = "written_report"
    informing = "informing"
    # Legal requests (court orders, subpoenas).
    classifying = "classifying"
    asserting_privilege = "asserting_privilege"
    awaiting_assurance = "awaiting_assurance"
    held = "held"  # the patient objected: nothing moves until a ruling is recorded
    response_due = "response_due"  # due without assurance: objection or extension, no release
    awaiting_approval = "awaiting_approval"
    releasing = "releasing"
    # Authorizations.
    on_hold = "on_hold"  # defective: waits for a corrected authorization
    verifying = "verifying"
    active = "active"  # verified: releases on request until it expires or is revoked
    revoked = "revoked"
    expired = "expired"
    not_verified = "not_verified"
    # Accounting requests.
    preparing = "preparing"
    awaiting_review = "awaiting_review"
    closed = "closed"
    failed = "failed"  # the workflow failed: an operator must look (never silently closed)


class ConcernStatus(BaseModel):
    """A concern's state, pushed to its case on every change and returned by its queries."""

    case_id: str
    index: int
    kind: str
    workflow_id: str
    phase: Phase
    policy_version: str
    policy_unverified: bool
    decision: DutyDecision | None = None
    tasks: list[TaskView] = []
    notifications: list[NoticeRecord] = []
    disclosures: list[Disclosure] = []
    overdue: bool = False
    next_due: datetime | None = None
    updated_at: datetime
    # Increases with every change, so the case can ignore a status that arrives late.
    revision: int = 0
    # The patient's agreement to the disclosure, where one was recorded (who, when, what).
    patient_consent: PatientConsent | None = None
    # Set only by the API's view: the concern did not answer its query (its worker busy or
    # restarting), so this is what the case last heard of it, whose notices and disclosures
    # may be missing. Never set inside a workflow.
    stale: bool = False


class CaseStatus(BaseModel):
    """The case as `GET /v1/cases/{id}` and the `status` query show it."""

    case_id: str
    clinic_id: str
    jurisdiction: str
    status: str
    policy_version: str
    policy_unverified: bool
    concerns: list[ConcernStatus]
    tasks: list[TaskView]
    notifications: list[NoticeRecord]
    disclosures: list[Disclosure]
    overdue: bool
    next_due: datetime | None
    # What kind of case: a flagged session ("case") or a legal request ("legal_request").
    path: str = "case"
    legal: LegalRequestView | None = None
    authorization: AuthorizationView | None = None
    accounting: AccountingView | None = None


class CaseCarry(BaseModel):
    """What a case's next run takes over when its history has grown long (a concern renewed
    weekly for a year tells its case of every round): the concerns as last heard of, and
    which of them are still running. The concern workflows are not restarted: they signal the
    case by workflow id, so the new run hears them, and tells their end by its final signal."""

    concerns: list[ConcernStatus]
    running: list[str]


CaseInput.model_rebuild()
