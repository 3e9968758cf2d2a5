"""The flagged-session contract (domain.flags): validation, fingerprint, case id."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from pydantic import ValidationError

from domain.flags import ConcernKind, Flag, case_id_for
from tests.support import flag_body


def rejected_fields(body: dict) -> set[str]:
    """The dotted locations pydantic rejects in a flag body (fails if it validates)."""
    with pytest.raises(ValidationError) as e:
        Flag.model_validate(body)
    return {".".join(str(p) for p in err["loc"]) for err in e.value.errors()}


def with_victim_email(email: str) -> dict:
    body = flag_body()
    body["concerns"][0]["victims"][0]["email"] = email
    return body


def test_sample_flag_validates():
    flag = Flag.model_validate(flag_body())
    assert flag.clinic_id == "demo-clinic"
    assert flag.flag_id == "F-1001"
    assert flag.jurisdiction == "US-CA"
    assert flag.flagged_at.utcoffset() == timedelta(hours=-8)
    assert flag.clinician.id == "dr-lee"
    assert flag.concerns[0].kind == ConcernKind.threat_to_others
    assert flag.concerns[0].victims[0].email == "casey@example.org"


def test_flagged_at_without_time_zone_offset_is_rejected():
    with pytest.raises(ValidationError, match="must include a time zone offset"):
        Flag.model_validate(flag_body(flagged_at="2026-11-27T10:15:00"))


def test_flagged_at_in_utc_is_accepted():
    flag = Flag.model_validate(flag_body(flagged_at="2026-11-27T18:15:00Z"))
    assert flag.flagged_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("jurisdiction", ["CA", "us-ca", "US-CALI", "US_CA", "USA-CA", "GB-"])
def test_jurisdiction_must_be_an_iso_3166_2_code(jurisdiction):
    assert rejected_fields(flag_body(jurisdiction=jurisdiction)) == {"jurisdiction"}


@pytest.mark.parametrize("jurisdiction", ["US-CA", "CA-ON", "GB-ENG"])
def test_jurisdictions_beyond_the_us_have_the_same_shape(jurisdiction):
    # Whether Confide has policy for it is the intake API's check (a 422 naming the field).
    assert Flag.model_validate(flag_body(jurisdiction=jurisdiction)).jurisdiction == jurisdiction


def test_unknown_top_level_field_is_rejected():
    assert rejected_fields(flag_body(priority="high")) == {"priority"}


def test_unknown_nested_field_is_rejected():
    body = flag_body()
    body["patient"]["ssn"] = "000-00-0000"
    assert rejected_fields(body) == {"patient.ssn"}


@pytest.mark.parametrize(
    "email", ["casey example@x.org", "@example.org", "casey@example", "casey@.org", "casey"]
)
def test_bad_victim_email_is_rejected(email):
    assert rejected_fields(with_victim_email(email)) == {"concerns.0.victims.0.email"}


@pytest.mark.parametrize("email", ["casey@@example.org", "a@b@example.org"])
def test_victim_email_with_two_at_signs_is_rejected(email):
    assert rejected_fields(with_victim_email(email)) == {"concerns.0.victims.0.email"}


def test_victim_without_email_is_accepted():
    body = flag_body()
    del body["concerns"][0]["victims"][0]["email"]
    assert Flag.model_validate(body).concerns[0].victims[0].email is None


def test_bad_patient_email_is_rejected():
    body = flag_body()
    body["patient"]["email"] = "jordan at example.org"
    assert rejected_fields(body) == {"patient.email"}


@pytest.mark.parametrize("flag_id", ["F/1001", "../F-1001", "F 1001", "F.1001", "", "F" * 65])
def test_flag_id_outside_the_safe_alphabet_is_rejected(flag_id):
    assert rejected_fields(flag_body(flag_id=flag_id)) == {"flag_id"}


def test_flag_id_of_64_safe_characters_is_accepted():
    flag_id = "A-b_9" * 12 + "Zz09"
    assert len(flag_id) == 64
    assert Flag.model_validate(flag_body(flag_id=flag_id)).flag_id == flag_id


def test_empty_concerns_are_rejected():
    assert rejected_fields(flag_body(concerns=[])) == {"concerns"}


def test_unknown_concern_kind_is_rejected():
    body = flag_body()
    body["concerns"][0]["kind"] = "gossip"
    assert rejected_fields(body) == {"concerns.0.kind"}


# ----------------------------------------------------------------------------- digest


def test_digest_is_equal_for_equal_bodies():
    first = Flag.model_validate(flag_body())
    second = Flag.model_validate(flag_body())
    assert first is not second
    assert first.digest() == second.digest()


def test_digest_ignores_the_order_of_keys_in_the_body():
    body = flag_body()
    reordered = dict(reversed(list(copy.deepcopy(body).items())))
    reordered["patient"] = dict(reversed(list(reordered["patient"].items())))
    assert Flag.model_validate(reordered).digest() == Flag.model_validate(body).digest()


def _change(path: tuple, value):
    def apply(body: dict) -> None:
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


@pytest.mark.parametrize(
    "change",
    [
        _change(("clinic_id",), "other-clinic"),
        _change(("flag_id",), "F-1002"),
        _change(("session_id",), "S-2002"),
        _change(("jurisdiction",), "US-TX"),
        _change(("flagged_at",), "2026-11-27T10:16:00-08:00"),
        _change(("clinician", "id"), "dr-other"),
        _change(("patient", "ref"), "P-302"),
        _change(("patient", "name"), "Jordan Exampel"),
        _change(("patient", "birth_date"), "1990-04-03"),
        _change(("patient", "phone"), "+1-555-0199"),
        _change(("concerns", 0, "kind"), "self_harm"),
        _change(("concerns", 0, "summary"), "Stated intent to hurt a neighbour tomorrow"),
        _change(("concerns", 0, "victims", 0, "name"), "Casey Riviera"),
        _change(("concerns", 0, "victims", 0, "email"), "casey2@example.org"),
        _change(("concerns", 0, "contacts"), [{"name": "Sam Example"}]),
    ],
)
def test_digest_changes_when_any_field_changes(change):
    body = flag_body()
    changed = copy.deepcopy(body)
    change(changed)
    assert changed != body
    assert Flag.model_validate(changed).digest() != Flag.model_validate(body).digest()


def test_digest_is_a_sha256_hex_string():
    digest = Flag.model_validate(flag_body()).digest()
    assert len(digest) == 64
    int(digest, 16)


# ----------------------------------------------------------------------------- case id


def test_case_id_joins_clinic_and_flag_id_with_a_dot():
    assert case_id_for("demo-clinic", "F-1001") == "demo-clinic.F-1001"


def test_case_id_differs_for_different_flags_of_one_clinic():
    assert case_id_for("demo-clinic", "F-1001") != case_id_for("demo-clinic", "F-1002")
    assert case_id_for("a", "b-c") != case_id_for("a-b", "c")


def test_clinic_with_an_unknown_time_zone_is_refused_at_load():
    import pytest as _pytest
    from pydantic import ValidationError

    from tests.support import demo_clinic

    data = demo_clinic().model_dump()
    data["timezone"] = "America/Los_Angles"
    with _pytest.raises(ValidationError, match="unknown time zone"):
        type(demo_clinic()).model_validate(data)
