"""The words of the e-mails, as the people who get them read them: staff notices in plain, complete
sentences with no code words and times in the clinic's zone; the agency notice's purpose said
grammatically; the mandated-report mail with each agency's telephone and address; no patient
data in any subject; an approval code whole on a line of its own, raw and decoded. Pure unit
tests: the domain functions with the demo clinic, no server."""

from __future__ import annotations

import ast
import email
import re
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
from jinja2 import BaseLoader

from activities.notify import SendNoticeInput, SmtpSettings, compose
from domain.clinic import AgencyKind, Role, StaffLinks
from domain.flags import Concern, ConcernKind, Patient, Person
from domain.forms import TaskKind
from domain.legal_letters import (
    authorization_held_notice,
    counsel_asked_notice,
    request_received_notice,
    response_due_notice,
)
from domain.legal_request import LegalRequest
from domain.local_time import local
from domain.notice_templates import ENV, SOURCES, TEMPLATES
from domain.notices import (
    Notice,
    action_not_done_notice,
    agency_notice,
    approval_code_notice,
    contact_notice,
    duty_triggered_notice,
    ledger_failing_notice,
    mandated_report_notice,
    notice_undelivered_notice,
    report_under_way_notice,
    staff_notice,
    task_due_soon_notice,
    task_overdue_notice,
    task_resolved_notice,
    victim_warning,
)
from domain.policy import FEDERAL_BASIS, Action
from domain.tasks import Task
from intake.policy_store import reporting_rule
from tests.support import CODE_PATTERN, ROOT, demo_clinic, legal_request_body
from workflows.duty_to_warn import AGENCY_FOR, PURPOSE

CASE = "demo-clinic.F-4242"
WORKFLOW = f"{CASE}.c1-threat_to_others"
# Distinctive fake PHI: it must reach the bodies that need it and never a subject.
PATIENT = Patient(ref="P-9001", name="Quillon Vexworth-Zanzibar", birth_date="1981-03-04")
VICTIM = Person(
    name="Philomena Gristlethwaite",
    email="philomena.g@example.org",
    phone="+1-555-0177",
    address="17 Marigold Lane, Demo City",
)
CONTACT = Person(name="Barnaby Oxtongue-Pell", phone="+1-555-0199", relationship="brother")
SUMMARY = "said he would burn down 17 Marigold Lane on Friday"
THREAT = Concern(kind=ConcernKind.threat_to_others, summary=SUMMARY, victims=[VICTIM])
PHI = ("Quillon", "Vexworth", "Philomena", "Gristlethwaite", "Barnaby", "Oxtongue", "Marigold")

WINTER = datetime(2026, 12, 21, 1, 0, tzinfo=UTC)  # 5:00 PM PST the day before
SUMMER = datetime(2026, 7, 2, 0, 30, tzinfo=UTC)  # 5:30 PM PDT the day before
CLINIC_TIME = r"\w{3}, \w{3} \d{1,2}, \d{4}, \d{1,2}:\d\d [AP]M P[SD]T"
CODE = "ABCD-EFGH-2345-WXYZ"

# Every code value a person must not be shown as is: those with an underscore are code words
# (the others, like "supervisor", are words already).
CODE_WORDS = sorted(
    v
    for enum in (Action, Role, AgencyKind, TaskKind, ConcernKind)
    for v in (m.value for m in enum)
    if "_" in v
)


def task(**kw) -> Task:
    fields = {
        "task_id": "c1-2-release_decision",
        "kind": TaskKind.release_decision,
        "role": Role.supervisor,
        "allowed_roles": [Role.supervisor],
        "created_at": WINTER - timedelta(hours=4),
        "due_at": WINTER,
        "title": "Release decision",
        "instructions": "Approve a release set or decline.",
        "reminder_before": timedelta(hours=1),
        "escalate_every": timedelta(hours=1),
        "workflow_id": WORKFLOW,
        "requester": "dr-lee",
        "four_eyes": True,
    }
    return Task(**{**fields, **kw})


