"""The one human-task mechanism (DESIGN.md §2 principle 3): model, completion check, rendering.

Pure functions only: the workflow's Update validator calls `check_completion`, so the same rules
hold in the Web UI, the CLI and the HTTP API, and they are unit-testable without a server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from domain.clinic import ESCALATION_ORDER, Clinic, Role, StaffMember
from domain.forms import (
    ASK_COUNSEL,
    DECISIONS,
    EXAMPLES,
    FORMS,
    OUTCOMES,
    AccountingReviewForm,
    AcknowledgeForm,
    ClassificationForm,
    InformIndividualForm,
    LetterForm,
    ReleaseApprovalForm,
    ReleaseDecisionForm,
    ResponseForm,
    RiskAssessmentForm,
    TaskKind,
    WrittenReportForm,
)
from domain.local_time import local
from domain.recorded import as_recorded

F = TypeVar("F", bound=BaseModel)


class TaskStatus(StrEnum):
    """Where a task stands."""

    open = "open"
    done = "done"
    cancelled = "cancelled"


class FailedTry(BaseModel):
    """A completion refused for a wrong approval code: who sent it and when (never the code)."""

    actor: str
    at: datetime


# Wrong approval codes in a row that lock a task until a privacy officer decides to unlock it.
MAX_CODE_TRIES = 5


class TaskFields(BaseModel):
    """What everyone may see of a task: who may do it, by when, what it asks."""

    task_id: str
    kind: TaskKind
    role: Role
    allowed_roles: list[Role]
    assignee: str | None = None
    # Four eyes: where set, the actor may not be this person (e.g. the assessing clinician).
    requester: str | None = None
    four_eyes: bool = False
    # A personal duty (e.g. a non-delegable mandated report): only the assignee may complete.
    only_assignee: bool = False
    requires_code: bool = False
    created_at: datetime
    due_at: datetime
    escalation_level: int = 0
    overdue: bool = False
    title: str
    instructions: str
    # Text prepared for the assignee to review (e.g. a written report).
    document: str | None = None
    # What a decision rests on, in words that hold no patient data: shown in Current Details,
    # which the Web UI loads by URL (domain.decision_brief); the whole brief is the document.
    context: str | None = None
    # The allowed answers where the form has a choice: plan indices, permitted actions.
    choices: list[str] = Field(default_factory=list)
    # Why each choice is offered with a caveat, or why an item is not offered (e.g. a record
    # outside the computed release scope); shown, and quoted when an answer is refused.
    choice_notes: dict[str, str] = Field(default_factory=dict)
    # Form fields whose answer must agree with what was received (e.g. the instrument type).
    expected: dict[str, Any] = Field(default_factory=dict)
    # Form fields that must be true for the first (positive) outcome, e.g. a verified identity.
    must_confirm: list[str] = Field(default_factory=list)
    # Outcomes that may not be chosen before a time (e.g. "no objection" before the window ends).
    outcome_not_before: dict[str, datetime] = Field(default_factory=dict)
    # The earliest time an event the answer records can have happened (an abuse report cannot
    # be made before the clinic knew of the abuse): an earlier time is a typo that would start
    # a statutory clock in the past.
    events_not_before: datetime | None = None
    workflow_id: str = ""
    # The case the task belongs to (with task_id and actor, what an approval code is for).
    case_id: str = ""
    # Wrong approval codes sent since the task opened or was last unlocked, and every one sent
    # (who and when); at MAX_CODE_TRIES in a row the task locks until a privacy officer's
    # recorded decision (the task named in `unlock_task_id`) unlocks it.
    wrong_codes: int = 0
    failed_tries: list[FailedTry] = Field(default_factory=list)
    locked: bool = False
    unlock_task_id: str | None = None
    # An unlock task: the id of the locked task it decides on.
    unlocks: str | None = None
    status: TaskStatus = TaskStatus.open
    completed_by: str | None = None
    completed_at: datetime | None = None
    outcome: str | None = None


class Task(TaskFields):
    """A human step inside its workflow, with how it reminds and escalates and the hashes
    of its approval codes (never shown)."""

    # Escalation widens `allowed_roles` only where someone else may lawfully do the step.
    delegable: bool = True
    reminder_before: timedelta
    # Further reminders before the deadline (statutory deadlines get several).
    more_reminders: list[timedelta] = Field(default_factory=list)
    escalate_every: timedelta
    # Roles told at every escalation whether or not they may act (e.g. supervisor and privacy
    # officer on an overdue mandated report they may not file themselves).
    escalate_to: list[Role] = Field(default_factory=list)
    # Salted hashes of the approval codes e-mailed to each eligible actor; never the codes.
    code_salt: str = ""
    code_hashes: dict[str, str] = Field(default_factory=dict, repr=False)

    def public(self) -> TaskView:
        """What queries and the API show: the shared fields and a ready-to-paste example."""
        shared = {name: getattr(self, name) for name in TaskFields.model_fields}
        return TaskView(**shared, example=completion_example(self))


class TaskView(TaskFields):
    """A task as queries, the API and the CLI show it."""

    model_config = ConfigDict(extra="ignore")
    example: dict[str, Any]


class TaskCompletion(BaseModel):
    """The one argument of the `complete_task` Update (DESIGN.md §3)."""

    # `data` and `note` may hold PHI: a decoding error must not echo them into history.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    task_id: str
    actor: str
    outcome: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    code: str | None = None
    # No limits here: this model also decodes the Update's argument when a case is replayed, so
    # a limit tightened since would fail a completion already on record. check_completion
    # holds the rules (MAX_NOTE), and runs only when a completion is first sent.
    note: str | None = None


MAX_NOTE = 2000


class Completed(BaseModel):
    """A completed task's answer: the completion as sent and its form as recorded."""

    completion: TaskCompletion
    form: dict
    outcome: str
    # The typed form, kept so workflow code reads it without parsing again (`as_recorded`;
    # rebuilt the same way after a continue-as-new, which carries only `form`).
    _typed: BaseModel | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, completion: TaskCompletion, form: BaseModel, outcome: str) -> Completed:
        """An answer with its typed form."""
        done = cls(
            completion=completion,
            form=form.model_dump(mode="json", warnings=False),
            outcome=outcome,
        )
        done._typed = form
        return done

    def read(self, model: type[F]) -> F:
        """The answer's form as `model`, never re-checked against today's rules (see
        domain.recorded)."""
        if not isinstance(self._typed, model):
            self._typed = as_recorded(model, self.form)
        return self._typed


