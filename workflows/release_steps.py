"""Releasing records, shared by legal requests and authorizations: list the chart, compute the
minimum-necessary set, have the privacy officer approve it (with an e-mailed code; counsel may be
asked), build the packet, deliver it, and write the ledger row. Also the counsel consultation
and the task defaults both paths use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.records import (
        BuildPacketInput,
        ListDocumentsInput,
        PacketManifest,
        RecordsActivities,
        SendPacketInput,
    )
    from domain.case import Phase
    from domain.clinic import Clinic, Role
    from domain.documents import DocumentMeta, RecordCategory
    from domain.forms import (
        ASK_COUNSEL,
        CounselReviewForm,
        ReleaseApprovalForm,
        TaskKind,
    )
    from domain.legal_case import CounselAdvice, PacketInfo
    from domain.legal_letters import counsel_asked_notice, local
    from domain.records import Disclosure, NoticeRecord
    from domain.release import ReleaseAuthority, Selection, select
    from domain.tasks import Task, TaskStatus
    from workflows import mail
    from workflows.concern_base import TaskWorkflowBase
    from workflows.task_board import Completed

# Confide's service level for the clinic's own steps (not statutory).
STEP_WITHIN = timedelta(days=2)
# About ten minutes of retries, then a person is asked (a task), never an endless silent retry.
RECORDS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=15,
)


@dataclass
class ReleasePlan:
    """One release: what may go, under which basis, to whom, and the texts that go with it."""

    step: str  # ledger step and Message-ID step, e.g. "l.release", "a.release3"
    approval_name: str  # task id after the prefix, e.g. "release_approval"
    patient_ref: str
    span: tuple[dt.date, dt.date]
    categories: list[RecordCategory]
    authority: ReleaseAuthority
    basis: str
    purpose: str
    accountable: bool
    recipient_name: str
    recipient_email: str | None
    recipient_address: str
    packet_title: str
    letter: Callable[[int, str], str]  # (documents, approver) -> the cover letter
    mail_body: Callable[[str], str]  # (packet SHA-256) -> the e-mail's text
    filename: str
    # Asked before the packet is built and before it is sent: False stops the release there
    # (an authorization revoked or expired meanwhile).
    proceed: Callable[[], bool] = lambda: True


class RecordsReleaseBase(TaskWorkflowBase):
    """Subclasses set `inp` (with case_id and clinic), `prefix`, the lists below, and
    `_deadline()`: the date the release and counsel tasks are held to."""

    prefix: str
    notifications: list[NoticeRecord]
    disclosures: list[Disclosure]
    selection: Selection | None
    packet: PacketInfo | None
    counsel: list[CounselAdvice]
    _side_jobs: list[asyncio.Task]
    phase: Phase
    _listed: dict[str, DocumentMeta]

    def _deadline(self) -> datetime:
        raise NotImplementedError

    def _clinic(self) -> Clinic:
        return self.inp.clinic  # type: ignore[attr-defined]

    def _case_id(self) -> str:
        return self.inp.case_id  # type: ignore[attr-defined]

    async def _publish(self) -> None:
        raise NotImplementedError

    # -- release -----------------------------------------------------------------------------

    async def _release_records(self, plan: ReleasePlan) -> str:
        """Release under `plan`; returns released, nothing_releasable, declined, stopped or
        release_failed (nothing left in the last four). Raises TaskWithdrawn when its approval
        or delivery task is withdrawn (nothing left either)."""
        attempt = 0
        while True:
            attempt += 1
            suffix = f"-a{attempt}" if attempt > 1 else ""
            # Checked before every pass and after every wait: an authorization revoked or
            # expired meanwhile ends the release here, and its phase is never overwritten.
            if not plan.proceed():
                return "stopped"
            self.phase = Phase.awaiting_approval
            try:
                docs: list[DocumentMeta] = await workflow.execute_activity_method(
                    RecordsActivities.list_documents,
                    ListDocumentsInput(clinic_id=self._clinic().id, patient_ref=plan.patient_ref),
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=RECORDS_RETRY,
                )
            except ActivityError as e:
                if await self._records_trouble(plan, f"list{suffix}", _reason(e)):
                    continue
                return "release_failed"
            if not plan.proceed():
                return "stopped"
            self._listed = {d.id: d for d in docs}
            self.selection = selection = select(docs, plan.span, plan.categories, plan.authority)
            if not selection.released:
                # An empty list may be a mistyped patient reference: a person confirms before
                # anyone is told there is nothing to produce.
                if await self._confirm_nothing(plan, suffix, len(docs)):
                    return "nothing_releasable"
                continue
            notes = {e.document_id: e.reason for e in selection.excluded}
            notes |= {
                d: "mentions other people: review the redactions"
                for d in selection.redaction_review
            }
            approval = await self._decide(
                functools.partial(
                    self._approval_task, plan, suffix, self._deadline(), selection, notes, docs
                )
            )
            if approval.outcome == "decline":
                return "declined"
            chosen = approval.read(ReleaseApprovalForm).documents
            if not plan.proceed():
                return "stopped"
            self.phase = Phase.releasing
            await self._publish()
            try:
                manifest = await self._build_packet(plan, approval, chosen)
                break
            except ActivityError as e:
                # A record changed since it was approved, or is not text: nothing leaves. The
                # privacy officer may have the chart listed and approved again.
                if await self._records_trouble(plan, f"build{suffix}", _reason(e)):
                    continue
                return "release_failed"
        self.packet = PacketInfo(
            packet_id=manifest.packet_id,
            sha256=manifest.sha256,
            pages=manifest.pages,
            documents=manifest.documents,
        )
        if not plan.proceed():
            return "stopped"  # built but never sent: nothing left the clinic
        channel, address = await self._deliver(plan, manifest)
        d = Disclosure(
            case_id=self._case_id(),
            step=plan.step,
            recipient_key="requester",
            clinic_id=self._clinic().id,
            patient_ref=plan.patient_ref,
            disclosed_at=workflow.now(),
            recipient_name=plan.recipient_name,
            recipient_address=address,
            channel=channel,
            description=(
                f"{len(manifest.documents)} records "
                f"({', '.join(sorted({d.category for d in manifest.documents}))}) dated "
                f"{plan.span[0].isoformat()} to {plan.span[1].isoformat()}; "
                f"packet SHA-256 {manifest.sha256}"
            ),
            purpose=plan.purpose,
            legal_basis=plan.basis,
            task_ref=approval.completion.task_id,
            accountable=plan.accountable,
            documents=manifest.documents,
            manifest_sha256=manifest.sha256,
        )
        await mail.record(d, self._clinic())
        self.disclosures.append(d)
        return "released"

    def _approval_task(
        self,
        plan: ReleasePlan,
        suffix: str,
        due: datetime,
        selection: Selection,
        notes: dict[str, str],
        docs: list[DocumentMeta],
        n: str,
    ) -> Task:
        return self._task(
            TaskKind.release_approval,
            f"{plan.approval_name}{suffix}{n}",
            due,
            "Approve the release set",
            f"Basis: {plan.basis}. The computed minimum-necessary set is in `choices` (and the "
            "task's document, with what was left out and why). Approve it or fewer documents "
            "with the approval code e-mailed to you, or decline with a reason. Nothing outside "
            "the computed scope can be added.",
            choices=selection.released,
            choice_notes=notes,
            document=listing(docs, selection),
            requires_code=True,
        )

    async def _records_trouble(self, plan: ReleasePlan, name: str, reason: str) -> bool:
        """The records source or the packet failed: a privacy-officer task, held to the
        deadline, decides between trying again (done) and giving up (not_done). Never silent."""
        done = await self.board.run(
            self._task(
                TaskKind.record_action,
                f"records_trouble-{name}",
                self._deadline(),
                "Records could not be released: try again or stop",
                f"{reason}. Nothing has been released. Fix the cause, then complete this task "
                "with outcome done to list the chart and approve again, or not_done to stop "
                "(the requester is then answered that nothing will be produced).",
            )
        )
        return done.outcome == "done"

    async def _confirm_nothing(self, plan: ReleasePlan, suffix: str, listed: int) -> bool:
        done = await self.board.run(
            self._task(
                TaskKind.record_action,
                f"confirm_nothing{suffix}",
                self._deadline(),
                "Confirm that no record may be released",
                f"The chart of patient {plan.patient_ref} has {listed} documents and none is "
                "both named and lawfully reachable. Check the patient reference and the chart; "
                "outcome done answers that nothing will be produced, not_done lists it again.",
            )
        )
        return done.outcome == "done"

    async def _build_packet(
        self, plan: ReleasePlan, approval: Completed, chosen: list[str]
    ) -> PacketManifest:
        clinic = self._clinic()
        assert self.selection is not None
        return await workflow.execute_activity_method(
            RecordsActivities.build_packet,
            BuildPacketInput(
                case_id=self._case_id(),
                step=plan.step,
                clinic_id=clinic.id,
                clinic_name=clinic.name,
                title=plan.packet_title,
                cover_letter=plan.letter(len(chosen), approval.completion.actor),
                generated_at_local=local(workflow.now(), clinic.timezone),
                document_ids=[d for d in self.selection.released if d in chosen],
                listed=[self._listed[d] for d in self.selection.released if d in chosen],
                authors={m.id: m.name for m in clinic.staff},
            ),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RECORDS_RETRY,
        )

    async def _deliver(self, plan: ReleasePlan, manifest: PacketManifest) -> tuple[str, str]:
        """E-mail the packet where the recipient has an address; otherwise (or when the mail
        server refuses it) a task to deliver it by hand or post. Returns (channel, address)."""
        clinic, case_id = self._clinic(), self._case_id()
        if plan.recipient_email:
            try:
                await mail.tracked(
                    self.notifications,
                    plan.step,
                    "requester",
                    "requester",
                    workflow.execute_activity_method(
                        RecordsActivities.send_packet,
                        SendPacketInput(
                            case_id=case_id,
                            step=plan.step,
                            recipient_key="requester",
                            to=plan.recipient_email,
                            subject=f"Records from {clinic.name} (ref {case_id})",
                            body=plan.mail_body(manifest.sha256),
                            packet_id=manifest.packet_id,
                            filename=plan.filename,
                            reply_to=clinic.reply_to,
                        ),
                        start_to_close_timeout=timedelta(seconds=120),
                        retry_policy=mail.MAIL_RETRY,
                    ),
                )
                return "email", plan.recipient_email
            except mail.DeliveryFailed:
                pass  # delivered by hand or post instead, below
        await self.board.run(
            self._task(
                TaskKind.record_action,
                plan.approval_name.replace("release_approval", "deliver_packet"),
                self._deadline(),
                "Deliver the release packet",
                f"Deliver packet {manifest.packet_id} (download it once through the API: POST "
                f"/v1/cases/{case_id}/packet-link) by post or by hand to the recipient's "
                "address, and record how.",
            )
        )
        return "mail", plan.recipient_address

    # -- decisions and counsel ---------------------------------------------------------------

    async def _decide(self, make: Callable[[str], Task]) -> Completed:
        """Run a decision; `ask_counsel` records the question, asks counsel, and reopens the
        decision at once under a new id with the same deadline."""
        n = 0
        while True:
            done = await self.board.run(make(f"-{n + 1}" if n else ""))
            if done.outcome != ASK_COUNSEL:
                return done
            self._ask_counsel(done)
            n += 1

    def _ask_counsel(self, asked: Completed) -> None:
        self._side_jobs.append(asyncio.create_task(self._consult(asked)))

    async def _consult(self, asked: Completed) -> None:
        clinic = self._clinic()
        entry = CounselAdvice(
            task_id=f"{self.prefix}-counsel{len(self.counsel) + 1}",
            asked_by=asked.completion.actor,
            question=asked.completion.note or "",
            asked_at=workflow.now(),
        )
        self.counsel.append(entry)
        await mail.tell_staff(
            self._case_id(),
            clinic,
            f"{entry.task_id}.asked",
            [Role.counsel],
            counsel_asked_notice(
                clinic,
                self._case_id(),
                entry.asked_by,
                entry.task_id,
                self._deadline(),
                workflow.info().workflow_id,
            ),
        )
        review = await self.board.run(
            Task(
                task_id=entry.task_id,
                kind=TaskKind.counsel_review,
                role=Role.counsel,
                allowed_roles=[Role.counsel],
                created_at=workflow.now(),
                due_at=min(workflow.now() + STEP_WITHIN, self._deadline()),
                reminder_before=timedelta(hours=4),
                escalate_every=timedelta(hours=24),
                escalate_to=[Role.privacy_officer],
                title="Advise on a request for records",
                instructions="Answer the question in the task's document; the advice is "
                "recorded on the case.",
                document=entry.question,
            )
        )
        entry.advice = review.read(CounselReviewForm).advice
        entry.advised_by = review.completion.actor
        entry.advised_at = workflow.now()
        await self._publish()

    async def _until(self, task_id: str, deadline: datetime) -> Completed | None:
        """The task's answer once it comes, or None when the deadline passes first."""
        remaining = deadline - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: self.board.answer(task_id) is not None, timeout=remaining
                )
            except TimeoutError:
                pass
        return self.board.answer(task_id)

    async def _withdraw_open_work(self) -> None:
        """Work an outcome made moot (a mailed notice, a question to counsel) is withdrawn."""
        for task in list(self.board.tasks.values()):
            if task.status == TaskStatus.open:
                await self.board.cancel(task.task_id)
        for job in self._side_jobs:
            job.cancel()

    def _task(
        self,
        kind: TaskKind,
        name: str,
        due: datetime,
        title: str,
        instructions: str,
        roles: list[Role] | None = None,
        **extra,
    ) -> Task:
        now = workflow.now()
        roles = roles or [Role.privacy_officer]
        window = max(due - now, timedelta(minutes=1))
        return Task(
            task_id=f"{self.prefix}-{name}",
            kind=kind,
            role=roles[0],
            allowed_roles=roles,
            created_at=now,
            due_at=due,
            reminder_before=min(timedelta(hours=24), window / 2),
            more_reminders=[timedelta(hours=4)],
            escalate_every=timedelta(hours=24),
            escalate_to=[Role.privacy_officer, Role.counsel],
            title=title,
            instructions=instructions,
            **extra,
        )


def _reason(e: ActivityError) -> str:
    # Activity failure messages are PHI-free by construction (ids, types, SQLSTATEs).
    return e.cause.message if isinstance(e.cause, ApplicationError) else "the activity failed"


def listing(docs: list[DocumentMeta], selection: Selection) -> str:
    """The approval task's document: what would go, and what stays and why (counted where
    many share a reason, so a long record stays readable)."""
    by_id = {d.id: d for d in docs}
    lines = ["Would be released:"]
    for doc_id in selection.released:
        d = by_id[doc_id]
        review = (
            " (mentions other people: review redactions)"
            if doc_id in selection.redaction_review
            else ""
        )
        lines.append(f"- {doc_id}: {d.category.value}, {d.date.isoformat()}, {d.title}{review}")
    reasons: dict[str, list[str]] = {}
    for e in selection.excluded:
        reasons.setdefault(e.reason, []).append(e.document_id)
    lines.append("")
    lines.append("Left out:")
    for reason, ids in reasons.items():
        shown = ", ".join(ids) if len(ids) <= 3 else f"{len(ids)} documents"
        lines.append(f"- {reason}: {shown}")
    if not reasons:
        lines.append("- nothing")
    return "\n".join(lines)