def staff_notices() -> dict[str, Notice]:
    """One of each kind of message to staff, with the ids it names."""
    clinic = demo_clinic()
    ca_child = reporting_rule("US-CA", "child_abuse")
    assessment = task(
        task_id="c1-1-risk_assessment",
        kind=TaskKind.risk_assessment,
        role=Role.clinician,
        allowed_roles=[Role.clinician, Role.supervisor],
        assignee="dr-lee",
        requester=None,
        four_eyes=False,
        title="Risk assessment (threat to others)",
    )
    oral = task(
        task_id="c1-v1-dr-lee-oral_report",
        kind=TaskKind.oral_report,
        role=Role.clinician,
        allowed_roles=[Role.clinician],
        assignee="dr-lee",
        only_assignee=True,
        requester=None,
        four_eyes=False,
        delegable=False,
        title="Oral report of suspected child abuse or neglect",
        due_at=SUMMER,
    )
    legal = legal_request_body(served_at="2026-12-01T09:00:00-08:00")
    req = LegalRequest.model_validate(legal)
    return {
        "task due soon": task_due_soon_notice(clinic, CASE, assessment),
        "task overdue, escalated, may act": task_overdue_notice(
            clinic, CASE, assessment, Role.supervisor
        ),
        "task overdue, escalated to inform": task_overdue_notice(
            clinic, CASE, oral, Role.supervisor
        ),
        "task overdue at the top": task_overdue_notice(clinic, CASE, task()),
        "task resolved": task_resolved_notice(
            clinic, CASE, assessment.model_copy(update={"completed_by": "sup-kim"}), SUMMER
        ),
        "approval code, release decision": approval_code_notice(
            clinic,
            CASE,
            "c1-2-release_decision",
            CODE,
            WINTER,
            actor="sup-kim",
            kind=TaskKind.release_decision,
            title="Release decision",
            choices=["notify_law_enforcement", "notify_medical_personnel"],
            workflow_id=WORKFLOW,
        ),
        "approval code, release approval": approval_code_notice(
            clinic,
            CASE,
            "l-release_approval",
            CODE,
            WINTER,
            actor="po-diaz",
            kind=TaskKind.release_approval,
            title="Approve the release set",
            choices=["P-301.doc-2024-progress_note-1", "P-301.doc-2024-progress_note-2"],
            workflow_id=f"{CASE}.legal_request",
        ),
        "approval code, as recorded before its words": approval_code_notice(
            clinic, CASE, "c1-2-release_decision", CODE, WINTER
        ),
        "mandatory duty triggered": duty_triggered_notice(
            clinic,
            CASE,
            f"Cal. Civ. Code 43.92; {FEDERAL_BASIS}",
            [Action.warn_victim, Action.notify_law_enforcement],
            "dr-lee",
        ),
        "warning refused": notice_undelivered_notice(clinic, CASE, "victim", "victim-1", True),
        "contact unreached": notice_undelivered_notice(clinic, CASE, "contact", "contact-2", False),
        "agency unreached": notice_undelivered_notice(
            clinic, CASE, "law_enforcement", "agency-law_enforcement", False
        ),
        "action not done": action_not_done_notice(
            clinic, CASE, Action.notify_law_enforcement, "dr-lee"
        ),
        "mandated report required": mandated_report_notice(
            clinic, CASE, ca_child, "child_abuse", WINTER, WINTER + timedelta(hours=36), WORKFLOW
        ),
        "mandated report under way": report_under_way_notice(
            clinic, CASE, "dr-lee", "child_abuse", SUMMER, personal=True
        ),
        "report through the person in charge": report_under_way_notice(
            clinic, CASE, "dr-lee", "elder_abuse", SUMMER, personal=False
        ),
        "ledger failing": ledger_failing_notice(clinic, CASE),
        "legal request received": request_received_notice(req, clinic, CASE, WORKFLOW),
        "legal response due": response_due_notice(clinic, CASE, WINTER, "respond", WORKFLOW),
        "counsel asked": counsel_asked_notice(
            clinic, CASE, "po-diaz", "l-counsel1", WINTER, WORKFLOW
        ),
        "authorization on hold": authorization_held_notice(clinic, CASE, "A-4001", WORKFLOW),
        "a headline and sentences": staff_notice(
            clinic, CASE, "A legal request for records needs classifying", ["It is due."]
        ),
    }


