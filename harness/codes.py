"""Approval codes as a person gets them, for tests and the benchmark that complete tasks.

A person reads their code from the e-mail; a test that drives many tasks derives the same code
with `activities.approvals.derive_code` and the worker's secret (what the HTTP API does for an
authenticated user). Tests of the codes themselves read them from the SMTP sink instead.
"""

from __future__ import annotations

from typing import Any


def code_secret() -> bytes:
    """The approval-code secret the worker of this process was built with (harness.make_worker
    sets CONFIDE_CODE_SECRET before it builds one)."""
    from infra.settings import Settings

    return Settings.from_env().code_secret()


def _field(task: Any, name: str) -> Any:
    return task[name] if isinstance(task, dict) else getattr(task, name)


def code_for(task: Any, actor: str, secret: bytes | None = None) -> str:
    """The code e-mailed to `actor` for `task` (a TaskView, or a task as the API lists it)."""
    from activities.approvals import derive_code

    case_id = _field(task, "case_id")
    if not case_id:
        raise ValueError(f"task {_field(task, 'task_id')} does not say its case")
    return derive_code(secret or code_secret(), case_id, _field(task, "task_id"), actor)


def with_code(task: Any, answer: dict[str, Any], secret: bytes | None = None) -> dict[str, Any]:
    """A `complete_task` argument with the actor's code added where the task needs one and the
    answer has none (an answer that sets `code`, even to None, is left as it is)."""
    if not _field(task, "requires_code") or "code" in answer:
        return answer
    return {**answer, "code": code_for(task, answer["actor"], secret)}
