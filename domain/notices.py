"""Notice texts. Subjects carry only the clinic name and the opaque case id (never PHI); bodies
carry the minimum each recipient needs to act (164.502(b), 164.514(d)).

The words are jinja2 templates (domain.notice_templates), written as a professional writes:
messages to staff in plain, complete sentences that say what happened, what the reader must do
(if anything), by when in the clinic's time, and where; code values (actions, roles, agency
kinds) in words, from the one map each has (domain.policy.ACTION_WORDS, domain.clinic.ROLE_WORDS
and AGENCY_WORDS).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from domain.abuse_report import KIND_TITLE, duty_lines
from domain.clinic import AGENCY_WORDS, ROLE_WORDS, Agency, AgencyKind, Clinic, Role
from domain.flags import Concern, Patient, Person
from domain.forms import ASK_COUNSEL, OUTCOMES, TaskKind
from domain.local_time import local
from domain.notice_templates import join_words, no_stop, render
from domain.policy import ACTION_WORDS, Action
from domain.reporting import AdditionalReport, ReportingRule
from domain.tasks import TaskFields


class Notice(BaseModel):
    """A rendered e-mail: subject (no PHI) and plain-text body."""

    model_config = ConfigDict(hide_input_in_errors=True)  # the body is PHI

    subject: str
    body: str


def message_id(case_id: str, step: str, recipient_key: str) -> str:
    """A deterministic Message-ID per (case, step, recipient): a retry resends the same message."""
    token = hashlib.sha256(f"{case_id}|{step}|{recipient_key}".encode()).hexdigest()[:32]
    return f"<{token}@confide.invalid>"


def person_key(kind: str, index: int) -> str:
    """An opaque recipient key for a person named in a concern (no name in it)."""
    return f"{kind}-{index}"


# -- to people and agencies outside the clinic ---------------------------------------------


def victim_warning(
    clinic: Clinic, case_id: str, patient: Patient, concern: Concern, victim: Person
) -> Notice:
    """Warn an identifiable potential victim: who, what threat, what to do."""
    body = render(
        "victim_warning",
        clinic=clinic,
        case_id=case_id,
        patient=patient,
        concern=concern,
        victim=victim,
    )
    return Notice(subject=f"Important safety notice from {clinic.name} (ref {case_id})", body=body)


def agency_notice(
    clinic: Clinic,
    case_id: str,
    patient: Patient,
    concern: Concern,
    agency: Agency,
    purpose: str,
    legal_basis: str,
) -> Notice:
    """Notify an agency (law enforcement, crisis team, county director) of a threat.

    `purpose` completes the sentence "... makes this confidential report in order to ...":
    a verb phrase such as "prevent or lessen a serious and imminent threat to a person's
    safety"."""
    victims = [", ".join(x for x in (v.name, v.phone, v.address) if x) for v in concern.victims]
    body = render(
        "agency_notice",
        clinic=clinic,
        case_id=case_id,
        patient=patient,
        birth_date=patient.birth_date.isoformat() if patient.birth_date else "",
        concern=concern,
        agency=agency,
        purpose=purpose,
        legal_basis=legal_basis,
        victims=victims,
    )
    return Notice(subject=f"Confidential report from {clinic.name} (ref {case_id})", body=body)


def contact_notice(clinic: Clinic, case_id: str, patient: Patient, contact: Person) -> Notice:
    """Tell an emergency contact that the patient may be at serious risk of self-harm."""
    body = render(
        "contact_notice", clinic=clinic, case_id=case_id, patient=patient, contact=contact
    )
    return Notice(subject=f"Urgent message from {clinic.name} (ref {case_id})", body=body)


# -- to staff: the frame and the words every message shares ---------------------------------


def staff_subject(clinic: Clinic, case_id: str, headline: str) -> str:
    """A staff e-mail's subject: the clinic's name as a tag, the headline, and the opaque case id
    as "(case <id>)" (what staff and tools look for); nothing else."""
    return f"[{clinic.name}] {no_stop(headline)} (case {case_id})"


