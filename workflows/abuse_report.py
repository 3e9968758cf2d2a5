"""Mandated abuse reports: child abuse, elder and dependent-adult abuse (one duty per workflow).

Nothing here waits on a supervisor: supervisors and the privacy officer are informed at once and
told again when a deadline passes, but the reporter's own tasks are the only gate, and where the
statute makes the duty personal only the reporter may complete them (CA PC 11166; NY, GA, TX).

  start   : the reporter is told what the law requires, by when, to whom; supervisor and
            privacy officer informed
  oral    : the reporter records the oral report (agency, number, time, who took it, ref.)
  written : Confide prepares the report from the case; the reporter reviews it; Confide sends
            it to the agency (e-mail) or asks for the portal confirmation number
  inform  : adults only (164.512(c)(2)): inform the individual, or record why not
Each report (oral, written) is a ledger row with the agency as recipient.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.abuse_report import KIND_TITLE, written_report
    from domain.case import ConcernInput, ConcernStatus, Phase
    from domain.clinic import AGENCY_WORDS, Agency, AgencyKind, Role, StaffMember
    from domain.forms import (
        OralReportForm,
        PortalSubmissionForm,
        ReleaseDecisionForm,
        TaskKind,
        WrittenReportForm,
    )
    from domain.notices import Notice, mandated_report_notice, report_under_way_notice
    from domain.policy import Action, DecisionMode, DutyDecision
    from domain.records import Disclosure, NoticeRecord
    from domain.reporting import (
        AdditionalReport,
        Calendar,
        Clock,
        Delegation,
        Duty,
        ReportingRule,
        WrittenReport,
        due_at,
    )
    from domain.tasks import Task
    from workflows import mail
    from workflows.concern_base import ConcernWorkflowBase, tells_case_if_failed
    from workflows.task_board import TaskBoard

PERSONAL = {
    Delegation.non_delegable,
    Delegation.unverified,
    Delegation.also_notify_person_in_charge,
}
DEFAULT_AGENCY = {"child_abuse": AgencyKind.child_protective_services}


def choose_agency(rule: ReportingRule, inp: ConcernInput) -> Agency | None:
    """The clinic's contact for the first route that applies to this concern."""
    concern = inp.concern
    applies = {"always"}
    if concern.abuser_is_caretaker is not None:
        applies.add("caretaker_abuser" if concern.abuser_is_caretaker else "non_caretaker_abuser")
    if concern.setting:
        applies.add(concern.setting)
    routes = [r for r in rule.agencies if r.when in applies] or [
        r for r in rule.agencies if r.when != "death"
    ]
    protective = DEFAULT_AGENCY.get(rule.kind, AgencyKind.adult_protective_services)
    kinds = [r.kind for r in routes]
    # The protective-services agency first where the statute lists it among the routes (it
    # investigates); otherwise the statute's order; the clinic's protective agency last.
    kinds = ([protective] if protective in kinds else []) + kinds + [protective]
    return next((a for k in kinds if (a := inp.clinic.agency(k)) is not None), None)


# The oral-report task opens before the staff e-mails go, not after them (a mail server down
# held the duty off the board and the case's view for as long as the sends retried). Runs that
# reached that point before the change replay their recorded order; new runs record a marker.
# Remove with workflow.deprecate_patch once no case started before it can still be replayed.
DUTY_BEFORE_MAIL = "abuse-duty-before-mail"