class TaskRejected(ValueError):
    """A completion the validator refuses; the message is shown to the supervisor as is."""

    # An expected refusal, not a fault: it reaches Temporal without a stack trace
    # (infra/failures.py), so the Web UI's Update dialog shows the one sentence only.
    refusal = True


def normalize_code(code: str) -> str:
    """Codes are compared without dashes, spaces or case, as people retype them."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_code(salt: str, code: str) -> str:
    """The stored form of an approval code."""
    return hashlib.sha256(f"{salt}:{normalize_code(code)}".encode()).hexdigest()


FUTURE_SKEW = timedelta(minutes=10)
# 45 CFR 164.528(c)(2): one extension of at most 30 days.
ACCOUNTING_EXTENSION = timedelta(days=30)


def needs_code(task: TaskFields) -> bool:
    """Whether a task opened today asks for a per-person approval code: every decision
    (domain.forms.DECISIONS) and every personal duty. Tasks opened before codes covered them
    keep `requires_code` as they were opened (workflows/task_board.py gates this)."""
    return task.requires_code or task.kind in DECISIONS or task.only_assignee


def code_required(task: TaskFields, done: TaskCompletion) -> bool:
    """Whether this completion must carry the actor's approval code (asking counsel decides
    nothing, so it needs none)."""
    outcomes = OUTCOMES[task.kind]
    outcome = done.outcome or (outcomes[0] if len(outcomes) == 1 else None)
    return task.requires_code and outcome != ASK_COUNSEL


def code_matches(task: Task, done: TaskCompletion) -> bool:
    """Whether the completion's code is the one e-mailed to its actor for this task."""
    expected = task.code_hashes.get(done.actor)
    return (
        expected is not None
        and done.code is not None
        and hmac.compare_digest(expected, hash_code(task.code_salt, done.code))
    )


