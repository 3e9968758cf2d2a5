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

from pydantic import BaseModel

from domain.documents import DocumentMeta
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


def exclusion_reason(doc: DocumentMeta, scope: RequestScope, instrument: Instrument) -> str | None:
    """Why this document may not be released under this request, or None if it may."""
    if not scope.from_ <= doc.date <= scope.to:
        return "dated outside the requested range"
    if doc.is_part2:
        if instrument != Instrument.court_order or not scope.part2_compliant_order:
            return "a Part 2 (substance-use) record: only a Part 2-compliant court order"
    if doc.is_psychotherapy_note:
        if not scope.psychotherapy_notes:
            return "a psychotherapy note: the request does not name psychotherapy notes"
        if instrument not in ORDER_LIKE:
            return "a psychotherapy note: never on a subpoena without a court's authority"
    if doc.category not in scope.categories:
        # A Part 2 progress note named by category is still Part 2 (checked above first).
        return f"category {doc.category.value} is not named by the request"
    return None


def select_release(
    documents: list[DocumentMeta], scope: RequestScope, instrument: Instrument
) -> Selection:
    """The minimum necessary set: every document the request names and the law lets go."""
    released, excluded, review = [], [], []
    for doc in sorted(documents, key=lambda d: (d.date, d.id)):
        reason = exclusion_reason(doc, scope, instrument)
        if reason is not None:
            excluded.append(Exclusion(document_id=doc.id, reason=reason))
            continue
        released.append(doc.id)
        if doc.third_party:
            review.append(doc.id)
    return Selection(released=released, excluded=excluded, redaction_review=review)
