"""Worker Deployment Versioning on the real dev server: a case started on build v1 finishes on
v1 after an incompatible v2 became current, and new cases start on v2 (issue 14). Each test
uses its own deployment name and task queue on the shared dev server."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.common import VersioningBehavior
from temporalio.service import RPCError

from domain.flags import Flag
from infra.settings import MissingSetting
from infra.versioning import deployment_config
from intake.cases import start_case
from tests.conftest import make_worker
from tests.incompatible_case import IncompatibleCase
from tests.support import demo_clinic, eventually, flag_body
from tests.test_duty_to_warn_workflow import NO_THREAT, complete, open_task
from worker import WORKFLOWS
from workflows.case import CaseWorkflow


async def _make_current(client, deployment: str, build_id: str) -> None:
    # The version exists once its worker has polled; until then the server says not found.
    async def attempt() -> bool:
        try:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace,
                    deployment_name=deployment,
                    build_id=build_id,
                    identity="test-release",
                )
            )
        except RPCError:
            return False
        return True

    await eventually(attempt, timeout=30)


async def _versioning(handle) -> tuple[int, str]:
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return info.behavior, info.deployment_version.build_id


async def test_a_case_started_on_v1_finishes_on_v1_and_new_cases_start_on_v2(
    dev_env, smtp, ledger, mail
):
    client = dev_env.client
    queue = f"tq-{uuid.uuid4().hex}"
    deployment = f"confide-{uuid.uuid4().hex[:8]}"
    v1 = deployment_config({"CONFIDE_DEPLOYMENT_NAME": deployment, "CONFIDE_BUILD_ID": "v1"})
    v2 = deployment_config({"CONFIDE_DEPLOYMENT_NAME": deployment, "CONFIDE_BUILD_ID": "v2"})
    assert v1 is not None and v2 is not None
    v2_workflows = [w for w in WORKFLOWS if w is not CaseWorkflow] + [IncompatibleCase]
    port = smtp[0].port
    async with make_worker(client, queue, port, ledger, deployment_config=v1):
        await _make_current(client, deployment, "v1")
        old = await start_case(
            client, queue, Flag.model_validate(flag_body(flag_id="VER-1")), demo_clinic()
        )
        assessment = await open_task(old.handle, "risk_assessment")
        assert await _versioning(old.handle) == (VersioningBehavior.PINNED.value, "v1")

        # The release: v2 (incompatible) starts beside v1 and becomes current.
        async with make_worker(
            client, queue, port, ledger, deployment_config=v2, workflows=v2_workflows
        ):
            await _make_current(client, deployment, "v2")
            # The case in flight goes on, on v1, to its end.
            await complete(client, assessment, actor="dr-lee", data=NO_THREAT)
            result = await old.handle.result()
            assert result.status == "closed"
            assert await _versioning(old.handle) == (VersioningBehavior.PINNED.value, "v1")
            events = [e async for e in old.handle.fetch_history_events()]
            assert not [
                e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            ]
            completed = [
                e.workflow_task_completed_event_attributes.deployment_version.build_id
                for e in events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            ]
            assert completed and set(completed) == {"v1"}
            # A new case starts on v2, whose CaseWorkflow is the new code.
            new = await start_case(
                client, queue, Flag.model_validate(flag_body(flag_id="VER-2")), demo_clinic()
            )
            assert await client.get_workflow_handle(new.case_id).result() == "v2"
            assert await _versioning(new.handle) == (VersioningBehavior.PINNED.value, "v2")


def test_a_worker_without_a_build_id_is_unversioned_and_a_bad_name_is_refused():
    assert deployment_config({}) is None
    config = deployment_config({"CONFIDE_BUILD_ID": "2026.12.05-1"})
    assert config is not None and config.version.deployment_name == "confide"
    assert config.default_versioning_behavior == VersioningBehavior.PINNED
    with pytest.raises(MissingSetting, match="CONFIDE_DEPLOYMENT_NAME must not contain ':'"):
        deployment_config({"CONFIDE_BUILD_ID": "v1", "CONFIDE_DEPLOYMENT_NAME": "a:b"})