def wrong_code_refusal(task: TaskFields, actor: str) -> str:
    """The one sentence a wrong code gets back: what to do, and how many tries remain."""
    left = MAX_CODE_TRIES - task.wrong_codes
    if task.locked or left <= 0:
        return (
            f"the approval code is not the one e-mailed to {actor} for task {task.task_id}, "
            f"and after {MAX_CODE_TRIES} wrong codes the task is now locked: the privacy "
            "officer has been told, and only their recorded decision can unlock it"
        )
    tries = "1 try remains" if left == 1 else f"{left} tries remain"
    return (
        f"the approval code is not the one e-mailed to {actor} for task {task.task_id}: copy "
        f"the code from that e-mail and send the answer again ({tries} before the task locks)"
    )


def locked_refusal(task: TaskFields) -> str:
    """Why a locked task refuses every answer, and who can unlock it."""
    by = f" (task {task.unlock_task_id})" if task.unlock_task_id else ""
    return (
        f"task {task.task_id} is locked after {MAX_CODE_TRIES} wrong approval codes: "
        f"only a privacy officer's recorded decision{by} can unlock it"
    )


def check_completion(
    task: Task | None,
    done: TaskCompletion,
    clinic: Clinic,
    now: datetime | None = None,
    *,
    compare_code: bool = True,
) -> BaseModel:
    """Validate a completion against its task and the roster; return the parsed form.

    Raises TaskRejected with a message a supervisor understands. Messages name fields and
    roles, never the values entered, because a rejection's message is shown in the UI.

    `compare_code=False` (the workflow's Update validator): a missing code is refused here, a
    wrong one is not, so that it reaches the Update handler, which counts it (a refusal here
    leaves no trace in history, and five wrong codes must lock the task).
    """
    if task is None:
        raise TaskRejected(f"unknown task {done.task_id!r}: see the `tasks` query for open tasks")
    if task.status != TaskStatus.open:
        raise TaskRejected(f"task {task.task_id} is already {task.status.value}")
    if task.locked:
        raise TaskRejected(locked_refusal(task))
    member = clinic.member(done.actor)
    if member is None:
        # The value is not echoed: someone may have typed a person's name here.
        raise TaskRejected(f"actor is not a roster id of clinic {clinic.id}")
    if task.only_assignee and done.actor != task.assignee:
        raise TaskRejected(
            f"only {task.assignee} may complete task {task.task_id}: the reporting duty is "
            "personal and may not be delegated"
        )
    if not set(member.roles) & set(task.allowed_roles):
        allowed = " or ".join(r.value for r in task.allowed_roles)
        raise TaskRejected(f"task {task.task_id} needs the role {allowed}; {done.actor} lacks it")
    if task.four_eyes and task.requester == done.actor:
        raise TaskRejected(
            f"task {task.task_id} needs a second person: {done.actor} requested it "
            "and may not also decide it"
        )
    if done.note is not None and len(done.note) > MAX_NOTE:
        raise TaskRejected(f"note is longer than {MAX_NOTE} characters; shorten it")
    outcomes = OUTCOMES[task.kind]
    outcome = done.outcome or (outcomes[0] if len(outcomes) == 1 else None)
    if outcome not in outcomes:
        raise TaskRejected(f"outcome must be one of {', '.join(outcomes)}")
    if outcome == ASK_COUNSEL:
        return _check_counsel_question(done, clinic)
    if task.kind == TaskKind.accounting_review and outcome == "extend" and now is not None:
        if now >= task.due_at:
            raise TaskRejected(
                "the 60 days have passed: an extension needs its written notice before day 60 "
                "(45 CFR 164.528(c)(2)); deliver the accounting now"
            )
    not_before = task.outcome_not_before.get(outcome)
    if now is not None and not_before is not None and now < not_before:
        raise TaskRejected(
            f"outcome {outcome} is not possible before {local(not_before, clinic.timezone)}"
        )
    try:
        form = FORMS[task.kind].model_validate(done.data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'data'}: {err['msg']}"
            for err in e.errors(include_input=False)
        )
        raise TaskRejected(f"data does not fit the {task.kind.value} form: {problems}") from None
    _check_choices(task, outcome, form)
    if now is not None:
        # A report "made" tomorrow is a typo that would move a statutory clock.
        future_ok: frozenset[str] = getattr(form, "future_fields", frozenset())
        for name, value in form:
            if name in future_ok:
                continue
            # One level down too: a recorded consent's given_at is a past event as well.
            inner = [(f"{name}.{k}", v) for k, v in value] if isinstance(value, BaseModel) else []
            for path, when in [(name, value), *inner]:
                if isinstance(when, datetime) and when > now + FUTURE_SKEW:
                    raise TaskRejected(f"data.{path} is in the future")
                earliest = task.events_not_before
                if isinstance(when, datetime) and earliest is not None and when < earliest:
                    raise TaskRejected(
                        f"data.{path} is before {local(earliest, clinic.timezone)}, when the "
                        "clinic learned of it; enter the time it happened"
                    )
    if task.requires_code:
        if not done.code:
            raise TaskRejected(
                f"task {task.task_id} needs the approval code e-mailed to {done.actor}"
            )
        if done.actor not in task.code_hashes:
            # Nothing to guess: no code was delivered to this person (assigned to someone
            # else, not yet issued, or their address refused it): not counted as a wrong try.
            if done.actor not in eligible_actors(task, clinic):
                raise TaskRejected(
                    f"task {task.task_id} is assigned to {task.assignee}, who alone has a code "
                    "for it until it escalates"
                )
            if not task.code_hashes:
                # The codes are being sent (or the mail server is down): the e-mail may
                # already be in the reader's inbox before the case has recorded sending it.
                raise TaskRejected(
                    f"the approval codes for task {task.task_id} are still being sent: wait "
                    "for the e-mail, then try again in a minute"
                )
            raise TaskRejected(
                f"no approval code was e-mailed to {done.actor} for task {task.task_id}; "
                "ask the privacy officer to check the roster address"
            )
        if compare_code and not code_matches(task, done):
            raise TaskRejected(f"the approval code is not the one e-mailed to {done.actor}")
    return form