IDS = re.compile(
    r"(task id [\w.-]+|workflow [\w.-]+|case [\w.-]+|task [\w-]+_[\w-]+|complete_task|"
    r"P-301\.doc-[\w-]+)"
)


def paragraphs(body: str) -> list[tuple[str, str]]:
    """(paragraph, the line after it) for each prose line: not blank, not indented (a code, an
    address block, a list)."""
    lines = body.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.strip() and not line[0].isspace():
            after = next((x for x in lines[i + 1 :] if x.strip()), "")
            out.append((line, after))
    return out


@pytest.mark.parametrize("kind", list(staff_notices()))
def test_every_staff_notice_is_written_in_complete_sentences(kind):
    body = staff_notices()[kind].body
    for paragraph, after in paragraphs(body):
        assert paragraph[0].isupper() or paragraph[0].isdigit(), paragraph
        # A paragraph ends with a full stop, or with a colon that introduces what follows
        # indented (the code, the choices, an address, the links).
        assert paragraph.endswith(".") or (paragraph.endswith(":") and after[:1].isspace()), (
            paragraph
        )
        assert "  " not in paragraph.strip(), paragraph


@pytest.mark.parametrize("kind", list(staff_notices()))
def test_no_staff_notice_shows_a_code_word(kind):
    notice = staff_notices()[kind]
    # Identifiers stay as they are (a task id is what the Update names); everything else is
    # words: no action, role, agency kind or task kind value.
    text = IDS.sub("<id>", f"{notice.subject}\n{notice.body}")
    shown = [w for w in CODE_WORDS if w in text]
    assert shown == [], f"{shown} in:\n{text}"


@pytest.mark.parametrize("kind", list(staff_notices()))
def test_staff_times_are_in_the_clinic_zone_with_its_abbreviation(kind):
    body = staff_notices()[kind].body
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", body), "an ISO time"
    assert "UTC" not in body and "+00:00" not in body and "-08:00" not in body


def test_task_notices_say_what_by_when_who_and_where():
    clinic = demo_clinic()
    soon = staff_notices()["task due soon"]
    due = local(WINTER, clinic.timezone)
    assert due.endswith("PST")
    assert (
        f'"Risk assessment (threat to others)" (task id c1-1-risk_assessment) is due by {due}, '
        in (soon.body)
    )
    assert "It is assigned to Dr. Lee (dr-lee)." in soon.body
    assert "Any clinician or supervisor on the clinic's roster may complete it." in soon.body
    assert f"open the workflow {WORKFLOW}." in soon.body
    assert "More Actions, then Send an Update, enter the Update name complete_task" in soon.body
    assert soon.subject == f"[Demo Clinic] Task due soon (case {CASE})"

    may_act = staff_notices()["task overdue, escalated, may act"]
    assert may_act.subject == f"[Demo Clinic] OVERDUE task escalated to supervisor (case {CASE})"
    assert re.search(f"has been overdue since {CLINIC_TIME}\\.", may_act.body)
    assert "any supervisor on the clinic's roster may now complete it as well" in may_act.body

    personal = staff_notices()["task overdue, escalated to inform"]
    assert "Only Dr. Lee (dr-lee) may complete it: the duty is personal" in personal.body
    assert "escalated to the supervisor for follow-up" in personal.body
    assert "may now complete it" not in personal.body
    assert re.search(r"since \w{3}, \w{3} \d{1,2}, \d{4}, \d{1,2}:\d\d [AP]M PDT\.", personal.body)

    top = staff_notices()["task overdue at the top"]
    assert top.subject == f"[Demo Clinic] OVERDUE task (case {CASE})"
    assert "except Dr. Lee (dr-lee), who requested it and may not also decide it" in top.body

    resolved = staff_notices()["task resolved"]
    assert re.search(
        f"was completed by Kim \\(clinical supervisor\\) \\(sup-kim\\) on {CLINIC_TIME}\\.",
        resolved.body,
    )
    assert "the overdue reminders have stopped" in resolved.body


