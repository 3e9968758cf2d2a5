"""Duty to warn / protect: threats to others and to self (45 CFR 164.512(j) and state law).

assessment (clinician) -> the state's rule decides:
  act   : mandatory duty triggered; the required actions start at once, the supervisor is informed
  ask   : disclosure permitted; a supervisor approves a release set (approval code) or declines
  close : nothing to disclose; the assessment stays on record
then every disclosure is written to the ledger and a re-assessment follows after the interval.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import ConcernCarry, ConcernInput, ConcernStatus, Phase
    from domain.clinic import AgencyKind, Role
    from domain.decision_brief import Option, ReleaseBrief
    from domain.flags import ConcernKind, Person
    from domain.forms import (
        CallForm,
        DeliveryFailureForm,
        PatientConsent,
        ReleaseDecisionForm,
        RiskAssessmentForm,
        SelfHarmAssessmentForm,
        TaskKind,
    )
    from domain.notices import (
        Notice,
        action_not_done_notice,
        agency_notice,
        contact_notice,
        duty_triggered_notice,
        notice_undelivered_notice,
        person_key,
        recipient_words,
        victim_warning,
    )
    from domain.policy import (
        ACTION_WORDS,
        Action,
        DecisionMode,
        DutyDecision,
        decide_self_harm,
        decide_threat,
    )
    from domain.records import Disclosure, NoticeRecord, Recipient
    from domain.tasks import Task, due
    from workflows import mail
    from workflows.concern_base import ConcernWorkflowBase, tells_case_if_failed
    from workflows.task_board import Completed, TaskBoard

AGENCY_FOR = {
    Action.notify_law_enforcement: AgencyKind.law_enforcement,
    Action.notify_medical_personnel: AgencyKind.medical_personnel,
    Action.report_to_county_director_of_community_services: (
        AgencyKind.county_director_of_community_services
    ),
    Action.notify_child_protective_agency: AgencyKind.child_protective_services,
}

# Why each disclosure is made: a verb phrase, as the ledger records it and as the agency notice
# says it ("... makes this confidential report in order to <purpose>.").
PURPOSE = {
    Action.warn_victim: "warn an identifiable potential victim of a serious threat of violence",
    Action.notify_law_enforcement: (
        "prevent or lessen a serious and imminent threat to the health or safety of a person"
    ),
    Action.notify_medical_personnel: (
        "prevent or lessen a serious and imminent threat to the health or safety of a person"
    ),
    Action.report_to_county_director_of_community_services: (
        "report a patient who is likely to cause serious harm to themselves or others"
    ),
    Action.notify_child_protective_agency: "protect a minor threatened with violence",
    Action.notify_emergency_contact: "prevent or lessen a serious threat of self-harm",
}


@workflow.defn
class DutyToWarnWorkflow(ConcernWorkflowBase):
    """One threat_to_others or self_harm concern of a case."""

    @workflow.init
    def __init__(self, inp: ConcernInput) -> None:
        self.inp = inp
        self.kind = inp.concern.kind
        self.prefix = f"c{inp.index}"
        self.phase = Phase.assessing
        self.decision: DutyDecision | None = None
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
        self._seq = 0
        self._round = 1
        self.consent: PatientConsent | None = None
        # What each release decision rests on, by task id (the `brief` query).
        self._briefs: dict[str, ReleaseBrief] = {}
        if inp.carry is not None:  # a renewed threat, continued as new
            c = inp.carry
            self._round, self._seq, self._revision = c.round, c.seq, c.revision
            self.decision, self.consent = c.decision, c.consent
            self.notifications, self.disclosures = list(c.notifications), list(c.disclosures)
            self.phase = Phase.follow_up
        # Carried records are not carried again: each run passes on only its own round's.
        self._carried = (len(self.notifications), len(self.disclosures))

    @workflow.query
    def brief(self) -> list[dict]:
        """What each open release decision rests on, patient data included: the Queries tab
        shows it decrypted in the browser (Current Details holds none, see
        domain.decision_brief)."""
        return [
            {"task_id": t.task_id, **self._briefs[t.task_id].view()}
            for t in self.board.open_tasks()
            if t.task_id in self._briefs
        ]

    # -- the path ----------------------------------------------------------------------------

    @workflow.run
    @tells_case_if_failed
    async def run(self, inp: ConcernInput) -> ConcernStatus:
        """Assess, decide by the state's rule, act, record, re-assess — and decide again
        when a re-assessment finds the threat renewed."""
        if not self._lean():  # version 2: the first task's opening publishes
            await self._publish()
        timers = inp.policy.timers
        if inp.carry is not None:
            assessment = inp.carry.assessment
        elif self.kind == ConcernKind.threat_to_others:
            assessment = await self.board.run(
                self._task(
                    TaskKind.risk_assessment,
                    Role.clinician,
                    timers.assessment_due,
                    "Risk assessment (threat to others)",
                    "Assess the threat: serious, identifiable victims, imminent; choose the "
                    "discharge plan if the state offers several.",
                    choices=self._plan_choices(),
                )
            )
        else:
            assessment = await self.board.run(
                self._task(
                    TaskKind.self_harm_assessment,
                    Role.clinician,
                    timers.assessment_due,
                    "Risk assessment (self-harm)",
                    "Assess the risk level and record the safety plan.",
                )
            )
        first_round = self._round
        while True:
            decision = self._decide(assessment)
            if self._lean() and self._round > first_round and decision.mode != DecisionMode.close:
                # The natural boundary: a renewed threat starts a new round. History version 2
                # starts it in a new run, so a threat renewed for months stays bounded.
                await self._settle()
                workflow.continue_as_new(self._carry(inp, assessment))
            await self._act_on(decision, assessment)
            if decision.mode == DecisionMode.close or not self.disclosures:
                break
            assessment = await self._reassess()
            self._round += 1
        self.phase = Phase.closed
        await self._publish()
        await self._settle()
        return self._status()

    def _carry(self, inp: ConcernInput, assessment: Completed) -> ConcernInput:
        """The next run's input: this one, with the counters and the renewing assessment."""
        return inp.model_copy(
            update={
                "carry": ConcernCarry(
                    round=self._round,
                    seq=self._seq,
                    revision=self._revision,
                    assessment=assessment,
                    decision=self.decision,
                    consent=self.consent,
                    notifications=self.notifications[self._carried[0] :],
                    disclosures=self.disclosures[self._carried[1] :],
                )
            }
        )

    def _decide(self, assessment: Completed) -> DutyDecision:
        rule = self.inp.policy.duty_to_warn
        if self.kind == ConcernKind.threat_to_others:
            form = assessment.read(RiskAssessmentForm)
            # A consent holds for the round it was given in: a renewed threat asks again.
            self.consent = form.patient_consent
            self.decision = decide_threat(
                rule,
                serious_threat=form.serious_threat,
                identifiable_victims=form.identifiable_victims,
                imminent=form.imminent,
                plan=form.discharge_plan,
            )
        else:
            form_sh = assessment.read(SelfHarmAssessmentForm)
            self.consent = form_sh.patient_consent
            self.decision = decide_self_harm(rule, risk_level=form_sh.risk_level.value)
        return self.decision

    async def _act_on(self, decision: DutyDecision, assessment: Completed) -> None:
        assessor = assessment.completion.actor
        if decision.mode == DecisionMode.act:
            self.phase = Phase.notifying
            await self._publish()
            await asyncio.gather(
                self._carry_out(decision.required, decision, assessment.completion.task_id),
                mail.tell_staff(
                    self.inp.case_id,
                    self.inp.clinic,
                    f"{self._step_prefix()}.informed",
                    [Role.supervisor],
                    duty_triggered_notice(
                        self.inp.clinic,
                        self.inp.case_id,
                        decision.legal_basis,
                        decision.required,
                        assessor,
                    ),
                ),
            )
        if decision.permitted:
            # Permissive disclosure (or optional extras after a mandatory plan): four eyes.
            await self._ask_supervisor(decision, assessment)

    def _brief(self, decision: DutyDecision, assessment: Completed) -> ReleaseBrief:
        """What the supervisor decides on (domain.decision_brief): the report, the assessment
        and who made it, the basis, and whom each permitted action would reach."""
        inp = self.inp
        form = assessment.read(
            RiskAssessmentForm
            if self.kind == ConcernKind.threat_to_others
            else SelfHarmAssessmentForm
        )
        member = inp.clinic.member(assessment.completion.actor)
        done = self.board.tasks.get(assessment.completion.task_id)
        return ReleaseBrief(
            summary=inp.concern.summary,
            assessment=form,
            assessor=f"{member.name} ({member.id})" if member else assessment.completion.actor,
            assessed_at=done.completed_at if done else None,
            timezone=inp.clinic.timezone,
            options=[
                Option(action=a, reaches=self._reaches(a), reaches_unnamed=self._reaches(a, False))
                for a in decision.permitted
            ],
        )

    def _reaches(self, action: Action, named: bool = True) -> str:
        """Whom an action would reach, as the brief lists it: by name, or by number only."""
        people = {
            Action.warn_victim: (self.inp.concern.victims, "person at risk", "people at risk"),
            Action.notify_emergency_contact: (
                self.inp.concern.contacts,
                "emergency contact",
                "emergency contacts",
            ),
        }
        if action in people:
            persons, one, many = people[action]
            if not persons:
                return "no one is named: a clinician is asked to find and reach them"
            if not named:
                counted = one if len(persons) == 1 else f"{len(persons)} {many}"
                return f"the {counted} named in the flag"
            return "; ".join(
                f"{p.name} ({p.email or p.phone or 'no e-mail or phone'})" for p in persons
            )
        if action in AGENCY_FOR:
            agency = self.inp.clinic.agency(AGENCY_FOR[action])
            if agency is None:
                return "no contact is configured: a clinician is asked to make the call"
            return f"{agency.name} ({agency.email or agency.phone or agency.portal_url})"
        return "a clinician is asked to carry it out and record it"

    def _whom(self, role: str, key: str) -> str:
        """A recipient in a task's title, in words that name no one (titles reach lists)."""
        return recipient_words(self.inp.clinic, role, key)

    def _covering(self, action: Action) -> PatientConsent | None:
        consent = self.consent
        return consent if consent is not None and action in consent.actions else None

    def _authorized(self, action: Action) -> bool:
        consent = self._covering(action)
        return consent is not None and consent.written

    def _basis(self, decision: DutyDecision, action: Action) -> str:
        """The ledger's legal basis: the patient's written authorization where it covers this
        action (the 164.512 permission stands behind it), else the 164.512 basis, noting an
        oral agreement that covers it. The consent's own words stay in the (encrypted) case."""
        consent = self._covering(action)
        if consent is None:
            return decision.legal_basis
        given = consent.given_at.date().isoformat()
        if consent.written:
            return (
                f"45 CFR 164.508 (the patient's written authorization "
                f"{consent.authorization_id}, given {given}); also {decision.legal_basis}"
            )
        return f"{decision.legal_basis}; the patient agreed orally on {given}"

    def _step_prefix(self) -> str:
        # Ledger rows and Message-IDs are keyed by step: a renewed threat's notices are new
        # disclosures, not retries of the first round's.
        return self.prefix if self._round == 1 else f"{self.prefix}r{self._round}"

    async def _ask_supervisor(self, decision: DutyDecision, assessment: Completed) -> None:
        self.phase = Phase.awaiting_decision
        assessor = assessment.completion.actor
        plans = self.inp.policy.duty_to_warn.discharge_plans
        discharge = (
            " The state's rule is discharged by "
            + " or by ".join(" and ".join(ACTION_WORDS[a] for a in plan) for plan in plans)
            + "."
            if isinstance(plans, list) and plans
            else ""
        )
        brief = self._brief(decision, assessment)
        task = self._task(
            TaskKind.release_decision,
            Role.supervisor,
            self.inp.policy.timers.decision_due,
            "Release decision",
            f"{decision.reason[:1].upper()}{decision.reason[1:]}. Approve a release set "
            "(with the approval code e-mailed to "
            f"you) or decline with a reason. Basis: {decision.legal_basis}.{discharge}",
            choices=[a.value for a in decision.permitted],
            requester=assessor,
            four_eyes=True,
            requires_code=True,
            document=brief.render(),
            context=brief.render(with_patient_data=False),
        )
        self._briefs[task.task_id] = brief
        answer = await self.board.run(task)
        if answer.outcome == "approve":
            self.phase = Phase.notifying
            await self._publish()
            release = answer.read(ReleaseDecisionForm)
            approved = list(release.actions)
            self.consent = release.patient_consent or self.consent
            await self._carry_out(approved, decision, answer.completion.task_id)

    async def _reassess(self) -> Completed:
        timers = self.inp.policy.timers
        self.phase = Phase.follow_up
        await self._publish()
        await workflow.sleep(timers.reassessment_after)
        threat = self.kind == ConcernKind.threat_to_others
        return await self.board.run(
            self._task(
                TaskKind.reassessment if threat else TaskKind.self_harm_reassessment,
                Role.clinician,
                timers.assessment_due,
                "Follow-up re-assessment",
                "Re-assess the risk after the disclosures made in this case; a renewed threat "
                "starts the decision again.",
                choices=self._plan_choices() if threat else [],
            )
        )

    # -- carrying out actions ----------------------------------------------------------------

    async def _carry_out(
        self, actions: list[Action], decision: DutyDecision, task_ref: str
    ) -> None:
        """Every action at once: warnings must not queue behind one another."""
        jobs = []
        concern = self.inp.concern
        for action in actions:
            people = {
                Action.warn_victim: ("victim", concern.victims),
                Action.notify_emergency_contact: ("contact", concern.contacts),
            }
            if action in people:
                role, persons = people[action]
                jobs += [
                    self._warn(action, role, i, p, task_ref, decision)
                    for i, p in enumerate(persons, 1)
                ]
                if not persons:
                    # The flag named no one: a person must find and warn them.
                    jobs.append(self._record_action(action))
            elif action in AGENCY_FOR:
                jobs.append(self._notify_agency(action, task_ref, decision))
            else:
                jobs.append(self._record_action(action))
        await asyncio.gather(*jobs)

    async def _warn(
        self,
        action: Action,
        role: str,
        i: int,
        person: Person,
        task_ref: str,
        decision: DutyDecision,
    ) -> None:
        inp = self.inp
        notice = (
            victim_warning(inp.clinic, inp.case_id, inp.flag.patient, inp.concern, person)
            if role == "victim"
            else contact_notice(inp.clinic, inp.case_id, inp.flag.patient, person)
        )
        recipient = Recipient(
            key=person_key(role, i),
            name=person.name,
            email=person.email,
            phone=person.phone,
            address=person.address,
        )
        await self._deliver(
            action,
            role,
            recipient,
            notice,
            task_ref,
            decision,
            "Patient identity and the threat communicated",
        )

    async def _notify_agency(self, action: Action, task_ref: str, decision: DutyDecision) -> None:
        inp = self.inp
        agency = inp.clinic.agency(AGENCY_FOR[action])
        if agency is None:
            # No contact configured: a person must find one; the task says which kind.
            await self._record_action(action)
            return
        notice = agency_notice(
            inp.clinic,
            inp.case_id,
            inp.flag.patient,
            inp.concern,
            agency,
            PURPOSE[action],
            decision.legal_basis,
        )
        recipient = Recipient(
            key=f"agency-{agency.kind.value}",
            name=agency.name,
            email=agency.email,
            phone=agency.phone,
        )
        await self._deliver(
            action,
            agency.kind.value,
            recipient,
            notice,
            task_ref,
            decision,
            "Patient identity and date of birth, the threat communicated, "
            "identity and contact of persons at risk",
        )

    async def _deliver(
        self,
        action: Action,
        role: str,
        to: Recipient,
        notice: Notice,
        task_ref: str,
        decision: DutyDecision,
        what: str,
    ) -> None:
        """E-mail where an address is known; otherwise, or if refused, a task for a person."""
        step = f"{self._step_prefix()}.{action.value}"
        channel, address = "email", to.email or ""
        record = NoticeRecord(
            step=step, recipient_key=to.key, recipient_role=role, channel=channel, status="sending"
        )
        self.notifications.append(record)
        if to.email:
            try:
                receipt = await mail.send(
                    self.inp.case_id,
                    step,
                    to.key,
                    to.email,
                    notice,
                    reply_to=self.inp.clinic.reply_to,
                )
                record.message_id, record.sent_at, record.status = (
                    receipt.message_id,
                    receipt.sent_at,
                    "sent",
                )
            except mail.DeliveryFailed:
                record.status = "refused"
                await self._publish()
                done = await self.board.run(
                    self._task(
                        TaskKind.delivery_failed,
                        Role.clinician,
                        self.inp.policy.timers.call_due,
                        f"Deliver the notice to {self._whom(role, to.key)} another way",
                        f"The mail server refused the notice to {self._whom(role, to.key)}. "
                        "Deliver it another way (e.g. by phone) and record how.",
                    )
                )
                if done.outcome != "delivered":
                    record.status = "not_delivered"
                    await self._alarm(
                        f"{step}.{to.key}.undelivered",
                        notice_undelivered_notice(
                            self.inp.clinic, self.inp.case_id, role, to.key, refused=True
                        ),
                    )
                    await self._publish()
                    return
                # The ledger's channel is a short vocabulary; how it was delivered is free text
                # and goes into the description.
                channel = "other"
                how = done.read(DeliveryFailureForm).delivered_by
                what += f"; delivered by: {how}"
                address = to.phone or to.address or ""
                record.status, record.channel = "delivered", channel
        else:
            record.channel, record.status = "phone", "call_pending"
            await self._publish()
            done = await self.board.run(
                self._task(
                    TaskKind.call_person,
                    Role.clinician,
                    self.inp.policy.timers.call_due,
                    f"Call {self._whom(role, to.key)}",
                    f"There is no e-mail address for {self._whom(role, to.key)}: phone them "
                    "with the warning and record the outcome (reached, message_left or "
                    "not_reached).",
                )
            )
            record.status = done.outcome
            if done.outcome == "not_reached":
                await self._alarm(
                    f"{step}.{to.key}.unreached",
                    notice_undelivered_notice(
                        self.inp.clinic, self.inp.case_id, role, to.key, refused=False
                    ),
                )
                await self._publish()
                return
            channel = "phone"
            address = done.read(CallForm).number_called or to.phone or ""
        disclosure = Disclosure(
            case_id=self.inp.case_id,
            step=step,
            recipient_key=to.key,
            clinic_id=self.inp.clinic.id,
            patient_ref=self.inp.flag.patient.ref,
            disclosed_at=workflow.now(),
            recipient_name=to.name,
            recipient_address=address,
            channel=channel,
            description=what,
            purpose=PURPOSE[action],
            legal_basis=self._basis(decision, action),
            task_ref=task_ref,
            # 164.528(a)(1)(iv): a disclosure under the patient's written authorization is not
            # accounted for; an oral agreement does not make one, nor one that covers other
            # actions.
            accountable=not self._authorized(action),
        )
        await mail.record(disclosure, self.inp.clinic, local=self._lean())
        self.disclosures.append(disclosure)
        await self._publish()

    async def _record_action(self, action: Action) -> None:
        done = await self.board.run(
            self._task(
                TaskKind.record_action,
                Role.clinician,
                self.inp.policy.timers.action_due,
                f"Carry out: {action.value.replace('_', ' ')}",
                f"Confide cannot do '{action.value}' itself. Do it and record when and how.",
            )
        )
        if done.outcome == "not_done":
            await self._alarm(
                f"{self._step_prefix()}.{action.value}.not_done",
                action_not_done_notice(
                    self.inp.clinic, self.inp.case_id, action, done.completion.actor
                ),
            )

    async def _alarm(self, step: str, notice: Notice) -> None:
        """A duty may not be discharged: tell the supervisor and the privacy officer, who
        can act on it (opaque references only, as in every staff message)."""
        await mail.tell_staff(
            self.inp.case_id,
            self.inp.clinic,
            step,
            [Role.supervisor, Role.privacy_officer],
            notice,
        )

    # -- helpers -----------------------------------------------------------------------------

    def _plan_choices(self) -> list[str]:
        plans = self.inp.policy.duty_to_warn.discharge_plans
        return [str(i) for i in range(len(plans))] if isinstance(plans, list) else []

    def _task(
        self, kind: TaskKind, role: Role, within, title: str, instructions: str, **extra
    ) -> Task:
        self._seq += 1
        now = workflow.now()
        timers = self.inp.policy.timers
        return Task(
            task_id=f"{self.prefix}-{self._seq}-{kind.value}",
            kind=kind,
            role=role,
            allowed_roles=[role],
            assignee=self.inp.flag.clinician.id if role == Role.clinician else None,
            created_at=now,
            due_at=due(now, within),
            reminder_before=min(timers.reminder_before, within / 2),
            escalate_every=timers.escalate_every,
            title=title,
            instructions=instructions,
            **extra,
        )

    def _policy_unverified(self) -> bool:
        return bool(self.inp.policy.duty_to_warn.unverified)

    def _header(self) -> str:
        rule = self.inp.policy.duty_to_warn
        return (
            f"## Case {self.inp.case_id} — {self.kind.value.replace('_', ' ')} "
            f"(concern {self.inp.index})\n"
            f"Phase: **{self.phase.value.replace('_', ' ')}** · policy {rule.jurisdiction} "
            f"({rule.category.value}) {self.inp.policy.version}"
            + (" · **policy unverified**" if self._policy_unverified() else "")
        )
