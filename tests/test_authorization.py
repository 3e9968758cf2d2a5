"""164.508(c) validation of authorizations: each missing element is named by its field; a
psychotherapy-note authorization combined with another is defective."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.authorization import Authorization, problems
from tests.support import authorization_body

TODAY = dt.date(2026, 12, 4)


def found(**overrides) -> list[str]:
    return problems(Authorization.model_validate(authorization_body(**overrides)), TODAY)


def test_the_sample_authorization_is_complete():
    assert found() == []


@pytest.mark.parametrize(
    ("overrides", "field", "paragraph"),
    [
        ({"information": None}, "information", "164.508(c)(1)(i)"),
        ({"information": {"categories": []}}, "information", "164.508(c)(1)(i)"),
        ({"discloser": None}, "discloser", "164.508(c)(1)(ii)"),
        ({"recipient": None}, "recipient.name", "164.508(c)(1)(iii)"),
        ({"purpose": ""}, "purpose", "164.508(c)(1)(iv)"),
        ({"expires_at": None}, "expires_at or expiry_event", "164.508(c)(1)(v)"),
        ({"signed_by": None}, "signed_by.name", "164.508(c)(1)(vi)"),
        ({"signed_at": None}, "signed_at", "164.508(c)(1)(vi)"),
        (
            {"signed_by": {"name": "Pat Example", "relationship": "parent"}},
            "signed_by.authority",
            "164.508(c)(1)(vi)",
        ),
        (
            {"statements": {"conditioning": True, "redisclosure": True}},
            "statements.right_to_revoke",
            "164.508(c)(2)(i)",
        ),
        (
            {"statements": {"right_to_revoke": True, "redisclosure": True}},
            "statements.conditioning",
            "164.508(c)(2)(ii)",
        ),
        (
            {"statements": {"right_to_revoke": True, "conditioning": True}},
            "statements.redisclosure",
            "164.508(c)(2)(iii)",
        ),
    ],
)
def test_each_missing_element_is_named_by_field_and_paragraph(overrides, field, paragraph):
    [problem] = found(**overrides)
    assert problem.startswith(f"{field}: ") and paragraph in problem


def test_an_expiry_event_stands_in_for_a_date():
    assert found(expires_at=None, expiry_event="end of the custody proceeding") == []


def test_psychotherapy_notes_combined_with_anything_else_is_defective():
    combined = found(
        information={
            "from": "2024-01-01",
            "to": "2025-12-31",
            "categories": ["psychotherapy_note", "assessment"],
            "psychotherapy_notes": True,
        }
    )
    assert any(
        p.startswith("information.categories:") and "164.508(b)(3)(ii)" in p for p in combined
    )
    alone = found(
        information={
            "from": "2024-01-01",
            "to": "2025-12-31",
            "categories": ["psychotherapy_note"],
            "psychotherapy_notes": True,
        }
    )
    assert alone == []


def test_dates_that_cannot_be_right_are_named():
    assert found(signed_at="2026-12-25") == ["signed_at: is in the future"]
    assert found(expires_at="2026-11-01") == ["expires_at: before signed_at"]
    assert found(expires_at="2026-12-01", signed_at="2026-11-01") == [
        "expires_at: the authorization has already expired"
    ]


def test_a_representative_with_a_stated_authority_is_complete():
    signer = {"name": "Pat Example", "relationship": "parent", "authority": "parent of a minor"}
    assert found(signed_by=signer) == []
