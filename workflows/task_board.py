"""The human-task mechanism inside a workflow: open, watch (remind, escalate), complete, wait.

A workflow owns one TaskBoard; its `complete_task` Update and validator delegate here, so every
path shares one set of rules (domain.tasks.check_completion) and one escalation ladder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.approvals import IssueCodesInput
    from domain.clinic import ROLE_WORDS, Clinic, Role
    from domain.forms import OUTCOMES, TaskKind
    from domain.notices import (
        task_due_soon_notice,
        task_locked_notice,
        task_overdue_notice,
        task_resolved_notice,
    )
    from domain.tasks import (
        MAX_CODE_TRIES,
        Completed,
        FailedTry,
        Task,
        TaskCompletion,
        TaskStatus,
        TaskView,
        check_completion,
        code_matches,
        code_recipients,
        code_required,
        locked_refusal,
        needs_code,
        next_escalation,
        recorded_form,
        wrong_code_refusal,
    )
    from workflows import mail


MAX_ESCALATION_INTERVAL = timedelta(hours=24)
# A task still open this long past its deadline has been abandoned, not forgotten for a day:
# everyone who can act has been told daily for weeks, and the board and ConfideOverdue show it.
# From here the reminders go weekly, so a task left for a year costs about 80 rounds in its
# workflow's history (bounded, tested), not 365.
ABANDONED_AFTER = timedelta(days=30)
ABANDONED_INTERVAL = timedelta(days=7)
# Runs that passed the 30 days before this change kept escalating daily; they replay as
# recorded (workflow.patched takes the new path only in runs that reach it on the new code).
WEEKLY_WHEN_ABANDONED = "weekly-when-abandoned"
# A task that opens late (a flag about knowledge days old) has reminders and overdue rounds
# whose times have all passed; they used to go out at once, one e-mail per missed round per
# person (27-51 for the child-abuse sample). Now the missed reminders are skipped (the last
# one still goes if the task is not yet due) and the missed overdue rounds are one round,
# "overdue since", up the whole ladder at once. Runs that reached a missed round before this
# change replay as recorded.
COLLAPSE_MISSED_ROUNDS = "collapse-missed-rounds"

# The "task resolved" notice (sent when a task that went overdue and escalated is completed) was
# added while cases were running. Histories recorded before it have no such send_notice where an
# escalated task was completed, so replaying them must not send one: workflow.patched() with this
# id takes the new path only in runs that reach that point on the new code (it records a marker
# there) and the old path when replaying a run that reached it before. Remove the guard (with
# workflow.deprecate_patch) only once no case recorded before the change can still be replayed.
TASK_RESOLVED_NOTICE = "task-resolved-notice"

# Issue 12: every decision and every personal duty asks for the actor's e-mailed approval code
# (domain.tasks.needs_code), not only release decisions, and codes go out as a local activity
# (one marker event in the workflow task that opened the task, where a regular activity cost
# three events and a workflow task of its own). A run that opened tasks before this change
# keeps them as recorded, and keeps issuing codes as a regular activity: a flag's concerns
# take the new path from history version 4 (domain.case; no marker), every other path where
# workflow.patched() with this id says so (only in runs that reach it on the new code).
CODES_FOR_DECISIONS = "codes-for-decisions"
# A coded task used to join the board (and start its clock) only once its codes were e-mailed,
# and an escalation that widened who may act published the task as overdue only after the new
# roles' codes went out: with the mail server down, a mandated report was invisible, and then
# on time past its deadline, for as long as the retries ran (tests/chaos/test_mail_down.py).
# Now the task, and its overdue mark, show first and the codes follow. A flag's concerns take
# this path from history version 5 (no marker), every other path where workflow.patched()
# with this id says so; runs that went the old way replay as recorded.
VISIBLE_BEFORE_CODES = "visible-before-codes"
# How long the privacy officer has to decide on a task that wrong codes locked.
UNLOCK_WITHIN = timedelta(hours=4)


class CodeRefused(ApplicationError):
    """A completion refused by the Update handler (a wrong approval code, counted; or a task
    locked meanwhile): the Update fails with one sentence, and the workflow goes on. A refusal
    (infra/failures.py), so it reaches the caller without a stack trace."""

    refusal = True

    def __init__(self, message: str) -> None:
        super().__init__(message, type="ApprovalCodeRefused", non_retryable=True)


class TaskWithdrawn(Exception):
    """The task someone waited on was cancelled (e.g. the authorization was revoked)."""


class TaskBoard:
    """All tasks of one workflow, with a watcher per open task."""

    def __init__(
        self,
        case_id: str,
        clinic: Clinic,
        on_change: Callable[[], Awaitable[None]],
        coded: bool | None = None,
        visible_first: bool | None = None,
    ) -> None:
        """`coded`: whether this run codes every decision and personal duty and issues codes
        as a local activity (CODES_FOR_DECISIONS), where the workflow's input says so (a
        flag's concerns, by history version); None: as workflow.patched() decides."""
        self.case_id = case_id
        self.clinic = clinic
        self._coded = coded
        # VISIBLE_BEFORE_CODES, as `coded`: from the input where it says, else patched().
        self._visible_first = visible_first
        self.tasks: dict[str, Task] = {}
        self._done: dict[str, Completed] = {}
        self._on_change = on_change
        self._watchers: dict[str, asyncio.Task] = {}
        # Tasks whose watcher is sending an overdue round right now (see settled()).
        self._escalating: set[str] = set()
        # Locked tasks: how often each was locked, the jobs that wait on their unlocking, and
        # the alerts still being sent (see settled()).
        self._locks: dict[str, int] = {}
        self._unlocking: list[asyncio.Task] = []
        self._alerts: list[asyncio.Task] = []

    # -- queries -----------------------------------------------------------------------------

    def open_tasks(self) -> list[Task]:
        """Open tasks, earliest deadline first."""
        return sorted(
            (t for t in self.tasks.values() if t.status == TaskStatus.open),
            key=lambda t: t.due_at,
        )

    def views(self) -> list[TaskView]:
        """Open tasks as queries show them (no code hashes)."""
        return [t.public() for t in self.open_tasks()]

    def waiting_on(self) -> list[str]:
        """Roles that can act on an open task (ConfideWaitingOn)."""
        return sorted({r.value for t in self.open_tasks() for r in t.allowed_roles})

    def next_due(self) -> datetime | None:
        """The earliest open deadline (ConfideDueAt)."""
        tasks = self.open_tasks()
        return tasks[0].due_at if tasks else None

    def overdue(self) -> bool:
        """Whether any open task is past its deadline (ConfideOverdue)."""
        return any(t.overdue for t in self.open_tasks())

    def settled(self) -> bool:
        """Whether no watcher still owes the last word on a completed escalated task (the
        "task resolved" notice): a workflow waits for this before it ends, so the end of the
        run does not cut the notice off. A watcher caught mid-way through an overdue round
        when its task was completed is not waited for (a run on the old code did not wait
        for it either, so its history still replays)."""
        return all(
            self._watchers[t.task_id].done() or t.task_id in self._escalating
            for t in self.tasks.values()
            if t.status == TaskStatus.done and t.overdue
        ) and all(alert.done() for alert in self._alerts)

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self, task: Task) -> None:
        """Add a task, send its approval codes if it needs them, and start its watcher."""
        task.workflow_id = workflow.info().workflow_id
        task.case_id = self.case_id
        if not task.requires_code and needs_code(task) and self._codes_for_decisions():
            task.requires_code = True
        if task.requires_code:
            task.code_salt = workflow.uuid4().hex
            if self._visible_before_codes():
                # On the board, its clock running, before the mail server is asked for
                # anything: an answer sent before the code arrives is refused as not coded.
                self._add(task)
                await self._on_change()
                await self._issue_codes(task, task.allowed_roles)
                return
            await self._issue_codes(task, task.allowed_roles)
        self._add(task)
        await self._on_change()

    def _add(self, task: Task) -> None:
        self.tasks[task.task_id] = task
        self._watchers[task.task_id] = asyncio.create_task(self._watch(task))
        workflow.logger.info("task opened", extra=_ids(task))

    def validate(self, done: TaskCompletion) -> None:
        """The Update validator: raises TaskRejected before anything reaches history. Every
        rule but the approval code's value: a wrong code must reach the handler, which counts
        it (a refusal here leaves no trace, so nothing could count the tries)."""
        check_completion(
            self.tasks.get(done.task_id), done, self.clinic, workflow.now(), compare_code=False
        )

    async def complete(self, done: TaskCompletion) -> TaskView:
        """Record a validated completion (called from the Update handler); a wrong approval
        code is counted instead, and refused with CodeRefused."""
        task = self.tasks[done.task_id]
        if task.locked:  # locked by a wrong code sent alongside this one
            raise CodeRefused(locked_refusal(task))
        if code_required(task, done) and not code_matches(task, done):
            await self._wrong_code(task, done)
        # The form the validator accepted, as recorded: typed, not checked again. On replay the
        # validator does not run (the answer was accepted under the rules of its day), so a
        # rule tightened since cannot fail a completion already on record; and live and replay
        # build the form the same way, so they cannot take different paths (domain.recorded).
        form = recorded_form(task, done)
        task.status = TaskStatus.done
        task.completed_by = done.actor
        task.completed_at = workflow.now()
        task.outcome = done.outcome or OUTCOMES[task.kind][0]
        workflow.logger.info("task completed", extra={**_ids(task), "actor": done.actor})
        self._done[task.task_id] = Completed.of(done, form, task.outcome)
        await self._on_change()
        return task.public()

    async def wait(self, task_id: str) -> Completed:
        """Wait until a task is completed; it escalates meanwhile, it never just times out.
        Raises TaskWithdrawn if the task is cancelled instead (events made it moot)."""
        task = self.tasks[task_id]
        await workflow.wait_condition(
            lambda: task_id in self._done or task.status == TaskStatus.cancelled
        )
        if task_id not in self._done:
            raise TaskWithdrawn(task_id)
        return self._done[task_id]

    def answer(self, task_id: str) -> Completed | None:
        """A completed task's answer, if it has one yet."""
        return self._done.get(task_id)

    async def cancel(self, task_id: str) -> None:
        """Withdraw an open task that events made moot (its watcher stops reminding), and
        the decision on unlocking it, if it was locked."""
        task = self.tasks.get(task_id)
        if task is not None and task.status == TaskStatus.open:
            task.status = TaskStatus.cancelled
            workflow.logger.info("task cancelled", extra=_ids(task))
            for unlock in list(self.tasks.values()):
                if unlock.unlocks == task_id and unlock.status == TaskStatus.open:
                    unlock.status = TaskStatus.cancelled
            await self._on_change()

    # -- wrong approval codes ----------------------------------------------------------------

    async def _wrong_code(self, task: Task, done: TaskCompletion) -> None:
        """Count a wrong approval code (who and when, never the code) and refuse it; the
        fifth in a row locks the task: the privacy officers are told, and a task for them
        decides on unlocking it. Always raises CodeRefused."""
        task.wrong_codes += 1
        task.failed_tries.append(FailedTry(actor=done.actor, at=workflow.now()))
        workflow.logger.warning(
            "wrong approval code",
            extra={**_ids(task), "actor": done.actor, "wrong_codes": task.wrong_codes},
        )
        if task.wrong_codes >= MAX_CODE_TRIES:
            n = self._locks[task.task_id] = self._locks.get(task.task_id, 0) + 1
            task.locked = True
            task.unlock_task_id = f"{task.task_id}-unlock{n}"
            workflow.logger.warning("task locked", extra=_ids(task))
            self._unlocking.append(asyncio.create_task(self._until_unlocked(task, n)))
            await self._on_change()
        raise CodeRefused(wrong_code_refusal(task, done.actor))

    async def _until_unlocked(self, task: Task, n: int) -> None:
        """Tell the privacy officers, and unlock the task once one of them decides so (a task
        of their own, with their own approval code)."""
        now = workflow.now()
        unlock = Task(
            task_id=task.unlock_task_id or f"{task.task_id}-unlock{n}",
            kind=TaskKind.unlock_task,
            role=Role.privacy_officer,
            allowed_roles=[Role.privacy_officer],
            requires_code=True,
            unlocks=task.task_id,
            created_at=now,
            due_at=now + UNLOCK_WITHIN,
            reminder_before=UNLOCK_WITHIN / 4,
            escalate_every=task.escalate_every,
            title="Decide on a task locked by wrong approval codes",
            instructions=(
                f"Task {task.task_id} ({task.title}) is locked after {MAX_CODE_TRIES} wrong "
                "approval codes; the e-mail to the privacy officers and the task's "
                "failed_tries say who sent them and when. Find out who sent them, then unlock "
                "it (outcome unlock, what you found as data.reason), so that the person "
                "responsible can complete it with their own code. Its deadline still runs."
            ),
            workflow_id=task.workflow_id,
        )
        # The alert goes alongside: a mail server that is down must not keep the decision off
        # the board (its sends retry for minutes), and the run waits for it before it ends.
        self._alerts.append(
            asyncio.create_task(
                mail.tell_staff(
                    self.case_id,
                    self.clinic,
                    f"{task.task_id}.locked{n}",
                    [Role.privacy_officer],
                    task_locked_notice(
                        self.clinic, self.case_id, task, unlock.task_id, self._links(unlock)
                    ),
                )
            )
        )
        try:
            await self.run(unlock)
        except TaskWithdrawn:
            return
        if task.status == TaskStatus.open:
            task.locked = False
            task.wrong_codes = 0
            task.unlock_task_id = None
            workflow.logger.info("task unlocked", extra=_ids(task))
            await self._on_change()

    async def run(self, task: Task) -> Completed:
        """Open a task and wait for its completion."""
        await self.open(task)
        return await self.wait(task.task_id)

    # -- reminders and escalation ------------------------------------------------------------

    async def _closed_by(self, task: Task, at: datetime) -> bool:
        remaining = at - workflow.now()
        if remaining.total_seconds() <= 0:
            return task.status != TaskStatus.open
        try:
            await workflow.wait_condition(lambda: task.status != TaskStatus.open, timeout=remaining)
            return True
        except TimeoutError:
            return False

    async def _watch(self, task: Task) -> None:
        offsets = sorted({task.reminder_before, *task.more_reminders}, reverse=True)
        window = task.due_at - task.created_at
        times = [task.due_at - before for before in offsets if before < window]
        for n, at in enumerate(times):
            later_missed = n + 1 < len(times) and times[n + 1] <= workflow.now()
            if (
                (later_missed or task.due_at <= workflow.now())
                and at <= workflow.now()
                and workflow.patched(COLLAPSE_MISSED_ROUNDS)
            ):
                continue  # missed: a later reminder, or the overdue notice, says it
            if await self._closed_by(task, at):
                return
            await mail.tell_staff(
                self.case_id,
                self.clinic,
                f"{task.task_id}.reminder{n or ''}",
                task.allowed_roles,
                task_due_soon_notice(self.clinic, self.case_id, task, self._links(task)),
                only=[task.assignee] if task.assignee else None,
            )
        deadline = task.due_at
        every = task.escalate_every
        round_ = 0
        told: list[str] = []
        while not await self._closed_by(task, deadline):
            round_ += 1
            # Rounds already past when this one comes due (the task opened late, or the worker
            # was down): one round for all of them, up the whole ladder.
            missed = deadline + every <= workflow.now() and workflow.patched(COLLAPSE_MISSED_ROUNDS)
            self._escalating.add(task.task_id)
            try:
                told += await self._escalate(task, round_, all_levels=missed)
            finally:
                self._escalating.discard(task.task_id)
            if next_escalation(task) is None:
                # At the top of the ladder: keep reminding, but back off to daily so a task
                # abandoned for months does not grow the history without bound.
                every = min(every * 2, MAX_ESCALATION_INTERVAL)
                if deadline - task.due_at >= ABANDONED_AFTER and workflow.patched(
                    WEEKLY_WHEN_ABANDONED
                ):
                    every = ABANDONED_INTERVAL
            deadline = deadline + every
            if missed and deadline <= workflow.now():
                # The next round after now, in one step (the same instant the old loop of one
                # round at a time reached; a clock started centuries ago took it millions).
                deadline += every * ((workflow.now() - deadline) // every + 1)
        if round_ and self._tell_resolved(task):
            await self._resolved(task, list(dict.fromkeys(told)))

    def _tell_resolved(self, task: Task) -> bool:
        """Whether to tell those paged about an escalated task that it is now done: the task
        was completed (not cancelled), and this run takes the new path (see
        TASK_RESOLVED_NOTICE). Called only where the notice would be sent, so a run whose
        escalated tasks are never completed gets no marker."""
        return task.status == TaskStatus.done and workflow.patched(TASK_RESOLVED_NOTICE)

    async def _resolved(self, task: Task, told: list[str]) -> None:
        """ "task resolved" to everyone the overdue rounds e-mailed, so they can stand down."""
        completed_at = task.completed_at or workflow.now()
        await mail.tell_staff(
            self.case_id,
            self.clinic,
            f"{task.task_id}.resolved",
            task.allowed_roles,
            task_resolved_notice(self.clinic, self.case_id, task, completed_at),
            only=told,
        )

    async def _escalate(self, task: Task, round_: int, all_levels: bool = False) -> list[str]:
        """Past due: mark overdue, widen who may act where lawful, tell everyone concerned;
        returns the staff ids told. `all_levels`: several rounds were missed, so climb the
        whole ladder in this one."""
        task.overdue = True
        new_role = next_escalation(task)
        climbed: list[Role] = []
        added: list[Role] = []  # roles that may now act and did not before
        while new_role is not None:
            climbed.append(new_role)
            task.escalation_level += 1
            if task.delegable and new_role not in task.allowed_roles:
                task.allowed_roles.append(new_role)
                added.append(new_role)
            if not all_levels:
                break
            new_role = next_escalation(task)
        new_role = climbed[-1] if climbed else None
        if task.requires_code and added:
            if self._visible_before_codes():
                await self._on_change()  # overdue shows now; the codes may wait on the mail
            await self._issue_codes(task, added)
        workflow.logger.warning(
            "task overdue",
            extra={**_ids(task), "escalated_to": new_role.value if new_role else None},
        )
        await self._on_change()
        # The assignee (not every holder of the role) plus everyone in the roles above it.
        above = {*task.allowed_roles, *task.escalate_to, *climbed}
        if task.assignee:
            above.discard(task.role)
        people = ([task.assignee] if task.assignee else []) + [
            s.id for s in self.clinic.staff if set(s.roles) & above
        ]
        told = list(dict.fromkeys(people))
        await mail.tell_staff(
            self.case_id,
            self.clinic,
            f"{task.task_id}.overdue{round_}",
            list(above),
            task_overdue_notice(self.clinic, self.case_id, task, new_role, self._links(task)),
            only=told,
        )
        return told

    async def _issue_codes(self, task: Task, roles: list[Role]) -> None:
        approvers = [
            s for s in code_recipients(task, self.clinic, roles) if s.id not in task.code_hashes
        ]
        if approvers:
            try:
                task.code_hashes.update(
                    await mail.issue_codes(
                        IssueCodesInput(
                            case_id=self.case_id,
                            task_id=task.task_id,
                            salt=task.code_salt,
                            due_at=task.due_at,
                            clinic=self.clinic,
                            approvers=approvers,
                            # For the e-mail's words: what is decided, the choices, where.
                            kind=task.kind,
                            title=task.title,
                            choices=task.choices,
                            workflow_id=task.workflow_id,
                        ),
                        local=self._codes_for_decisions(),
                    )
                )
            except ActivityError:
                # Mail down past its retries: the task still stands and still escalates
                # (the next role gets codes then); failing here would kill the case.
                workflow.logger.warning("approval codes not issued", extra=_ids(task))

    def _visible_before_codes(self) -> bool:
        """Whether this run takes the VISIBLE_BEFORE_CODES path (see `__init__`)."""
        if self._visible_first is not None:
            return self._visible_first
        return workflow.patched(VISIBLE_BEFORE_CODES)

    def _codes_for_decisions(self) -> bool:
        """Whether this run takes the CODES_FOR_DECISIONS path (see `__init__`)."""
        if self._coded is not None:
            return self._coded
        return workflow.patched(CODES_FOR_DECISIONS)

    def _links(self, task: Task) -> list[str]:
        """Where to do it: the task's page and the work list of each role that may act (when
        the case's clinic snapshot has links: see domain.clinic.StaffLinks)."""
        links = self.clinic.links
        if links is None:
            return []
        return [
            "",
            f"Open the task: {links.workflow(task.workflow_id)}",
            *(
                f"Work waiting on the {ROLE_WORDS[role]}: {links.work_list(self.clinic.id, role)}"
                for role in task.allowed_roles
            ),
        ]


def _ids(task: Task) -> dict[str, str]:
    # Opaque identifiers only: these extras end up as fields of JSON log lines.
    return {"task_id": task.task_id, "task_kind": task.kind.value, "role": task.role.value}