def recorded_form(task: Task, done: TaskCompletion) -> BaseModel:
    """The answer's form as recorded, typed but not re-checked (see domain.recorded): what the
    Update handler stores when it runs without its validator, i.e. on replay, where the
    validator accepted the answer under the rules of its day and today's may be stricter."""
    outcomes = OUTCOMES[task.kind]
    if (done.outcome or outcomes[0]) == ASK_COUNSEL:
        return as_recorded(AcknowledgeForm, {"notes": done.note or ""})
    return as_recorded(FORMS[task.kind], done.data)


def _check_counsel_question(done: TaskCompletion, clinic: Clinic) -> BaseModel:
    if not clinic.with_role(Role.counsel):
        raise TaskRejected(f"clinic {clinic.id} has no counsel on its roster to ask")
    if not (done.note or "").strip():
        raise TaskRejected("ask_counsel needs the question in `note`")
    return AcknowledgeForm(notes=done.note or "")


def _check_choices(task: Task, outcome: str, form: BaseModel) -> None:
    for name, value in task.expected.items():
        if getattr(form, name, value) != value:
            raise TaskRejected(
                f"data.{name} contradicts the request as received ({value}); if the intake is "
                "wrong, the clinic's system must send a corrected request under a new id"
            )
    _check_legal_forms(task, outcome, form)
    if isinstance(form, ReleaseDecisionForm):
        offered = ", ".join(task.choices) or "none"
        if outcome == "approve" and not form.actions:
            raise TaskRejected(f"approve needs data.actions: one or more of {offered}")
        if outcome == "decline" and form.actions:
            raise TaskRejected("decline takes no data.actions; give the reason instead")
        if len(set(form.actions)) != len(form.actions):
            raise TaskRejected("data.actions lists an action more than once")
        refused = [a.value for a in form.actions if a.value not in task.choices]
        if refused:
            raise TaskRejected(
                f"not permitted in this case: {', '.join(refused)}; approve only {offered}, "
                "or decline"
            )
    if isinstance(form, InformIndividualForm):
        if outcome == "informed" and form.informed_at is None:
            raise TaskRejected("informed needs data.informed_at (and the method)")
        if outcome == "not_informed" and form.reason_not_informed is None:
            raise TaskRejected(
                "not_informed needs data.reason_not_informed: risk_of_serious_harm or "
                "representative_is_suspected_abuser (45 CFR 164.512(c)(2))"
            )
    if isinstance(form, WrittenReportForm) and not form.reviewed:
        raise TaskRejected("data.reviewed must be true: review the prepared report first")
    if isinstance(form, RiskAssessmentForm) and task.choices:
        if str(form.discharge_plan) not in task.choices:
            raise TaskRejected(
                f"data.discharge_plan must be one of {', '.join(task.choices)} "
                "(the jurisdiction's discharge plans)"
            )


