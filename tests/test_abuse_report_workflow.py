"""Abuse reports on the time-skipping server, at the statutes' real durations. The differences
between states come from the policy data, never from code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowUpdateFailedError

from audit.replay import replay_histories
from domain.flags import Flag
from domain.reporting import Calendar, due_at
from intake.cases import start_case
from intake.policy_store import calendar_for, holidays_for, reporting_rule
from tests.conftest import make_worker
from tests.support import demo_clinic, eventually, flag_body
from tests.test_duty_to_warn_workflow import complete, open_task
from workflows import search_attributes as sa
from workflows.case import CaseWorkflow

LA = ZoneInfo("America/Los_Angeles")


def abuse_flag(flag_id: str, jurisdiction: str, kind: str, at: datetime, **concern) -> Flag:
    body = flag_body(flag_id=flag_id, jurisdiction=jurisdiction, flagged_at=at.isoformat())
    body["concerns"] = [
        {
            "kind": kind,
            "summary": "Disclosed that the child is hit with a belt at home",
            "victims": [
                {
                    "name": "Robin Child",
                    "age": 9 if kind == "child_abuse" else 81,
                    "address": "1 Elm St",
                }
            ],
            "alleged_abuser": {"name": "Pat Parent", "relationship": "parent"},
            "abuser_is_caretaker": True,
            **concern,
        }
    ]
    return Flag.model_validate(body)


def oral_data(at: datetime) -> dict:
    return {
        "agency": "County CWS",
        "number_called": "+1-555-0300",
        "called_at": at.isoformat(),
        "taken_by": "Intake worker A",
        "reference_number": "R-1",
    }


async def rejected(message: str, attempt) -> None:
    """The Update is refused by its validator with a message containing `message`."""
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await attempt
    assert message in str(err.value.cause), err.value.cause


def last_friday_before_monday_holiday(before: datetime) -> tuple[datetime, datetime]:
    """(Friday 3 p.m., end of the following Wednesday) in California: the last such Friday
    before `before` (in the past, so the reported call times are not in the future)."""
    days = holidays_for("CA", range(before.year - 1, before.year + 1))
    day = before.date() - timedelta(days=7)
    while not (day.weekday() == 4 and day + timedelta(days=3) in days):
        day -= timedelta(days=1)
    friday = datetime(day.year, day.month, day.day, 15, 0, tzinfo=LA)
    wed = day + timedelta(days=5)
    return friday, datetime(wed.year, wed.month, wed.day, 23, 59, 59, tzinfo=LA)


async def now(env) -> datetime:
    # UTC, so `now + timedelta(hours=36)` is 36 elapsed hours even across a DST change.
    return (await env.get_current_time()).astimezone(UTC)


async def test_ca_child_abuse_written_report_due_36h_from_knowledge_never_gated(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    known = await now(ts_env)
    flag = abuse_flag("CA-CHILD", "US-CA", "child_abuse", known)
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        oral = await open_task(started.handle, "oral_report")
        assert oral.assignee == "dr-lee" and oral.only_assignee
        # The reporter is told what the law requires; supervisor and privacy officer informed.
        duty = await eventually(
            lambda: [
                m
                for m in mail.to("lee@demo-clinic.test")
                if "Mandated report required" in m["Subject"]
            ]
        )
        assert "36 hours" in duty[0].get_content() and "SS 8572" in duty[0].get_content()
        # The clinic's own contact for the agency, so the reporter can call (or go) at once.
        assert (
            "  Demo County Child Protective Services\n"
            "    Telephone: +1-555-0300\n"
            "    Address: 2000 County Center Drive, Demo City, CA 94001\n"
        ) in duty[0].get_content().replace("\r\n", "\n")
        for boss in ("kim@demo-clinic.test", "diaz@demo-clinic.test"):
            await eventually(
                lambda b=boss: any("For your information" in m["Subject"] for m in mail.to(b))
            )
        await rejected(
            "only dr-lee may complete",
            complete(client, oral, actor="sup-kim", data=oral_data(known)),
        )
        # A call "made" before the clinic knew is a typo that would start the clock early.
        await rejected(
            "data.called_at is before",
            complete(client, oral, actor="dr-lee", data=oral_data(known - timedelta(days=4))),
        )
        await complete(
            client,
            oral,
            actor="dr-lee",
            outcome="reported",
            data=oral_data(known + timedelta(minutes=5)),
        )

        written = await open_task(started.handle, "written_report")
        assert written.due_at == known + timedelta(hours=36)
        assert "SS 8572" in written.document and "Robin Child" in written.document

        await ts_env.sleep(written.due_at - await now(ts_env) - timedelta(minutes=1))
        reminders = [m for m in mail.to("lee@demo-clinic.test") if "due soon" in m["Subject"]]
        assert len(reminders) == 3  # 12 h, 4 h and 1 h before the deadline
        assert not (await open_task(started.handle, "written_report")).overdue

        await ts_env.sleep(timedelta(minutes=2))
        late = await eventually(lambda: _overdue(started.handle, "written_report"))
        for boss in ("kim@demo-clinic.test", "diaz@demo-clinic.test"):
            await eventually(lambda b=boss: any("OVERDUE task" in m["Subject"] for m in mail.to(b)))
        desc = await client.get_workflow_handle(late.workflow_id).describe()
        assert desc.typed_search_attributes.get(sa.OVERDUE) is True
        # Escalation informs; it does not hand the supervisor the reporter's duty.
        await rejected(
            "only dr-lee may complete",
            complete(client, late, actor="sup-kim", outcome="submit", data={"reviewed": True}),
        )
        await complete(
            client,
            late,
            actor="dr-lee",
            outcome="submit",
            data={"reviewed": True, "corrections": ""},
        )
        report = await eventually(lambda: mail.to("cps@agency.test"))
        assert "SS 8572" in report[0].get_content()
        assert "Robin" not in report[0]["Subject"]
        result = await started.handle.result()
    rows = ledger.for_case(started.case_id)
    assert [r.step.rsplit(".", 1)[1] for r in rows] == ["oral_report", "written_report"]
    assert all("11166" in r.legal_basis and "164.512(b)" in r.legal_basis for r in rows)
    assert rows[1].recipient_address == "cps@agency.test"
    assert result.status == "closed"
    assert not any(t.kind == "release_decision" for c in result.concerns for t in c.tasks)


async def _overdue(handle, kind):
    tasks = await handle.query(CaseWorkflow.tasks)
    return next((t for t in tasks if t.kind == kind and t.overdue), None)


async def test_ga_child_report_within_24h_and_no_written_follow_up(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    known = await now(ts_env)
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(
            client, task_queue, abuse_flag("GA-CHILD", "US-GA", "child_abuse", known), demo_clinic()
        )
        oral = await open_task(started.handle, "oral_report")
        assert oral.due_at == known + timedelta(hours=24)  # from reasonable cause
        await complete(client, oral, actor="dr-lee", data=oral_data(known))
        result = await started.handle.result()
    assert [d.step.rsplit(".", 1)[1] for d in result.disclosures] == ["oral_report"]
    assert not mail.to("cps@agency.test")


async def test_ny_child_written_report_due_48h_after_the_oral_report(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    known = await now(ts_env)
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(
            client, task_queue, abuse_flag("NY-CHILD", "US-NY", "child_abuse", known), demo_clinic()
        )
        oral = await open_task(started.handle, "oral_report")
        called = known + timedelta(minutes=45)
        await ts_env.sleep(timedelta(minutes=45))
        await complete(client, oral, actor="dr-lee", data=oral_data(called))
        written = await open_task(started.handle, "written_report")
        assert written.due_at == called + timedelta(hours=48)  # the clock is the oral report
        assert "LDSS-2221A" in written.document
        await complete(client, written, actor="dr-lee", outcome="submit", data={"reviewed": True})
        await started.handle.result()


async def test_ca_elder_written_deadline_skips_the_weekend_and_monday_holiday(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    # A Friday 3 p.m. in California before a Monday holiday (e.g. Labor Day 2026).
    friday, wednesday = last_friday_before_monday_holiday(await now(ts_env))
    flag = abuse_flag("CA-ELDER", "US-CA", "elder_abuse", friday)
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        oral = await open_task(started.handle, "oral_report")
        await complete(client, oral, actor="dr-lee", data=oral_data(friday + timedelta(minutes=30)))
        written = await open_task(started.handle, "written_report")
        # Two working days after Friday: Tuesday (1), Wednesday (2) — end of Wednesday.
        assert written.due_at == wednesday
        assert wednesday.weekday() == 2 and (wednesday - friday).days == 5
        assert "SOC 341" in written.document
        inform = await open_task(started.handle, "inform_individual")
        await rejected(
            "reason_not_informed",
            complete(client, inform, actor="dr-lee", outcome="not_informed", data={}),
        )
        await complete(
            client,
            inform,
            actor="dr-lee",
            outcome="not_informed",
            data={"reason_not_informed": "representative_is_suspected_abuser"},
        )
        await complete(client, written, actor="dr-lee", outcome="submit", data={"reviewed": True})
        result = await started.handle.result()
    assert [d.recipient_address for d in result.disclosures] == ["+1-555-0300", "aps@agency.test"]


def test_working_day_arithmetic_matches_the_workflow_expectation():
    rule = reporting_rule("US-CA", "elder_abuse")
    cal = Calendar(timezone="America/Los_Angeles", holidays=holidays_for("CA", range(2027, 2029)))
    friday = datetime(2027, 1, 15, 15, 30, tzinfo=LA)
    expected = datetime(2027, 1, 20, 23, 59, 59, tzinfo=LA)
    assert due_at(rule.written_deadline, friday, cal) == expected
    # The same with the zone's offsets frozen, as a case's snapshot has it.
    assert due_at(rule.written_deadline, friday, calendar_for("CA", LA.key, 2027)) == expected


async def test_state_without_data_gets_the_conservative_default_marked_unverified(
    ts_env, mail, smtp, ledger, task_queue, monkeypatch
):
    # Every US state now has an elder rule; a jurisdiction without one (a pack lacking a path,
    # a rule withdrawn) still gets the default. Hawaii's rule is withdrawn for this case.
    import intake.policy_store as store
    from domain.reporting import default_rule

    sourced = store.reporting_rule
    monkeypatch.setattr(
        store,
        "reporting_rule",
        lambda j, k: default_rule(j, k) if (j, k) == ("US-HI", "elder_abuse") else sourced(j, k),
    )
    client = ts_env.client
    known = await now(ts_env)
    flag = abuse_flag("HI-ELDER", "US-HI", "elder_abuse", known)
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        oral = await open_task(started.handle, "oral_report")
        assert oral.due_at == known + timedelta(hours=1)  # "report now"
        status = await started.handle.query(CaseWorkflow.status)
        assert status.policy_unverified
        desc = await eventually(lambda: _described_unverified(started.handle))
        assert desc.typed_search_attributes.get(sa.POLICY_UNVERIFIED) is True
        await complete(client, oral, actor="dr-lee", data=oral_data(known))
        written = await open_task(started.handle, "written_report")
        assert written.due_at == known + timedelta(hours=24)
        child = client.get_workflow_handle(written.workflow_id)
        details = (await child.query("__temporal_workflow_metadata")).current_details
        assert "policy unverified" in details
        await child.terminate("test done")
        await started.handle.terminate("test done")


async def _described_unverified(handle):
    desc = await handle.describe()
    return desc if desc.typed_search_attributes.get(sa.POLICY_UNVERIFIED) else None


async def test_agency_without_email_gets_a_portal_task_with_confirmation_number(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    clinic = demo_clinic()
    clinic.agencies = [
        a.model_copy(update={"email": None, "portal_url": "https://portal.agency.test"})
        if a.kind == "child_protective_services"
        else a
        for a in clinic.agencies
    ]
    known = await now(ts_env)
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(
            client, task_queue, abuse_flag("CA-PORTAL", "US-CA", "child_abuse", known), clinic
        )
        await complete(
            client,
            await open_task(started.handle, "oral_report"),
            actor="dr-lee",
            data=oral_data(known),
        )
        await complete(
            client,
            await open_task(started.handle, "written_report"),
            actor="dr-lee",
            outcome="submit",
            data={"reviewed": True},
        )
        portal = await open_task(started.handle, "portal_submission")
        assert portal.due_at == known + timedelta(hours=36)
        assert "portal.agency.test" in portal.instructions and "SS 8572" in portal.document
        filed = await now(ts_env)
        await complete(
            client,
            portal,
            actor="dr-lee",
            outcome="submitted",
            data={"submitted_at": filed.isoformat(), "confirmation_number": "CWS-778"},
        )
        result = await started.handle.result()
    written = result.disclosures[-1]
    assert written.channel == "portal" and "CWS-778" in written.description
    assert written.disclosed_at == filed
    assert not mail.to("cps@agency.test")


async def test_a_flag_about_abuse_known_three_days_ago_pages_each_person_once(
    ts_env, mail, smtp, ledger, task_queue
):
    # Every reminder and overdue round of the oral report passed before the task opened: one
    # "overdue since" notice per person, up the whole ladder at once, not one per missed round.
    client = ts_env.client
    known = await now(ts_env) - timedelta(days=3)
    flag = abuse_flag("CA-LATE", "US-CA", "child_abuse", known)
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        oral = await open_task(started.handle, "oral_report")

        def overdue(address: str) -> list:
            return [m for m in mail.to(address) if "OVERDUE task" in m["Subject"]]

        people = ("lee@demo-clinic.test", "kim@demo-clinic.test", "diaz@demo-clinic.test")
        await eventually(lambda: all(overdue(p) for p in people))
        await ts_env.sleep(timedelta(minutes=30))  # less than one escalation interval
        assert [len(overdue(p)) for p in people] == [1, 1, 1]
        assert not [m for m in mail.to("lee@demo-clinic.test") if "due soon" in m["Subject"]]
        body = overdue("kim@demo-clinic.test")[0].get_content()
        assert "has been overdue since " in body and oral.task_id in body
        await complete(client, oral, actor="dr-lee", data=oral_data(known + timedelta(hours=1)))
        history = await client.get_workflow_handle(oral.workflow_id).fetch_history()
    # The collapsed round replays (behind workflow.patched("collapse-missed-rounds")).
    [(_, error)] = await replay_histories([history])
    assert error is None, error