def staff_message(
    clinic: Clinic, case_id: str, headline: str, body: str, links: Sequence[str] = ()
) -> Notice:
    """A message to staff: the body (rendered sentences), any links, and the case it is about.
    Opaque references only: no patient is named."""
    text = render(
        "staff",
        body=body,
        links=[line.strip() for line in links if line.strip()],
        case_id=case_id,
        clinic=clinic,
    )
    return Notice(subject=staff_subject(clinic, case_id, headline), body=text)


def staff_notice(clinic: Clinic, case_id: str, headline: str, lines: list[str]) -> Notice:
    """A message to staff from a headline and sentences (each line a paragraph of its own)."""
    body = render("lines", lines=[f"{no_stop(headline)}.", *lines])
    return staff_message(clinic, case_id, headline, body)


def staff_name(clinic: Clinic, staff_id: str) -> str:
    """A member of staff as a message names them: 'Dr. Lee (dr-lee)', the roster id being
    what they type as the actor."""
    member = clinic.member(staff_id)
    return f"{member.name} ({staff_id})" if member else staff_id


def how_to_complete(workflow_id: str) -> str:
    """Where and how a task is done (the Web UI's Update; the CLI and API take the same)."""
    return render("how", workflow_id=workflow_id)


def who_may_complete(task: TaskFields, clinic: Clinic) -> str:
    """Who may complete a task, in a sentence or two."""
    if task.only_assignee and task.assignee:
        return (
            f"Only {staff_name(clinic, task.assignee)} may complete it: the duty is personal "
            "and cannot be handed to anyone else."
        )
    roles = join_words([ROLE_WORDS[r] for r in task.allowed_roles], "or")
    text = f"Any {roles} on the clinic's roster may complete it"
    if task.four_eyes and task.requester:
        text += (
            f", except {staff_name(clinic, task.requester)}, who requested it and may not "
            "also decide it"
        )
    text += "."
    if task.assignee:
        text = f"It is assigned to {staff_name(clinic, task.assignee)}. {text}"
    return text


# -- tasks: reminders, escalations, stand-downs ----------------------------------------------


def task_due_soon_notice(
    clinic: Clinic, case_id: str, task: TaskFields, links: Sequence[str] = ()
) -> Notice:
    """The reminder before a task's deadline."""
    body = render(
        "task_due_soon",
        task=task,
        due=local(task.due_at, clinic.timezone),
        who=who_may_complete(task, clinic),
        how=how_to_complete(task.workflow_id),
    )
    return staff_message(clinic, case_id, "Task due soon", body, links)


def task_overdue_notice(
    clinic: Clinic,
    case_id: str,
    task: TaskFields,
    escalated_to: Role | None = None,
    links: Sequence[str] = (),
) -> Notice:
    """An overdue task, to the assignee and everyone above: since when, whether it was
    escalated and whether the role it climbed to may now complete it (a personal duty stays
    with its reporter: those above are told, to follow it up)."""
    role = ROLE_WORDS[escalated_to] if escalated_to else ""
    body = render(
        "task_overdue",
        task=task,
        due=local(task.due_at, clinic.timezone),
        escalated_to=role,
        may_act=escalated_to in task.allowed_roles if escalated_to else False,
        who=who_may_complete(task, clinic),
        how=how_to_complete(task.workflow_id),
    )
    # "escalated to <role>" right after the words, as the audit report reads the subject.
    headline = f"OVERDUE task escalated to {role}" if role else "OVERDUE task"
    return staff_message(clinic, case_id, headline, body, links)


def task_resolved_notice(
    clinic: Clinic, case_id: str, task: TaskFields, completed_at: datetime
) -> Notice:
    """To everyone an overdue task paged: it is done, they can stand down."""
    body = render(
        "task_resolved",
        task=task,
        completed_by=staff_name(clinic, task.completed_by or "someone"),
        completed_at=local(completed_at, clinic.timezone),
    )
    return staff_message(clinic, case_id, "Overdue task resolved", body)


