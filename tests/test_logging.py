"""Logs are JSON and never carry PHI-named fields, however deep."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from infra.logging import configure


@pytest.fixture
def restore_logging():
    """configure() replaces the root handler with one bound to this test's captured stderr;
    later log lines (e.g. from the SMTP server's thread) must not write to it once closed."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_phi_fields_are_masked_in_structlog_and_stdlib_records(capsys, restore_logging):
    configure("INFO")
    structlog.get_logger("t").info("notice sent", case_id="demo-clinic.F-1", step="c1.warn",
                                   victims=[{"name": "Casey Rivera"}],
                                   patient={"ref": "P-301", "name": "Jordan Example"})
    logging.getLogger("temporalio.test").warning("activity failed",
                                                 extra={"email": "casey@example.org"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == ["notice sent", "activity failed"]
    text = json.dumps(lines)
    for phi in ("Casey Rivera", "Jordan Example", "casey@example.org"):
        assert phi not in text
    assert lines[0]["case_id"] == "demo-clinic.F-1" and lines[0]["patient"] == "[masked]"
