"""structlog setup: JSON lines, with known PHI fields masked before anything is written.

Confide's own log calls carry opaque ids only; the mask is the second line of defence for a
field that slips in (a model dumped into `extra`, a library's context).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.typing import Processor

# Field names that hold PHI anywhere in Confide's models.
PHI_KEYS = frozenset(
    {
        "name",
        "email",
        "phone",
        "address",
        "birth_date",
        "summary",
        "notes",
        "victims",
        "contacts",
        "patient",
        "body",
        "to",
        "recipient_name",
        "recipient_address",
        "data",
        "details",
        "reason",
        "note",
    }
)


def mask_phi(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """Replace the value of any PHI-named field, at any depth of dicts and lists."""
    return {k: _mask(k, v) for k, v in event.items()}


def _mask(key: str, value):
    if key in PHI_KEYS:
        return "[masked]"
    if isinstance(value, dict):
        return {k: _mask(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask("", v) for v in value]
    return value


def configure(level: str | None = None) -> None:
    """JSON logs on stderr for structlog and the standard library (temporalio, uvicorn), at
    `level`, else CONFIDE_LOG_LEVEL, else INFO."""
    level = (level or os.environ.get("CONFIDE_LOG_LEVEL") or "INFO").upper()
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_phi,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
