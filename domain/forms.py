"""The answer each kind of human task takes (its `data`), validated before history records it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from domain.flags import aware
from domain.legal_request import Instrument
from domain.policy import Action

# A time someone enters: with its offset, or a statutory clock would depend on the worker's
# time zone.
When = Annotated[datetime, AfterValidator(aware)]

Notes = Annotated[str, StringConstraints(max_length=4000)]


class _Form(BaseModel):
    # A form's notes and names are PHI: its errors name the field, never the value.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    # Times that record when something happened may not lie in the future (a typo would move a
    # clock); fields named here are dates still to come (e.g. an extended response date).
    future_fields: ClassVar[frozenset[str]] = frozenset()


class PatientConsent(_Form):
    """The patient agreed to the disclosure: who agreed, when, to what, for which actions. A
    written authorization (its id required) makes 164.508 the basis of the disclosures it
    covers, exempt from the accounting; an oral agreement is recorded beside the 164.512
    basis, which still applies."""

    given_by: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Who agreed: the patient, or their personal representative"
    )
    given_at: When
    scope: Annotated[str, StringConstraints(min_length=1, max_length=1000)] = Field(
        description="What the patient agreed may be disclosed, and to whom"
    )
    actions: Annotated[list[Action], Field(min_length=1)] = Field(
        description="The disclosures the agreement covers"
    )
    written: bool = False
    authorization_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = (
        None
    )

    @model_validator(mode="after")
    def _written_names_its_authorization(self) -> PatientConsent:
        if self.written and not self.authorization_id:
            raise ValueError("a written consent names its authorization_id")
        return self


class RiskAssessmentForm(_Form):
    """Clinician's threat-to-others risk assessment (DESIGN.md §3 names the first four)."""

    serious_threat: bool
    identifiable_victims: bool
    imminent: bool
    notes: Notes = ""
    means: bool | None = Field(None, description="Does the patient have access to the means?")
    history_of_violence: bool | None = None
    discharge_plan: int = Field(
        0, ge=0, description="Which of the jurisdiction's discharge plans to carry out"
    )
    patient_consent: PatientConsent | None = None


class RiskLevel(StrEnum):
    """Self-harm risk levels; high and imminent open the 164.512(j) disclosure decision."""

    low = "low"
    moderate = "moderate"
    high = "high"
    imminent = "imminent"


class SelfHarmAssessmentForm(_Form):
    """Clinician's self-harm risk assessment."""

    risk_level: RiskLevel
    safety_plan_in_place: bool
    means_restricted: bool | None = None
    notes: Notes = ""
    patient_consent: PatientConsent | None = None


