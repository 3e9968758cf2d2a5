"""Starting and finding cases: shared by the HTTP API, the CLI and the tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import TemporalError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.accounting_case import AccountingInput, AccountingRequest
from domain.authorization import Authorization
from domain.authorization_case import AuthorizationInput
from domain.case import HISTORY_VERSION, CaseInput, CaseStatus, ConcernStatus, Phase
from domain.clinic import Clinic
from domain.flags import Flag, case_id_for
from domain.legal_case import LegalRequestInput
from domain.legal_request import INSTRUMENT_TITLE, LegalRequest
from infra.ledger_db import Ledger
from intake.policy_store import resolve_legal_policy, resolve_policy
from workflows import search_attributes as sa
from workflows.accounting import AccountingWorkflow
from workflows.authorization import AuthorizationWorkflow
from workflows.case import CaseWorkflow
from workflows.legal_request import LegalRequestWorkflow


def case_input(flag: Flag, clinic: Clinic) -> CaseInput:
    """Resolve the policy snapshot and the clinic snapshot for a new case."""
    return CaseInput(
        case_id=case_id_for(flag.clinic_id, flag.flag_id),
        flag=flag,
        clinic=clinic.public(),
        policy=resolve_policy(
            flag.jurisdiction,
            kinds=[c.kind.value for c in flag.concerns],
            timezone=clinic.timezone,
            # A year back too: knowledge in late December can be flagged in January.
            year=flag.flagged_at.year - 1,
        ),
        history_version=HISTORY_VERSION,
    )


def roster_problems(flag: Flag, clinic: Clinic) -> list[dict[str, str]]:
    """Every person who must act on the case has to be on the clinic's roster as a clinician,
    or their tasks could never be completed."""
    problems = []

    def check(field: str, staff_id: str) -> None:
        member = clinic.member(staff_id)
        if member is None or "clinician" not in member.roles:
            problems.append(
                {
                    "field": field,
                    "problem": f"{staff_id!r} is not a clinician on the roster of {clinic.id}",
                }
            )

    check("clinician.id", flag.clinician.id)
    for i, concern in enumerate(flag.concerns):
        for j, reporter in enumerate(concern.reporters):
            check(f"concerns[{i}].reporters[{j}]", reporter)
    return problems


@dataclass
class Started:
    """The outcome of submitting a flag."""

    case_id: str
    handle: WorkflowHandle
    created: bool
    same_body: bool


async def start_case(client: Client, task_queue: str, flag: Flag, clinic: Clinic) -> Started:
    """Start the case for a flag, or find the one a previous send of the same flag started."""
    inp = case_input(flag, clinic)
    return await _start_once(
        client,
        CaseWorkflow.run,
        inp,
        inp.case_id,
        task_queue,
        digest=flag.digest(),
        path="case",
        clinic_id=flag.clinic_id,
        jurisdiction=flag.jurisdiction,
        summary=f"Confide case {inp.case_id} ({flag.jurisdiction})",
        unverified=inp.policy.unverified,
        details=(
            f"Flag {flag.flag_id} of clinic {flag.clinic_id}; "
            f"concerns: {', '.join(c.kind.value for c in flag.concerns)}; "
            f"policy {inp.policy.version}. Open tasks are listed under Current Details "
            "of each concern's workflow."
        ),
    )


async def earlier_case_on_record(client: Client, ledger: Ledger, case_id: str) -> bool:
    """Whether `case_id` was used by a case Temporal no longer holds. A case id is derived from
    the clinic's own id, so an id reused after Temporal's retention would start a second case
    under the same id, whose disclosures would collide with the first case's rows in the
    ledger. The ledger outlives retention: ask it. An unreachable Temporal raises RPCError."""
    if not await asyncio.to_thread(ledger.for_case, case_id):
        return False
    try:
        await client.get_workflow_handle(case_id).describe()
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        return True
    return False


async def start_legal_request(
    client: Client, task_queue: str, request: LegalRequest, clinic: Clinic
) -> Started:
    """Start the workflow for a legal request, or find the one the same request started."""
    case_id = case_id_for(request.clinic_id, request.request_id)
    inp = LegalRequestInput(
        case_id=case_id,
        request=request,
        clinic=clinic.public(),
        policy=resolve_legal_policy(request.jurisdiction, clinic.timezone),
    )
    return await _start_once(
        client,
        LegalRequestWorkflow.run,
        inp,
        case_id,
        task_queue,
        digest=request.digest(),
        path="legal_request",
        clinic_id=request.clinic_id,
        jurisdiction=request.jurisdiction,
        summary=f"Confide legal request {case_id} ({INSTRUMENT_TITLE[request.instrument]})",
        details=(
            f"Request {request.request_id} of clinic {request.clinic_id}; "
            f"policy {inp.policy.version}. Open tasks are listed under Current Details."
        ),
    )


async def start_authorization(
    client: Client, task_queue: str, auth: Authorization, problems: list[str], clinic: Clinic
) -> Started:
    """Start the workflow for an authorization (defective ones too: they wait on hold), or
    find the one the same authorization started."""
    case_id = case_id_for(auth.clinic_id, auth.authorization_id)
    inp = AuthorizationInput(
        case_id=case_id, authorization=auth, problems=problems, clinic=clinic.public()
    )
    return await _start_once(
        client,
        AuthorizationWorkflow.run,
        inp,
        case_id,
        task_queue,
        digest=auth.digest(),
        path="authorization",
        clinic_id=auth.clinic_id,
        jurisdiction=auth.jurisdiction,
        summary=f"Confide authorization {case_id}",
        details=(
            f"Authorization {auth.authorization_id} of clinic {auth.clinic_id} (45 CFR 164.508). "
            "Open tasks are listed under Current Details."
        ),
    )


async def start_accounting(
    client: Client, task_queue: str, request: AccountingRequest, clinic: Clinic
) -> Started:
    """Start the workflow for an accounting request, or find the one it already started.
    A request without `requested_at` is dated now; its digest is of the body as sent, so
    sending it again still finds the same case."""
    case_id = case_id_for(request.clinic_id, request.request_id)
    digest = request.digest()
    if request.requested_at is None:
        request = request.model_copy(update={"requested_at": datetime.now(UTC)})
    return await _start_once(
        client,
        AccountingWorkflow.run,
        AccountingInput(case_id=case_id, request=request, clinic=clinic.public()),
        case_id,
        task_queue,
        digest=digest,
        path="accounting",
        clinic_id=request.clinic_id,
        jurisdiction=clinic.jurisdiction,
        summary=f"Confide accounting request {case_id}",
        details=(
            f"Request {request.request_id} of clinic {request.clinic_id} (45 CFR 164.528); due "
            "60 days after the request. Open tasks are listed under Current Details."
        ),
    )


async def _start_once(
    client: Client,
    run,
    inp,
    case_id: str,
    task_queue: str,
    *,
    digest: str,
    path: str,
    clinic_id: str,
    jurisdiction: str,
    summary: str,
    details: str,
    unverified: bool | None = None,
) -> Started:
    """Start a workflow under the clinic's own key, or find the one already started.

    The body's digest rides in the memo, so a re-send with a different body is detected
    without needing a worker to answer a query. Summary and details carry no PHI.
    """
    try:
        handle = await client.start_workflow(
            run,
            inp,
            id=case_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={"flag_digest": digest},
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.PATH, path),
                    SearchAttributePair(sa.STATUS, "open"),
                    SearchAttributePair(sa.CLINIC, clinic_id),
                    SearchAttributePair(sa.JURISDICTION, jurisdiction),
                    SearchAttributePair(sa.OVERDUE, False),
                    # Set here, not by the workflow's first upsert (an event in its history).
                    *(
                        [SearchAttributePair(sa.POLICY_UNVERIFIED, unverified)]
                        if unverified is not None
                        else []
                    ),
                ]
            ),
            static_summary=summary,
            static_details=details,
        )
        return Started(case_id, handle, created=True, same_body=True)
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(case_id)
        desc = await handle.describe()
        memo = await desc.memo()
        return Started(case_id, handle, created=False, same_body=memo.get("flag_digest") == digest)


async def fresh_concerns(client: Client, status: CaseStatus) -> CaseStatus:
    """The case view with each open concern read from the concern itself.

    A case of history version 2 hears from its concerns only when their phase, open tasks or
    deadlines change, version 3 only when their open tasks change or they end (each signal is
    history); their phases, notices and disclosures are read here, at the source, by query.
    A concern that cannot answer (gone, or its worker busy) is shown as the case last heard
    of it.
    """
    if not status.concerns:
        return status

    async def fresh(c: ConcernStatus) -> ConcernStatus:
        if c.phase == Phase.closed:
            return c  # its final status, returned to the case when it ended
        try:
            return await client.get_workflow_handle(c.workflow_id).query(
                "status", result_type=ConcernStatus, rpc_timeout=timedelta(seconds=5)
            )
        except (RPCError, TemporalError):
            return c.model_copy(update={"stale": True})

    # All at once: an abuse case has a concern per victim and reporter.
    concerns = list(await asyncio.gather(*(fresh(c) for c in status.concerns)))
    dues = [c.next_due for c in concerns if c.next_due]
    overdue = any(c.overdue for c in concerns)
    word = status.status
    if word in ("open", "overdue"):  # as the concerns say now
        word = "overdue" if overdue else "open"
    return status.model_copy(
        update={
            "status": word,
            "concerns": concerns,
            "tasks": sorted((t for c in concerns for t in c.tasks), key=lambda t: t.due_at),
            "notifications": [n for c in concerns for n in c.notifications],
            "disclosures": [d for c in concerns for d in c.disclosures],
            "overdue": overdue,
            "next_due": min(dues) if dues else None,
        }
    )
