"""A mandated report is on the board before any e-mail about it goes: a mail server that is
down (sends retry for about a quarter of an hour) must not hide the duty from the case view.

Dev server, real time: the retry backoff is real, so the e-mail is still retrying while the
test looks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from intake.cases import start_case
from tests.conftest import make_worker
from tests.support import demo_clinic, eventually, task_of
from tests.test_abuse_report_workflow import abuse_flag
from workflows.abuse_report import DUTY_BEFORE_MAIL


async def test_the_oral_report_task_shows_while_the_mail_server_refuses(
    dev_env, smtp, mail, ledger, task_queue
):
    client = dev_env.client
    # Every message to the reporter is deferred: its send retries with backoff.
    mail.script["lee@demo-clinic.test"] = ["421 mail system down"] * 100
    flag = abuse_flag(f"DOWN-{uuid.uuid4().hex[:8]}", "US-CA", "child_abuse", datetime.now(UTC))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        oral = await task_of(started.handle, "oral_report")
        concern = client.get_workflow_handle(oral.workflow_id)

        async def retrying() -> list:
            described = await concern.describe()
            return [
                a
                for a in described.raw_description.pending_activities
                if a.activity_type.name in ("send_notice", "issue_approval_codes")
                and a.attempt >= 2
            ]

        # The duty is visible while the reporter's e-mails (the code for the task, since
        # history version 5 sent after the task shows; then the duty's own notice) are still
        # being retried, not after. The code goes out first as a local activity, which shows
        # as a pending activity only once the regular one takes over (about 20 s).
        assert await eventually(retrying, timeout=60)
        assert await task_of(started.handle, "oral_report")
        assert not mail.to("lee@demo-clinic.test")
        history = await concern.fetch_history()
        assert any(
            DUTY_BEFORE_MAIL.encode() in e.marker_recorded_event_attributes.SerializeToString()
            for e in history.events
            if e.HasField("marker_recorded_event_attributes")
        )
        mail.script.clear()  # the server is back: the retry delivers
        await eventually(lambda: mail.to("lee@demo-clinic.test"), timeout=30)
        await started.handle.terminate("test over")
        await concern.terminate("test over")
