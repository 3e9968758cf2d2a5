"""What every FHIR reader in Confide shares (issue 15): reading a resource tolerantly with the
fhir.resources models, references, and the mapping between FHIR ids and Confide's keys.

fhir.resources models forbid unknown fields; vendors add some, so `tolerant()` drops what the
model does not know and says what it dropped, rather than refusing what a strict reading
would.

FHIR ids are `[A-Za-z0-9\\-.]{1,64}`; Confide's keys are `[A-Za-z0-9_-]{1,64}`. A FHIR id never
holds `_`, so `.` <-> `_` maps one onto the other both ways (`confide_key`, `fhir_id`): the
patient's key finds the patient's documents in the EHR again.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
# Enough for every vendor field in a resource; one needing more is not what it claims to be.
MAX_DROPS = 50


# A Confide flag id made from a FHIR Flag id: prefixed, so it never meets a clinic system's own.
FLAG_PREFIX = "fhir-"


class TooManyUnknownFields(ValueError):
    """More unknown fields than any vendor adds."""


def _drop(data: Any, path: tuple[int | str, ...]) -> None:
    *parents, last = path
    node = data
    for step in parents:
        node = node[step]
    if isinstance(node, dict):
        node.pop(last, None)


def tolerant(model: type[M], data: dict[str, Any]) -> tuple[M, list[str]]:
    """`model.model_validate(data)`, after removing the fields the model forbids as unknown.
    Any other error (a wrong type, a missing required field) still fails."""
    data = copy.deepcopy(data)
    dropped: list[str] = []
    for _ in range(MAX_DROPS):
        try:
            return model.model_validate(data), dropped
        except ValidationError as e:
            extras = [err["loc"] for err in e.errors() if err["type"] == "extra_forbidden"]
            if not extras or len(extras) != len(e.errors()):
                raise
            for loc in extras:
                _drop(data, loc)
                dropped.append(".".join(str(p) for p in loc))
    raise TooManyUnknownFields(f"more than {MAX_DROPS} unknown fields")


def confide_key(fhir_id: str) -> str:
    return fhir_id.replace(".", "_")


def fhir_id(key: str) -> str:
    return key.replace("_", ".")


def split_reference(reference: str | None) -> tuple[str, str] | None:
    """("Flag", "123") from "Flag/123" or "https://ehr/fhir/Flag/123" (a version suffix
    `/_history/n` is dropped); None for anything else (a contained or logical reference)."""
    if not reference or reference.startswith("#"):
        return None
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2] or not parts[-1]:
        return None
    return parts[-2], parts[-1]


def flag_key(flag_id: str) -> str:
    """The Confide flag id of a FHIR Flag: "fhir-<id>", hashed if that would be too long."""
    key = FLAG_PREFIX + confide_key(flag_id)
    if len(key) <= 64:
        return key
    return FLAG_PREFIX + hashlib.sha256(flag_id.encode()).hexdigest()[:40]
