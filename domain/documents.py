"""A patient's records as the records source lists them: what each document is, never its text.

The selection of what may leave (domain.release) works on these; the text stays in the records
source until the packet is built, so workflow history never carries a record's content.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class RecordCategory(StrEnum):
    """Record categories of the contract (DESIGN.md §3)."""

    progress_note = "progress_note"
    psychotherapy_note = "psychotherapy_note"
    assessment = "assessment"
    treatment_plan = "treatment_plan"
    medication = "medication"
    lab = "lab"
    correspondence = "correspondence"
    billing = "billing"
    sud_treatment = "sud_treatment"  # 42 CFR Part 2


class DocumentMeta(BaseModel):
    """One document of a patient's record: id, category, date, author and the flags that
    decide whether it may be released."""

    model_config = ConfigDict(frozen=True)
    id: str
    clinic_id: str
    patient_ref: str
    category: RecordCategory
    date: dt.date
    author: str
    title: str
    # 45 CFR 164.501: kept separate from the record; released only when expressly named.
    psychotherapy_note: bool = False
    # 42 CFR Part 2 (substance-use-disorder program record): never on a subpoena alone.
    part2: bool = False
    # Mentions other people (family, victims): released only after a redaction review.
    third_party: bool = False
    content_type: str = "text/plain"
    sha256: str

    @property
    def is_psychotherapy_note(self) -> bool:
        """The flag or the category: either makes it a psychotherapy note."""
        return self.psychotherapy_note or self.category == RecordCategory.psychotherapy_note

    @property
    def is_part2(self) -> bool:
        """The flag or the category: either makes it a Part 2 record."""
        return self.part2 or self.category == RecordCategory.sud_treatment
