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
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import CaseStatus, Phase
    from domain.clinic import Role
    from domain.forms import (
        ASK_COUNSEL,
        ClassificationForm,
        LetterForm,
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
        request_received_notice,
        requester_answer,
        response_due_notice,
    )
    from domain.legal_request import (
        INSTRUMENT_TITLE,
        ORDER_LIKE,
        LegalRequest,
        release_basis,
        short_notice,
    )
    from domain.records import Disclosure, NoticeRecord
    from domain.release import Selection, legal_authority
    from domain.tasks import Task
    from workflows import mail
    from workflows.release_steps import STEP_WITHIN, RecordsReleaseBase, ReleasePlan
    from workflows.task_board import Completed, TaskBoard

# Confide's service level for classifying (not statutory: the statutory clock is the response
# date, which every task is also held to).
CLASSIFY_WITHIN = timedelta(days=2)
PREFIX = "l"


@workflow.defn
class LegalRequestWorkflow(RecordsReleaseBase):
    """One court order, subpoena, warrant or administrative request for a patient's records."""

    _upsert_only_changes = True
    prefix = PREFIX

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
            request_received_notice(self.req, inp.clinic, inp.case_id, workflow.info().workflow_id),
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
                "defective (answered with an objection; nothing is released)."
                + short_notice(self.rule, self.req.served_at, self.response_due),
                expected=expected,
            )
        )
        form = classified.read(ClassificationForm)
        if classified.outcome == "defective":
            await self._letter("objection", defective_letter(self.req, inp.clinic, workflow.now()))
            return await self._close("defective")
        if self.req.instrument in ORDER_LIKE:
            await self._release(release_basis(self.rule, self.req.instrument))
        else:
            await self._subpoena(form)
        return await self._close(self.outcome or "released")

    # -- the subpoena path -------------------------------------------------------------------

    async def _subpoena(self, form: ClassificationForm) -> None:
        inp = self.inp
        self.window_ends = self.rule.objection.ends(self.req.served_at, self.response_due)
        # The patient's notice goes first and runs beside everything else: a slow review of the
        # privilege letter must not eat into the patient's time to object.
        asserting = not form.patient_waiver_on_record
        self._side_jobs.append(asyncio.create_task(self._notify_patient(asserting)))
        if asserting:
            self.phase = Phase.asserting_privilege
            await self._letter(
                "privilege", privilege_letter(self.req, inp.clinic, self.rule, workflow.now())
            )
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
        await self._release(release_basis(self.rule, self.req.instrument))

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
            response_due_notice(
                self.inp.clinic,
                self.inp.case_id,
                self.response_due,
                respond.task_id,
                workflow.info().workflow_id,
            ),
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
        self.response_due = answer.read(ResponseForm).new_response_due or (self.response_due)
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
            "qpo (a qualified protective order; also not before then), or patient_objected "
            "(everything is held until "
            "a ruling).",
            # Nothing is released while the patient may still object, whatever the requester
            # sends first (CA CCP 1985.3: no production with an objection possible/unresolved).
            outcome_not_before={
                "notice_given_no_objection": self.window_ends,
                "qpo": self.window_ends,
            },
        )

    async def _notify_patient(self, asserting: bool) -> None:
        inp = self.inp
        step = f"{PREFIX}.patient_notice"
        assert self.window_ends is not None
        notice = patient_notice(
            self.req,
            inp.clinic,
            inp.case_id,
            self.window_ends,
            asserting,
            privilege=not self.rule.privacy_basis,
        )
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
                        notice,
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
                document=notice.body,
            )
        )

    # -- release -----------------------------------------------------------------------------

    async def _release(self, basis: str) -> None:
        req, clinic = self.req, self.inp.clinic
        self.outcome = await self._release_records(
            ReleasePlan(
                step=f"{PREFIX}.release",
                approval_name="release_approval",
                patient_ref=req.patient.ref,
                span=(req.scope.from_, req.scope.to),
                categories=req.scope.categories,
                authority=legal_authority(req.scope, req.instrument),
                basis=basis,
                purpose=(
                    f"response to the {INSTRUMENT_TITLE[req.instrument]} of "
                    f"{req.issuer.name}, case {req.issuer.case_number}"
                ),
                accountable=True,
                recipient_name=req.requester.name,
                recipient_email=req.requester.email,
                recipient_address=req.requester.address,
                packet_title=f"Records produced in response to {INSTRUMENT_TITLE[req.instrument]}",
                letter=lambda count, approver: cover_letter(
                    req,
                    clinic,
                    basis,
                    count,
                    approver,
                    workflow.now(),
                    us=not self.rule.privacy_basis,
                ),
                mail_body=lambda sha256: _packet_mail_body(req, clinic.name, sha256),
                filename=f"{self.inp.case_id}-records.pdf",
            )
        )
        if self.outcome == "nothing_releasable":
            await self._answer_requester(
                "No records will be produced.",
                "No record this instrument may lawfully reach matches its description.",
            )
        elif self.outcome == "declined":
            await self._answer_requester(
                "No records will be produced.",
                "The clinic's privacy officer declined the release; the clinic objects to "
                "production.",
            )
        elif self.outcome == "release_failed":
            await self._answer_requester(
                "No records will be produced at this time.",
                f"The clinic could not produce the records; please contact {clinic.reply_to}.",
            )

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
        form = review.read(LetterForm)
        if review.outcome == "send":
            if form.corrections:
                text += f"\n\n{form.corrections}"
            await self._answer_requester(f"Our {kind} letter follows.", text, step=f"{kind}_letter")

    async def _answer_requester(self, headline: str, text: str, step: str = "answer") -> None:
        """E-mail the requester; without an address, or when the mail server refuses, a task
        to post it (an answer to a court is never dropped)."""
        inp = self.inp
        if self.req.requester.email:
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
                return
            except mail.DeliveryFailed:
                pass  # posted instead, below
        await self.board.run(
            self._task(
                TaskKind.record_action,
                f"post_{step}",
                workflow.now() + STEP_WITHIN,
                "Post the answer to the requester",
                "The requester has no e-mail address (or the mail server refused it): post the "
                "letter in the task's document to the requester's address and record when.",
                document=f"{headline}\n\n{text}",
            )
        )

    async def _close(self, outcome: str) -> CaseStatus:
        self.outcome = outcome
        await self._withdraw_open_work()
        self.phase = Phase.closed
        await self._publish()
        await self._settle()
        return self._status()

    # -- tasks and views ---------------------------------------------------------------------

    def _deadline(self) -> datetime:
        return self.response_due

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
