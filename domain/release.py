"""Minimum-necessary selection: which of a patient's documents a legal request may release.

A pure function of the documents' metadata and the instrument, so the workflow, the release
approval's validator and the property tests all apply the same rules (DESIGN.md §1):
- never a document dated outside the requested range or of a category the request does not name;
- never a psychotherapy note unless the instrument names them and carries a court's authority
  (45 CFR 164.508(a)(2): without an authorization only where required by law);
- never a Part 2 record unless a court order says it is Part 2-compliant (42 CFR 2.61, 2.64);
- documents mentioning third parties are released only after a redaction review.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from domain.documents import DocumentMeta, RecordCategory
from domain.legal_request import ORDER_LIKE, Instrument, RequestScope


class Exclusion(BaseModel):
    """A document left out, and the reason a privacy officer reads."""

    document_id: str
    reason: str


class Selection(BaseModel):
    """The computed release set: ids in date order, what was left out and why, and which of
    the released ones need a redaction review first."""

    released: list[str]
    excluded: list[Exclusion]
    redaction_review: list[str]

    def reason(self, document_id: str) -> str:
        """Why a document is outside the release set (for a refused addition)."""
        found = next((e.reason for e in self.excluded if e.document_id == document_id), None)
        return found or "not a document of this patient's record"


class ReleaseAuthority(BaseModel):
    """What the instrument behind a release lets out beyond its named range and categories:
    None where it lets a kind of record out, else the reason that kind stays in."""

    psychotherapy_notes: str | None
    part2: str | None


def legal_authority(scope: RequestScope, instrument: Instrument) -> ReleaseAuthority:
    """Court orders, subpoenas, warrants, administrative requests (164.512(e), 42 CFR 2.61)."""
    if not scope.psychotherapy_notes:
        notes: str | None = "a psychotherapy note: the request does not name psychotherapy notes"
    elif instrument not in ORDER_LIKE:
        notes = "a psychotherapy note: never on a subpoena without a court's authority"
    else:
        notes = None
    part2_ok = instrument == Instrument.court_order and scope.part2_compliant_order
    return ReleaseAuthority(
        psychotherapy_notes=notes,
        part2=None
        if part2_ok
        else "a Part 2 (substance-use) record: only a Part 2-compliant court order",
    )


def exclusion_reason(
    doc: DocumentMeta,
    span: tuple[dt.date, dt.date],
    categories: list[RecordCategory],
    authority: ReleaseAuthority,
) -> str | None:
    """Why this document may not be released, or None if it may."""
    if not span[0] <= doc.date <= span[1]:
        return "dated outside the requested range"
    if doc.is_part2 and authority.part2 is not None:
        return authority.part2
    if doc.is_psychotherapy_note and authority.psychotherapy_notes is not None:
        return authority.psychotherapy_notes
    if doc.category not in categories:
        # A Part 2 progress note named by category is still Part 2 (checked above first).
        return f"category {doc.category.value} is not named by the request"
    return None


def select(
    documents: list[DocumentMeta],
    span: tuple[dt.date, dt.date],
    categories: list[RecordCategory],
    authority: ReleaseAuthority,
) -> Selection:
    """The minimum necessary set: every document named and let out, in date order."""
    released, excluded, review = [], [], []
    for doc in sorted(documents, key=lambda d: (d.date, d.id)):
        reason = exclusion_reason(doc, span, categories, authority)
        if reason is not None:
            excluded.append(Exclusion(document_id=doc.id, reason=reason))
            continue
        released.append(doc.id)
        if doc.third_party:
            review.append(doc.id)
    return Selection(released=released, excluded=excluded, redaction_review=review)


def select_release(
    documents: list[DocumentMeta], scope: RequestScope, instrument: Instrument
) -> Selection:
    """The release set of a legal request."""
    return select(
        documents, (scope.from_, scope.to), scope.categories, legal_authority(scope, instrument)
    )