class ReleaseDecisionForm(_Form):
    """Supervisor's decision on a permitted disclosure (outcome approve / decline)."""

    actions: list[Action] = Field(
        default_factory=list, description="The release set approved (empty when declining)"
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    patient_consent: PatientConsent | None = None


class CallOutcome(StrEnum):
    """What happened when the clinician called."""

    reached = "reached"
    message_left = "message_left"
    not_reached = "not_reached"


class CallForm(_Form):
    """Record of a phone warning to someone without a known e-mail address."""

    called_at: When
    number_called: Annotated[str, StringConstraints(max_length=40)] = ""
    notes: Notes = ""


class ActionRecordForm(_Form):
    """Record of a step Confide cannot take itself (e.g. initiating hospitalization)."""

    done_at: When
    details: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class DeliveryFailureForm(_Form):
    """How a notice the mail server refused was delivered instead (or why it was not)."""

    delivered_by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    details: Notes = ""


class AcknowledgeForm(_Form):
    """An acknowledgement with an optional note (e.g. a supervisor informed of an action)."""

    notes: Notes = ""


class OralReportForm(_Form):
    """The reporter's record of the oral (initial) report to the agency."""

    agency: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    number_called: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    called_at: When
    taken_by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    reference_number: Annotated[str, StringConstraints(max_length=100)] = ""


class WrittenReportForm(_Form):
    """The reporter's review of the written report Confide prepared, before it is sent."""

    reviewed: bool
    corrections: Notes = ""


class PortalSubmissionForm(_Form):
    """Record of a written report filed on the agency's own portal."""

    submitted_at: When
    confirmation_number: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class NotInformedReason(StrEnum):
    """164.512(c)(2): the only reasons not to tell an adult victim about the report."""

    risk_of_serious_harm = "risk_of_serious_harm"
    representative_is_suspected_abuser = "representative_is_suspected_abuser"


class InformIndividualForm(_Form):
    """Whether the adult was told of the report (164.512(c)(2)), or why not."""

    informed_at: When | None = None
    method: Annotated[str, StringConstraints(max_length=100)] = ""
    reason_not_informed: NotInformedReason | None = None
    notes: Notes = ""


class ClassificationForm(_Form):
    """The privacy officer's reading of a served instrument (legal requests)."""

    instrument: Instrument
    signed: bool = Field(description="Signed by whoever the instrument type requires")
    issuer_has_jurisdiction: bool = Field(
        description="Issued by a court or agency with authority over this clinic"
    )
    names_psychotherapy_notes: bool
    part2_compliant_order: bool
    patient_waiver_on_record: bool = Field(
        False, description="The patient's written waiver or authorization is on file"
    )
    notes: Notes = ""


class UnlockForm(_Form):
    """The privacy officer's decision to unlock a task that wrong approval codes locked: what
    was found (who sent the wrong codes, and whether anyone was guessing)."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class CounselReviewForm(_Form):
    """Counsel's advice on a legal request, recorded on the case."""

    advice: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class LetterForm(_Form):
    """Review of a letter Confide prepared (privilege assertion, objection) before it goes."""

    reviewed: bool
    corrections: Notes = ""
    # Outcome `mailed`: the letter went by post (no e-mail address for the requester).
    mailed_at: When | None = None


class AssuranceForm(_Form):
    """What the requester sent: satisfactory assurance, a protective order, or the patient's
    objection (45 CFR 164.512(e)(1)(ii)-(v))."""

    received_at: When
    document: Annotated[str, StringConstraints(min_length=1, max_length=400)] = Field(
        description="What was received (written statement, stipulated order, motion)"
    )
    notes: Notes = ""


class RulingForm(_Form):
    """The court's ruling on the patient's objection."""

    ruled_at: When
    summary: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class ResponseForm(_Form):
    """The answer given when the response was due without assurance."""

    future_fields: ClassVar[frozenset[str]] = frozenset({"new_response_due"})

    done_at: When
    details: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    # Outcome `extension_obtained`: the new response date agreed or ordered.
    new_response_due: When | None = None


class ReleaseApprovalForm(_Form):
    """The privacy officer's release set: the computed scope, or less, never more."""

    documents: list[str] = Field(default_factory=list)
    redactions_reviewed: bool = False
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class VerificationForm(_Form):
    """Staff verification of an authorization (164.514(h)): the signer's identity and, for a
    personal representative, their authority."""

    identity_verified: bool
    # 164.508(c)(1)(ii): the authorization must name this clinic as the one who may disclose.
    discloser_is_this_clinic: bool = False
    method: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    representative_authority_verified: bool | None = None
    notes: Notes = ""


class AccountingReviewForm(_Form):
    """The privacy officer's review of a prepared accounting: deliver it, or take the one
    30-day extension the rule allows (164.528(c)(2)), with the reason the patient is told."""

    future_fields: ClassVar[frozenset[str]] = frozenset({"new_date"})
    reason: Annotated[str, StringConstraints(max_length=1000)] = ""
    new_date: When | None = None
    notes: Notes = ""


class TaskKind(StrEnum):
    """Every kind of human step, each with its form and allowed outcomes."""

    risk_assessment = "risk_assessment"
    self_harm_assessment = "self_harm_assessment"
    release_decision = "release_decision"
    call_person = "call_person"
    record_action = "record_action"
    delivery_failed = "delivery_failed"
    reassessment = "reassessment"
    self_harm_reassessment = "self_harm_reassessment"
    oral_report = "oral_report"
    written_report = "written_report"
    portal_submission = "portal_submission"
    inform_individual = "inform_individual"
    classify_request = "classify_request"
    counsel_review = "counsel_review"
    send_letter = "send_letter"
    record_assurance = "record_assurance"
    record_ruling = "record_ruling"
    respond_when_due = "respond_when_due"
    release_approval = "release_approval"
    verify_authorization = "verify_authorization"
    accounting_review = "accounting_review"
    accounting_final = "accounting_final"
    # The privacy officer's decision on a task locked by wrong approval codes.
    unlock_task = "unlock_task"


# Decisions: answers that decide whether, what or when something is disclosed, or whether a
# duty applies (an assessment the state's rule acts on at once). In the Web UI an answer is
# recorded as whoever `actor` names, so these, like every personal duty (`only_assignee`),
# need the per-person approval code e-mailed to that actor (workflows/task_board.py).
# Records of something a person did (a call, a letter mailed, an action carried out) are not
# decisions; counsel's advice is recorded, and the privacy officer decides on it.
DECISIONS: frozenset[TaskKind] = frozenset(
    {
        TaskKind.risk_assessment,
        TaskKind.self_harm_assessment,
        TaskKind.reassessment,
        TaskKind.self_harm_reassessment,
        TaskKind.release_decision,
        TaskKind.release_approval,
        TaskKind.written_report,
        TaskKind.inform_individual,
        TaskKind.classify_request,
        TaskKind.record_assurance,
        TaskKind.record_ruling,
        TaskKind.respond_when_due,
        TaskKind.verify_authorization,
        TaskKind.accounting_review,
        TaskKind.accounting_final,
        TaskKind.unlock_task,
    }
)


# The outcome that asks counsel instead of deciding (legal requests): the question goes in the
# completion's `note`; the task reopens at once with the same deadline.
ASK_COUNSEL = "ask_counsel"

FORMS: dict[TaskKind, type[_Form]] = {
    TaskKind.risk_assessment: RiskAssessmentForm,
    TaskKind.self_harm_assessment: SelfHarmAssessmentForm,
    TaskKind.release_decision: ReleaseDecisionForm,
    TaskKind.call_person: CallForm,
    TaskKind.record_action: ActionRecordForm,
    TaskKind.delivery_failed: DeliveryFailureForm,
    TaskKind.reassessment: RiskAssessmentForm,
    TaskKind.self_harm_reassessment: SelfHarmAssessmentForm,
    TaskKind.oral_report: OralReportForm,
    TaskKind.written_report: WrittenReportForm,
    TaskKind.portal_submission: PortalSubmissionForm,
    TaskKind.inform_individual: InformIndividualForm,
    TaskKind.classify_request: ClassificationForm,
    TaskKind.counsel_review: CounselReviewForm,
    TaskKind.send_letter: LetterForm,
    TaskKind.record_assurance: AssuranceForm,
    TaskKind.record_ruling: RulingForm,
    TaskKind.respond_when_due: ResponseForm,
    TaskKind.release_approval: ReleaseApprovalForm,
    TaskKind.verify_authorization: VerificationForm,
    TaskKind.accounting_review: AccountingReviewForm,
    TaskKind.accounting_final: AccountingReviewForm,
    TaskKind.unlock_task: UnlockForm,
}

# The first outcome is the default when the caller leaves `outcome` out.
OUTCOMES: dict[TaskKind, list[str]] = {
    TaskKind.risk_assessment: ["completed"],
    TaskKind.self_harm_assessment: ["completed"],
    TaskKind.release_decision: ["approve", "decline"],
    TaskKind.call_person: [o.value for o in CallOutcome],
    TaskKind.record_action: ["done", "not_done"],
    TaskKind.delivery_failed: ["delivered", "not_delivered"],
    TaskKind.reassessment: ["completed"],
    TaskKind.self_harm_reassessment: ["completed"],
    TaskKind.oral_report: ["reported"],
    TaskKind.written_report: ["submit"],
    TaskKind.portal_submission: ["submitted"],
    TaskKind.inform_individual: ["informed", "not_informed"],
    TaskKind.classify_request: ["valid", "defective", ASK_COUNSEL],
    TaskKind.counsel_review: ["advised"],
    TaskKind.send_letter: ["send", "mailed"],
    TaskKind.record_assurance: [
        "notice_given_no_objection",
        "qpo",
        "patient_objected",
        ASK_COUNSEL,
    ],
    TaskKind.record_ruling: ["objection_overruled", "subpoena_quashed"],
    TaskKind.respond_when_due: ["objection_sent", "extension_obtained"],
    TaskKind.release_approval: ["approve", "decline", ASK_COUNSEL],
    TaskKind.verify_authorization: ["verified", "not_verified"],
    TaskKind.accounting_review: ["deliver", "extend"],
    TaskKind.accounting_final: ["deliver"],
    TaskKind.unlock_task: ["unlock"],
}

# Ready-to-paste examples of `data`, shown in current details and GET /v1/cases.
EXAMPLES: dict[TaskKind, dict] = {
    TaskKind.risk_assessment: {
        "serious_threat": True,
        "identifiable_victims": True,
        "imminent": False,
        "notes": "",
        "discharge_plan": 0,
    },
    TaskKind.self_harm_assessment: {
        "risk_level": "moderate",
        "safety_plan_in_place": True,
        "notes": "",
    },
    TaskKind.release_decision: {"actions": [], "reason": "..."},
    TaskKind.call_person: {"called_at": "2026-11-27T11:00:00-08:00", "notes": ""},
    TaskKind.record_action: {"done_at": "2026-11-27T11:00:00-08:00", "details": "..."},
    TaskKind.delivery_failed: {"delivered_by": "phone", "details": ""},
    TaskKind.reassessment: {
        "serious_threat": False,
        "identifiable_victims": False,
        "imminent": False,
        "notes": "",
    },
    TaskKind.self_harm_reassessment: {
        "risk_level": "low",
        "safety_plan_in_place": True,
        "notes": "",
    },
    TaskKind.oral_report: {
        "agency": "County child protective services",
        "number_called": "+1-555-0300",
        "called_at": "2026-11-27T10:30:00-08:00",
        "taken_by": "Intake worker name",
        "reference_number": "",
    },
    TaskKind.written_report: {"reviewed": True, "corrections": ""},
    TaskKind.portal_submission: {
        "submitted_at": "2026-11-27T12:00:00-08:00",
        "confirmation_number": "...",
    },
    TaskKind.inform_individual: {
        "informed_at": "2026-11-27T12:00:00-08:00",
        "method": "in person",
        "notes": "",
    },
    TaskKind.classify_request: {
        "instrument": "attorney_subpoena",
        "signed": True,
        "issuer_has_jurisdiction": True,
        "names_psychotherapy_notes": False,
        "part2_compliant_order": False,
        "patient_waiver_on_record": False,
        "notes": "",
    },
    TaskKind.counsel_review: {"advice": "..."},
    TaskKind.send_letter: {"reviewed": True, "corrections": ""},
    TaskKind.record_assurance: {
        "received_at": "2026-12-01T12:00:00-08:00",
        "document": "Requester's written statement with proof of notice to the patient",
        "notes": "",
    },
    TaskKind.record_ruling: {"ruled_at": "2026-12-01T12:00:00-08:00", "summary": "..."},
    TaskKind.respond_when_due: {
        "done_at": "2026-12-01T12:00:00-08:00",
        "details": "Written objection served on the requester",
    },
    TaskKind.release_approval: {"documents": [], "redactions_reviewed": False, "reason": "..."},
    TaskKind.verify_authorization: {
        "identity_verified": True,
        "discloser_is_this_clinic": True,
        "method": "signature compared with the intake form and photo ID",
        "notes": "",
    },
    TaskKind.accounting_review: {"notes": ""},
    TaskKind.accounting_final: {"notes": ""},
    TaskKind.unlock_task: {"reason": "..."},
}