@workflow.defn
class AbuseReportWorkflow(ConcernWorkflowBase):
    """One reporter's duty to report abuse of one victim."""

    @workflow.init
    def __init__(self, inp: ConcernInput) -> None:
        self.inp = inp
        self.kind = inp.concern.kind.value
        self.rule = inp.policy.reporting(self.kind)
        self.reporter = inp.reporter or inp.flag.clinician.id
        self.victim = inp.concern.victims[inp.victim_index]
        self.known_at = inp.concern.known_at or inp.flag.flagged_at
        self.calendar = inp.policy.calendar or Calendar(timezone=inp.clinic.timezone)
        self.prefix = f"c{inp.index}-v{inp.victim_index + 1}-{self.reporter}"
        self.phase = Phase.oral_report
        self.notifications: list[NoticeRecord] = []
        self.disclosures: list[Disclosure] = []
        # History version 4 codes every decision and personal duty (domain.case).
        self.board = TaskBoard(
            inp.case_id,
            inp.clinic,
            self._publish,
            coded=inp.history_version >= 4,
            visible_first=inp.history_version >= 5,
        )

    @workflow.run
    @tells_case_if_failed
    async def run(self, inp: ConcernInput) -> ConcernStatus:
        """Tell, report orally, report in writing, inform the adult; never wait on approval.

        Where the law only permits the report (England: no statutory duty to report child
        abuse), a supervisor decides first, and only an approved referral is reported. A
        further report the facts require (a second agency, a shorter clock) runs alongside.
        Rules recorded before these fields existed have neither, so their cases take the
        same steps as before."""
        rule, timers = self.rule, inp.policy.timers
        reports = [
            (report, self._further_due(report))
            for report in rule.additional_for(inp.concern.setting, inp.concern.circumstances)
        ]
        further = [
            asyncio.create_task(self._further(i, report, due))
            for i, (report, due) in enumerate(reports)
        ]
        if rule.duty == Duty.permissive:
            if not await self._referral_approved():
                await asyncio.gather(*further)
                return await self._close()
            oral_due = workflow.now() + timers.action_due
        elif rule.oral_deadline:
            oral_due = due_at(rule.oral_deadline, self.known_at, self.calendar)
        else:
            oral_due = self.known_at + timers.oral_immediately
        written_due = self._written_due(None)
        if not self._lean():  # version 2: the first task's opening publishes
            await self._publish()
        # A referral the supervisor approved is not a mandated report: the reporter's task
        # e-mail (with its code) says what to do, and the supervisor made the decision.
        telling = (
            []
            if rule.duty == Duty.permissive
            else [  # coroutines: sent when awaited
                mail.tell_staff(
                    inp.case_id,
                    inp.clinic,
                    f"{self.prefix}.duty",
                    [Role.clinician],
                    mandated_report_notice(
                        inp.clinic,
                        inp.case_id,
                        rule,
                        self.kind,
                        oral_due,
                        written_due,
                        workflow.info().workflow_id,
                        further=reports,
                    ),
                    only=[self.reporter],
                ),
                mail.tell_staff(
                    inp.case_id,
                    inp.clinic,
                    f"{self.prefix}.informed",
                    [Role.supervisor, Role.privacy_officer],
                    report_under_way_notice(
                        inp.clinic,
                        inp.case_id,
                        self.reporter,
                        self.kind,
                        oral_due,
                        personal=rule.delegation in PERSONAL,
                    ),
                ),
            ]
        )
        oral_task = self._task(
            TaskKind.oral_report,
            oral_due,
            f"Oral report of {KIND_TITLE[self.kind]}",
            "Call the agency now and record: agency, number called, time, who took the "
            "report, reference number. " + "; ".join(a.description for a in rule.agencies),
        )
        told: asyncio.Future | None = None
        if workflow.patched(DUTY_BEFORE_MAIL):
            # The duty is on the board, and the case shows it, before any e-mail goes, and the
            # e-mails go alongside: a mail server that is down (its sends retry for minutes)
            # must neither hide a report due nor hold up the steps after it.
            await self.board.open(oral_task)
            told = asyncio.gather(*telling)
            oral = await self.board.wait(oral_task.task_id)
        else:
            await asyncio.gather(*telling)
            oral = await self.board.run(oral_task)
        oral_form = oral.read(OralReportForm)
        await self._record(
            f"{self.prefix}.oral_report",
            oral_form.agency,
            oral_form.number_called,
            "phone",
            oral.completion.task_id,
            f"Oral report of {KIND_TITLE[self.kind]}: identity of the victim and "
            "the alleged abuser, the disclosure made in session",
            at=oral_form.called_at,
        )
        informing = asyncio.create_task(self._inform()) if rule.inform_individual else None
        if self._written_needed():
            await self._written(oral_form)
        if informing is not None:
            self.phase = Phase.informing
            await informing
        if told is not None:
            await told  # the staff e-mails, before the run ends
        await asyncio.gather(*further)
        return await self._close()

    async def _close(self) -> ConcernStatus:
        self.phase = Phase.closed
        await self._publish()
        await self._settle()
        return self._status()

    # -- where the law permits, not requires --------------------------------------------------

    async def _referral_approved(self) -> bool:
        """A supervisor decides whether to refer (a disclosure the law permits, not one it
        requires); the reporter who raised it may not decide it alone (four eyes)."""
        inp, rule = self.inp, self.rule
        action = (
            Action.notify_child_protective_agency
            if self.kind == "child_abuse"
            else Action.other_appropriate_action
        )
        self.decision = DutyDecision(
            mode=DecisionMode.ask,
            permitted=[action],
            legal_basis=rule.legal_basis,
            reason=f"no statutory duty to report {KIND_TITLE[self.kind]} here; a referral is "
            "permitted, and a supervisor decides",
            unverified=self._policy_unverified(),
        )
        self.phase = Phase.awaiting_decision
        now = workflow.now()
        timers = inp.policy.timers
        window = timers.decision_due
        answer = await self.board.run(
            Task(
                task_id=f"{self.prefix}-{TaskKind.release_decision.value}",
                kind=TaskKind.release_decision,
                role=Role.supervisor,
                allowed_roles=[Role.supervisor],
                created_at=now,
                due_at=now + window,
                reminder_before=min(timers.reminder_before, window / 2),
                escalate_every=timers.escalate_every,
                escalate_to=[Role.privacy_officer],
                title=f"Decide whether to refer {KIND_TITLE[self.kind]}",
                instructions=f"{rule.jurisdiction} law does not require a report "
                f"({rule.statute}); it permits a referral. Approve with the action "
                f"'{action.value}' to refer (the reporter then makes it), or decline with a "
                f"reason. Basis: {rule.legal_basis}.",
                choices=[action.value],
                requester=self.reporter,
                four_eyes=True,
                requires_code=True,
            )
        )
        if answer.outcome != "approve":
            return False
        return action in answer.read(ReleaseDecisionForm).actions

    # -- a further report the same facts require ------------------------------------------------

    def _further_due(self, report: AdditionalReport) -> datetime:
        if report.deadline is None:  # "immediately": Confide's own short bound
            return self.known_at + self.inp.policy.timers.oral_immediately
        return due_at(report.deadline, self.known_at, self.calendar)

    async def _further(self, index: int, report: AdditionalReport, due: datetime) -> None:
        """Report to a second agency on its own clock, and record the disclosure."""
        words = AGENCY_WORDS[report.agency.kind]
        task = self._task(
            TaskKind.oral_report,
            due,
            f"Report to {words}: {report.name}",
            f"{report.statute}: {report.agency.description}. Record: agency, number called, "
            "time, who took the report, reference number.",
            task_id=f"{self.prefix}-further-{index + 1}",
        )
        answer = await self.board.run(task)
        form = answer.read(OralReportForm)
        await self._record(
            f"{self.prefix}.further-{index + 1}",
            form.agency,
            form.number_called,
            "phone",
            answer.completion.task_id,
            f"{report.name}: identity of the victim and the alleged abuser, the disclosure "
            "made in session",
            at=form.called_at,
        )

    # -- steps -------------------------------------------------------------------------------

    def _written_needed(self) -> bool:
        # Unverified means "maybe required": the conservative choice is to file it.
        return self.rule.written in (WrittenReport.required, WrittenReport.unverified)

    def _written_due(self, oral_at: datetime | None) -> datetime | None:
        d = self.rule.written_deadline
        if d is None:
            return None
        if d.clock == Clock.knowledge:
            return due_at(d, self.known_at, self.calendar)
        return due_at(d, oral_at, self.calendar) if oral_at else None

    async def _written(self, oral: OralReportForm) -> None:
        inp = self.inp
        self.phase = Phase.written_report
        due = self._written_due(oral.called_at) or (
            workflow.now() + inp.policy.timers.oral_immediately * 24
        )
        # The intake API checks reporters against the roster; a roster changed since still
        # gets a report, signed with the id.
        reporter = inp.clinic.member(self.reporter) or StaffMember(
            id=self.reporter, name=self.reporter, email=inp.clinic.reply_to, roles=[Role.clinician]
        )
        document = written_report(
            self.rule,
            self.kind,
            inp.clinic,
            reporter,
            inp.flag.patient,
            inp.concern,
            self.victim,
            oral,
            self.known_at,
        )
        review = await self.board.run(
            self._task(
                TaskKind.written_report,
                due,
                f"Written report ({self.rule.written_form or 'agency form'})",
                "Review the prepared report (the task's `document`), add corrections if needed, "
                "and submit: Confide sends it to the agency.",
                document=document,
            )
        )
        corrections = review.read(WrittenReportForm).corrections
        if corrections:
            document += f"\n\nCORRECTIONS BY THE REPORTER\n{corrections}"
        agency = choose_agency(self.rule, inp)
        step = f"{self.prefix}.written_report"
        what = f"Written report of {KIND_TITLE[self.kind]} ({self.rule.written_form or 'form'})"
        if agency is not None and agency.email:
            record = NoticeRecord(
                step=step,
                recipient_key=f"agency-{agency.kind.value}",
                recipient_role=agency.kind.value,
                channel="email",
                status="sending",
            )
            self.notifications.append(record)
            try:
                receipt = await mail.send(
                    inp.case_id,
                    step,
                    record.recipient_key,
                    agency.email,
                    Notice(
                        subject=f"Mandated report from {inp.clinic.name} (ref {inp.case_id})",
                        body=document,
                    ),
                    reply_to=inp.clinic.reply_to,
                )
                record.message_id, record.sent_at, record.status = (
                    receipt.message_id,
                    receipt.sent_at,
                    "sent",
                )
                await self._record(
                    step, agency.name, agency.email, "email", review.completion.task_id, what
                )
                return
            except mail.DeliveryFailed:
                record.status = "refused"
        portal = await self.board.run(
            self._task(
                TaskKind.portal_submission,
                due,
                "File the written report on the agency portal",
                "The agency takes written reports on its portal"
                + (f" ({agency.portal_url})" if agency and agency.portal_url else "")
                + ": file the reviewed report there and record the confirmation number.",
                document=document,
            )
        )
        form = portal.read(PortalSubmissionForm)
        await self._record(
            step,
            agency.name if agency else "agency portal",
            (agency.portal_url if agency else None) or "agency portal",
            "portal",
            portal.completion.task_id,
            f"{what}; confirmation {form.confirmation_number}",
            at=form.submitted_at,
        )

    async def _inform(self) -> None:
        await self.board.run(
            self._task(
                TaskKind.inform_individual,
                workflow.now() + self.inp.policy.timers.inform_due,
                "Inform the individual of the report",
                "45 CFR 164.512(c)(2): tell the adult that a report has been made (outcome "
                "informed), or record why not (outcome not_informed): risk_of_serious_harm, or "
                "representative_is_suspected_abuser.",
                personal=False,
            )
        )

    async def _record(
        self,
        step: str,
        name: str,
        address: str,
        channel: str,
        task_ref: str,
        what: str,
        at: datetime | None = None,
    ) -> None:
        inp = self.inp
        d = Disclosure(
            case_id=inp.case_id,
            step=step,
            recipient_key=f"agency-{self.kind}",
            clinic_id=inp.clinic.id,
            patient_ref=inp.flag.patient.ref,
            disclosed_at=at or workflow.now(),
            recipient_name=name,
            recipient_address=address,
            channel=channel,
            description=what,
            purpose=f"mandated report of {KIND_TITLE[self.kind]}",
            legal_basis=self.rule.legal_basis,
            task_ref=task_ref,
        )
        await mail.record(d, self.inp.clinic, local=self._lean())
        self.disclosures.append(d)
        await self._publish()

    def _task(
        self,
        kind: TaskKind,
        due: datetime,
        title: str,
        instructions: str,
        document: str | None = None,
        personal: bool = True,
        task_id: str | None = None,
    ) -> Task:
        now = workflow.now()
        timers = self.inp.policy.timers
        window = max(due - now, timedelta(minutes=1))
        own = personal and self.rule.delegation in PERSONAL
        return Task(
            task_id=task_id or f"{self.prefix}-{kind.value}",
            kind=kind,
            role=Role.clinician,
            allowed_roles=[Role.clinician],
            assignee=self.reporter,
            only_assignee=own,
            delegable=not own,
            created_at=now,
            due_at=due,
            events_not_before=self.known_at,
            reminder_before=min(timers.reminder_before, window / 2),
            more_reminders=list(timers.statutory_reminders) if personal else [],
            escalate_every=timers.escalate_every,
            escalate_to=[Role.supervisor, Role.privacy_officer],
            title=title,
            instructions=instructions,
            document=document,
        )

    # -- status ------------------------------------------------------------------------------

    def _policy_unverified(self) -> bool:
        return bool(self.rule.unverified or self.rule.default)

    def _header(self) -> str:
        return (
            f"## Case {self.inp.case_id} — {KIND_TITLE[self.kind]} (concern {self.inp.index}, "
            f"victim {self.inp.victim_index + 1}, reporter {self.reporter})\n"
            f"Phase: **{self.phase.value.replace('_', ' ')}** · "
            f"{self.rule.jurisdiction} {self.rule.statute} · "
            f"policy {self.inp.policy.version}"
            + (
                " · **policy unverified**: " + ", ".join(self.rule.unverified or ["default"])
                if self._policy_unverified()
                else ""
            )
            + "\n\nNo approval is needed: supervisors are informed, never a gate."
        )