def _check_legal_forms(task: Task, outcome: str, form: BaseModel) -> None:
    if isinstance(form, ClassificationForm) and outcome == "valid":
        if not (form.signed and form.issuer_has_jurisdiction):
            raise TaskRejected(
                "valid needs data.signed and data.issuer_has_jurisdiction true; "
                "otherwise choose the outcome defective"
            )
    if isinstance(form, LetterForm):
        if not form.reviewed:
            raise TaskRejected("data.reviewed must be true: review the prepared letter first")
        if outcome == "mailed" and form.mailed_at is None:
            raise TaskRejected("mailed needs data.mailed_at")
    if isinstance(form, ResponseForm) and outcome == "extension_obtained":
        if form.new_response_due is None or form.new_response_due <= task.due_at:
            raise TaskRejected(
                "extension_obtained needs data.new_response_due later than the current due date"
            )
    if outcome == OUTCOMES[task.kind][0]:
        for name in task.must_confirm:
            if getattr(form, name, None) is not True:
                other = " or ".join(OUTCOMES[task.kind][1:]) or "another outcome"
                raise TaskRejected(f"{outcome} needs data.{name} true; otherwise choose {other}")
    if isinstance(form, AccountingReviewForm) and outcome == "extend":
        if not form.reason.strip() or form.new_date is None:
            raise TaskRejected("extend needs data.reason and data.new_date (told to the patient)")
        if form.new_date <= task.due_at or form.new_date > task.due_at + ACCOUNTING_EXTENSION:
            raise TaskRejected(
                "data.new_date must be after the 60-day due date and at most 30 days later "
                "(45 CFR 164.528(c)(2))"
            )
    if isinstance(form, ReleaseApprovalForm):
        if outcome == "approve" and not form.documents:
            raise TaskRejected("approve needs data.documents: the ids to release (see choices)")
        if outcome == "decline" and form.documents:
            raise TaskRejected("decline takes no data.documents; give the reason instead")
        if len(set(form.documents)) != len(form.documents):
            raise TaskRejected("data.documents lists a document more than once")
        for i, doc in enumerate(form.documents):
            if doc not in task.choices:
                # The position, not the value typed: refusals never echo what was entered.
                why = task.choice_notes.get(doc, "not a document of this patient's record")
                raise TaskRejected(
                    f"data.documents[{i}] is outside the computed release scope: {why}"
                )
        review = [d for d in form.documents if d in task.choice_notes]
        if review and not form.redactions_reviewed:
            raise TaskRejected(
                "data.redactions_reviewed must be true: "
                f"{', '.join(review)} {'mentions' if len(review) == 1 else 'mention'} other "
                "people (review the redactions first)"
            )


