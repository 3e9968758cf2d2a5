"""Human-task completion rules, escalation and rendering (domain.tasks) with the demo clinic."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from domain.clinic import Role, StaffMember
from domain.forms import ReleaseDecisionForm, RiskAssessmentForm, SelfHarmAssessmentForm, TaskKind
from domain.policy import Action
from domain.tasks import (
    Task,
    TaskCompletion,
    TaskRejected,
    TaskStatus,
    check_completion,
    completion_example,
    hash_code,
    next_escalation,
    render_details,
)
from tests.support import demo_clinic

PACIFIC = timezone(timedelta(hours=-8))
NOW = datetime(2026, 11, 27, 10, 15, tzinfo=PACIFIC)
SALT = "salt-7f3a"
KIM_CODE = "482913"
DIAZ_CODE = "771204"
SECRET = "Zebulon-Secret"

RISK_DATA = {"serious_threat": True, "identifiable_victims": True, "imminent": False}


@pytest.fixture(scope="module")
def clinic():
    return demo_clinic()


def risk_task(**overrides) -> Task:
    fields = {
        "task_id": "c1-1-risk_assessment",
        "kind": TaskKind.risk_assessment,
        "role": Role.clinician,
        "allowed_roles": [Role.clinician],
        "assignee": "dr-lee",
        "created_at": NOW,
        "due_at": NOW + timedelta(hours=4),
        "reminder_before": timedelta(hours=1),
        "escalate_every": timedelta(hours=1),
        "title": "Risk assessment (threat to others)",
        "instructions": "Assess the threat.",
        "choices": ["0", "1"],
    }
    fields.update(overrides)
    return Task(**fields)


def release_task(**overrides) -> Task:
    fields = {
        "task_id": "c1-2-release_decision",
        "kind": TaskKind.release_decision,
        "role": Role.supervisor,
        "allowed_roles": [Role.supervisor],
        "requester": "dr-lee",
        "four_eyes": True,
        "requires_code": True,
        "created_at": NOW,
        "due_at": NOW + timedelta(hours=2),
        "reminder_before": timedelta(hours=1),
        "escalate_every": timedelta(hours=1),
        "title": "Release decision",
        "instructions": "Approve a release set or decline.",
        "choices": ["warn_victim", "notify_law_enforcement"],
        "code_salt": SALT,
        "code_hashes": {
            "sup-kim": hash_code(SALT, KIM_CODE),
            "po-diaz": hash_code(SALT, DIAZ_CODE),
        },
    }
    fields.update(overrides)
    return Task(**fields)


def done(task_id: str = "c1-2-release_decision", actor: str = "sup-kim", **kw) -> TaskCompletion:
    return TaskCompletion(task_id=task_id, actor=actor, **kw)


def approve(actions=("warn_victim",), **kw) -> TaskCompletion:
    kw.setdefault("code", KIM_CODE)
    return done(outcome="approve", data={"actions": list(actions), "reason": "imminent"}, **kw)


# ----------------------------------------------------------------------------- who may complete


def test_unknown_task_is_rejected_with_its_id(clinic):
    with pytest.raises(TaskRejected, match=r"unknown task 'nope-9'"):
        check_completion(None, done(task_id="nope-9"), clinic)


@pytest.mark.parametrize("status", [TaskStatus.done, TaskStatus.cancelled])
def test_task_that_is_not_open_is_rejected(clinic, status):
    with pytest.raises(TaskRejected, match=f"already {status.value}"):
        check_completion(release_task(status=status), approve(), clinic)


def test_actor_not_on_the_roster_is_rejected(clinic):
    with pytest.raises(TaskRejected, match=r"actor is not a roster id of clinic demo-clinic"):
        check_completion(release_task(), approve(actor="mallory"), clinic)


def test_actor_without_an_allowed_role_is_rejected(clinic):
    # dr-lee is a clinician; the release decision needs a supervisor.
    with pytest.raises(TaskRejected, match=r"needs the role supervisor; dr-lee lacks it"):
        check_completion(release_task(), approve(actor="dr-lee"), clinic)


def test_any_of_several_allowed_roles_is_enough(clinic):
    task = release_task(allowed_roles=[Role.supervisor, Role.privacy_officer])
    form = check_completion(task, approve(actor="po-diaz", code=DIAZ_CODE), clinic)
    assert isinstance(form, ReleaseDecisionForm)


def test_four_eyes_rejects_the_requester_deciding_their_own_request(clinic):
    task = release_task(requester="sup-kim")
    with pytest.raises(TaskRejected, match=r"needs a second person: sup-kim requested it"):
        check_completion(task, approve(), clinic)


def test_requester_may_complete_when_four_eyes_is_off(clinic):
    task = release_task(requester="sup-kim", four_eyes=False)
    form = check_completion(task, approve(), clinic)
    assert form.actions == [Action.warn_victim]


# ----------------------------------------------------------------------------- outcome and form


@pytest.mark.parametrize("outcome", ["maybe", "completed", None])
def test_release_decision_outcome_must_be_approve_or_decline(clinic, outcome):
    completion = done(
        outcome=outcome, data={"actions": ["warn_victim"], "reason": "x"}, code=KIM_CODE
    )
    with pytest.raises(TaskRejected, match=r"outcome must be one of approve, decline"):
        check_completion(release_task(), completion, clinic)


def test_single_outcome_task_defaults_its_outcome(clinic):
    form = check_completion(
        risk_task(), done(task_id="c1-1-risk_assessment", actor="dr-lee", data=RISK_DATA), clinic
    )
    assert isinstance(form, RiskAssessmentForm)
    assert form.serious_threat is True and form.discharge_plan == 0


def test_single_outcome_task_rejects_another_outcome(clinic):
    completion = done(
        task_id="c1-1-risk_assessment", actor="dr-lee", outcome="approve", data=RISK_DATA
    )
    with pytest.raises(TaskRejected, match=r"outcome must be one of completed"):
        check_completion(risk_task(), completion, clinic)


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        (
            TaskKind.risk_assessment,
            {"serious_threat": SECRET, "identifiable_victims": True, "imminent": True},
            "serious_threat",
        ),
        (
            TaskKind.self_harm_assessment,
            {"risk_level": SECRET, "safety_plan_in_place": True},
            "risk_level",
        ),
        (TaskKind.call_person, {"called_at": SECRET}, "called_at"),
        (TaskKind.record_action, {"done_at": SECRET, "details": "x"}, "done_at"),
        (
            TaskKind.call_person,
            {"called_at": "2026-11-27T11:00:00-08:00", "number_called": SECRET * 4},
            "number_called",
        ),
    ],
)
def test_invalid_form_names_the_field_but_never_echoes_the_value(clinic, kind, data, field):
    task = risk_task(kind=kind, choices=[])
    outcome = {TaskKind.call_person: "reached", TaskKind.record_action: "done"}.get(kind)
    completion = done(task_id=task.task_id, actor="dr-lee", outcome=outcome, data=data)
    with pytest.raises(TaskRejected) as rejected:
        check_completion(task, completion, clinic)
    message = str(rejected.value)
    assert f"does not fit the {kind.value} form" in message
    assert field in message
    assert SECRET not in message


def test_release_action_outside_the_action_vocabulary_is_rejected_without_echo(clinic):
    with pytest.raises(TaskRejected) as rejected:
        check_completion(release_task(), approve(actions=[SECRET]), clinic)
    message = str(rejected.value)
    assert "actions.0" in message
    assert SECRET not in message


def test_unknown_form_field_is_rejected(clinic):
    data = {**RISK_DATA, "victim_name": "x"}
    with pytest.raises(TaskRejected, match=r"victim_name: Extra inputs are not permitted"):
        check_completion(
            risk_task(), done(task_id="c1-1-risk_assessment", actor="dr-lee", data=data), clinic
        )


def test_missing_required_form_field_is_rejected(clinic):
    with pytest.raises(TaskRejected, match=r"imminent: Field required"):
        check_completion(
            risk_task(),
            done(
                task_id="c1-1-risk_assessment",
                actor="dr-lee",
                data={"serious_threat": True, "identifiable_victims": True},
            ),
            clinic,
        )


# ----------------------------------------------------------------------------- approval codes


def test_missing_approval_code_is_rejected(clinic):
    with pytest.raises(TaskRejected, match=r"needs the approval code e-mailed to sup-kim"):
        check_completion(release_task(), approve(code=None), clinic)


def test_wrong_approval_code_is_rejected_without_echoing_it(clinic):
    with pytest.raises(TaskRejected, match=r"not the one e-mailed to sup-kim") as rejected:
        check_completion(release_task(), approve(code="999999"), clinic)
    assert "999999" not in str(rejected.value)


def test_another_actors_code_is_rejected(clinic):
    task = release_task(allowed_roles=[Role.supervisor, Role.privacy_officer])
    with pytest.raises(TaskRejected, match=r"not the one e-mailed to po-diaz"):
        check_completion(task, approve(actor="po-diaz", code=KIM_CODE), clinic)


def test_actor_without_an_issued_code_is_rejected(clinic):
    # Not counted as a wrong try (there is no code to guess): refused by the validator alone.
    task = release_task(code_hashes={"po-diaz": hash_code(SALT, DIAZ_CODE)})
    for compare in (True, False):
        with pytest.raises(TaskRejected, match=r"no approval code was e-mailed to sup-kim"):
            check_completion(task, approve(code=DIAZ_CODE), clinic, compare_code=compare)


def test_an_answer_before_the_codes_are_recorded_is_told_to_try_again_shortly(clinic):
    # The e-mail can reach its reader before the case records sending it (a retried send):
    # the refusal says to wait, not to go and fix the roster.
    task = release_task(code_hashes={})
    with pytest.raises(TaskRejected, match=r"still being sent: wait for the e-mail, then try"):
        check_completion(task, approve(code=KIM_CODE), clinic)


def test_right_approval_code_is_accepted_and_the_form_returned(clinic):
    form = check_completion(
        release_task(), approve(actions=["warn_victim", "notify_law_enforcement"]), clinic
    )
    assert isinstance(form, ReleaseDecisionForm)
    assert form.actions == [Action.warn_victim, Action.notify_law_enforcement]
    assert form.reason == "imminent"


def test_approval_code_is_accepted_with_surrounding_whitespace(clinic):
    form = check_completion(release_task(), approve(code=f"  {KIM_CODE}\n"), clinic)
    assert form.actions == [Action.warn_victim]


def test_hash_code_depends_on_salt_and_code():
    assert hash_code(SALT, KIM_CODE) == hash_code(SALT, KIM_CODE)
    assert hash_code(SALT, KIM_CODE) != hash_code("other-salt", KIM_CODE)
    assert hash_code(SALT, KIM_CODE) != hash_code(SALT, DIAZ_CODE)
    assert KIM_CODE not in hash_code(SALT, KIM_CODE)


# ----------------------------------------------------------------------------- choices


def test_approve_without_actions_is_rejected(clinic):
    with pytest.raises(
        TaskRejected,
        match=r"approve needs data.actions: one or more of "
        r"warn_victim, notify_law_enforcement",
    ):
        check_completion(release_task(), approve(actions=[]), clinic)


def test_decline_with_actions_is_rejected(clinic):
    completion = done(
        outcome="decline", data={"actions": ["warn_victim"], "reason": "no"}, code=KIM_CODE
    )
    with pytest.raises(TaskRejected, match=r"decline takes no data.actions"):
        check_completion(release_task(), completion, clinic)


def test_decline_with_a_reason_and_no_actions_is_accepted(clinic):
    completion = done(outcome="decline", data={"reason": "not imminent"}, code=KIM_CODE)
    form = check_completion(release_task(), completion, clinic)
    assert form.actions == [] and form.reason == "not imminent"


def test_approving_an_action_outside_the_tasks_choices_is_rejected(clinic):
    with pytest.raises(
        TaskRejected,
        match=r"not permitted in this case: initiate_hospitalization; approve only "
        r"warn_victim, notify_law_enforcement, or decline",
    ):
        check_completion(
            release_task(), approve(actions=["warn_victim", "initiate_hospitalization"]), clinic
        )


def test_texas_style_task_refuses_warning_the_victim(clinic):
    task = release_task(choices=["notify_law_enforcement", "notify_medical_personnel"])
    with pytest.raises(TaskRejected, match=r"not permitted in this case: warn_victim"):
        check_completion(task, approve(actions=["warn_victim"]), clinic)


def test_risk_assessment_discharge_plan_outside_choices_is_rejected(clinic):
    completion = done(
        task_id="c1-1-risk_assessment", actor="dr-lee", data={**RISK_DATA, "discharge_plan": 2}
    )
    with pytest.raises(TaskRejected, match=r"data.discharge_plan must be one of 0, 1"):
        check_completion(risk_task(), completion, clinic)


def test_risk_assessment_discharge_plan_inside_choices_is_accepted(clinic):
    completion = done(
        task_id="c1-1-risk_assessment", actor="dr-lee", data={**RISK_DATA, "discharge_plan": 1}
    )
    assert check_completion(risk_task(), completion, clinic).discharge_plan == 1


def test_risk_assessment_without_choices_does_not_check_the_plan(clinic):
    completion = done(
        task_id="c1-1-risk_assessment", actor="dr-lee", data={**RISK_DATA, "discharge_plan": 3}
    )
    assert check_completion(risk_task(choices=[]), completion, clinic).discharge_plan == 3


def test_self_harm_assessment_parses_its_form(clinic):
    task = risk_task(kind=TaskKind.self_harm_assessment, choices=[])
    completion = done(
        task_id=task.task_id,
        actor="dr-lee",
        data={"risk_level": "high", "safety_plan_in_place": False},
    )
    form = check_completion(task, completion, clinic)
    assert isinstance(form, SelfHarmAssessmentForm)
    assert form.risk_level == "high"


# ----------------------------------------------------------------------------- escalation


def test_next_escalation_climbs_clinician_supervisor_privacy_officer_then_stops():
    climbed = [next_escalation(risk_task(escalation_level=level)) for level in range(3)]
    assert climbed == [Role.supervisor, Role.privacy_officer, None]


def test_supervisor_task_escalates_to_privacy_officer_then_stops():
    assert next_escalation(release_task()) == Role.privacy_officer
    assert next_escalation(release_task(escalation_level=1)) is None


# ----------------------------------------------------------------------------- examples


def test_release_decision_example_includes_code_and_the_choices():
    example = completion_example(release_task())
    assert example["task_id"] == "c1-2-release_decision"
    assert example["actor"] == "<supervisor id>"
    assert example["outcome"] == "approve"
    assert example["data"]["actions"] == ["warn_victim", "notify_law_enforcement"]
    assert "code" in example


def test_example_without_code_requirement_has_no_code_and_names_the_assignee():
    example = completion_example(risk_task())
    assert "code" not in example
    assert example["actor"] == "dr-lee"
    assert example["outcome"] == "completed"


def test_risk_assessment_example_is_accepted_when_sent_as_is(clinic):
    example = completion_example(risk_task())
    form = check_completion(risk_task(), TaskCompletion.model_validate(example), clinic)
    assert isinstance(form, RiskAssessmentForm)


def test_an_oral_report_example_is_accepted_as_it_stands_a_week_later(clinic):
    # The clinic learned of it a week after the forms' sample dates: a fixed sample time would
    # be refused as "before the clinic learned of it".
    learned = NOW + timedelta(days=7, minutes=3)
    task = risk_task(
        task_id="c1-v1-dr-lee-oral_report",
        kind=TaskKind.oral_report,
        created_at=learned + timedelta(seconds=2),
        events_not_before=learned,
        due_at=learned + timedelta(hours=1),
    )
    example = completion_example(task)
    assert datetime.fromisoformat(example["data"]["called_at"]).utcoffset() == timedelta(hours=-8)
    form = check_completion(
        task, TaskCompletion.model_validate(example), clinic, now=learned + timedelta(minutes=5)
    )
    assert form.called_at == learned + timedelta(seconds=2)


def test_public_view_hides_code_hashes():
    view = release_task().public()
    dumped = view.model_dump_json()
    assert "code_hashes" not in dumped and "code_salt" not in dumped
    assert hash_code(SALT, KIM_CODE) not in dumped
    assert view.example["data"]["actions"] == ["warn_victim", "notify_law_enforcement"]


# ----------------------------------------------------------------------------- rendering


def test_render_details_lists_open_tasks_by_due_time_with_overdue_marker():
    late = risk_task(
        task_id="c1-1-risk_assessment",
        title="Late assessment",
        due_at=NOW + timedelta(hours=1),
        overdue=True,
    )
    later = release_task(title="Pending decision", due_at=NOW + timedelta(hours=3))
    finished = risk_task(task_id="c1-0-call_person", title="Finished call", status=TaskStatus.done)
    text = render_details(
        "## Case demo-clinic.F-1001", [later, finished, late], footer="Policy sha256:x"
    )
    lines = text.splitlines()
    assert lines[0] == "## Case demo-clinic.F-1001"
    assert "### Late assessment — **OVERDUE**" in lines
    assert "### Pending decision" in lines
    assert "Finished call" not in text
    assert "- due **2026-11-27T11:15-08:00**" in lines
    assert "- due **2026-11-27T13:15-08:00**" in lines
    assert text.index("Late assessment") < text.index("Pending decision")
    assert "`c1-2-release_decision` · supervisor" in text
    assert "(assigned: dr-lee)" in text
    assert '"code": "<code from the e-mail>"' in text
    assert lines[-1] == "Policy sha256:x"
    # In the clinic's zone, as the supervisor reads it, when the zone is given.
    pacific = render_details("h", [late], timezone="America/Los_Angeles").splitlines()
    assert "- due **Fri, Nov 27, 2026, 11:15 AM PST**" in pacific


def test_render_details_marks_only_overdue_tasks():
    text = render_details("h", [risk_task(overdue=False)])
    assert "OVERDUE" not in text
    assert "### Risk assessment (threat to others)" in text.splitlines()


def test_render_details_says_when_nothing_is_open():
    text = render_details("h", [risk_task(status=TaskStatus.done)])
    assert "No open tasks." in text
    assert "###" not in text


# -- legal requests -------------------------------------------------------------------------


def legal_task(kind: TaskKind, **overrides) -> Task:
    fields = {
        "task_id": f"l-{kind.value}",
        "kind": kind,
        "role": Role.privacy_officer,
        "allowed_roles": [Role.privacy_officer],
        "created_at": NOW,
        "due_at": NOW + timedelta(days=2),
        "reminder_before": timedelta(hours=24),
        "escalate_every": timedelta(hours=24),
        "title": "t",
        "instructions": "i",
    }
    fields.update(overrides)
    return Task(**fields)


def legal_done(task: Task, outcome: str, data: dict | None = None, **kw) -> TaskCompletion:
    return TaskCompletion(
        task_id=task.task_id, actor="po-diaz", outcome=outcome, data=data or {}, **kw
    )


APPROVAL = legal_task(
    TaskKind.release_approval,
    choices=["d1", "d2"],
    choice_notes={"d2": "mentions other people: review the redactions", "d9": "a Part 2 record"},
)


def test_adding_a_record_outside_the_computed_scope_is_refused_with_its_reason(clinic):
    with pytest.raises(
        TaskRejected, match=r"data.documents\[1\] is outside the computed release scope: a Part 2"
    ):
        check_completion(
            APPROVAL,
            legal_done(APPROVAL, "approve", {"documents": ["d1", "d9"], "reason": "x"}),
            clinic,
        )
    with pytest.raises(TaskRejected, match="not a document of this patient's record"):
        check_completion(
            APPROVAL, legal_done(APPROVAL, "approve", {"documents": ["zz"], "reason": "x"}), clinic
        )


def test_removing_records_is_allowed_and_third_parties_need_the_redaction_review(clinic):
    check_completion(
        APPROVAL, legal_done(APPROVAL, "approve", {"documents": ["d1"], "reason": "x"}), clinic
    )
    with pytest.raises(TaskRejected, match="d2 mentions other people"):
        check_completion(
            APPROVAL, legal_done(APPROVAL, "approve", {"documents": ["d2"], "reason": "x"}), clinic
        )
    check_completion(
        APPROVAL,
        legal_done(
            APPROVAL, "approve", {"documents": ["d2"], "redactions_reviewed": True, "reason": "x"}
        ),
        clinic,
    )


def test_a_classification_must_agree_with_the_request_as_received(clinic):
    task = legal_task(TaskKind.classify_request, expected={"instrument": "attorney_subpoena"})
    data = {
        "instrument": "court_order",
        "signed": True,
        "issuer_has_jurisdiction": True,
        "names_psychotherapy_notes": False,
        "part2_compliant_order": False,
    }
    with pytest.raises(TaskRejected, match="data.instrument contradicts the request"):
        check_completion(task, legal_done(task, "valid", data), clinic)
    check_completion(
        task, legal_done(task, "valid", {**data, "instrument": "attorney_subpoena"}), clinic
    )


def test_an_outcome_held_to_a_time_is_refused_before_it(clinic):
    window = NOW + timedelta(days=5)
    task = legal_task(
        TaskKind.record_assurance, outcome_not_before={"notice_given_no_objection": window}
    )
    data = {"received_at": NOW.isoformat(), "document": "statement"}
    with pytest.raises(TaskRejected, match="not possible before"):
        check_completion(task, legal_done(task, "notice_given_no_objection", data), clinic, NOW)
    check_completion(task, legal_done(task, "qpo", data), clinic, NOW)
    check_completion(
        task, legal_done(task, "notice_given_no_objection", data), clinic, window + timedelta(1)
    )


def test_asking_counsel_needs_a_question_and_a_counsel_on_the_roster(clinic):
    task = legal_task(TaskKind.classify_request)
    with pytest.raises(TaskRejected, match="needs the question in `note`"):
        check_completion(task, legal_done(task, "ask_counsel"), clinic)
    check_completion(task, legal_done(task, "ask_counsel", note="valid here?"), clinic)
    no_counsel = clinic.model_copy(
        update={"staff": [s for s in clinic.staff if Role.counsel not in s.roles]}
    )
    with pytest.raises(TaskRejected, match="no counsel on its roster"):
        check_completion(task, legal_done(task, "ask_counsel", note="q"), no_counsel)


def test_counsel_tasks_do_not_climb_the_clinical_ladder():
    task = legal_task(TaskKind.counsel_review, role=Role.counsel, allowed_roles=[Role.counsel])
    assert next_escalation(task) is None


def test_a_recorded_consent_names_who_and_its_authorization_and_is_not_in_the_future(clinic):
    task = risk_task()
    consent = {
        "given_by": "the patient",
        "given_at": NOW.isoformat(),
        "scope": "tell the police",
        "actions": ["notify_law_enforcement"],
        "written": True,
    }
    done = TaskCompletion(
        task_id=task.task_id,
        actor="dr-lee",
        data={**RISK_DATA, "discharge_plan": 0, "patient_consent": consent},
    )
    with pytest.raises(TaskRejected, match="a written consent names its authorization_id"):
        check_completion(task, done, clinic, NOW)
    consent["authorization_id"] = "A-77"
    consent["given_at"] = (NOW + timedelta(days=1)).isoformat()
    with pytest.raises(TaskRejected, match="data.patient_consent.given_at is in the future"):
        check_completion(task, done, clinic, NOW)
    consent["given_at"] = NOW.isoformat()
    check_completion(task, done, clinic, NOW)


def test_a_decision_brief_escapes_what_people_wrote():
    """The Web UI renders Current Details as markdown passing raw HTML: a summary or a note
    holding markup must reach the supervisor as text, not run in the UI."""
    from domain.decision_brief import Option, ReleaseBrief
    from domain.forms import RiskAssessmentForm
    from domain.policy import Action

    brief = ReleaseBrief(
        summary='<img src=x onerror="alert(1)">',
        assessment=RiskAssessmentForm(
            serious_threat=True, identifiable_victims=True, imminent=False, notes="<b>x</b>"
        ),
        assessor="Dr. Lee (dr-lee)",
        assessed_at=NOW,
        timezone="America/Los_Angeles",
        options=[
            Option(action=Action.warn_victim, reaches="<script>x</script>", reaches_unnamed="-")
        ],
    ).render()
    assert "<img" not in brief and "<b>" not in brief and "<script>" not in brief
    assert "&lt;img src=x" in brief and "&lt;b&gt;x&lt;/b&gt;" in brief
    assert "- Imminent: no" in brief and "on Fri, Nov 27, 2026, 10:15 AM PST" in brief
    assert "- `warn_victim`: warn the person at risk — " in brief


def test_a_decision_brief_for_current_details_names_no_one():
    from domain.decision_brief import Option, ReleaseBrief
    from domain.forms import RiskAssessmentForm
    from domain.policy import Action

    brief = ReleaseBrief(
        summary="Zebediah Quux threatened his neighbour",
        assessment=RiskAssessmentForm(
            serious_threat=True, identifiable_victims=True, imminent=True, notes="Quux's notes"
        ),
        assessor="Dr. Lee (dr-lee)",
        assessed_at=NOW,
        timezone="America/Los_Angeles",
        options=[
            Option(
                action=Action.warn_victim,
                reaches="Ada Neighbour (ada@example.org)",
                reaches_unnamed="the person at risk named in the flag",
            )
        ],
    )
    shown = brief.render(with_patient_data=False)
    assert "Quux" not in shown and "Ada" not in shown and "neighbour" not in shown
    assert "the person at risk named in the flag" in shown and "- Imminent: yes" in shown
    assert "Quux" in brief.render() and brief.view()["assessment"]["Notes"] == "Quux's notes"


def test_the_ready_answer_names_the_assignee_never_another_eligible_person(clinic):
    """An answer without a code is recorded as whoever `actor` names: with two clinicians on
    the roster, the assigned one's id, not the first on the roster."""
    other = StaffMember(
        id="dr-adams", name="Dr. Adams", email="adams@demo-clinic.test", roles=[Role.clinician]
    )
    two = clinic.model_copy(update={"staff": [other, *clinic.staff]})
    text = render_details("h", [risk_task()], clinic=two)
    assert '"actor": "dr-lee"' in text and '"actor": "dr-adams"' not in text
    unassigned = risk_task(assignee=None)
    assert '"actor": "<clinician id>"' in render_details("h", [unassigned], clinic=two)


