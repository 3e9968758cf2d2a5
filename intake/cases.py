"""Starting and finding cases: shared by the HTTP API, the CLI and the tests."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.case import CaseInput
from domain.clinic import Clinic
from domain.flags import Flag, case_id_for
from domain.policy import resolve_policy
from workflows import search_attributes as sa
from workflows.case import CaseWorkflow


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
    )


@dataclass
class Started:
    """The outcome of submitting a flag."""

    case_id: str
    handle: WorkflowHandle
    created: bool
    same_body: bool


async def start_case(client: Client, task_queue: str, flag: Flag, clinic: Clinic) -> Started:
    """Start the case for a flag, or find the one a previous send of the same flag started.

    The flag's digest rides in the memo, so a re-send with a different body is detected
    without needing a worker to answer a query.
    """
    inp = case_input(flag, clinic)
    digest = flag.digest()
    try:
        handle = await client.start_workflow(
            CaseWorkflow.run,
            inp,
            id=inp.case_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={"flag_digest": digest},
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.PATH, "case"),
                    SearchAttributePair(sa.STATUS, "open"),
                    SearchAttributePair(sa.CLINIC, flag.clinic_id),
                    SearchAttributePair(sa.JURISDICTION, flag.jurisdiction),
                    SearchAttributePair(sa.OVERDUE, False),
                ]
            ),
            static_summary=f"Confide case {inp.case_id} ({flag.jurisdiction})",
            static_details=(
                f"Flag {flag.flag_id} of clinic {flag.clinic_id}; "
                f"concerns: {', '.join(c.kind.value for c in flag.concerns)}; "
                f"policy {inp.policy.version}. Open tasks are listed under Current Details "
                "of each concern's workflow."
            ),
        )
        return Started(inp.case_id, handle, created=True, same_body=True)
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(inp.case_id)
        desc = await handle.describe()
        memo = await desc.memo()
        return Started(
            inp.case_id, handle, created=False, same_body=memo.get("flag_digest") == digest
        )
