"""A patient's request for the accounting of disclosures (45 CFR 164.528).

prepare : the accounting is built from the ledger (six years, or the shorter period asked;
          exempt rows and suspended ones left out; repeated disclosures summarized) and
          rendered as a PDF the patient can read
review  : the privacy officer delivers it, or takes the one 30-day extension, which needs a
          written notice to the patient before day 60 giving the reason and the new date
deliver : e-mailed to the patient (or a task to post it); due 60 days after the request,
          escalating when overdue like every task
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.accounting import (
        AccountingActivities,
        PrepareAccountingInput,
        PreparedAccounting,
    )
    from activities.records import RecordsActivities, SendPacketInput
    from domain.accounting_case import RESPONSE_DAYS, AccountingInput, AccountingView
    from domain.case import CaseStatus, Phase
    from domain.clinic import Role
    from domain.forms import AccountingReviewForm, ActionRecordForm, TaskKind
    from domain.legal_letters import accounting_cover, accounting_extension, local
    from domain.records import Disclosure, NoticeRecord
    from domain.tasks import Task
    from workflows import mail
    from workflows.concern_base import TaskWorkflowBase
    from workflows.release_steps import RECORDS_RETRY
    from workflows.task_board import Completed, TaskBoard

PREFIX = "acct"


@workflow.defn
class AccountingWorkflow(TaskWorkflowBase):
    """One accounting request, from the request to delivery."""

    _upsert_only_changes = True

    @workflow.init
    def __init__(self, inp: AccountingInput) -> None:
        self.inp = inp
        self.req = inp.request
        assert inp.request.requested_at is not None  # intake dates an undated request
        self.requested_at = inp.request.requested_at
        self.phase = Phase.preparing
        self.due_at = self.requested_at + RESPONSE_DAYS
        self.view = AccountingView(requested_at=self.requested_at, due_at=self.due_at)
        self.notifications: list[NoticeRecord] = []
        self.disclosures: list[Disclosure] = []
        self.board = TaskBoard(inp.case_id, inp.clinic, self._publish)

    @workflow.run
    async def run(self, inp: AccountingInput) -> CaseStatus:
        """Prepare, review (deliver or extend once), deliver."""
        await self._publish()
        prepared = await self._prepare(f"{PREFIX}.prepare", None)
        self._show(prepared)
        self.phase = Phase.awaiting_review
        review = await self.board.run(
            self._review_task(TaskKind.accounting_review, "review", self.due_at)
        )
        if review.outcome == "extend":
            form = review.read(AccountingReviewForm)
            assert form.new_date is not None
            if await self._extension_notice(form.reason, form.new_date):
                self.view = self.view.model_copy(
                    update={"extended_to": form.new_date, "extension_reason": form.reason}
                )
                due = form.new_date
            else:
                # No notice within the 60 days: the extension does not hold; the accounting is
                # due now (overdue, escalating) rather than on the date that was never told.
                due = self.due_at
            review = await self.board.run(
                self._review_task(TaskKind.accounting_final, "deliver", due)
            )
        await self._deliver(prepared, review)
        self.phase = Phase.closed
        await self._publish()
        await self._settle()
        return self._status()

    async def _prepare(self, step: str, in_force_at: datetime | None) -> PreparedAccounting:
        clinic = self.inp.clinic
        return await workflow.execute_activity_method(
            AccountingActivities.prepare_accounting,
            PrepareAccountingInput(
                case_id=self.inp.case_id,
                step=step,
                clinic_id=clinic.id,
                clinic_name=clinic.name,
                clinic_reply_to=clinic.reply_to,
                timezone=clinic.timezone,
                patient_ref=self.req.patient.ref,
                patient_name=self.req.patient.name,
                requested_at=self.requested_at,
                period_from=self.req.period_from,
                summarize=not self.req.itemized,
                in_force_at=in_force_at,
            ),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RECORDS_RETRY,
        )

    def _show(self, prepared: PreparedAccounting) -> None:
        acc = prepared.accounting
        self.view = self.view.model_copy(
            update={
                "period_from": acc.period_from,
                "period_to": acc.period_to,
                "entries": [e.model_dump(mode="json") for e in acc.entries],
                "packet_id": prepared.packet_id,
                "sha256": prepared.sha256,
                "prepared": acc,
            }
        )

    async def _extension_notice(self, reason: str, new_date: datetime) -> bool:
        """Give the patient the written notice; True when it was given within the 60 days
        (an e-mail at once, or a posting recorded by then), which the extension needs."""
        inp = self.inp
        notice = accounting_extension(
            inp.clinic, inp.case_id, self.req.patient.name, reason, new_date
        )
        step = f"{PREFIX}.extension"
        if self.req.patient.email:
            try:
                await mail.tracked(
                    self.notifications,
                    step,
                    "patient",
                    "patient",
                    mail.send(inp.case_id, step, "patient", self.req.patient.email, notice),
                )
                return True
            except mail.DeliveryFailed:
                pass  # posted instead, below
        posted = await self.board.run(
            self._task(
                TaskKind.record_action,
                "post_extension",
                self.due_at,
                "Post the extension notice to the patient",
                "The patient must have this written notice before day 60 (45 CFR "
                "164.528(c)(2)): post the task's document and record when.",
                document=notice.body,
            )
        )
        return posted.outcome == "done" and posted.read(ActionRecordForm).done_at <= self.due_at

    async def _deliver(self, prepared: PreparedAccounting, review: Completed) -> None:
        inp = self.inp
        step = f"{PREFIX}.deliver"
        self.phase = Phase.releasing
        # Made again as it stands at delivery: a suspension that arrived since hides what it
        # covers, one that has ended since no longer does (164.528(a)(2)).
        prepared = await self._prepare(step, workflow.now())
        self._show(prepared)
        if self.req.patient.email:
            try:
                await mail.tracked(
                    self.notifications,
                    step,
                    "patient",
                    "patient",
                    workflow.execute_activity_method(
                        RecordsActivities.send_packet,
                        SendPacketInput(
                            case_id=inp.case_id,
                            step=step,
                            recipient_key="patient",
                            to=self.req.patient.email,
                            subject=f"Your accounting of disclosures from {inp.clinic.name} "
                            f"(ref {inp.case_id})",
                            body=accounting_cover(
                                inp.clinic,
                                inp.case_id,
                                self.req.patient.name,
                                len(prepared.accounting.entries),
                            ),
                            packet_id=prepared.packet_id,
                            filename=f"{inp.case_id}-accounting.pdf",
                            reply_to=inp.clinic.reply_to,
                        ),
                        start_to_close_timeout=timedelta(seconds=120),
                        retry_policy=mail.MAIL_RETRY,
                    ),
                )
                self._delivered(review.completion.actor)
                return
            except mail.DeliveryFailed:
                pass  # posted instead, below
        posted = await self.board.run(
            self._task(
                TaskKind.record_action,
                "post_accounting",
                self.view.extended_to or self.due_at,
                "Post the accounting to the patient",
                f"Print the accounting (packet {prepared.packet_id}; download it once with POST "
                f"/v1/cases/{inp.case_id}/packet-link) and post it to the patient; record when.",
            )
        )
        self._delivered(posted.completion.actor)

    def _delivered(self, by: str) -> None:
        self.view = self.view.model_copy(
            update={"delivered_at": workflow.now(), "delivered_by": by}
        )

    # -- tasks and views ---------------------------------------------------------------------

    def _review_task(self, kind: TaskKind, name: str, due: datetime) -> Task:
        extend = (
            " or extend once (outcome extend with data.reason and data.new_date, at most 30 "
            "days after the due date; the patient is told in writing at once)"
            if kind == TaskKind.accounting_review
            else ""
        )
        return self._task(
            kind,
            name,
            due,
            "Review and deliver the accounting of disclosures",
            f"The prepared accounting ({len(self.view.entries)} entries) is in the task's "
            f"document and the case view. Deliver it (outcome deliver){extend}. The patient "
            f"asked on {local(self.requested_at, self.inp.clinic.timezone)}.",
            document=_entries_text(self.view, self.inp.clinic.timezone),
        )

    def _task(
        self, kind: TaskKind, name: str, due: datetime, title: str, instructions: str, **extra
    ) -> Task:
        now = workflow.now()
        window = max(due - now, timedelta(minutes=1))
        return Task(
            task_id=f"{PREFIX}-{name}",
            kind=kind,
            role=Role.privacy_officer,
            allowed_roles=[Role.privacy_officer],
            created_at=now,
            due_at=due,
            # A week's notice, then the day before: the 60 days are long, the deadline firm.
            reminder_before=min(timedelta(days=7), window / 2),
            more_reminders=[timedelta(days=1)],
            escalate_every=timedelta(hours=24),
            escalate_to=[Role.privacy_officer],
            title=title,
            instructions=instructions,
            **extra,
        )

    @workflow.query
    def status(self) -> CaseStatus:
        """The request's state, its task, and the prepared accounting."""
        return self._status()

    def _status(self) -> CaseStatus:
        return CaseStatus(
            case_id=self.inp.case_id,
            clinic_id=self.inp.clinic.id,
            jurisdiction="",
            status=self.phase.value,
            policy_version="45 CFR 164.528",
            policy_unverified=False,
            concerns=[],
            tasks=self.board.views(),
            notifications=list(self.notifications),
            disclosures=[],
            overdue=self.board.overdue(),
            next_due=self.board.next_due(),
            path="accounting",
            accounting=self.view,
        )

    async def _publish(self) -> None:
        tz = self.inp.clinic.timezone
        header = (
            f"## Accounting request {self.inp.case_id}\n"
            f"Phase: **{self.phase.value}** · due **{local(self.due_at, tz)}**"
            + (
                f" · extended to **{local(self.view.extended_to, tz)}**"
                if self.view.extended_to
                else ""
            )
        )
        self._publish_board(self.phase.value, header, False)


def _entries_text(view: AccountingView, timezone: str) -> str:
    if not view.entries:
        return "No disclosures to account for in the period."
    lines = [f"Period: {view.period_from} to {view.period_to}", ""]
    for e in view.entries:
        when = datetime.fromisoformat(e["date"])
        lines.append(
            f"- {local(when, timezone)}: {e['recipient']} — {e['description']} ({e['basis']})"
            + (f" — {e['frequency']}" if e.get("frequency") else "")
        )
    return "\n".join(lines)