def test_task_links_are_listed_each_on_a_line_of_its_own():
    links = StaffLinks(work="https://confide.example", ui="https://ui.example")
    clinic = demo_clinic().model_copy(update={"links": links})
    lines = ["", f"Open the task: {links.workflow(WORKFLOW)}", "Work list: https://x.example/w"]
    body = task_due_soon_notice(clinic, CASE, task(), lines).body.splitlines()
    at = body.index("Links:")
    assert body[at + 1 : at + 3] == [f"  {lines[1]}", f"  {lines[2]}"]


def test_the_approval_mail_gives_the_code_the_choices_in_words_and_how_to_answer():
    clinic = demo_clinic()
    notice = staff_notices()["approval code, release decision"]
    body = notice.body.splitlines()
    assert "approval code for task c1-2-release_decision:" in notice.body
    assert f"    {CODE}" in body
    assert f"The decision is due by {local(WINTER, clinic.timezone)}." in body
    at = body.index("Your choices:")
    assert body[at + 1 : at + 5] == [
        "  - Approve one or more of these actions:",
        "      notify law enforcement",
        "      notify medical personnel",
        "  - Decline: nothing is disclosed, and your reason stays on record.",
    ]
    assert "Ask counsel" not in notice.body  # not an outcome of this decision
    assert f"open the workflow {WORKFLOW} and read what the decision rests on" in notice.body
    assert (
        "Then choose More Actions, then Send an Update, enter the Update name complete_task, "
        "and send your answer with your roster id (sup-kim) as the actor and this code as the "
        "code." in notice.body
    )
    assert CODE not in notice.subject

    records = staff_notices()["approval code, release approval"].body
    assert "Approve the release of the 2 records in the computed set, or of fewer of them." in (
        records
    )
    assert "  - Ask counsel first: the decision waits for the advice" in records
    assert "P-301" not in records  # the task lists the documents; the mail counts them


def test_the_agency_notice_states_every_purpose_in_a_grammatical_sentence():
    clinic = demo_clinic()
    for action, kind in AGENCY_FOR.items():
        purpose = PURPOSE[action]
        # A verb phrase completes "in order to ...": no noun phrase, no bracketed label.
        assert purpose.split()[0] in {"prevent", "protect", "report", "warn", "notify"}, purpose
        assert "(" not in purpose and not purpose.endswith("."), purpose
        agency = clinic.agency(kind) or clinic.agencies[0]
        body = agency_notice(
            clinic, CASE, PATIENT, THREAT, agency, purpose, f"Cal. Civ. Code 43.92; {FEDERAL_BASIS}"
        ).body
        assert f"Demo Clinic makes this confidential report in order to {purpose}.\n" in body
        assert "for the purpose of" not in body
        assert f"This disclosure is made under Cal. Civ. Code 43.92; {FEDERAL_BASIS}.\n" in body
        assert f"To {agency.name}:" in body


def test_the_mandated_report_mail_gives_each_agency_its_phone_and_address():
    clinic = demo_clinic()
    rule = reporting_rule("US-CA", "child_abuse")
    notice = mandated_report_notice(
        clinic, CASE, rule, "child_abuse", WINTER, WINTER + timedelta(hours=36), WORKFLOW
    )
    cps = clinic.agency(AgencyKind.child_protective_services)
    police = clinic.agency(AgencyKind.law_enforcement)
    assert cps and cps.address and police and police.address
    for agency in (cps, police):
        block = f"  {agency.name}\n    Telephone: {agency.phone}\n    Address: {agency.address}\n"
        assert block in notice.body
    assert "within 36 hours of the first knowledge or suspicion" in notice.body
    assert re.search(f"that is by {CLINIC_TIME} at the latest\\.", notice.body)
    assert "on form SS 8572" in notice.body
    assert "The duty is yours personally" in notice.body
    assert notice.subject == f"[Demo Clinic] Mandated report required (case {CASE})"
    assert "Open the report's tasks" not in notice.body  # no links in this clinic snapshot
    linked = clinic.model_copy(
        update={"links": StaffLinks(work="https://confide.example", ui="https://ui.example")}
    )
    body = mandated_report_notice(
        linked, CASE, rule, "child_abuse", WINTER, WINTER + timedelta(hours=36), WORKFLOW
    ).body
    assert "https://confide.example/work/demo-clinic/clinician" in body
    assert f"https://ui.example/namespaces/default/workflows/{WORKFLOW}" in body


