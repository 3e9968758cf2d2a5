"""Duty-to-warn path on the time-skipping server, at the policy's real durations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.flags import Flag
from domain.tasks import TaskCompletion
from intake.cases import start_case
from tests.conftest import make_worker
from tests.support import demo_clinic, eventually, flag_body
from workflows.case import CaseWorkflow


def code_in(message) -> str:
    return re.search(r"approval code for task \S+: (\d{8})", message.get_content()).group(1)


async def open_task(handle, kind: str):
    async def find():
        tasks = await handle.query(CaseWorkflow.tasks)
        return next((t for t in tasks if t.kind == kind), None)

    return await eventually(find)


async def complete(client, task, **kw):
    return await client.get_workflow_handle(task.workflow_id).execute_update(
        "complete_task", TaskCompletion(task_id=task.task_id, **kw)
    )


async def test_ca_warns_victim_and_police_and_records_both(ts_env, mail, smtp, ledger,
                                                          task_queue):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id="CA-1"))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await open_task(started.handle, "risk_assessment")
        await complete(client, task, actor="dr-lee", data={
            "serious_threat": True, "identifiable_victims": True, "imminent": True,
            "notes": "plans to confront coworker"})
        await eventually(lambda: mail.to("casey@example.org") and mail.to("police@agency.test"))
        rows = await eventually(lambda: len(ledger.for_case(started.case_id)) == 2
                                and ledger.for_case(started.case_id))
        assert {r.recipient_key for r in rows} == {"victim-1", "agency-law_enforcement"}
        assert all("43.92" in r.legal_basis for r in rows)
        # The supervisor is informed, not asked.
        assert any("informed" in m["Subject"] for m in mail.to("kim@demo-clinic.test"))
        status = await started.handle.query(CaseWorkflow.status)
        assert not any(t.kind == "release_decision" for t in status.tasks)
        # After the policy's re-assessment interval (7 days) a follow-up task appears.
        assert not any(t.kind == "reassessment" for t in status.tasks)
        await ts_env.sleep(timedelta(days=7))
        reassess = await open_task(started.handle, "reassessment")
        assert reassess.created_at - task.created_at >= timedelta(days=7)
        await complete(client, reassess, actor="dr-lee", data={
            "serious_threat": False, "identifiable_victims": False, "imminent": False})
        result = await started.handle.result()
        assert result.status == "closed"
        assert len(result.disclosures) == 2