# ----------------------------------------------------------------- approval codes (issue 12)


def test_every_decision_and_personal_duty_needs_a_code_records_of_acts_do_not():
    from domain.forms import DECISIONS
    from domain.tasks import needs_code

    for kind in TaskKind:
        task = risk_task(kind=kind, choices=[])
        assert needs_code(task) == (kind in DECISIONS), kind
    assert TaskKind.risk_assessment in DECISIONS and TaskKind.release_approval in DECISIONS
    assert TaskKind.call_person not in DECISIONS and TaskKind.record_action not in DECISIONS
    # A personal duty, whatever its kind (the oral report of abuse).
    assert needs_code(risk_task(kind=TaskKind.oral_report, only_assignee=True, choices=[]))


def test_the_validator_lets_a_wrong_code_through_to_be_counted_but_not_a_missing_one(clinic):
    task = release_task()
    check_completion(task, approve(code="AAAA-BBBB-CCCC-DDDD"), clinic, compare_code=False)
    with pytest.raises(TaskRejected, match="needs the approval code e-mailed to sup-kim"):
        check_completion(task, approve(code=None), clinic, compare_code=False)


def test_a_wrong_code_is_told_the_tries_left_and_a_locked_task_refuses_everyone(clinic):
    from domain.tasks import MAX_CODE_TRIES, locked_refusal, wrong_code_refusal

    task = release_task(wrong_codes=3)
    assert "(2 tries remain before the task locks)" in wrong_code_refusal(task, "sup-kim")
    assert "(1 try remains" in wrong_code_refusal(release_task(wrong_codes=4), "sup-kim")
    locked = release_task(wrong_codes=MAX_CODE_TRIES, locked=True, unlock_task_id="t-unlock1")
    assert "now locked" in wrong_code_refusal(locked, "sup-kim")
    for who in ("sup-kim", "po-diaz"):
        code = KIM_CODE if who == "sup-kim" else DIAZ_CODE
        with pytest.raises(TaskRejected, match="is locked after 5 wrong approval codes"):
            check_completion(locked, approve(actor=who, code=code), clinic)
    assert "(task t-unlock1)" in locked_refusal(locked)
    # Neither the code typed nor the hashes reach the message or the public view.
    assert "482913" not in wrong_code_refusal(task, "sup-kim")
    assert "code_hashes" not in locked.public().model_dump_json()