def approval_code_notice(
    clinic: Clinic,
    case_id: str,
    task_id: str,
    code: str,
    due_at: datetime,
    *,
    actor: str | None = None,
    kind: TaskKind | None = None,
    title: str = "",
    choices: Sequence[str] = (),
    workflow_id: str = "",
    links: Sequence[str] = (),
) -> Notice:
    """The one-time approval code for a task, to the person's roster address: the code on a
    line of its own, the deadline, the choices in words (release decisions), how to answer,
    and where (`links`). A release decision is worded as one; any other decision or personal
    duty as a task whose answer is recorded under the person's name."""
    ask_counsel = kind is not None and ASK_COUNSEL in OUTCOMES[kind]
    choices_text = ""
    if kind == TaskKind.release_decision:
        choices_text = render(
            "choices_actions",
            actions=[action_words(c) for c in choices],
            ask_counsel=ask_counsel,
        )
    elif kind == TaskKind.release_approval:
        choices_text = render("choices_documents", count=len(choices), ask_counsel=ask_counsel)
    # Release decisions as before; other decisions and personal duties (codes since issue 12)
    # in words that fit any task. An unknown kind (histories before kinds were passed) was a
    # release decision.
    release = kind is None or kind in RELEASE_KINDS
    body = render(
        "approval_code",
        case_id=case_id,
        task_id=task_id,
        title=title,
        code=code,
        due=local(due_at, clinic.timezone),
        choices_text=choices_text,
        actor=actor or "",
        workflow_id=workflow_id,
        release=release,
    )
    headline = "Your approval code for a release decision" if release else "Your code for a task"
    return staff_message(clinic, case_id, headline, body, links)


RELEASE_KINDS = frozenset({TaskKind.release_decision, TaskKind.release_approval})


def task_locked_notice(
    clinic: Clinic,
    case_id: str,
    task: TaskFields,
    unlock_task_id: str,
    links: Sequence[str] = (),
) -> Notice:
    """To the privacy officers: a task locked after wrong approval codes, who sent them (roster
    ids and times, never the codes), and the task whose completion unlocks it. The subject
    names no one and nothing of the case but its id."""
    tries = task.failed_tries[-task.wrong_codes :] if task.wrong_codes else task.failed_tries
    last = tries[-1] if tries else None
    body = render(
        "task_locked",
        task=task,
        case_id=case_id,
        tries=len(tries),
        last_at=local(last.at, clinic.timezone) if last else "unknown",
        actors=join_words(sorted({t.actor for t in tries})) or "unknown",
        single=len({t.actor for t in tries}) == 1,
        unlock_task_id=unlock_task_id,
        due=local(task.due_at, clinic.timezone),
        how=how_to_complete(task.workflow_id),
    )
    return staff_message(clinic, case_id, "Task locked after wrong approval codes", body, links)


def action_words(value: str) -> str:
    """An action's code value in words (a value no map knows, with its underscores spaced)."""
    try:
        return ACTION_WORDS[Action(value)]
    except ValueError:
        return value.replace("_", " ")


# -- duty to warn or protect -------------------------------------------------------------------

# Whom a protective notice goes to, as staff read it (the recipient roles of DutyToWarnWorkflow;
# agencies are named by the clinic's configured name).
PERSON_WORDS = {"victim": "the person at risk", "contact": "the patient's emergency contact"}


def recipient_words(clinic: Clinic, role: str, key: str) -> str:
    """A notice's recipient in words that name no one: 'the person at risk listed as number 1
    in the flag', or the agency's configured name."""
    if role in PERSON_WORDS:
        number = key.rsplit("-", 1)[-1]
        listed = f" listed as number {number} in the flag" if number.isdigit() else ""
        return PERSON_WORDS[role] + listed
    try:
        kind = AgencyKind(role)
    except ValueError:
        return role.replace("_", " ")
    agency = clinic.agency(kind)
    return agency.name if agency else AGENCY_WORDS[kind]