def next_escalation(task: Task) -> Role | None:
    """The role a task escalates to next, or None at the top of the chain."""
    if task.role not in ESCALATION_ORDER:
        return None
    level = ESCALATION_ORDER.index(task.role) + task.escalation_level + 1
    return ESCALATION_ORDER[level] if level < len(ESCALATION_ORDER) else None


def eligible_actors(task: TaskFields, clinic: Clinic) -> list[str]:
    """The roster ids that may complete a task now: the assignee of a personal duty, else
    everyone holding an allowed role, less the requester where four eyes are needed. An
    assigned task that needs a code: its assignee, and those of the roles it escalated to
    (who alone were e-mailed codes, see `code_recipients`)."""
    if task.only_assignee:
        return [task.assignee] if task.assignee else []
    return [
        s.id
        for s in clinic.staff
        if set(s.roles) & set(task.allowed_roles)
        and not (task.four_eyes and s.id == task.requester)
        and not (_assigned_coded(task, clinic) and s.id != task.assignee and task.role in s.roles)
    ]


def _assigned_coded(task: TaskFields, clinic: Clinic) -> bool:
    member = clinic.member(task.assignee) if task.assignee else None
    return task.requires_code and member is not None and task.role in member.roles


def code_recipients(task: TaskFields, clinic: Clinic, roles: list[Role]) -> list[StaffMember]:
    """Who is e-mailed a code when a task opens (`roles` its allowed roles) or escalates
    (`roles` those it was widened to): everyone in those roles less the requester of a
    four-eyes decision; but an assigned task opens with a code for its assignee only (not one
    for every clinician on the roster), and others get theirs when it escalates."""
    people = [
        s
        for s in clinic.staff
        if set(s.roles) & set(roles) and not (task.four_eyes and s.id == task.requester)
    ]
    if _assigned_coded(task, clinic) and task.role in roles:
        people = [s for s in people if s.id == task.assignee or task.role not in s.roles]
    return people


def _recent(task: Task, data: dict[str, Any]) -> dict[str, Any]:
    """The example's times of past events (`called_at`, `done_at`...) set to when the task
    opened, in the zone of the events' earliest time where there is one: a fixed sample date
    would be refused as "before the clinic learned of it" when pasted as it stands."""
    when = task.created_at
    earliest = task.events_not_before
    if earliest is not None:
        when = max(when, earliest).astimezone(earliest.tzinfo)
    return {k: when.isoformat() if k.endswith("_at") else v for k, v in data.items()}


def completion_example(task: Task, actor: str | None = None) -> dict[str, Any]:
    """A ready-to-paste `complete_task` argument for this task (as `actor` when given: a
    reader's own roster id, so the example is sent as it stands)."""
    example: dict[str, Any] = {
        "task_id": task.task_id,
        "actor": actor or task.assignee or f"<{task.role.value} id>",
        "outcome": OUTCOMES[task.kind][0],
        "data": _recent(task, EXAMPLES[task.kind]),
    }
    if task.kind == TaskKind.release_decision:
        example["data"] = {"actions": task.choices, "reason": "..."}
    if task.kind == TaskKind.release_approval:
        example["data"] = {
            "documents": task.choices,
            "redactions_reviewed": any(c in task.choice_notes for c in task.choices),
            "reason": "...",
        }
    if task.expected:
        example["data"] = {**example["data"], **task.expected}
    if task.must_confirm:
        example["data"] = {**example["data"], **dict.fromkeys(task.must_confirm, True)}
    if task.requires_code:
        example["code"] = "<code from the e-mail>"
    return example