def test_asking_counsel_needs_no_code():
    from domain.tasks import code_required

    task = release_task(kind=TaskKind.release_approval)
    assert not code_required(task, done(outcome="ask_counsel", note="may we?"))
    assert code_required(task, done(outcome="approve"))


def test_an_assigned_task_mails_a_code_to_its_assignee_only_until_it_escalates(clinic):
    from domain.tasks import code_recipients, eligible_actors

    both = StaffMember(id="dr-ray", name="Dr. Ray", email="ray@x.test", roles=[Role.clinician])
    roster = clinic.model_copy(update={"staff": [*clinic.staff, both]})
    task = risk_task(requires_code=True)
    assert [s.id for s in code_recipients(task, roster, task.allowed_roles)] == ["dr-lee"]
    assert eligible_actors(task, roster) == ["dr-lee"]
    with pytest.raises(TaskRejected, match="assigned to dr-lee, who alone has a code"):
        check_completion(
            task,
            TaskCompletion(task_id=task.task_id, actor="dr-ray", data=RISK_DATA, code="X"),
            roster,
        )
    # Escalated to the supervisor: they get codes and may act; dr-ray still may not.
    task.allowed_roles.append(Role.supervisor)
    assert [s.id for s in code_recipients(task, roster, [Role.supervisor])] == ["sup-kim"]
    assert eligible_actors(task, roster) == ["dr-lee", "sup-kim"]
    # Without codes (tasks opened before issue 12) every clinician may, as before.
    assert eligible_actors(risk_task(), roster) == ["dr-lee", "dr-ray"]


def test_current_details_show_a_locked_task_and_the_wrong_codes_so_far(clinic):
    counted = render_details("## Case", [release_task(wrong_codes=2)], clinic=clinic)
    assert "2 wrong approval codes sent; it locks at 5" in counted
    locked = render_details(
        "## Case",
        [release_task(wrong_codes=5, locked=True, unlock_task_id="c1-2-release_decision-unlock1")],
        clinic=clinic,
    )
    assert "**LOCKED**" in locked and "c1-2-release_decision-unlock1" in locked
