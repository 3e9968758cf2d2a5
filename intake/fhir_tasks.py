"""Open human tasks as FHIR Tasks (issue 15): what an EHR's work list can show beside its own.

Each Confide task becomes an R4B `Task`: `status` ready (it waits on a person),
`businessStatus` saying whether it is overdue and how often it escalated, `owner` the assignee
(the role where no one is assigned yet), `restriction.period.end` the deadline (statutory where
the law sets one), `groupIdentifier` the case. The task's words are Confide's own (`title`),
which hold no patient data; no instructions or documents are exported.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.task import Task

from domain.tasks import TaskView

CASE_SYSTEM = "urn:confide:case"
TASK_SYSTEM = "urn:confide:task"
STAFF_SYSTEM = "urn:confide:staff"
KIND_SYSTEM = "urn:confide:task-kind"


def _business_status(task: TaskView) -> str:
    if not task.overdue:
        return "waiting"
    if task.escalation_level == 1:
        return "overdue, escalated once"
    if task.escalation_level:
        return f"overdue, escalated {task.escalation_level} times"
    return "overdue"


def fhir_task(case_id: str, task: TaskView) -> Task:
    owner = (
        {"identifier": {"system": STAFF_SYSTEM, "value": task.assignee}, "display": task.assignee}
        if task.assignee
        else {"display": f"any {task.role.value.replace('_', ' ')}"}
    )
    return Task.model_validate(
        {
            "resourceType": "Task",
            "identifier": [{"system": TASK_SYSTEM, "value": f"{case_id}/{task.task_id}"}],
            "groupIdentifier": {"system": CASE_SYSTEM, "value": case_id},
            "status": "ready",
            "businessStatus": {"text": _business_status(task)},
            "intent": "order",
            "code": {
                "coding": [{"system": KIND_SYSTEM, "code": task.kind.value}],
                "text": task.title,
            },
            "description": task.title,
            "authoredOn": task.created_at.isoformat(),
            "owner": owner,
            "performerType": [{"text": r.value.replace("_", " ")} for r in task.allowed_roles],
            "restriction": {"period": {"end": task.due_at.isoformat()}},
        }
    )


def task_bundle(rows: Sequence[tuple[str, TaskView]]) -> Bundle:
    """A `collection` Bundle of (case id, task) pairs, in the order given."""
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"resource": fhir_task(case_id, t).model_dump(mode="json", exclude_none=True)}
                for case_id, t in rows
            ],
        }
    )
