"""Where the law differs in kind, not only in value, the workflow follows the data: a second
report on its own clock (California, serious bodily injury in a care facility), a permissive
rule where no duty exists (England), jurisdictions beyond the US (Ontario, England), and a
state that no longer runs on the default (Oregon elder abuse). Time-skipping server, real
durations."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from pathlib import Path

from temporalio.service import RPCError

from domain.flags import Flag
from domain.legal_letters import cover_letter, patient_notice, privilege_letter
from domain.legal_request import LegalRequest, release_basis
from harness.samples import sample_clinic
from intake.cases import fresh_concerns, start_case
from intake.policy_store import legal_rule
from tests.conftest import make_worker
from tests.support import demo_clinic, eventually, legal_request_body
from tests.test_abuse_report_workflow import abuse_flag, now, oral_data
from tests.test_duty_to_warn_workflow import complete, open_task
from workflows.case import CaseWorkflow


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


async def test_a_subpoena_allowing_less_than_californias_20_days_is_pointed_out(
    ts_env, mail, smtp, ledger, records, task_queue
):
    # CCP 2020.410(c): production no earlier than 20 days after issuance (15 after service).
    from domain.legal_request import LegalRequest
    from intake.cases import start_legal_request
    from tests.support import env_now, legal_request_body, task_of

    client = ts_env.client
    served = await env_now(ts_env)
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        for request_id, days, short in (("L-SHORT", 10, True), ("L-ENOUGH", 20, False)):
            req = LegalRequest.model_validate(
                legal_request_body(
                    request_id=request_id,
                    instrument="attorney_subpoena",
                    served_at=served.isoformat(),
                    response_due=(served + timedelta(days=days)).isoformat(),
                )
            )
            started = await start_legal_request(client, task_queue, req, demo_clinic())
            classify = await task_of(started.handle, "classify_request")
            said = "allows less than the 20 days US-CA requires" in classify.instructions
            assert said is short, classify.instructions
            await started.handle.terminate("test over")


def _sample_flag(path: str, at) -> Flag:

    body = json.loads((Path(__file__).resolve().parent.parent / path).read_text())
    body["flagged_at"] = at.isoformat()
    return Flag.model_validate(body)


async def test_an_ontario_child_abuse_flag_opens_the_reporters_own_duty_to_a_childrens_aid_society(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    known = await now(ts_env)
    flag = _sample_flag("deploy/dev/sample-ontario-child-abuse-flag.json", known)
    clinic = sample_clinic("toronto-clinic")
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, clinic)
        oral = await open_task(started.handle, "oral_report")
        # CYFSA s.125: immediately (Confide's one-hour bound), personally, to a society.
        assert oral.due_at == known + timedelta(hours=1)
        assert oral.assignee == "dr-tremblay" and oral.only_assignee
        assert "children's aid society" in oral.instructions
        duty = await eventually(
            lambda: [
                m
                for m in mail.to("tremblay@toronto-clinic.test")
                if "Mandated report required" in m["Subject"]
            ]
        )
        text = duty[0].get_content()
        assert "Child, Youth and Family Services Act" in text and "Demo Children's Aid" in text
        # s.125(2): the duty is ongoing; the reporter is told before the first report is made.
        assert "The duty does not end with this report" in " ".join(text.split())
        await ts_env.sleep(timedelta(minutes=10))
        await complete(
            client, oral, actor="dr-tremblay", data=oral_data(known + timedelta(minutes=10))
        )
        written = await open_task(started.handle, "written_report")
        await complete(
            client, written, actor="dr-tremblay", outcome="submit", data={"reviewed": True}
        )
        result = await started.handle.result()
    rows = ledger.for_case(started.case_id)
    assert len(rows) == 2 and all(
        "Personal Health Information Protection Act" in r.legal_basis for r in rows
    )
    assert not any("45 CFR" in r.legal_basis for r in rows)
    assert result.status == "closed"


async def test_an_england_threat_opens_a_permissive_supervisor_decision(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    flag = _sample_flag("deploy/dev/sample-england-threat-flag.json", await now(ts_env))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, sample_clinic("london-clinic"))
        assessment = await open_task(started.handle, "risk_assessment")
        await complete(
            client,
            assessment,
            actor="dr-okafor",
            data={"serious_threat": True, "identifiable_victims": True, "imminent": False},
        )
        decision = await open_task(started.handle, "release_decision")
        assert decision.role == "supervisor" and decision.requires_code
        assert "UK GDPR" in decision.instructions and "45 CFR" not in decision.instructions
        assert set(decision.choices) == {"warn_victim", "notify_law_enforcement"}
        await complete(
            client,
            decision,
            actor="sup-evans",
            outcome="decline",
            data={"actions": [], "reason": "risk managed in session"},
        )
        await eventually(
            lambda: _gone(started.handle, decision.task_id),
        )
        # Declined, the case may close on its own before this: either way it is over.
        with contextlib.suppress(RPCError):
            await started.handle.terminate("test over")
    assert ledger.for_case(started.case_id) == []


async def test_an_england_child_abuse_flag_is_a_referral_decision_and_fgm_a_duty_to_the_police(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    known = await now(ts_env)
    body_flag = abuse_flag(
        "ENG-FGM", "GB-ENG", "child_abuse", known, circumstances=["female_genital_mutilation"]
    ).model_dump(mode="json")
    body_flag.update(clinic_id="london-clinic", clinician={"id": "dr-okafor"})
    flag = Flag.model_validate(body_flag)
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, sample_clinic("london-clinic"))
        referral = await open_task(started.handle, "release_decision")
        # No statutory duty: the supervisor decides; the reporter may not decide it alone.
        assert referral.role == "supervisor" and referral.choices == [
            "notify_child_protective_agency"
        ]
        fgm = await open_task(started.handle, "oral_report")
        assert fgm.task_id.endswith("further-1") and fgm.assignee == "dr-okafor"
        assert fgm.due_at == known + timedelta(days=28)  # "before the end of one month"
        assert "5B" in fgm.instructions
        await complete(
            client,
            referral,
            actor="sup-evans",
            outcome="decline",
            data={"actions": [], "reason": "already known to children's social care"},
        )
        await ts_env.sleep(timedelta(hours=2))
        await complete(client, fgm, actor="dr-okafor", data=oral_data(known + timedelta(hours=2)))
        result = await started.handle.result()
    steps = [d.step.rsplit(".", 1)[1] for d in result.disclosures]
    assert steps == ["further-1"]
    assert "UK GDPR" in ledger.for_case(started.case_id)[0].legal_basis


async def _gone(handle, task_id: str) -> bool:
    from workflows.case import CaseWorkflow

    return all(t.task_id != task_id for t in await handle.query(CaseWorkflow.tasks))


async def test_an_oregon_elder_case_runs_on_oregons_statute_not_the_default(
    ts_env, mail, smtp, ledger, task_queue
):
    client = ts_env.client
    known = await now(ts_env)
    flag = abuse_flag("OR-ELDER", "US-OR", "elder_abuse", known)
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        oral = await open_task(started.handle, "oral_report")
        # ORS 124.065(1): "immediately" (Confide's one-hour bound), to DHS or law enforcement.
        assert oral.due_at == known + timedelta(hours=1)
        assert "Department of Human Services" in oral.instructions
        duty = await eventually(
            lambda: [
                m
                for m in mail.to("lee@demo-clinic.test")
                if "Mandated report required" in m["Subject"]
            ]
        )
        text = " ".join(duty[0].get_content().split())
        # Oregon's own statute, not the default rule, and nothing in it left unverified
        # (124.060(1) "or cause a report to be made" read as the reporter's own duty).
        assert "124.060" in text and "not yet verified" not in text
        status = await fresh_concerns(client, await started.handle.query(CaseWorkflow.status))
        assert not status.policy_unverified
        assert [c.policy_unverified for c in status.concerns] == [False]
        await started.handle.terminate("test over")


def test_letters_outside_the_us_object_under_their_own_law_not_hipaa():
    req = LegalRequest.model_validate(legal_request_body(jurisdiction="GB-ENG"))
    clinic = sample_clinic("london-clinic")
    now = req.served_at
    rule = legal_rule("GB-ENG")
    letter = privilege_letter(req, clinic, rule, now)
    assert "Data Protection Act 2018" in letter and "UK GDPR" in letter
    assert "164.512" not in letter and "42 CFR" not in letter
    assert "assert the psychotherapist-patient privilege" not in letter  # England has none
    notice = patient_notice(req, clinic, "london-clinic.L-1", now, asserting=True, privilege=False)
    assert "objecting to the release on your behalf" in notice.body
    assert "privilege" not in notice.body
    cover = cover_letter(
        req, clinic, release_basis(rule, req.instrument), 1, "po-hughes", now, us=False
    )
    assert "Data Protection Act 2018" in cover and "state and federal" not in cover
    # A US clinic's letter is unchanged: the privilege and HIPAA's satisfactory assurance.
    us = privilege_letter(req, sample_clinic("demo-clinic"), legal_rule("US-CA"), now)
    assert "psychotherapist-patient privilege (Cal. Evid. Code" in us and "164.512(e)(1)(ii)" in us


def test_a_warning_outside_the_us_names_its_legal_basis_once():
    """England's "statute" is the common law and its privacy basis names the same case, so the
    basis a disclosure records is the data's own wording, not the two run together."""
    from domain.policy import decide_threat
    from intake.policy_store import duty_to_warn_rule

    threat = {"serious_threat": True, "identifiable_victims": True, "imminent": True}
    england = decide_threat(duty_to_warn_rule("GB-ENG"), **threat).legal_basis
    assert england.count("Egdell") == 1 and england.count("UK GDPR") == 1
    assert "No statute" not in england and "45 CFR" not in england
    ontario = decide_threat(duty_to_warn_rule("CA-ON"), **threat).legal_basis
    assert ontario.count("s.40(1)") == 1 and "Smith v. Jones" in ontario
    # A US state's basis is still its statute and HIPAA's permission.
    california = decide_threat(duty_to_warn_rule("US-CA"), **threat).legal_basis
    assert "43.92" in california and "164.512(j)" in california
