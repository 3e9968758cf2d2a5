"""The archive on the real dev server: the Schedule exports a closed case's histories into the
ledger database; after the case is deleted from Temporal, the auditor's replay and report work
from the archive alone; the hash chains verify, and one altered byte is found at its entry."""

from __future__ import annotations

import asyncio
import gzip
import os
import sys
import uuid

import pytest
from sqlalchemy import select, text, update
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from audit.archive import ensure_schedule
from audit.replay import gather, replay
from audit.timeline import build_report
from audit.verify import verify_all
from domain.flags import Flag
from domain.tasks import TaskCompletion
from infra.archive_db import ArchiveStore, archived_histories
from infra.settings import Settings
from intake.cases import start_case
from tests.conftest import make_worker
from tests.support import demo_clinic, eventually, flag_body, task_of, with_code

NO_THREAT = {"serious_threat": False, "identifiable_victims": False, "imminent": False}


async def _closed_case(client, task_queue) -> str:
    """A California flag whose assessment finds no threat: the case closes at once."""
    flag = Flag.model_validate(flag_body(flag_id=f"ARC-{uuid.uuid4().hex[:8]}"))
    started = await start_case(client, task_queue, flag, demo_clinic())
    task = await task_of(started.handle, "risk_assessment")
    await client.get_workflow_handle(task.workflow_id).execute_update(
        "complete_task",
        TaskCompletion(
            **with_code(task, {"task_id": task.task_id, "actor": "dr-lee", "data": NO_THREAT})
        ),
    )
    await started.handle.result()
    return started.case_id


async def _delete(client, workflow_id: str, run_id: str) -> None:
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
    )

    async def gone():
        try:
            await client.get_workflow_handle(workflow_id).fetch_history()
        except RPCError as e:
            return e.status == RPCStatusCode.NOT_FOUND
        return False

    # The dev server deletes asynchronously (about half a minute here).
    await eventually(gone, timeout=120, interval=0.5)


@pytest.fixture
async def archived_case(dev_env, smtp, ledger, task_queue):
    """A closed case, archived by a run of the real Schedule, then deleted from Temporal."""
    client = dev_env.client
    store = ArchiveStore(ledger.engine)
    settings = Settings.from_env().model_copy(update={"task_queue": task_queue})
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        case_id = await _closed_case(client, task_queue)
        from_temporal = await gather(case_id, client=client, archive=None)
        assert len(from_temporal) == 2
        report_live = await build_report(from_temporal, ledger)
        schedule = await ensure_schedule(client, settings)
        try:

            async def archived():
                # Visibility is eventually consistent: trigger again until the pass sees both.
                await schedule.trigger()
                await asyncio.sleep(0.5)
                return len(store.entries(case_id, family=True)) == 2

            await eventually(archived, timeout=60, interval=0.5)
        finally:
            await schedule.delete()
    for run in from_temporal:
        await _delete(client, run.workflow_id, run.run_id)
    return case_id, report_live, store