def test_an_agency_on_a_portal_without_phone_is_listed_with_its_address_and_portal():
    clinic = demo_clinic()
    agencies = [
        a.model_copy(update={"phone": None, "portal_url": "https://portal.agency.test"})
        if a.kind == AgencyKind.child_protective_services
        else a
        for a in clinic.agencies
    ]
    clinic = clinic.model_copy(update={"agencies": agencies})
    rule = reporting_rule("US-CA", "child_abuse")
    body = mandated_report_notice(clinic, CASE, rule, "child_abuse", WINTER, None).body
    assert (
        "  Demo County Child Protective Services\n"
        "    Address: 2000 County Center Drive, Demo City, CA 94001\n"
        "    Online portal: https://portal.agency.test\n"
    ) in body


def test_no_subject_carries_patient_data_and_the_bodies_carry_what_they_need():
    clinic = demo_clinic()
    police = clinic.agency(AgencyKind.law_enforcement)
    assert police is not None
    outside = [
        victim_warning(clinic, CASE, PATIENT, THREAT, VICTIM),
        agency_notice(
            clinic,
            CASE,
            PATIENT,
            THREAT,
            police,
            PURPOSE[Action.notify_law_enforcement],
            FEDERAL_BASIS,
        ),
        contact_notice(clinic, CASE, PATIENT, CONTACT),
    ]
    for notice in [*outside, *staff_notices().values()]:
        assert CASE in notice.subject and "Demo Clinic" in notice.subject
        leaked = [p for p in (*PHI, "1981", "+1-555-01", SUMMARY) if p in notice.subject]
        assert leaked == [], notice.subject
    # Staff subjects: the clinic as a tag, then the headline, then "(case <id>)", the form the
    # benchmark's mail sink (bench/stack.py) and people searching their mail look for.
    for notice in staff_notices().values():
        assert re.fullmatch(
            rf"\[Demo Clinic\] [A-Z][^()]*(\(.*\))? \(case {CASE}\)", notice.subject
        )
    assert PATIENT.name in outside[0].body and SUMMARY in outside[0].body
    assert "Philomena Gristlethwaite, +1-555-0177, 17 Marigold Lane, Demo City" in outside[1].body
    assert "(born 1981-03-04)" in outside[1].body
    assert CONTACT.name in outside[2].body and SUMMARY not in outside[2].body


@pytest.mark.parametrize(
    "clinic_name", ["Demo Clinic", "Clínica del Río — Salud Mental y Bienestar Comunitario"]
)
def test_the_approval_code_survives_mime_encoding_whole_on_a_line_of_its_own(clinic_name):
    # The second name makes the body non-ASCII (quoted-printable) as well as long-lined.
    clinic = demo_clinic().model_copy(update={"name": clinic_name})
    notice = approval_code_notice(
        clinic,
        CASE,
        "c1-2-release_decision",
        CODE,
        WINTER,
        actor="sup-kim",
        kind=TaskKind.release_decision,
        title="Release decision",
        choices=["notify_law_enforcement"],
        workflow_id=WORKFLOW,
    )
    msg = compose(
        SmtpSettings(),
        SendNoticeInput(
            case_id=CASE,
            step="c1-2-release_decision.code",
            recipient_key="staff-sup-kim",
            to="kim@demo-clinic.test",
            subject=notice.subject,
            body=notice.body,
        ),
    )
    raw = msg.as_bytes()
    assert msg["Content-Transfer-Encoding"] in ("7bit", "quoted-printable")
    assert f"    {CODE}".encode() in raw.splitlines()
    assert [line for line in raw.splitlines() if CODE.encode() in line] == [f"    {CODE}".encode()]
    decoded = email.message_from_bytes(raw, policy=policy.default).get_content()
    assert f"    {CODE}" in decoded.splitlines()
    assert re.findall(CODE_PATTERN, decoded) == [CODE]
    assert decoded.replace("\r\n", "\n") == notice.body


