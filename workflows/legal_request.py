"""Court orders, subpoenas, warrants and administrative requests (45 CFR 164.512(e), 42 CFR Part 2).

  classify : the privacy officer reads the instrument (type, signature, issuer's authority,
             scope); a defective one is answered with an objection and nothing leaves
  order    : a court order (or a judge's subpoena, a warrant) releases what it names, nothing
             more: minimum-necessary selection, privacy-officer approval with an e-mailed code,
             the packet, the ledger row
  subpoena : the privilege is asserted (unless the patient waived it), the patient is told and
             may object within the state's window; then whichever comes first: assurance or a
             qualified protective order (release as above), the patient's objection (everything
             held until a ruling is recorded), or the response date (privacy officer and counsel
             answer with an objection or obtain an extension; never an automatic release)
Any decision may ask counsel (outcome ask_counsel): the advice is recorded on the case, the
decision reopens at once, and the response date does not stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
    from domain.case import CaseStatus, Phase
    from domain.clinic import Role
    from domain.documents import DocumentMeta
    from domain.forms import (
        ASK_COUNSEL,
        ActionRecordForm,
        ClassificationForm,
        CounselReviewForm,
        LetterForm,
        ReleaseApprovalForm,
        ResponseForm,
        TaskKind,
    )
    from domain.legal_case import CounselAdvice, LegalRequestInput, LegalRequestView, PacketInfo
    from domain.legal_letters import (
        cover_letter,
        defective_letter,
        local,
        patient_notice,
        privilege_letter,
        received_lines,
        requester_answer,
    )
    from domain.legal_request import (
        INSTRUMENT_TITLE,
        ORDER_BASIS,
        ORDER_LIKE,
        SUBPOENA_BASIS,
        LegalRequest,
    )
    from domain.records import Disclosure, NoticeRecord
    from domain.release import Selection, select_release
    from domain.tasks import Task, TaskStatus
    from workflows import mail
    from workflows.concern_base import TaskWorkflowBase
    from workflows.task_board import Completed, TaskBoard

# Confide's service levels for the clinic's own steps (not statutory: the statutory clock is the
# response date, which every task is also held to).
CLASSIFY_WITHIN = timedelta(days=2)
STEP_WITHIN = timedelta(days=2)
RECORDS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)
)
PREFIX = "l"


@workflow.defn
class LegalRequestWorkflow(TaskWorkflowBase):
    """One court order, subpoena, warrant or administrative request for a patient's records."""

    _upsert_only_changes = True

    @workflow.init
    def __init__(self, inp: LegalRequestInput) -> None:
        self.inp = inp
        self.req = inp.request
        self.rule = inp.policy.rule
        self.phase = Phase.classifying
        self.outcome: str | None = None
        self.response_due = inp.request.response_due
        self.window_ends: datetime | None = None
        self.selection: Selection | None = None
        self.packet: PacketInfo | None = None
        self.counsel: list[CounselAdvice] = []
        self.notifications: list[NoticeRecord] = []
        self.disclosures: list[Disclosure] = []
        self.board = TaskBoard(inp.case_id, inp.clinic, self._publish)
        self._side_jobs: list[asyncio.Task] = []
        self._responses = 0

    @workflow.run
    async def run(self, inp: LegalRequestInput) -> CaseStatus:
        """Classify, then answer the order or the subpoena as the law allows."""
        await self._publish()
        await mail.tell_staff(
            inp.case_id,
            inp.clinic,
            f"{PREFIX}.received",
            [Role.privacy_officer],
            "A legal request for records needs classifying",
            received_lines(self.req, inp.clinic),
        )
        expected = {
            "instrument": self.req.instrument.value,
            "names_psychotherapy_notes": self.req.scope.psychotherapy_notes,
            "part2_compliant_order": self.req.scope.part2_compliant_order,
        }
        # Fixed once: a decision reopened after asking counsel keeps its deadline.
        classify_due = min(workflow.now() + CLASSIFY_WITHIN, self.response_due)
        classified = await self._decide(
            lambda n: self._task(
                TaskKind.classify_request,
                f"classify{n}",
                classify_due,
                f"Classify the {INSTRUMENT_TITLE[self.req.instrument]}",
                "Check the instrument against the intake: its type, that it is signed, that the "
                "issuer has authority over this clinic, and its scope. Outcome valid or "
                "defective (answered with an objection; nothing is released).",
                expected=expected,
            )
        )
        form = ClassificationForm.model_validate(classified.form)
        if classified.outcome == "defective":
            await self._letter("objection", defective_letter(self.req, inp.clinic, workflow.now()))
            return await self._close("defective")
        if self.req.instrument in ORDER_LIKE:
            await self._release(ORDER_BASIS)
        else:
            await self._subpoena(form)
        return await self._close(self.outcome or "released")

    # -- the subpoena path -------------------------------------------------------------------

    async def _subpoena(self, form: ClassificationForm) -> None:
        inp = self.inp
        if not form.patient_waiver_on_record:
            self.phase = Phase.asserting_privilege
            await self._letter(
                "privilege", privilege_letter(self.req, inp.clinic, self.rule, workflow.now())
            )
        self.window_ends = self.rule.objection.ends(self.req.served_at, self.response_due)
        # The notice runs beside the wait for assurance: the response date does not wait for it.
        self._side_jobs.append(asyncio.create_task(self._notify_patient()))
        self.phase = Phase.awaiting_assurance
        await self._publish()
        answer = await self._await_assurance()
        if answer is None:  # objected when due: the requester must now go to court
            self.outcome = "objected"
            return
        if answer.outcome == "patient_objected":
            self.phase = Phase.held
            ruling = await self.board.run(
                self._task(
                    TaskKind.record_ruling,
                    "ruling",
                    self.response_due,
                    "Record the court's ruling on the patient's objection",
                    "The patient objected: nothing is released until the court rules. Record "
                    "the ruling: objection_overruled (release proceeds) or subpoena_quashed.",
                    roles=[Role.privacy_officer, Role.counsel],
                )
            )
            if ruling.outcome == "subpoena_quashed":
                await self._answer_requester(
                    "No records will be produced.",
                    "The subpoena was quashed on the patient's objection.",
                )
                self.outcome = "quashed"
                return
        await self._release(SUBPOENA_BASIS)

    async def _await_assurance(self) -> Completed | None:
        """The assurance task, held to the response date; None when answered by objection."""
        n = 0
        current = self._assurance_task(n)
        await self.board.open(current)
        while True:
            done = await self._until(current.task_id, self.response_due)
            if done is None:
                done = await self._when_due(current)
                if done is None and self.outcome == "objected":
                    return None
                if done is None:  # an extension: a fresh assurance task to the new date
                    await self.board.cancel(current.task_id)
                    n += 1
                    current = self._assurance_task(n)
                    await self.board.open(current)
                    continue
            if done.outcome == ASK_COUNSEL:
                self._ask_counsel(done)
                n += 1
                current = self._assurance_task(n)
                await self.board.open(current)
                continue
            return done

    async def _when_due(self, assurance: Task) -> Completed | None:
        """The response is due with no assurance: privacy officer and counsel answer with an
        objection or obtain an extension. Returns the assurance if it arrives meanwhile."""
        self.phase = Phase.response_due
        self._responses += 1
        respond = self._task(
            TaskKind.respond_when_due,
            f"respond-{self._responses}" if self._responses > 1 else "respond",
            workflow.now() + timedelta(hours=4),
            "Respond: the response is due without assurance",
            "No satisfactory assurance or protective order was received by the response date. "
            "Nothing may be released. Serve a written objection (objection_sent) or record the "
            "extension agreed or ordered (extension_obtained, with data.new_response_due).",
            roles=[Role.privacy_officer, Role.counsel],
        )
        await self.board.open(respond)
        await mail.tell_staff(
            self.inp.case_id,
            self.inp.clinic,
            f"{respond.task_id}.due",
            [Role.privacy_officer, Role.counsel],
            "A legal request's response is due without assurance",
            [
                f"The response was due {local(self.response_due, self.inp.clinic.timezone)}.",
                "Nothing has been or will be released automatically.",
                f"Serve an objection or record an extension: task {respond.task_id}.",
            ],
        )
        await workflow.wait_condition(
            lambda: (
                self.board.answer(respond.task_id) is not None
                or self.board.answer(assurance.task_id) is not None
            )
        )
        arrived = self.board.answer(assurance.task_id)
        if arrived is not None:
            await self.board.cancel(respond.task_id)
            self.phase = Phase.awaiting_assurance
            return arrived
        answer = self.board.answer(respond.task_id)
        assert answer is not None
        if answer.outcome == "objection_sent":
            await self.board.cancel(assurance.task_id)
            self.outcome = "objected"
            return None
        self.response_due = ResponseForm.model_validate(answer.form).new_response_due or (
            self.response_due
        )
        # A window counted back from production moves with the new date.
        self.window_ends = self.rule.objection.ends(self.req.served_at, self.response_due)
        self.phase = Phase.awaiting_assurance
        return None

    def _assurance_task(self, n: int) -> Task:
        assert self.window_ends is not None
        return self._task(
            TaskKind.record_assurance,
            f"assurance-{n + 1}" if n else "assurance",
            self.response_due,
            "Record the requester's assurance, a protective order, or the patient's objection",
            "A subpoena alone releases nothing. Record what arrives: notice_given_no_objection "
            "(the requester's written statement that the patient was notified and the time to "
            f"object passed; not before {local(self.window_ends, self.inp.clinic.timezone)}), "
            "qpo (a qualified protective order), or patient_objected (everything is held until "
            "a ruling).",
            outcome_not_before={"notice_given_no_objection": self.window_ends},
        )

    async def _notify_patient(self) -> None:
        inp = self.inp
        step = f"{PREFIX}.patient_notice"
        assert self.window_ends is not None
        if self.req.patient.email:
            try:
                await mail.tracked(
                    self.notifications,
                    step,
                    "patient",
                    "patient",
                    mail.send(
                        inp.case_id,
                        step,
                        "patient",
                        self.req.patient.email,
                        patient_notice(self.req, inp.clinic, inp.case_id, self.window_ends),
                        reply_to=inp.clinic.reply_to,
                    ),
                )
                return
            except mail.DeliveryFailed:
                pass  # mailed instead, below
        await self.board.run(
            self._task(
                TaskKind.record_action,
                "patient_notice",
                min(workflow.now() + STEP_WITHIN, self.window_ends),
                "Mail the patient notice",
                "Mail the patient a notice of the subpoena and of their right to object (the "
                "text is the task's document) to the address on file; record when.",
                document=patient_notice(self.req, inp.clinic, inp.case_id, self.window_ends).body,
            )
        )

    # -- release -----------------------------------------------------------------------------

    async def _release(self, basis: str) -> None:
        inp = self.inp
        self.phase = Phase.awaiting_approval
        docs: list[DocumentMeta] = await workflow.execute_activity_method(
            RecordsActivities.list_documents,
            ListDocumentsInput(clinic_id=inp.clinic.id, patient_ref=self.req.patient.ref),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RECORDS_RETRY,
        )
        self.selection = selection = select_release(docs, self.req.scope, self.req.instrument)
        if not selection.released:
            await self._answer_requester(
                "No records will be produced.",
                "No record this instrument may lawfully reach matches its description.",
            )
            self.outcome = "nothing_releasable"
            return
        notes = {e.document_id: e.reason for e in selection.excluded}
        notes |= {
            d: "mentions other people: review the redactions" for d in selection.redaction_review
        }
        listing = _listing(docs, selection)
        approval = await self._decide(
            lambda n: self._task(
                TaskKind.release_approval,
                f"release_approval{n}",
                self.response_due,
                "Approve the release set",
                f"Basis: {basis}. The computed minimum-necessary set is in `choices` (and the "
                "task's document, with what was left out and why). Approve it or fewer documents "
                "with the approval code e-mailed to you, or decline with a reason. Nothing "
                "outside the computed scope can be added.",
                choices=selection.released,
                choice_notes=notes,
                document=listing,
                requires_code=True,
            )
        )
        if approval.outcome == "decline":
            await self._answer_requester(
                "No records will be produced.",
                "The clinic's privacy officer declined the release; the clinic objects to "
                "production.",
            )
            self.outcome = "declined"
            return
        chosen = ReleaseApprovalForm.model_validate(approval.form).documents
        self.phase = Phase.releasing
        await self._publish()
        try:
            manifest = await self._build_packet(basis, approval, chosen)
        except ActivityError as e:
            # A record changed since it was listed (its hash no longer matches), or vanished:
            # nothing leaves; the privacy officer decides what to do with a fresh request.
            await mail.tell_staff(
                inp.case_id,
                inp.clinic,
                f"{PREFIX}.release.failed",
                [Role.privacy_officer],
                "A release packet could not be built; nothing was released",
                [
                    f"Reason: {e.cause.message if isinstance(e.cause, ApplicationError) else e}",
                    "Check the record and answer the requester; the request is closed.",
                ],
            )
            self.outcome = "release_failed"
            return
        self.packet = PacketInfo(
            packet_id=manifest.packet_id,
            sha256=manifest.sha256,
            pages=manifest.pages,
            documents=manifest.documents,
        )
        channel, address = await self._deliver(manifest)
        d = Disclosure(
            case_id=inp.case_id,
            step=f"{PREFIX}.release",
            recipient_key="requester",
            clinic_id=inp.clinic.id,
            patient_ref=self.req.patient.ref,
            disclosed_at=workflow.now(),
            recipient_name=self.req.requester.name,
            recipient_address=address,
            channel=channel,
            description=(
                f"{len(manifest.documents)} records "
                f"({', '.join(sorted({d.category for d in manifest.documents}))}) dated "
                f"{self.req.scope.from_.isoformat()} to {self.req.scope.to.isoformat()}; "
                f"packet SHA-256 {manifest.sha256}"
            ),
            purpose=(
                f"response to the {INSTRUMENT_TITLE[self.req.instrument]} of "
                f"{self.req.issuer.name}, case {self.req.issuer.case_number}"
            ),
            legal_basis=basis,
            task_ref=approval.completion.task_id,
            documents=manifest.documents,
            manifest_sha256=manifest.sha256,
        )
        await mail.record(d, inp.clinic)
        self.disclosures.append(d)
        self.outcome = "released"

    async def _build_packet(
        self, basis: str, approval: Completed, chosen: list[str]
    ) -> PacketManifest:
        inp = self.inp
        assert self.selection is not None
        return await workflow.execute_activity_method(
            RecordsActivities.build_packet,
            BuildPacketInput(
                case_id=inp.case_id,
                step=f"{PREFIX}.release",
                clinic_id=inp.clinic.id,
                clinic_name=inp.clinic.name,
                title=f"Records produced in response to {INSTRUMENT_TITLE[self.req.instrument]}",
                cover_letter=cover_letter(
                    self.req,
                    inp.clinic,
                    basis,
                    len(chosen),
                    approval.completion.actor,
                    workflow.now(),
                ),
                generated_at_local=local(workflow.now(), inp.clinic.timezone),
                document_ids=[d for d in self.selection.released if d in chosen],
                authors={m.id: m.name for m in inp.clinic.staff},
            ),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RECORDS_RETRY,
        )

    async def _deliver(self, manifest: PacketManifest) -> tuple[str, str]:
        """E-mail the packet where the requester has an address; otherwise (or when the mail
        server refuses it) a task to deliver it by hand or post. Returns (channel, address)."""
        inp, step = self.inp, f"{PREFIX}.release"
        if self.req.requester.email:
            try:
                await mail.tracked(
                    self.notifications,
                    step,
                    "requester",
                    "requester",
                    workflow.execute_activity_method(
                        RecordsActivities.send_packet,
                        SendPacketInput(
                            case_id=inp.case_id,
                            step=step,
                            recipient_key="requester",
                            to=self.req.requester.email,
                            subject=f"Records from {inp.clinic.name} (ref {inp.case_id})",
                            body=_packet_mail_body(self.req, inp.clinic.name, manifest.sha256),
                            packet_id=manifest.packet_id,
                            filename=f"{inp.case_id}-records.pdf",
                            reply_to=inp.clinic.reply_to,
                        ),
                        start_to_close_timeout=timedelta(seconds=120),
                        retry_policy=mail.MAIL_RETRY,
                    ),
                )
                return "email", self.req.requester.email
            except mail.DeliveryFailed:
                pass  # delivered by hand or post instead, below
        done = await self.board.run(
            self._task(
                TaskKind.record_action,
                "deliver_packet",
                self.response_due,
                "Deliver the release packet",
                f"Deliver packet {manifest.packet_id} (download it once through the API: POST "
                f"/v1/cases/{inp.case_id}/packet-link) by post or by hand to the requester's "
                "address, and record how.",
            )
        )
        ActionRecordForm.model_validate(done.form)
        return "mail", self.req.requester.address

    # -- letters, answers, counsel -----------------------------------------------------------

    async def _letter(self, kind: str, text: str) -> None:
        """A letter Confide prepared: the privacy officer reviews it; Confide e-mails it to the
        requester (or it is recorded as mailed)."""
        review = await self.board.run(
            self._task(
                TaskKind.send_letter,
                f"{kind}_letter",
                min(workflow.now() + STEP_WITHIN, self.response_due),
                f"Review and send the {kind} letter",
                "Review the prepared letter (the task's document); outcome send and Confide "
                "e-mails it to the requester, or mailed with data.mailed_at if it went by post.",
                document=text,
                roles=[Role.privacy_officer, Role.counsel],
            )
        )
        form = LetterForm.model_validate(review.form)
        if review.outcome == "send":
            if form.corrections:
                text += f"\n\n{form.corrections}"
            await self._answer_requester(f"Our {kind} letter follows.", text, step=f"{kind}_letter")

    async def _answer_requester(self, headline: str, text: str, step: str = "answer") -> None:
        inp = self.inp
        if not self.req.requester.email:
            return  # the letter tasks record postal delivery; nothing to e-mail
        try:
            await mail.tracked(
                self.notifications,
                f"{PREFIX}.{step}",
                "requester",
                "requester",
                mail.send(
                    inp.case_id,
                    f"{PREFIX}.{step}",
                    "requester",
                    self.req.requester.email,
                    requester_answer(self.req, inp.clinic, inp.case_id, headline, text),
                    reply_to=inp.clinic.reply_to,
                ),
            )
        except mail.DeliveryFailed:
            await mail.tell_staff(
                inp.case_id,
                inp.clinic,
                f"{PREFIX}.{step}.refused",
                [Role.privacy_officer],
                "A letter to the requester was not delivered",
                ["The mail server refused it; send it by post and keep the proof of mailing."],
            )

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
        inp = self.inp
        entry = CounselAdvice(
            task_id=f"{PREFIX}-counsel{len(self.counsel) + 1}",
            asked_by=asked.completion.actor,
            question=asked.completion.note or "",
            asked_at=workflow.now(),
        )
        self.counsel.append(entry)
        await mail.tell_staff(
            inp.case_id,
            inp.clinic,
            f"{entry.task_id}.asked",
            [Role.counsel],
            "Your advice is asked on a legal request",
            [
                f"{entry.asked_by} asks (task {entry.task_id}); the question is in the task.",
                f"The response is due {local(self.response_due, inp.clinic.timezone)}; "
                "the deadline does not stop while you advise.",
            ],
        )
        review = await self.board.run(
            Task(
                task_id=entry.task_id,
                kind=TaskKind.counsel_review,
                role=Role.counsel,
                allowed_roles=[Role.counsel],
                created_at=workflow.now(),
                due_at=min(workflow.now() + STEP_WITHIN, self.response_due),
                reminder_before=timedelta(hours=4),
                escalate_every=timedelta(hours=24),
                escalate_to=[Role.privacy_officer],
                title="Advise on a legal request",
                instructions="Answer the question in the task's document; the advice is "
                "recorded on the case.",
                document=entry.question,
            )
        )
        entry.advice = CounselReviewForm.model_validate(review.form).advice
        entry.advised_by = review.completion.actor
        entry.advised_at = workflow.now()
        await self._publish()

    async def _until(self, task_id: str, deadline: datetime) -> Completed | None:
        remaining = deadline - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: self.board.answer(task_id) is not None, timeout=remaining
                )
            except TimeoutError:
                pass
        return self.board.answer(task_id)

    async def _close(self, outcome: str) -> CaseStatus:
        self.outcome = outcome
        # Work the outcome made moot (a mailed notice, a question to counsel) is withdrawn.
        for task in list(self.board.tasks.values()):
            if task.status == TaskStatus.open:
                await self.board.cancel(task.task_id)
        for job in self._side_jobs:
            job.cancel()
        self.phase = Phase.closed
        await self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status()

    # -- tasks and views ---------------------------------------------------------------------

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
            task_id=f"{PREFIX}-{name}",
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

    @workflow.query
    def status(self) -> CaseStatus:
        """The request's state, open tasks, notices and the release (no record text)."""
        return self._status()

    def _status(self) -> CaseStatus:
        req = self.req
        return CaseStatus(
            case_id=self.inp.case_id,
            clinic_id=self.inp.clinic.id,
            jurisdiction=req.jurisdiction,
            status=self.phase.value,
            policy_version=self.inp.policy.version,
            policy_unverified=self.inp.policy.unverified,
            concerns=[],
            tasks=self.board.views(),
            notifications=list(self.notifications),
            disclosures=list(self.disclosures),
            overdue=self.board.overdue(),
            next_due=self.board.next_due(),
            path="legal_request",
            legal=LegalRequestView(
                instrument=req.instrument.value,
                issuer=req.issuer.name,
                issuer_case_number=req.issuer.case_number,
                served_at=req.served_at,
                response_due=self.response_due,
                objection_window_ends=self.window_ends,
                phase=self.phase.value,
                outcome=self.outcome if self.phase == Phase.closed else None,
                selection=self.selection,
                counsel=list(self.counsel),
                packet=self.packet,
            ),
        )

    async def _publish(self) -> None:
        self._publish_board(self.phase.value, self._header(), self.inp.policy.unverified)

    def _header(self) -> str:
        tz = self.inp.clinic.timezone
        rule = self.rule
        lines = [
            f"## Legal request {self.inp.case_id} — {INSTRUMENT_TITLE[self.req.instrument]}",
            f"{self.req.issuer.name}, case {self.req.issuer.case_number} · "
            f"{self.req.jurisdiction} · policy {self.inp.policy.version}"
            + (
                " · **policy unverified**: " + ", ".join(rule.unverified or ["default"])
                if self.inp.policy.unverified
                else ""
            ),
            f"Phase: **{self.phase.value}** · response due **{local(self.response_due, tz)}**"
            + (
                f" · objection window ends {local(self.window_ends, tz)}"
                if self.window_ends
                else ""
            ),
        ]
        if self.phase == Phase.closed:
            lines.append(f"Outcome: **{self.outcome}**")
        for c in self.counsel:
            lines.append(
                f"- counsel ({c.task_id}): "
                + (f"advice recorded by {c.advised_by}" if c.advice else "asked, no advice yet")
            )
        return "\n".join(lines) + "\n\nNothing is released without the privacy officer's approval."


def _packet_mail_body(req: LegalRequest, clinic_name: str, sha256: str) -> str:
    return (
        f"Enclosed: the records {clinic_name} produces in response to the "
        f"{INSTRUMENT_TITLE[req.instrument]} in case {req.issuer.case_number}, with a cover "
        f"letter and a manifest of SHA-256 digests. Packet SHA-256: {sha256}.\n\n"
        "The records are confidential; further disclosure may be prohibited by law.\n"
    )


def _listing(docs: list[DocumentMeta], selection: Selection) -> str:
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