async def test_replay_report_and_verify_from_the_archive_after_deletion(
    archived_case, dev_env, ledger
):
    case_id, report_live, store = archived_case
    runs = await gather(case_id, client=dev_env.client, archive=store)
    assert {r.source for r in runs} == {"archive"} and len(runs) == 2
    # The archive holds the histories as Temporal exported them: payloads still encrypted.
    for entry in store.entries(case_id, family=True):
        exported = store.history(entry.id).to_json()
        assert "Jordan" not in exported and "Example" not in exported
        assert "YmluYXJ5L2VuY3J5cHRlZA==" in exported  # base64 of binary/encrypted
    # `--all --since`: the deleted case's runs are among everything started since then.
    since = min(r.start_time for r in runs)
    everything = await gather(None, client=dev_env.client, archive=store, since=since)
    assert {(r.workflow_id, r.source) for r in runs} <= {
        (r.workflow_id, r.source) for r in everything
    }
    assert all(o.ok for o in await replay(runs))

    report = await build_report(runs, ledger)
    assert {w.source for w in report.workflows} == {"archive"}
    # The same report as while Temporal still had the case, but for where it was read from.
    same = {"workflows", "generated_at"}
    assert report.model_dump(exclude=same) == report_live.model_dump(exclude=same)
    assert [w.model_dump(exclude={"source"}) for w in report.workflows] == [
        w.model_dump(exclude={"source"}) for w in report_live.workflows
    ]
    assert report.tasks and report.tasks[0].completed_by == "dr-lee"

    # The auditor's two commands, as the README gives them, from the archive alone.
    env = {
        **os.environ,
        "CONFIDE_LEDGER_URL": ledger.url,
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing there: Temporal is gone
        "COLUMNS": "250",
    }
    confide = os.path.join(os.path.dirname(sys.executable), "confide")
    for args in (["audit", "replay", case_id], ["audit", "report", case_id]):
        proc = await asyncio.create_subprocess_exec(
            confide, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert "reading the archive only" in " ".join(err.decode().split())
        assert "Traceback" not in out.decode() + err.decode()
    assert "risk assessment" in out.decode().lower() and "dr-lee" in out.decode()

    # The hash chains verify; one altered byte of an archived history is found at its entry.
    # (One test, not two: deleting from the dev server takes half a minute.)
    checks = {c.chain: c for c in verify_all(ledger)}
    assert checks["archive"].broken is None and checks["archive"].links >= 2
    assert checks["ledger"].broken is None

    # Someone with the database's keys flips one byte of one archived history.
    [target, *_] = store.entries(case_id, family=True)
    t = archived_histories
    with ledger.engine.begin() as conn:
        blob = bytearray(
            conn.execute(select(t.c.history_gz).where(t.c.id == target.id)).scalar_one()
        )
        raw = bytearray(gzip.decompress(bytes(blob)))
        raw[len(raw) // 2] ^= 0x01
        conn.execute(text("DROP TRIGGER archived_histories_no_update"))
        conn.execute(
            update(t).where(t.c.id == target.id).values(history_gz=gzip.compress(bytes(raw)))
        )
    broken = {c.chain: c for c in verify_all(ledger)}["archive"].broken
    assert broken is not None
    assert broken.source == "archived_histories" and broken.source_id == target.id
    assert "altered" in broken.problem
    with ledger.engine.connect() as conn:
        seq = conn.execute(
            text(
                "SELECT seq FROM chain_links WHERE source = 'archived_histories' AND source_id = :i"
            ),
            {"i": target.id},
        ).scalar_one()
    assert broken.seq == seq

    # The auditor's third command says the same, and fails.
    proc = await asyncio.create_subprocess_exec(
        confide, "audit", "verify", env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    said = " ".join(out.decode().split())
    assert proc.returncode == 1
    assert f"BROKEN archive: entry {seq} (archived_histories row {target.id})" in said
    assert "ok ledger" in said


async def test_a_run_a_pass_could_not_archive_is_archived_by_the_next(dev_env, ledger):
    """A pass that fails on one run records no completion, so the next pass looks at that
    run again (Temporal lists newest first: a window moved past it would lose it for good)."""
    from temporalio.testing import ActivityEnvironment

    from activities.archive import ArchiveActivities, ArchivePass

    client = dev_env.client
    tag = uuid.uuid4().hex[:8]
    ids = [f"probe-{tag}-{i}" for i in range(3)]
    runs = {}
    for wid in ids:
        handle = await client.start_workflow("ArchiveProbe", id=wid, task_queue=f"none-{tag}")
        await handle.terminate(reason="closed for the archive test")
        runs[wid] = handle.result_run_id

    async def listed():
        q = f"WorkflowId STARTS_WITH 'probe-{tag}' AND ExecutionStatus != 'Running'"
        return len([wf async for wf in client.list_workflows(q)]) == 3

    await eventually(listed)

    class DiskFullFor(ArchiveStore):
        def add(self, run):
            if run.workflow_id == ids[0]:
                raise OSError("disk full")
            return super().add(run)

    store = ArchiveStore(ledger.engine)
    env = ActivityEnvironment()
    first = await env.run(
        ArchiveActivities(client, DiskFullFor(ledger.engine)).archive_closed_runs, ArchivePass()
    )
    assert first.failed == [f"{ids[0]}/{runs[ids[0]]}"]
    assert [store.has(w, runs[w]) for w in ids] == [False, True, True]
    assert store.last_complete_pass() is None

    second = await env.run(ArchiveActivities(client, store).archive_closed_runs, ArchivePass())
    assert second.failed == [] and store.has(ids[0], runs[ids[0]])
    assert store.last_complete_pass() is not None
    assert {c.chain: c for c in verify_all(ledger)}["archive"].broken is None