def decline_example(task: Task, actor: str | None = None) -> dict[str, Any] | None:
    """The `complete_task` argument that declines a decision, where a task can be declined."""
    if "decline" not in OUTCOMES[task.kind]:
        return None
    example: dict[str, Any] = {
        "task_id": task.task_id,
        "actor": actor or task.assignee or f"<{task.role.value} id>",
        "outcome": "decline",
        "data": {"reason": "<why nothing is released>"},
    }
    if task.requires_code:
        example["code"] = "<code from the e-mail>"
    return example


def render_details(
    header: str,
    tasks: list[Task],
    footer: str = "",
    timezone: str | None = None,
    clinic: Clinic | None = None,
) -> str:
    """Markdown for `set_current_details`: what is pending, who may do it, by when (in the
    clinic's zone when given), what the decision rests on, and the answers ready to paste,
    each with a roster id that may send it (the clinic's, when given)."""
    timezone = timezone or (clinic.timezone if clinic else None)
    open_tasks = [t for t in tasks if t.status == TaskStatus.open]
    lines = [header, ""]
    if not open_tasks:
        lines.append("No open tasks.")
    for t in sorted(open_tasks, key=lambda t: t.due_at):
        by = local(t.due_at, timezone) if timezone else t.due_at.isoformat(timespec="minutes")
        who = " or ".join(r.value for r in t.allowed_roles)
        late = " — **OVERDUE**" if t.overdue else ""
        actors = eligible_actors(t, clinic) if clinic else []
        lines += [
            f"### {t.title}{late}",
            f"- task `{t.task_id}` · {who}{f' (assigned: {t.assignee})' if t.assignee else ''}",
            f"- due **{by}**",
            f"- {t.instructions}",
        ]
        if actors:
            lines.append(f"- may be completed by: {', '.join(f'`{a}`' for a in actors)}")
        if t.locked:
            lines.append(f"- **LOCKED**: {locked_refusal(t)}")
        elif t.wrong_codes:
            lines.append(
                f"- {t.wrong_codes} wrong approval code{'s' if t.wrong_codes > 1 else ''} "
                f"sent; it locks at {MAX_CODE_TRIES}"
            )
        if t.context:
            lines += ["", t.context]
        lines += _answers(t, example_actor(t, actors), more=len(actors) > 1)
    if footer:
        lines += ["", footer]
    return "\n".join(lines)


def example_actor(task: TaskFields, actors: list[str]) -> str | None:
    """Whose roster id an example carries: the assignee where they may act, else the one
    person who may; with several, none (a placeholder: never someone else's id, since an
    answer without a code is recorded as whoever the actor names)."""
    if task.assignee and task.assignee in actors:
        return task.assignee
    return actors[0] if len(actors) == 1 else None


def _answers(task: Task, actor: str | None, more: bool) -> list[str]:
    """The Update arguments to paste: the first outcome, and a decline where there is one."""
    mine = " (with your own roster id as `actor`)" if more else ""
    answers = [("To answer", completion_example(task, actor))]
    declined = decline_example(task, actor)
    if declined is not None:
        answers = [("To approve", answers[0][1]), ("To decline", declined)]
    lines = []
    for label, example in answers:
        lines += [
            "",
            f"{label}, send an Update `complete_task`{mine} with:",
            "",
            "```json",
            json.dumps(example, indent=1),
            "```",
        ]
    return lines + [""]


def due(now: datetime, after: timedelta) -> datetime:
    """A due time: exactly `after` from now (statutory clocks are not rounded)."""
    return now + after
