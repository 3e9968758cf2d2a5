"""A task's answer is checked once, when it is given; replay and later runs read it as recorded.

The Update handler re-runs on every replay (its validator does not), and workflow code reads
stored answers again after a continue-as-new. If either re-validated with today's rules, a rule
tightened since would fail a completion already on record and wedge a case that is weeks into
its timers. These tests tighten every form and replay cases started before.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel, ValidationError, model_validator
from temporalio.api.common.v1 import Payload

import workflows.task_board
from audit.replay import replay_files
from domain.flags import Flag
from domain.forms import EXAMPLES, FORMS, PatientConsent, ReleaseDecisionForm, TaskKind
from domain.policy import Action
from domain.recorded import as_recorded
from domain.tasks import TaskCompletion
from harness.samples import flag_body
from infra.payloads import PayloadConverter, PayloadDoesNotFit

HISTORIES = Path(__file__).parent / "histories"
# Cases recorded with risk assessments, release decisions, phone calls, abuse reports and a
# continue-as-new: every workflow that reads a stored answer back.
STARTED_BEFORE = sorted(HISTORIES.glob("demo-clinic.HIST-*.json"))
SECRET = "Zebulon Quixote-Secret"


def tightened(model: type[BaseModel]) -> type[BaseModel]:
    """The form as a stricter release might define it: a new required field and a new rule
    that every answer recorded so far breaks."""

    class Tightened(model):  # type: ignore[valid-type, misc]
        added_since: str

        @model_validator(mode="after")
        def _rule_added_since(self) -> Tightened:
            raise ValueError("a rule added since the answer was given")

    Tightened.__name__ = model.__name__
    return Tightened


@pytest.fixture
def stricter_forms(monkeypatch):
    for kind, model in list(FORMS.items()):
        monkeypatch.setitem(FORMS, kind, tightened(model))


def test_the_tightened_forms_refuse_what_was_recorded(stricter_forms):
    # The premise of the replay test below: today's rules would refuse every recorded answer.
    for kind, example in EXAMPLES.items():
        with pytest.raises(ValidationError):
            FORMS[kind].model_validate(example)


@pytest.mark.parametrize("path", STARTED_BEFORE, ids=lambda p: p.stem)
async def test_a_case_started_before_replays_under_tightened_forms(path, stricter_forms):
    [(workflow_id, error)] = await replay_files([path])
    assert error is None, f"{workflow_id}: {error}"


async def test_re_validating_in_the_handler_would_break_that_replay(stricter_forms, monkeypatch):
    # The test above has teeth: a handler that parses with today's rules (what this replaced)
    # fails the same replay.
    def strict(task, done):
        return FORMS[task.kind].model_validate(done.data)

    monkeypatch.setattr(workflows.task_board, "recorded_form", strict)
    path = HISTORIES / "demo-clinic.HIST-V2-CA-MANDATORY.c1-threat_to_others.json"
    [(_, error)] = await replay_files([path])
    assert error is not None and "added_since" in error


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=lambda k: k.value)
def test_the_recorded_form_is_the_validators_parse(kind):
    # The handler stores the form built by as_recorded (live and on replay alike); it must
    # be what the validator accepted, value for value and type for type.
    strict = FORMS[kind].model_validate(EXAMPLES[kind])
    recorded = as_recorded(FORMS[kind], EXAMPLES[kind])
    assert recorded == strict
    assert {n: type(v) for n, v in recorded} == {n: type(v) for n, v in strict}


def test_nested_answers_are_typed_as_recorded():
    data = {
        "actions": ["warn_victim"],
        "reason": "x" * 5000,  # longer than today's limit: kept, not refused
        "patient_consent": {
            "given_by": "the patient",
            "given_at": "2026-11-27T10:00:00-08:00",
            "scope": "tell the victim",
            "actions": ["warn_victim"],
            "written": True,  # without the authorization_id today's rule asks for
        },
    }
    form = as_recorded(ReleaseDecisionForm, data)
    assert form.actions == [Action.warn_victim] and isinstance(form.actions[0], Action)
    assert len(form.reason) == 5000
    assert isinstance(form.patient_consent, PatientConsent)
    assert form.patient_consent.given_at.utcoffset() is not None
    assert form.patient_consent.authorization_id is None


def test_people_facing_models_never_echo_input_in_errors():
    for model, data in (
        (Flag, flag_body(patient={"name": SECRET, "dob": SECRET})),
        (FORMS[TaskKind.risk_assessment], {"serious_threat": SECRET}),
        (TaskCompletion, {"task_id": "t", "actor": "a", "data": {}, "notes": SECRET}),
    ):
        with pytest.raises(ValidationError) as e:
            model.model_validate(data)
        assert SECRET not in str(e.value), model.__name__


def test_a_payload_that_does_not_fit_names_fields_not_values():
    # A workflow input that no longer fits its model fails in the worker, and that failure's
    # message is stored in history in clear.
    converter = PayloadConverter()
    payload = Payload(
        metadata={"encoding": b"json/plain"},
        data=b'{"task_id": "t", "actor": "%s", "unknown": "%s"}'
        % (SECRET.encode(), SECRET.encode()),
    )
    with pytest.raises(PayloadDoesNotFit) as e:
        converter.from_payloads([payload], [TaskCompletion])
    assert "unknown" in str(e.value) and SECRET not in str(e.value)


def _models_in(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        for inner in _types_in(field.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in found:
                found += _models_in(inner)
    return found


def _types_in(annotation) -> list:
    args = get_args(annotation)
    return [annotation, *(t for a in args for t in _types_in(a))]


@pytest.mark.parametrize("model", sorted(set(FORMS.values()), key=lambda m: m.__name__))
def test_forms_keep_what_the_recorded_reading_needs(model):
    # domain/recorded.py builds the stored form without the validator's rules, live and on
    # replay alike; a rule that changed a value, or a union of models, would make the stored
    # form differ from what the validator accepted.
    for m in _models_in(model):
        changing = {"str_strip_whitespace", "str_to_lower", "str_to_upper"}
        assert not changing & {k for k, v in m.model_config.items() if v}, m.__name__
        for name, field in m.model_fields.items():
            for meta in field.metadata:
                for attr in ("strip_whitespace", "to_lower", "to_upper"):
                    assert not getattr(meta, attr, None), f"{m.__name__}.{name}"
            models = [
                t
                for t in _types_in(field.annotation)
                if isinstance(t, type) and issubclass(t, BaseModel)
            ]
            unions = [t for t in _types_in(field.annotation) if get_args(t)]
            assert len(models) <= 1 or not unions, f"{m.__name__}.{name}: a union of models"