def test_templates_are_compiled_once_at_import_and_never_loaded_again(monkeypatch):
    assert set(TEMPLATES) == set(SOURCES)

    class Refusing(BaseLoader):
        def get_source(self, environment, template):
            raise AssertionError(f"template {template} loaded again")

    monkeypatch.setattr(ENV, "loader", Refusing())
    monkeypatch.setattr(ENV, "cache", None)
    assert len(staff_notices()) > 20  # every kind renders from the compiled templates


def test_workflow_code_reaches_the_templates_only_through_the_sandbox_pass_through():
    # So jinja2 and the compiled templates are loaded once per worker process, never anew for
    # each workflow run the sandbox starts.
    for path in sorted((ROOT / "workflows").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        passed = {
            id(node)
            for w in ast.walk(tree)
            if isinstance(w, ast.With)
            and any("imports_passed_through" in ast.unparse(i.context_expr) for i in w.items)
            for node in ast.walk(w)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(("domain", "jinja2")) for a in node.names)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("domain"):
                assert id(node) in passed, f"{path.name}:{node.lineno} imports domain directly"
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("jinja2"), path.name


def test_the_approval_mail_links_the_task_and_the_approvers_own_work_lists():
    from activities.approvals import IssueCodesInput, _links

    clinic = demo_clinic().model_copy(
        update={"links": StaffLinks(work="https://confide.example", ui="https://ui.example")}
    )
    kim = clinic.member("sup-kim")
    inp = IssueCodesInput(
        case_id="demo-clinic.F-1",
        task_id="c1-2-release_decision",
        salt="s",
        due_at=datetime(2026, 12, 4, 20, tzinfo=UTC),
        clinic=clinic,
        approvers=[kim],
        workflow_id="demo-clinic.F-1.c1-threat_to_others",
    )
    links = _links(inp, kim)
    assert links == [
        "Open the task: https://ui.example/namespaces/default/workflows/"
        "demo-clinic.F-1.c1-threat_to_others",
        "Work waiting on the supervisor: https://confide.example/work/demo-clinic/supervisor",
    ]
    notice = approval_code_notice(
        clinic, inp.case_id, inp.task_id, "ABCD-EFGH-JKLM-NPQR", inp.due_at, links=links
    )
    assert all(line in notice.body for line in links)
    # A case recorded without links (or a clinic without them) sends none.
    assert _links(inp.model_copy(update={"clinic": demo_clinic()}), kim) == []


def test_the_lockout_alert_names_the_task_who_and_when_and_the_unlock_task_never_a_patient():
    from domain.notices import task_locked_notice
    from domain.tasks import FailedTry, Task

    clinic = demo_clinic()
    now = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
    task = Task(
        task_id="c1-1-risk_assessment",
        kind=TaskKind.risk_assessment,
        role=Role.clinician,
        allowed_roles=[Role.clinician],
        created_at=now,
        due_at=now + timedelta(hours=4),
        reminder_before=timedelta(hours=1),
        escalate_every=timedelta(hours=1),
        title="Risk assessment (threat to others)",
        instructions="Assess.",
        workflow_id="demo-clinic.F-1.c1-threat_to_others",
        wrong_codes=5,
        failed_tries=[FailedTry(actor="dr-lee", at=now)] * 4 + [FailedTry(actor="sup-kim", at=now)],
    )
    notice = task_locked_notice(clinic, "demo-clinic.F-1", task, "c1-1-risk_assessment-unlock1")
    assert notice.subject == (
        "[Demo Clinic] Task locked after wrong approval codes (case demo-clinic.F-1)"
    )
    assert "5 wrong approval codes in a row, sent as dr-lee and sup-kim, the last at" in notice.body
    assert "complete the task c1-1-risk_assessment-unlock1 with the reason" in notice.body
    assert "Fri, Dec 4, 2026, 5:00 PM PST" in notice.body  # due, in the clinic's time