def duty_triggered_notice(
    clinic: Clinic, case_id: str, legal_basis: str, actions: Sequence[Action], assessor: str
) -> Notice:
    """To the supervisor: a mandatory duty was triggered and its actions started."""
    body = render(
        "duty_triggered",
        case_id=case_id,
        assessor=staff_name(clinic, assessor),
        legal_basis=legal_basis,
        actions=join_words([ACTION_WORDS[a] for a in actions]),
    )
    return staff_message(
        clinic, case_id, "For your information: mandatory protective actions started", body
    )


def notice_undelivered_notice(
    clinic: Clinic, case_id: str, recipient_role: str, recipient_key: str, refused: bool
) -> Notice:
    """To the supervisor and the privacy officer: a protective notice did not reach its
    recipient (refused and not delivered another way, or not reached by telephone)."""
    body = render(
        "notice_undelivered",
        case_id=case_id,
        recipient=recipient_words(clinic, recipient_role, recipient_key),
        refused=refused,
    )
    return staff_message(clinic, case_id, "Protective notice not delivered: please act", body)


def action_not_done_notice(clinic: Clinic, case_id: str, action: Action, actor: str) -> Notice:
    """To the supervisor and the privacy officer: a required action was recorded as not done."""
    body = render(
        "action_not_done",
        case_id=case_id,
        action=ACTION_WORDS[action],
        actor=staff_name(clinic, actor),
    )
    return staff_message(clinic, case_id, "Required action not done: please act", body)


# -- mandated reports of abuse -----------------------------------------------------------------


def mandated_report_notice(
    clinic: Clinic,
    case_id: str,
    rule: ReportingRule,
    kind: str,
    oral_due: datetime,
    written_due: datetime | None,
    workflow_id: str = "",
    further: Sequence[tuple[AdditionalReport, datetime]] = (),
) -> Notice:
    """To the reporter: what the law requires of them, by when, to whom (with the agency's
    telephone, address and portal as the clinic configured them), any further report the
    facts require and by when, and where to record it."""
    lines = duty_lines(rule, kind, oral_due, written_due, clinic.timezone, clinic)
    for report, due in further:
        lines.append(
            f"Also report to {AGENCY_WORDS[report.agency.kind]} by {local(due, clinic.timezone)}"
            f" ({report.name}; {report.statute})."
        )
    body = render(
        "mandated_report_required",
        duty="\n".join(lines),
        how=how_to_complete(workflow_id),
    )
    links = clinic.links
    where = (
        [
            f"Open the report's tasks: {links.workflow(workflow_id)}",
            f"Work waiting on the clinician: {links.work_list(clinic.id, Role.clinician)}",
        ]
        if links is not None and workflow_id
        else []
    )
    return staff_message(clinic, case_id, "Mandated report required", body, where)


def report_under_way_notice(
    clinic: Clinic, case_id: str, reporter: str, kind: str, oral_due: datetime, personal: bool
) -> Notice:
    """To the supervisor and the privacy officer: a mandated report is under way; nothing
    waits on them (`personal`: the duty is the reporter's own)."""
    body = render(
        "report_under_way",
        case_id=case_id,
        reporter=staff_name(clinic, reporter),
        kind=KIND_TITLE[kind],
        oral_due=local(oral_due, clinic.timezone),
        personal=personal,
    )
    return staff_message(
        clinic, case_id, "For your information: a mandated report is under way", body
    )


# -- the disclosure ledger ---------------------------------------------------------------------


def ledger_failing_notice(clinic: Clinic, case_id: str) -> Notice:
    """To the privacy officer: a disclosure has happened and its ledger record is not written."""
    return staff_message(
        clinic,
        case_id,
        "Disclosure not yet recorded in the ledger",
        render("ledger_failing", case_id=case_id),
    )
