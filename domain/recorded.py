"""Reading a form as it was recorded: typed, but never re-checked against today's rules.

A task's answer is checked once, by the Update validator, with the rules of the day it was
given. The Update handler runs again on every replay, and workflow code reads stored answers
again after a continue-as-new; if either re-validated, a rule tightened since (a shorter limit,
a new required field, a new cross-field check) would fail a completion already on record and
wedge the case. `as_recorded` therefore converts values to their declared types (a datetime is
a datetime, an enum an enum) and applies nothing else: no length, pattern or range limits, no
validators. A value that no longer converts (a field whose type changed) is kept as recorded
rather than refused.

Live and on replay the Update handler builds the form this way, so both take the same path by
construction. What that asks of a form:
- a field added later has a default (a recorded answer lacks it; the default is what reading
  code gets, where a required field would be missing and fail the workflow task);
- no rule that changes a value (strip, lower-case, an AfterValidator returning something else):
  the validator would accept what it normalised, the handler store what was sent;
- no union of models (the first that fits, not a discriminator, picks the type).
tests/test_replay_safe_forms.py checks the forms against the last two.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

M = TypeVar("M", bound=BaseModel)


def as_recorded(model: type[M], data: Mapping[str, Any]) -> M:
    """`data` as an instance of `model`, typed but not validated (see the module docstring)."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = name if name in data else field.alias
        if key is None or key not in data:
            continue  # a field added since: its default if it has one, else absent
        values[name] = _typed(field.annotation, data[key])
    return model.model_construct(**values)


def _typed(annotation: Any, value: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:  # the constraints are rules: drop them, keep the type
        return _typed(get_args(annotation)[0], value)
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            typed = _typed(option, value)
            if typed is not value or _is_instance(option, value):
                return typed
        return value
    if origin in (list, tuple, set, frozenset) and isinstance(value, list | tuple | set):
        (item,) = get_args(annotation)[:1] or (Any,)
        return origin(_typed(item, v) for v in value)
    if origin is dict and isinstance(value, Mapping):
        _, item = get_args(annotation) or (Any, Any)
        return {k: _typed(item, v) for k, v in value.items()}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return as_recorded(annotation, value) if isinstance(value, Mapping) else value
    try:
        return _adapter(annotation).validate_python(value)
    except (ValidationError, TypeError):
        return value


def _is_instance(option: Any, value: Any) -> bool:
    try:
        return isinstance(value, get_origin(option) or option)
    except TypeError:
        return False


@cache
def _adapter(annotation: Any) -> TypeAdapter:
    # Plain types only reach here (str, bool, int, datetime, an enum): building an adapter is
    # the costly part, so one per type for the life of the worker.
    return TypeAdapter(annotation)
