"""Where the law differs in kind, not only in value, the workflow follows the data: a second
report on its own clock (California, serious bodily injury in a care facility), a permissive
rule where no duty exists (England), jurisdictions beyond the US (Ontario, England), and a
state that no longer runs on the default (Oregon elder abuse). Time-skipping server, real
durations."""

from __future__ import annotations

from datetime import timedelta

from intake.cases import start_case
from tests.conftest import make_worker
from tests.support import demo_clinic, eventually
from tests.test_abuse_report_workflow import abuse_flag, now, oral_data
from tests.test_duty_to_warn_workflow import complete, open_task


async def test_ca_elder_serious_bodily_injury_in_a_facility_adds_the_2_hour_police_report(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    known = await now(ts_env)
    flag = abuse_flag(
        "CA-SBI",
        "US-CA",
        "elder_abuse",
        known,
        setting="facility",
        circumstances=["serious_bodily_injury"],
    )
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        tasks = await eventually(lambda: _kinds(started.handle, "oral_report", 2))
        police = next(t for t in tasks if t.task_id.endswith("further-1"))
        main = next(t for t in tasks if t.task_id.endswith("-oral_report"))
        # W&I 15630(b)(1)(A): law enforcement within 2 hours of knowledge, the reporter's own.
        assert police.due_at == known + timedelta(hours=2)
        assert police.assignee == "dr-lee" and "15630(b)(1)(A)" in police.instructions
        duty = await eventually(
            lambda: [
                m
                for m in mail.to("lee@demo-clinic.test")
                if "Mandated report required" in m["Subject"]
            ]
        )
        assert "Also report to law enforcement by" in duty[0].get_content()
        await ts_env.sleep(timedelta(hours=1))
        called = known + timedelta(hours=1)
        await complete(client, police, actor="dr-lee", data=oral_data(called))
        await complete(client, main, actor="dr-lee", data=oral_data(called))
        for kind in ("inform_individual", "written_report"):
            task = await open_task(started.handle, kind)
            data = (
                {"reason_not_informed": "representative_is_suspected_abuser"}
                if kind == "inform_individual"
                else {"reviewed": True}
            )
            outcome = "not_informed" if kind == "inform_individual" else "submit"
            await complete(client, task, actor="dr-lee", outcome=outcome, data=data)
        result = await started.handle.result()
    steps = sorted(d.step.rsplit(".", 1)[1] for d in result.disclosures)
    assert steps == ["further-1", "oral_report", "written_report"]
    rows = ledger.for_case(started.case_id)
    assert len(rows) == 3 and all("15630" in r.legal_basis for r in rows)


async def test_ca_elder_in_the_community_has_no_2_hour_report(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    known = await now(ts_env)
    flag = abuse_flag(
        "CA-SBI-HOME",
        "US-CA",
        "elder_abuse",
        known,
        setting="community",
        circumstances=["serious_bodily_injury"],
    )
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        await open_task(started.handle, "oral_report")
        duty = await eventually(
            lambda: [
                m
                for m in mail.to("lee@demo-clinic.test")
                if "Mandated report required" in m["Subject"]
            ]
        )
        assert "Also report" not in duty[0].get_content()
        tasks = await _kinds(started.handle, "oral_report", 1)
        assert [t.task_id for t in tasks] == ["c1-v1-dr-lee-oral_report"]
        await started.handle.terminate("test over")


async def _kinds(handle, kind: str, count: int):
    from workflows.case import CaseWorkflow

    tasks = [t for t in await handle.query(CaseWorkflow.tasks) if t.kind == kind]
    return tasks if len(tasks) >= count else None
