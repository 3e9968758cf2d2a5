"""Jurisdiction codes: ISO 3166-2 subdivisions ("US-CA", "CA-ON", "GB-ENG").

A jurisdiction is the country and the subdivision whose law a clinic practises under. The code
is the one standard every source uses (the `holidays` library's country and subdivision
arguments, the policy data's keys), so a new country is data, never a code change: its rules
in domain/policy_data and its holidays from the library.
"""

from __future__ import annotations

import re
from typing import Annotated, NamedTuple

from pydantic import StringConstraints

# ISO 3166-1 alpha-2 country, a hyphen, then the ISO 3166-2 subdivision (1-3 letters or digits).
PATTERN = r"^[A-Z]{2}-[A-Z0-9]{1,3}$"
Jurisdiction = Annotated[str, StringConstraints(pattern=PATTERN)]


class Parts(NamedTuple):
    """A jurisdiction code taken apart: ("US", "CA"), ("CA", "ON"), ("GB", "ENG")."""

    country: str
    subdivision: str


def parts(code: str) -> Parts:
    """Split a jurisdiction code; a bare two-letter code is read as a US state ("CA" is
    California), as the reference data and older callers write it."""
    if re.fullmatch(r"[A-Z]{2}", code):
        return Parts("US", code)
    if not re.fullmatch(PATTERN.strip("^$"), code):
        raise ValueError(f"not an ISO 3166-2 jurisdiction code: {code!r} (e.g. US-CA, CA-ON)")
    country, _, subdivision = code.partition("-")
    return Parts(country, subdivision)
