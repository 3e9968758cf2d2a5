"""A patient's authorization to disclose (45 CFR 164.508), for as long as it lasts.

  on hold  : a defective authorization waits for a corrected one (Update `correct`, sent by the
             intake API when the same id arrives again); the requester is told what is missing
  verify   : staff verify the signer's identity and a personal representative's authority
  active   : the first release, then one per further request (Update `request_release`), each
             the minimum set matching the described information, approved by the privacy
             officer, packed, delivered and written to the ledger as exempt from the accounting
  end      : at the expiry date (a timer), or when the patient revokes (Update `revoke`): no
             release after that; what was released before stays released
History stays bounded for years: after each release (a natural boundary, nothing open) the
workflow continues as new, carrying its counters and the latest releases.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.authorization import Authorization
    from domain.authorization_case import (
        AuthorizationCarry,
        AuthorizationInput,
        AuthorizationView,
        Correction,
        ExpiryEvent,
        ReleaseRecord,
        ReleaseRequest,
        Revocation,
    )
    from domain.case import CaseStatus, Phase
    from domain.clinic import Role
    from domain.forms import TaskKind
    from domain.legal_case import CounselAdvice, PacketInfo
    from domain.legal_letters import (
        authorization_held_notice,
        authorization_letter,
        authorization_on_hold,
        local,
    )
    from domain.records import Disclosure, NoticeRecord
    from domain.release import Selection
    from domain.tasks import FUTURE_SKEW, TaskRejected
    from workflows import mail
    from workflows.release_steps import STEP_WITHIN, RecordsReleaseBase, ReleasePlan
    from workflows.task_board import TaskBoard, TaskWithdrawn

PREFIX = "a"
ENDED = {Phase.revoked, Phase.expired, Phase.not_verified}
RECENT = 10


@workflow.defn
class AuthorizationWorkflow(RecordsReleaseBase):
    """One authorization, from intake to expiry or revocation (months or years)."""

    _upsert_only_changes = True
    prefix = PREFIX

    @workflow.init
    def __init__(self, inp: AuthorizationInput) -> None:
        self.inp = inp
        self.auth = inp.authorization
        self.problems = list(inp.problems)
        carry = inp.carry or AuthorizationCarry(
            phase=(Phase.on_hold if inp.problems else Phase.verifying).value
        )
        self.phase = Phase(carry.phase)
        self.verified_by = carry.verified_by
        self.verified_at = carry.verified_at
        self.releases_made = carry.releases_made
        self.pending = carry.pending
        self.recent = list(carry.recent)
        self.run_number = carry.run
        self.revocation: Revocation | None = None
        self.selection: Selection | None = None
        self.packet: PacketInfo | None = None
        self.counsel: list[CounselAdvice] = []
        self.notifications: list[NoticeRecord] = []
        self.disclosures: list[Disclosure] = []
        self.board = TaskBoard(inp.case_id, inp.clinic, self._publish)
        self._side_jobs: list[asyncio.Task] = []
        self._release_due = workflow.now() + STEP_WITHIN

    @workflow.run
    async def run(self, inp: AuthorizationInput) -> CaseStatus:
        """Hold, verify, release on request until it expires or is revoked."""
        await self._publish()
        self._side_jobs.append(asyncio.create_task(self._expiry_watch()))
        if self.phase == Phase.on_hold:
            await self._hold()
        if self.phase == Phase.verifying:
            await self._verify()
        while self.phase not in ENDED:
            await workflow.wait_condition(lambda: self.pending > 0 or self.phase in ENDED)
            if self.phase in ENDED:
                break
            await self._release_one()
            if self.phase not in ENDED and not self.board.open_tasks():
                # A natural boundary: nothing open, the release recorded. A new run keeps the
                # history of a years-long authorization bounded.
                await self._settle()
                workflow.continue_as_new(self._carry())
        await self._withdraw_open_work()
        await self._publish()
        await self._settle()
        return self._status()

    # -- steps -------------------------------------------------------------------------------

    async def _hold(self) -> None:
        inp = self.inp
        to = (self.auth.recipient.email if self.auth.recipient else None) or (
            self.auth.patient.email
        )
        notice = authorization_on_hold(self.auth, inp.clinic, inp.case_id, self.problems)
        if to:
            try:
                await mail.tracked(
                    self.notifications,
                    f"{PREFIX}.on_hold",
                    "requester",
                    "requester",
                    mail.send(inp.case_id, f"{PREFIX}.on_hold", "requester", to, notice),
                )
            except mail.DeliveryFailed:
                to = None
        if not to:
            await mail.tell_staff(
                inp.case_id,
                inp.clinic,
                f"{PREFIX}.on_hold.staff",
                [Role.privacy_officer],
                authorization_held_notice(
                    inp.clinic,
                    inp.case_id,
                    self.auth.authorization_id,
                    workflow.info().workflow_id,
                ),
            )
        await workflow.wait_condition(lambda: not self.problems or self.phase in ENDED)
        if self.phase not in ENDED:
            self.phase = Phase.verifying
            await self._publish()

    async def _verify(self) -> None:
        signer = self.auth.signed_by
        representative = bool(signer and signer.relationship.lower() != "self")
        try:
            done = await self.board.run(
                self._task(
                    TaskKind.verify_authorization,
                    "verify",
                    workflow.now() + STEP_WITHIN,
                    "Verify the authorization",
                    "Confirm the authorization names this clinic as the discloser, and verify "
                    "the signer's identity (45 CFR 164.514(h))"
                    + (
                        " and the personal representative's authority to act for the patient"
                        if representative
                        else ""
                    )
                    + ". Outcome verified, or not_verified (nothing is released).",
                    roles=[Role.privacy_officer, Role.supervisor],
                    must_confirm=["identity_verified", "discloser_is_this_clinic"]
                    + (["representative_authority_verified"] if representative else []),
                )
            )
        except TaskWithdrawn:
            return  # revoked or expired meanwhile
        if done.outcome != "verified":
            self.phase = Phase.not_verified
            return
        self.verified_by, self.verified_at = done.completion.actor, workflow.now()
        self.phase = Phase.active
        self.pending += 1  # the release the authorization was signed for
        await self._publish()

    async def _release_one(self) -> None:
        inp, auth = self.inp, self.auth
        info, recipient = auth.information, auth.recipient
        assert info is not None and info.from_ and info.to and recipient and recipient.name
        number = self.releases_made + 1
        self.pending -= 1
        self._release_due = workflow.now() + STEP_WITHIN
        suffix = "" if number == 1 else f"-r{number}"
        try:
            outcome = await self._release_records(
                ReleasePlan(
                    step=f"{PREFIX}.release{number}",
                    approval_name=f"release_approval{suffix}",
                    patient_ref=auth.patient.ref,
                    span=(info.from_, info.to),
                    categories=info.categories,
                    authority=auth.authority(),
                    basis=auth.basis(),
                    # The patient's own words stay in the (encrypted) case, not the ledger.
                    purpose=f"at the patient's request (authorization {auth.authorization_id})",
                    # 164.528(a)(1)(iv): releases under an authorization are not accounted for.
                    accountable=False,
                    recipient_name=recipient.name,
                    recipient_email=recipient.email,
                    recipient_address=recipient.address or recipient.email or "",
                    packet_title=f"Records released under authorization {auth.authorization_id}",
                    letter=lambda count, approver: authorization_letter(
                        auth, inp.clinic, count, approver, workflow.now()
                    ),
                    mail_body=lambda sha256: (
                        f"Enclosed: the records {inp.clinic.name} releases under the patient's "
                        f"authorization {auth.authorization_id}, with a cover letter and a "
                        f"manifest of SHA-256 digests. Packet SHA-256: {sha256}.\n"
                    ),
                    filename=f"{inp.case_id}-release{number}.pdf",
                    proceed=self._may_release,
                )
            )
        except TaskWithdrawn:
            outcome = "stopped"
        if outcome == "released":
            self.releases_made = number
            assert self.packet is not None
            self.recent = [
                *self.recent,
                ReleaseRecord(
                    number=number,
                    released_at=workflow.now(),
                    packet_id=self.packet.packet_id,
                    sha256=self.packet.sha256,
                    documents=self.packet.documents,
                ),
            ][-RECENT:]
        if self.phase not in ENDED:
            self.phase = Phase.active
        await self._publish()

    def _expires(self) -> datetime | None:
        return self.auth.expires(self.inp.clinic.timezone)

    def _may_release(self) -> bool:
        """Nothing leaves once revoked or expired, even if the expiry timer has not fired."""
        ends = self._expires()
        return self.phase not in ENDED and (ends is None or workflow.now() <= ends)

    async def _expiry_watch(self) -> None:
        """End the authorization at the end of its expiry date, following corrections (a
        corrected authorization may bring, move or shorten the date)."""
        while self.phase not in ENDED:
            ends = self._expires()
            if ends is not None and workflow.now() >= ends:
                self.phase = Phase.expired
                await self._withdraw_release_work()
                return
            try:
                await workflow.wait_condition(
                    functools.partial(self._expiry_changed, ends),
                    timeout=(ends - workflow.now()) if ends is not None else None,
                )
            except TimeoutError:
                pass

    def _expiry_changed(self, ends: datetime | None) -> bool:
        return self._expires() != ends or self.phase in ENDED

    async def _withdraw_release_work(self) -> None:
        """Revoked or expired: every open step of a release stops (nothing more leaves)."""
        for task in self.board.open_tasks():
            await self.board.cancel(task.task_id)
        await self._publish()

    def _deadline(self) -> datetime:
        return self._release_due

    # -- Updates -----------------------------------------------------------------------------

    @workflow.update
    async def revoke(self, revocation: Revocation) -> AuthorizationView:
        """The patient revoked the authorization: no release after this one is recorded."""
        self.revocation = revocation
        self.phase = Phase.revoked
        workflow.logger.info("authorization revoked", extra={"case_id": self.inp.case_id})
        await self._withdraw_release_work()
        return self._view()

    @revoke.validator
    def _check_revoke(self, revocation: Revocation) -> None:
        if self.phase in ENDED:
            raise TaskRejected(f"the authorization has already ended ({self.phase.value})")
        if self.inp.clinic.member(revocation.received_by) is None:
            raise TaskRejected(f"received_by is not a roster id of clinic {self.inp.clinic.id}")
        if revocation.received_at.tzinfo is None:
            raise TaskRejected("received_at needs a time zone offset")
        if revocation.received_at > workflow.now() + FUTURE_SKEW:
            raise TaskRejected("received_at is in the future")

    @workflow.update
    async def record_expiry_event(self, event: ExpiryEvent) -> AuthorizationView:
        """The event the authorization named as its end has happened: nothing more leaves."""
        self.phase = Phase.expired
        await self._withdraw_release_work()
        return self._view()

    @record_expiry_event.validator
    def _check_expiry_event(self, event: ExpiryEvent) -> None:
        if self.phase in ENDED:
            raise TaskRejected(f"the authorization has already ended ({self.phase.value})")
        if not self.auth.expiry_event:
            raise TaskRejected("this authorization names no expiry event; it ends on its date")
        if self.inp.clinic.member(event.recorded_by) is None:
            raise TaskRejected(f"recorded_by is not a roster id of clinic {self.inp.clinic.id}")
        if event.occurred_at.tzinfo is None or event.occurred_at > workflow.now() + FUTURE_SKEW:
            raise TaskRejected("occurred_at needs a time zone offset and may not be in the future")

    @workflow.update
    async def request_release(self, request: ReleaseRequest) -> AuthorizationView:
        """A further request for records under this authorization."""
        self.pending += 1
        await self._publish()
        return self._view()

    @request_release.validator
    def _check_request(self, request: ReleaseRequest) -> None:
        if self.phase in ENDED:
            raise TaskRejected(
                f"the authorization has ended ({self.phase.value}); nothing more may be released"
            )
        if self.phase in (Phase.on_hold, Phase.verifying):
            raise TaskRejected(
                f"the authorization is {self.phase.value.replace('_', ' ')}; its first release "
                "follows verification"
            )

    @workflow.update
    async def correct(self, correction: Correction) -> AuthorizationView:
        """A corrected authorization for one on hold (sent by the intake API)."""
        self.auth = correction.authorization
        self.problems = []
        await self._publish()
        return self._view()

    @correct.validator
    def _check_correct(self, correction: Correction) -> None:
        if self.phase != Phase.on_hold:
            raise TaskRejected(f"the authorization is not on hold ({self.phase.value})")
        if correction.problems:
            raise TaskRejected("the correction still lacks: " + "; ".join(correction.problems))
        if correction.authorization.authorization_id != self.auth.authorization_id:
            raise TaskRejected("authorization_id differs from the one on hold")

    # -- views -------------------------------------------------------------------------------

    def _carry(self) -> AuthorizationInput:
        return self.inp.model_copy(
            update={
                "authorization": self.auth,
                "problems": [],
                "carry": AuthorizationCarry(
                    phase=self.phase.value,
                    verified_by=self.verified_by,
                    verified_at=self.verified_at,
                    releases_made=self.releases_made,
                    pending=self.pending,
                    recent=self.recent,
                    run=self.run_number + 1,
                ),
            }
        )

    def _view(self) -> AuthorizationView:
        auth = self.auth
        return AuthorizationView(
            authorization_id=auth.authorization_id,
            recipient=auth.recipient.name if auth.recipient else None,
            purpose=auth.purpose,
            expires_at=auth.expires(self.inp.clinic.timezone),
            expiry_event=auth.expiry_event,
            phase=self.phase.value,
            problems=list(self.problems),
            verified_by=self.verified_by,
            releases_made=self.releases_made,
            pending_requests=self.pending,
            recent_releases=list(self.recent),
            revocation=self.revocation,
            run=self.run_number,
            digest=auth.digest(),
        )

    @workflow.query
    def authorization(self) -> Authorization:
        """The authorization in force (a correction replaces the first): for the FHIR Consent
        export (intake/fhir_consent.py). A query: the history gains nothing."""
        return self.auth

    @workflow.query
    def status(self) -> CaseStatus:
        """The authorization's state, open tasks, notices and releases (no record text)."""
        return self._status()

    def _status(self) -> CaseStatus:
        return CaseStatus(
            case_id=self.inp.case_id,
            clinic_id=self.inp.clinic.id,
            jurisdiction=self.auth.jurisdiction,
            status=self.phase.value,
            policy_version="45 CFR 164.508",
            policy_unverified=False,
            concerns=[],
            tasks=self.board.views(),
            notifications=list(self.notifications),
            disclosures=list(self.disclosures),
            overdue=self.board.overdue(),
            next_due=self.board.next_due(),
            path="authorization",
            authorization=self._view(),
        )

    async def _publish(self) -> None:
        self._publish_board(self.phase.value, self._header(), False)

    def _header(self) -> str:
        auth, tz = self.auth, self.inp.clinic.timezone
        expiry = auth.expires(tz)
        lines = [
            f"## Authorization {self.inp.case_id}",
            f"Phase: **{self.phase.value.replace('_', ' ')}** · releases made: {self.releases_made}"
            + (f" · pending requests: {self.pending}" if self.pending else "")
            + (f" · expires {local(expiry, tz)}" if expiry else "")
            + (f" · ends on: {auth.expiry_event}" if auth.expiry_event else ""),
        ]
        if self.problems:
            lines += ["", "**On hold — incomplete authorization.** Missing or wrong:"]
            lines += [f"- {p}" for p in self.problems]
        if self.revocation:
            lines.append(f"Revoked {local(self.revocation.received_at, tz)}.")
        return "\n".join(lines)
