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
    structlog.get_logger("t").info(
        "notice sent",
        case_id="demo-clinic.F-1",
        step="c1.warn",
        victims=[{"name": "Casey Rivera"}],
        patient={"ref": "P-301", "name": "Jordan Example"},
    )
    logging.getLogger("temporalio.test").warning(
        "activity failed", extra={"email": "casey@example.org"}
    )
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == ["notice sent", "activity failed"]
    text = json.dumps(lines)
    for phi in ("Casey Rivera", "Jordan Example", "casey@example.org"):
        assert phi not in text
    assert lines[0]["case_id"] == "demo-clinic.F-1" and lines[0]["patient"] == "[masked]"


async def test_activity_log_lines_carry_case_workflow_run_and_activity_ids():
    from dataclasses import replace

    from temporalio.testing import ActivityEnvironment
    from temporalio.worker import ActivityInboundInterceptor

    from infra.log_context import LogContextInterceptor, case_id_of

    class Inner(ActivityInboundInterceptor):
        def __init__(self):
            pass

        async def execute_activity(self, input):
            structlog.get_logger("confide.test").info("inside", recipient_key="victim-1")

    env = ActivityEnvironment()
    env.info = replace(
        env.info,
        workflow_id="demo-clinic.F-1.c1-threat_to_others",
        workflow_run_id="run-1",
        activity_id="7",
        activity_type="send_notice",
    )

    async def activity_body():
        await LogContextInterceptor().intercept_activity(Inner()).execute_activity(None)

    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        await env.run(activity_body)
    [line] = logs
    assert line["case_id"] == "demo-clinic.F-1" == case_id_of(line["workflow_id"])
    assert (line["run_id"], line["activity_id"], line["activity"]) == ("run-1", "7", "send_notice")
    assert case_id_of("demo-clinic.F-1") == "demo-clinic.F-1"
