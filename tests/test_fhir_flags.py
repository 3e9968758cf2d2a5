"""A FHIR Flag read into Confide's flag (intake.fhir_flags): what is taken from where, what is
not Confide's, and refusals that name the field and never a value (they reach history)."""

from __future__ import annotations

import pytest

from harness import demo_clinic
from infra.fhir_common import confide_key, fhir_id, flag_key, split_reference
from intake.fhir_flags import (
    CONCERN_SYSTEM,
    CONTACT,
    VICTIM,
    FlagNotUsable,
    FlagRead,
    NotConfides,
    author_reference,
    confide_flag,
)

PATIENT = {
    "resourceType": "Patient",
    "id": "pat.77",
    "name": [
        {"use": "old", "text": "Jordan Oldname"},
        {"given": ["Jordan", "Q"], "family": "Example"},
    ],
    "birthDate": "1990-04-02",
    "telecom": [
        {"system": "phone", "value": "+1-555-0100", "use": "old"},
        {"system": "phone", "value": "+1-555-0101"},
    ],
}
CHILD = {
    "resourceType": "RelatedPerson",
    "id": "child-1",
    "patient": {"reference": "Patient/pat.77"},
    "name": [{"given": ["Sam"], "family": "Example"}],
    "birthDate": "2018-12-06",
    "address": [{"line": ["1 Main St"], "city": "Demo City", "state": "CA"}],
    "relationship": [{"coding": [{"display": "son"}]}],
}
SISTER = {
    "resourceType": "RelatedPerson",
    "id": "sister",
    "patient": {"reference": "Patient/pat.77"},
    "name": [{"text": "Riley Example"}],
    "telecom": [{"system": "email", "value": "riley@example.org"}],
}


def flag(**over):
    body = {
        "resourceType": "Flag",
        "id": "f.1",
        "status": "active",
        "code": {
            "coding": [{"system": CONCERN_SYSTEM, "code": "child_abuse"}],
            "text": "  Disclosed that her son is hit at home  ",
        },
        "subject": {"reference": "Patient/pat.77"},
        "encounter": {"reference": "Encounter/e1"},
        "author": {"reference": "Practitioner/dr-lee"},
        "meta": {"lastUpdated": "2026-12-05T18:15:00Z"},
        "extension": [
            {"url": VICTIM, "valueReference": {"reference": "RelatedPerson/child-1"}},
            {"url": CONTACT, "valueReference": {"reference": "RelatedPerson/sister"}},
            {"url": "https://vendor.example/ext", "valueString": "kept out"},
        ],
    }
    body.update(over)
    return body


def read(**over) -> FlagRead:
    fields = {
        "flag": flag(),
        "patient": PATIENT,
        "encounter": {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
        },
        "practitioner": {"resourceType": "Practitioner", "id": "dr-lee"},
        "people": {"RelatedPerson/child-1": CHILD, "RelatedPerson/sister": SISTER},
    }
    fields.update(over)
    return FlagRead(**fields)


def test_a_flag_becomes_the_flag_post_v1_flags_takes():
    f = confide_flag(read(), demo_clinic())
    assert f.flag_id == "fhir-f_1" and f.clinic_id == "demo-clinic" and f.jurisdiction == "US-CA"
    assert f.session_id == "e1" and f.clinician.id == "dr-lee"
    # No period: the Flag's lastUpdated is when it was raised.
    assert f.flagged_at.isoformat() == "2026-12-05T18:15:00+00:00"
    # The current name and phone, not the old ones; "." in a FHIR id becomes "_" and back.
    assert f.patient.name == "Jordan Q Example" and f.patient.phone == "+1-555-0101"
    assert f.patient.ref == "pat_77" and fhir_id(f.patient.ref) == "pat.77"
    [concern] = f.concerns
    assert (
        concern.kind == "child_abuse" and concern.summary == "Disclosed that her son is hit at home"
    )
    [child] = concern.victims
    # Seven the day before the birthday.
    assert child.age == 7 and child.relationship == "son"
    assert child.address == "1 Main St, Demo City, CA"
    [sister] = concern.contacts
    assert sister.email == "riley@example.org"


def test_the_roster_id_can_come_from_an_identifier_and_the_author_from_the_encounter():
    practitioner = {
        "resourceType": "Practitioner",
        "id": "pr-991",
        "identifier": [{"system": "urn:clinic:staff", "value": "dr-lee"}],
    }
    f = confide_flag(read(practitioner=practitioner), demo_clinic(), "urn:clinic:staff")
    assert f.clinician.id == "dr-lee"
    assert confide_flag(read(practitioner=practitioner), demo_clinic()).clinician.id == "pr-991"
    no_author = flag()
    del no_author["author"]
    encounter = {"participant": [{"individual": {"reference": "Practitioner/pr-5"}}]}
    assert author_reference(no_author, encounter) == "Practitioner/pr-5"
    assert author_reference(no_author, None) is None


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        (
            {"code": {"coding": [{"system": "http://snomed.info/sct", "code": "129839007"}]}},
            "no Confide concern code",
        ),
        ({"status": "inactive"}, "not active"),
    ],
)
def test_flags_that_are_not_confides_open_nothing(over, reason):
    with pytest.raises(NotConfides, match=reason):
        confide_flag(read(flag=flag(**over)), demo_clinic())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"flag": flag(code={"coding": [{"system": CONCERN_SYSTEM, "code": "self_harm"}]})},
            "code.text is empty",
        ),
        ({"people": {}}, "a victim of the Flag could not be read from the EHR"),
        ({"practitioner": None}, "names no Practitioner"),
        ({"patient": {"resourceType": "Patient", "id": "p"}}, "patient has no name"),
        (
            {"flag": flag(meta=None, period={"start": "2026-12-05"})},
            "neither a period.start with a time zone nor a meta.lastUpdated",
        ),
        (
            {
                "people": {
                    "RelatedPerson/child-1": CHILD,
                    "RelatedPerson/sister": {
                        **SISTER,
                        "telecom": [{"system": "email", "value": "riley at example"}],
                    },
                }
            },
            "a contact's email is unusable: Value error, must not contain spaces",
        ),
    ],
)
def test_an_unusable_flag_is_refused_naming_the_field_never_the_value(fields, message):
    with pytest.raises(FlagNotUsable, match=message) as e:
        confide_flag(read(**fields), demo_clinic())
    for phi in ("Jordan", "Example", "riley", "hit at home", "1990"):
        assert phi not in str(e.value)


def test_ids_and_references():
    assert confide_key("a.b-c") == "a_b-c" and fhir_id("a_b-c") == "a.b-c"
    long_id = "x" * 64
    assert len(flag_key(long_id)) <= 64 and flag_key(long_id).startswith("fhir-")
    assert flag_key(long_id) == flag_key(long_id) != flag_key("y" * 64)
    assert split_reference("https://ehr.test/fhir/Flag/9/_history/3") == ("Flag", "9")
    assert split_reference("Flag/9") == ("Flag", "9")
    assert split_reference("#contained") is None and split_reference("Flag") is None
