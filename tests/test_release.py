"""Minimum-necessary selection: properties that hold for any record and any request
(hypothesis), and one table row per instrument type."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.documents import DocumentMeta, RecordCategory
from domain.legal_request import ORDER_LIKE, Instrument, RequestScope
from domain.release import select_release

DAYS = st.dates(min_value=dt.date(2022, 1, 1), max_value=dt.date(2026, 12, 31))


@st.composite
def documents(draw) -> list[DocumentMeta]:
    n = draw(st.integers(min_value=0, max_value=25))
    out = []
    for i in range(n):
        out.append(
            DocumentMeta(
                id=f"P-1.doc-{i}",
                clinic_id="c",
                patient_ref="P-1",
                category=draw(st.sampled_from(list(RecordCategory))),
                date=draw(DAYS),
                author="dr-lee",
                title="t",
                psychotherapy_note=draw(st.booleans()),
                part2=draw(st.booleans()),
                third_party=draw(st.booleans()),
                sha256=hashlib.sha256(str(i).encode()).hexdigest(),
            )
        )
    return out


@st.composite
def scopes(draw) -> RequestScope:
    a, b = sorted([draw(DAYS), draw(DAYS)])
    cats = draw(st.lists(st.sampled_from(list(RecordCategory)), min_size=1, unique=True))
    return RequestScope.model_validate(
        {
            "from": a,
            "to": b,
            "categories": cats,
            "psychotherapy_notes": RecordCategory.psychotherapy_note in cats,
            "part2_compliant_order": draw(st.booleans()),
        }
    )


@given(documents(), scopes(), st.sampled_from(list(Instrument)))
def test_never_releases_outside_the_range_or_the_named_categories(docs, scope, instrument):
    by_id = {d.id: d for d in docs}
    for doc_id in select_release(docs, scope, instrument).released:
        doc = by_id[doc_id]
        assert scope.from_ <= doc.date <= scope.to
        assert doc.category in scope.categories


@given(documents(), scopes(), st.sampled_from(list(Instrument)))
def test_never_a_psychotherapy_note_unless_named_by_a_court(docs, scope, instrument):
    by_id = {d.id: d for d in docs}
    notes = [
        i
        for i in select_release(docs, scope, instrument).released
        if by_id[i].is_psychotherapy_note
    ]
    if notes:
        assert scope.psychotherapy_notes and instrument in ORDER_LIKE


@given(documents(), scopes(), st.sampled_from(list(Instrument)))
def test_never_part2_unless_a_part2_compliant_court_order(docs, scope, instrument):
    by_id = {d.id: d for d in docs}
    part2 = [i for i in select_release(docs, scope, instrument).released if by_id[i].is_part2]
    if part2:
        assert instrument == Instrument.court_order and scope.part2_compliant_order


@given(documents(), scopes(), st.sampled_from(list(Instrument)))
def test_every_document_is_released_or_excluded_with_a_reason_and_third_parties_reviewed(
    docs, scope, instrument
):
    sel = select_release(docs, scope, instrument)
    excluded = {e.document_id for e in sel.excluded}
    assert sorted([*sel.released, *excluded]) == sorted(d.id for d in docs)
    assert not set(sel.released) & excluded
    assert all(e.reason for e in sel.excluded)
    by_id = {d.id: d for d in docs}
    assert sel.redaction_review == [i for i in sel.released if by_id[i].third_party]


@given(documents(), scopes(), st.sampled_from(list(Instrument)))
def test_an_ordinary_record_in_scope_is_released(docs, scope, instrument):
    """Minimum necessary, not minimum: what the request names and the law allows does go."""
    sel = select_release(docs, scope, instrument)
    for d in docs:
        plain = not (d.is_part2 or d.is_psychotherapy_note)
        if plain and scope.from_ <= d.date <= scope.to and d.category in scope.categories:
            assert d.id in sel.released


def doc(i: int, category: str, *, note=False, part2=False, third=False, year=2024) -> DocumentMeta:
    return DocumentMeta(
        id=f"d{i}",
        clinic_id="c",
        patient_ref="P",
        category=RecordCategory(category),
        date=dt.date(year, 6, 1),
        author="dr-lee",
        title="t",
        psychotherapy_note=note,
        part2=part2,
        third_party=third,
        sha256="0" * 64,
    )


CHART = [
    doc(1, "progress_note"),
    doc(2, "progress_note", third=True),
    doc(3, "psychotherapy_note", note=True),
    doc(4, "sud_treatment", part2=True),
    doc(5, "progress_note", part2=True),  # a progress note of a Part 2 program
    doc(6, "progress_note", year=2023),
    doc(7, "assessment"),
]
EVERYTHING = {
    "from": "2024-01-01",
    "to": "2024-12-31",
    "categories": ["progress_note", "psychotherapy_note", "sud_treatment"],
    "psychotherapy_notes": True,
    "part2_compliant_order": False,
}


@pytest.mark.parametrize(
    ("instrument", "part2_order", "released"),
    [
        (Instrument.court_order, False, ["d1", "d2", "d3"]),
        (Instrument.court_order, True, ["d1", "d2", "d3", "d4", "d5"]),
        (Instrument.judge_subpoena, False, ["d1", "d2", "d3"]),
        (Instrument.warrant, False, ["d1", "d2", "d3"]),
        (Instrument.attorney_subpoena, False, ["d1", "d2"]),
        (Instrument.administrative, False, ["d1", "d2"]),
    ],
)
def test_what_each_instrument_may_reach(instrument, part2_order, released):
    scope = RequestScope.model_validate({**EVERYTHING, "part2_compliant_order": part2_order})
    sel = select_release(CHART, scope, instrument)
    assert sel.released == released
    assert sel.redaction_review == ["d2"]
    reasons = {e.document_id: e.reason for e in sel.excluded}
    assert reasons["d6"] == "dated outside the requested range"
    assert reasons["d7"] == "category assessment is not named by the request"
    if instrument not in ORDER_LIKE:
        assert "never on a subpoena" in reasons["d3"]
    if not part2_order:
        assert "Part 2" in reasons["d4"] and "Part 2" in reasons["d5"]


def test_psychotherapy_notes_not_named_stay_out_even_under_an_order():
    scope = RequestScope.model_validate(
        {"from": "2024-01-01", "to": "2024-12-31", "categories": ["progress_note"]}
    )
    sel = select_release(CHART, scope, Instrument.court_order)
    assert sel.released == ["d1", "d2"]
    assert "does not name psychotherapy notes" in sel.reason("d3")


def test_policy_show_lists_the_subpoena_rules_and_what_is_unverified():
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    ca = runner.invoke(app, ["policy", "show", "US-CA"], env={"COLUMNS": "200"})
    assert ca.exit_code == 0, ca.output
    assert "Cal. Evid. Code 1014-1015" in ca.output and "5 days before production" in ca.output
    ny = runner.invoke(app, ["policy", "show", "US-NY"], env={"COLUMNS": "200"})
    assert "CPLR 4507" in ny.output
    # Vermont's research confirmed the court-order rule but not its own objection window: the
    # federal model is used and said to be unverified, not passed off as Vermont's.
    vt = runner.invoke(app, ["policy", "show", "US-VT"], env={"COLUMNS": "200"})
    assert "default (no state rule encoded)" not in vt.output
    assert (
        "18 V.S.A. 7103" in vt.output
        and "Unverified for this state; Confide uses the federal model" in vt.output
    )
    assert "no source confirmed the shortest lawful time to respond" in vt.output
    tn = runner.invoke(app, ["policy", "show", "US-TN"], env={"COLUMNS": "200"})
    assert "The patient may object within 21 days after service." in tn.output
    assert "At least 21 days: Tenn. R. Civ. P. 45.07(1)" in tn.output
