"""The payload converter: pydantic JSON, whose decoding errors never echo the value decoded.

A payload that no longer fits its model (a workflow input recorded under older rules, an
activity result from a worker on another version) fails in the worker, and the failure's
message is written to history in clear (failures are not encoded, so the Web UI can show an
Update's rejection). pydantic's own message quotes the offending input, which for a flag or a
form is PHI; this converter re-raises with the field paths and reasons only. Models people fill
in set `hide_input_in_errors` as well, for errors raised outside the converter.
"""

from __future__ import annotations

from typing import Any

import temporalio.api.common.v1
from pydantic import ValidationError
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)


class PayloadDoesNotFit(ValueError):
    """A payload that does not decode into its model; the message names fields, not values."""


class _QuietJSON(PydanticJSONPlainPayloadConverter):
    def from_payload(
        self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None
    ) -> Any:
        try:
            return super().from_payload(payload, type_hint)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
                for err in e.errors(include_input=False, include_url=False)
            )
            raise PayloadDoesNotFit(f"{e.title} payload does not fit: {problems}") from None


class PayloadConverter(CompositePayloadConverter):
    """Temporal's default converters with pydantic JSON (quiet on errors) in place of JSON."""

    def __init__(self) -> None:
        quiet = _QuietJSON()
        super().__init__(
            *(
                quiet if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )
