"""The CLI as a person reads it at 80 columns: every listing in blocks that fit, ids, hashes
and URLs whole on one line, times in the clinic's zone with its abbreviation; `--json` on every
listing; `policy show` in plain words with both version hashes explained; `--now` dating a
sample before it is sent; every `--help` within 80 columns."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from cli import main
from cli.dated import STAMPS, NothingToDate, Redate, redate
from cli.layout import duration_words, every, fill
from cli.listings import OpenTask, TaskListing, render_tasks
from cli.policy import PolicyQuery, describe, resolve
from domain.clinic import ClinicDirectory, Role
from domain.forms import TaskKind
from domain.records import DisclosedDocument, Disclosure
from domain.tasks import TaskView
from infra.ledger_db import Ledger
from intake.policy_store import jurisdictions

ROOT = Path(__file__).resolve().parent.parent
CLINICS = ROOT / "deploy/dev/clinics.json"
DEMO = ClinicDirectory.load(CLINICS).get("demo-clinic")
PACIFIC = ZoneInfo("America/Los_Angeles")
URL = re.compile(r"^https?://\S+$")
ENV80 = {"COLUMNS": "80", "CONFIDE_CLINICS": str(CLINICS)}


def fits(text: str | list[str], width: int = 80) -> None:
    """No line is wider than the screen, but a URL longer than the screen on its own line (it
    must stay whole to be opened; the terminal wraps it softly and it copies back whole)."""
    lines = text.splitlines() if isinstance(text, str) else text
    wide = [line for line in lines if len(line) > width and not URL.match(line.strip())]
    assert not wide, "\n".join(wide)


def whole(text: str | list[str], *tokens: str) -> None:
    """Each id, hash or URL stands whole on one line."""
    lines = text.splitlines() if isinstance(text, str) else text
    for token in tokens:
        assert any(token in line for line in lines), f"{token} is not whole on any line"


def invoke(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(
        main.app, list(args), env={**ENV80, **(env or {})}, prog_name="confide"
    )
    assert result.exit_code == 0, result.output
    return result


# ------------------------------------------------------------------------------- the layout


def test_words_wrap_but_are_never_split():
    url = "https://example.org/" + "x" * 90
    words = ["due", "demo-clinic.F-1001.c1-threat_to_others", url, "end"]
    lines = fill(words, "  a  ", "     ", 30)
    assert "demo-clinic.F-1001.c1-threat_to_others" in lines[1]
    assert lines[2].strip() == url and lines[3].strip() == "end"


def test_durations_read_as_words():
    assert duration_words(timedelta(hours=12)) == "12 hours"
    assert duration_words(timedelta(days=7)) == "7 days"
    assert duration_words(timedelta(hours=1, minutes=30)) == "1 hour 30 minutes"
    assert every(timedelta(hours=1)) == "every hour"
    assert every(timedelta(hours=2)) == "every 2 hours"


# ------------------------------------------------------------------------------------ tasks


def _task(task_id: str, workflow_id: str, title: str, due: datetime, **kw) -> TaskView:
    return TaskView(
        task_id=task_id,
        kind=kw.pop("kind", TaskKind.risk_assessment),
        role=kw.pop("role", Role.clinician),
        allowed_roles=kw.pop("allowed_roles", [Role.clinician]),
        created_at=due - timedelta(hours=4),
        due_at=due,
        title=title,
        instructions="...",
        example={"task_id": task_id},
        workflow_id=workflow_id,
        **kw,
    )


NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
ROWS = [
    (
        "demo-clinic.L-3002",
        _task(
            "l-release_approval",
            "demo-clinic.L-3002",
            "Approve the release of records for a court order",
            NOW + timedelta(days=2),
            kind=TaskKind.release_approval,
            role=Role.privacy_officer,
            allowed_roles=[Role.privacy_officer],
            requires_code=True,
            locked=True,
            unlock_task_id="l-release_approval-unlock1",
        ),
    ),
    (
        "demo-clinic.F-1002",
        _task(
            "c1-v1-dr-lee-written_report",
            "demo-clinic.F-1002.c1-child_abuse-v1-dr-lee",
            "Review and submit the written report (SS 8572)",
            NOW + timedelta(hours=30),
            kind=TaskKind.written_report,
            assignee="dr-lee",
            only_assignee=True,
        ),
    ),
    (
        "demo-clinic.F-1001",
        _task(
            "c1-1-risk_assessment",
            "demo-clinic.F-1001.c1-threat_to_others",
            "Risk assessment (threat to others)",
            NOW - timedelta(hours=3),
            overdue=True,
            escalation_level=2,
            allowed_roles=[Role.clinician, Role.supervisor, Role.privacy_officer],
        ),
    ),
    (
        "other-clinic.F-9",
        _task("c1-1-risk_assessment", "other-clinic.F-9.c1-self_harm", "Risk assessment", NOW),
    ),
]


def test_open_tasks_read_as_blocks_within_80_columns():
    listing = TaskListing(
        tasks=[OpenTask(case_id=c, task=t) for c, t in ROWS],
        clinics={"demo-clinic": DEMO},
        width=80,
    )
    lines = render_tasks(listing)
    text = "\n".join(lines)

    fits(lines)
    for case_id, t in ROWS:
        whole(lines, case_id, t.task_id, t.workflow_id)
    assert lines[0] == "4 open tasks, 1 overdue: overdue first, then the soonest due."
    # Overdue first, then by due time; the clinic's time with its abbreviation, escalations said.
    titles = [line for line in lines if line and not line.startswith(" ")][1:-2]
    assert titles[0] == "OVERDUE  Risk assessment (threat to others)"
    assert "  due       Fri, Dec 4, 2026, 7:00 AM PST, escalated 2 times" in lines
    # Who may do it: roster ids with their roles, a personal duty named as such.
    everyone = "dr-lee, sup-kim, po-diaz (clinician, supervisor or privacy officer)"
    assert f"  who       {everyone}" in lines
    assert "  who       dr-lee only (a personal duty)" in lines
    assert "  code      needs the approval code e-mailed to the person deciding" in lines
    # Locked by five wrong codes (issue 12): who unlocks it, and the task that decides.
    assert "  locked    after wrong codes; a privacy officer decides" in text
    assert "l-release_approval-unlock1" in text
    # A clinic not in the clinics file: UTC, which the time says.
    assert "  due       Fri, Dec 4, 2026, 6:00 PM UTC" in lines
    assert "confide complete CASE TASK" in text
    assert render_tasks(TaskListing(tasks=[], clinic_filter="demo-clinic")) == [
        "No open tasks at demo-clinic."
    ]


def test_the_tasks_command_prints_blocks_or_json(monkeypatch):
    async def open_tasks(clinic):
        return ROWS

    monkeypatch.setattr(main, "_open_tasks", open_tasks)
    text = invoke("tasks").output
    fits(text)
    whole(text, "demo-clinic.F-1002.c1-child_abuse-v1-dr-lee", "c1-v1-dr-lee-written_report")
    assert "PST" in text

    rows = json.loads(invoke("tasks", "--json").output)
    assert [r["case_id"] for r in rows] == [c for c, _ in ROWS]
    assert rows[0]["example"] == {"task_id": "l-release_approval"}


def test_the_tasks_command_prints_a_fhir_bundle_of_tasks(monkeypatch):
    from fhir.resources.R4B.bundle import Bundle

    async def open_tasks(clinic):
        return ROWS

    monkeypatch.setattr(main, "_open_tasks", open_tasks)
    bundle = Bundle.model_validate(json.loads(invoke("tasks", "--fhir").output))
    tasks = {t.resource.identifier[0].value: t.resource for t in bundle.entry}
    assert len(tasks) == len(ROWS)
    report = tasks["demo-clinic.F-1002/c1-v1-dr-lee-written_report"]
    assert report.owner.identifier.value == "dr-lee" and report.status == "ready"
    assert report.restriction.period.end == NOW + timedelta(hours=30)  # the deadline
    assert report.groupIdentifier.value == "demo-clinic.F-1002"
    late = tasks["demo-clinic.F-1001/c1-1-risk_assessment"]
    assert late.businessStatus.text == "overdue, escalated 2 times"
    assert late.owner.display == "any clinician"  # no assignee: the role
    assert late.description == "Risk assessment (threat to others)"


def test_complete_without_outcome_sends_the_tasks_first_outcome():
    # `confide complete --help`: "default: its first". A release decision has no neutral
    # outcome, so sending none was refused ("outcome must be one of approve, decline").
    task = _task(
        "c1-2-release_decision",
        "london-clinic.ENG-1001.c1-threat_to_others",
        "Release decision",
        NOW,
        kind=TaskKind.release_decision,
        role=Role.supervisor,
    )
    done = main._completion(task, "sup-evans", None, {"actions": []}, "CODE", None)
    assert (done.task_id, done.actor, done.outcome) == (
        "c1-2-release_decision",
        "sup-evans",
        "approve",
    )
    assert main._completion(task, "sup-evans", "decline", {}, None, None).outcome == "decline"


# ----------------------------------------------------------------------------------- ledger


@pytest.fixture
def ledger_env(tmp_path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger(url).migrate()
    return {"CONFIDE_LEDGER_URL": url}


def _disclosure(case_id: str, **kw) -> Disclosure:
    values = {
        "case_id": case_id,
        "step": "warn.victim",
        "recipient_key": "victim-0",
        "clinic_id": "demo-clinic",
        "patient_ref": "P-301",
        "disclosed_at": datetime(2026, 11, 27, 10, 20, tzinfo=PACIFIC),
        "recipient_name": "Casey Rivera",
        "recipient_address": "casey@example.org",
        "channel": "email",
        "description": "warning of a threat of violence",
        "purpose": "to avert a serious threat to health or safety",
        "legal_basis": "Cal. Civ. Code 43.92; 45 CFR 164.512(j)",
        "task_ref": "c1-1-risk_assessment",
    }
    return Disclosure(**{**values, **kw})


PACKET = "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615e4d3"
DOC = DisclosedDocument(
    id="P-301.doc-2024-progress_note-1",
    category="progress_note",
    date=date(2024, 3, 1),
    sha256="9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9",
)


def test_the_ledger_reads_as_blocks_in_the_clinics_time(ledger_env):
    led = Ledger(ledger_env["CONFIDE_LEDGER_URL"])
    led.record(_disclosure("demo-clinic.L-3002"))
    led.record(
        _disclosure(
            "demo-clinic.L-3002",
            step="release.packet",
            recipient_key="requester",
            recipient_name="A. Attorney",
            recipient_address="1 Main St, Oakland, CA 94612 / attorney@law.test",
            description="records produced in response to a court order",
            documents=[DOC],
            manifest_sha256=PACKET,
        )
    )

    text = invoke("ledger", "demo-clinic.L-3002", env=ledger_env).output

    fits(text)
    whole(text, PACKET, DOC.id, DOC.sha256, "c1-1-risk_assessment", "demo-clinic.L-3002")
    assert text.startswith("2 disclosures recorded for demo-clinic.L-3002, oldest first:")
    assert "Fri, Nov 27, 2026, 10:20 AM PST: to Casey Rivera" in text
    assert "progress note of 2024-03-01" in text
    nothing = invoke("ledger", "demo-clinic.NONE", env=ledger_env).output
    assert nothing.strip() == "No disclosures recorded for demo-clinic.NONE."


# ------------------------------------------------------------------------------- accounting


def test_the_accounting_fits_and_has_json(ledger_env):
    led = Ledger(ledger_env["CONFIDE_LEDGER_URL"])
    now = datetime.now(UTC)
    for days in (40, 30):
        led.record(
            _disclosure(
                f"demo-clinic.F-{days}",
                disclosed_at=now - timedelta(days=days),
                recipient_name="Demo County Child Protective Services",
                recipient_address="cps@agency.test",
            )
        )
    led.engine.dispose()

    text = invoke("accounting", "P-301", env=ledger_env).output
    data = json.loads(invoke("accounting", "P-301", "--json", env=ledger_env).output)

    fits(text)
    assert "2 disclosures to Demo County Child Protective Services" in " ".join(text.split())
    assert data["patient_ref"] == "P-301" and data["entries"][0]["count"] == 2


# ------------------------------------------------------------------------------------- keys


def test_keys_show_lists_ids_and_json():
    ring = json.loads(Path(ROOT / "tests/keyring.test.json").read_text())
    text = invoke("keys", "show").output
    data = json.loads(invoke("keys", "show", "--json").output)

    fits(text)
    assert data == {"current": ring["current"], "keys": list(ring["keys"])}
    assert f"{ring['current']}  (current)" in text
    assert not any(secret in text for secret in ring["keys"].values())


# ----------------------------------------------------------------------------------- policy


def _policy(jurisdiction: str, clinic=DEMO, width: int = 80) -> list[str]:
    today = datetime.now(PACIFIC).date()
    q = PolicyQuery(jurisdiction=jurisdiction, clinic=clinic, today=today, width=width)
    return describe(resolve(q))


def test_policy_show_says_the_rules_in_plain_words():
    text = invoke("policy", "show", "US-CA").output
    lines = text.splitlines()

    fits(lines)
    snap_sources = resolve(
        PolicyQuery(jurisdiction="US-CA", clinic=DEMO, today=date.today())
    ).snapshot.duty_to_warn.sources
    whole(lines, *snap_sources)
    # No Python reprs, no code words, no bare booleans.
    assert "datetime." not in text and "timedelta" not in text
    assert "warn_victim" not in text and "notify_law_enforcement" not in text
    assert not re.search(r"\b(True|False)\b", text)
    assert "By doing all of: warn the person at risk and notify law enforcement." in " ".join(
        text.split()
    )
    flat = " ".join(text.split())
    assert "due 4 hours after it opens" in flat
    assert "an overdue task escalates every hour" in flat
    assert "reminded 12 hours, 4 hours and 1 hour before a statutory deadline" in flat
    assert "Yes: the therapist must claim the privilege for the patient." in flat
    assert "The patient may object until 5 days before production." in flat


def test_policy_show_explains_both_hashes_and_the_case_carries_the_second():
    from domain.flags import Flag
    from intake.cases import case_input

    facts = resolve(PolicyQuery(jurisdiction="US-CA", clinic=DEMO, today=date.today()))
    text = " ".join(" ".join(describe(facts)).split())

    body = json.loads((ROOT / "deploy/dev/sample-flag.json").read_text())
    body["flagged_at"] = datetime.now(PACIFIC).isoformat()
    case = case_input(Flag.model_validate(body), DEMO)
    assert case.policy.version == facts.case_version
    assert facts.rules_version != facts.case_version
    assert f"rules {facts.rules_version} The rules alone" in text
    assert f"case {facts.case_version} The policy_version of a case Demo Clinic" in text
    assert "differs when it was flagged in another year, at a clinic in another time zone" in text

    # A clinic in another zone: the same rules, another case version.
    eastern = DEMO.model_copy(update={"timezone": "America/New_York"})
    other = resolve(PolicyQuery(jurisdiction="US-CA", clinic=eastern, today=date.today()))
    assert other.rules_version == facts.rules_version
    assert other.case_version != facts.case_version


def test_policy_show_of_every_jurisdiction_fits_80_columns():
    for j in jurisdictions():
        lines = _policy(j)
        fits(lines)
        assert not any("timedelta" in line for line in lines), j


def test_policy_show_json():
    data = json.loads(invoke("policy", "show", "us-tx", "--json").output)
    assert data["jurisdiction"] == "US-TX"
    assert data["versions"]["rules"].startswith("sha256:")
    assert data["versions"]["clinic"] == "demo-clinic"
    assert data["timers"]["decision_due"] == "PT2H"
    assert data["duty_to_warn"]["forbidden_actions"] == ["warn_victim"]


# ------------------------------------------------------------------------------------ audit


async def test_the_audit_report_reads_as_blocks_within_80_columns(tmp_path):
    from audit.replay import from_files
    from audit.timeline import build_report
    from cli.audit_text import ReportText, render_report

    files = sorted((ROOT / "tests/histories").glob("demo-clinic.HIST-TX-PERMISSIVE*.json"))
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    led.migrate()
    report = await build_report(from_files(files), led)

    lines = render_report(ReportText(report=report, width=80))

    fits(lines)
    whole(lines, *(w.workflow_id for w in report.workflows), *(w.run_id for w in report.workflows))
    whole(lines, *(n.message_id for n in report.notifications if n.message_id))
    text = "\n".join(lines)
    assert "Release decision: on time" in text and "PST" in text
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text)


def test_audit_replay_and_verify_have_json(ledger_env):
    history = ROOT / "tests/histories/demo-clinic.HIST-TX-PERMISSIVE.json"
    result = CliRunner().invoke(
        main.app, ["audit", "replay", "--file", str(history), "--json"], env=ENV80
    )
    assert result.exit_code == 0, result.output
    [run] = json.loads(result.output)
    assert run["ok"] and run["workflow_id"] == "demo-clinic.HIST-TX-PERMISSIVE"

    text = CliRunner().invoke(main.app, ["audit", "replay", "--file", str(history)], env=ENV80)
    fits(text.output)
    whole(text.output, run["run_id"])

    checks = CliRunner().invoke(main.app, ["audit", "verify", "--json"], env=ledger_env)
    assert checks.exit_code == 0, checks.output
    assert {c["chain"] for c in json.loads(checks.output)} == {"ledger", "archive"}
    said = CliRunner().invoke(main.app, ["audit", "verify"], env={**ENV80, **ledger_env})
    fits(said.output)


# ------------------------------------------------------------------------------------ --now


def _sample(name: str) -> dict:
    return json.loads((ROOT / "deploy/dev" / name).read_text())


def test_now_dates_a_flag_and_keeps_knowledge_as_far_before():
    body = _sample("sample-child-abuse-flag.json")
    body["concerns"][0]["known_at"] = "2026-11-27T08:15:00-08:00"  # two hours before the flag
    now = datetime(2026, 12, 4, 9, 30, 5, 123, tzinfo=PACIFIC)

    dated = redate(Redate(body=body, stamp=STAMPS["flag"], now=now))

    assert dated.body["flagged_at"] == "2026-12-04T09:30:05-08:00"
    assert dated.body["concerns"][0]["known_at"] == "2026-12-04T07:30:05-08:00"
    assert body["flagged_at"] == "2026-11-27T10:15:00-08:00"  # the file's body is not changed
    assert dated.said == (
        "--now: flagged_at set to 2026-12-04T09:30:05-08:00 (was 2026-11-27T10:15:00-08:00); "
        "concerns[0].known_at moved by the same 6 days 23 hours 15 minutes 5 seconds."
    )
    # Only times: no patient data in the line.
    assert "Example" not in dated.said
    from domain.flags import Flag

    Flag.model_validate(dated.body)


def test_now_dates_a_legal_request_and_an_authorization():
    now = datetime(2026, 12, 10, 12, 0, tzinfo=PACIFIC)
    order = redate(
        Redate(body=_sample("sample-court-order.json"), stamp=STAMPS["legal-request"], now=now)
    ).body
    assert order["served_at"] == "2026-12-10T12:00:00-08:00"
    served, due = (datetime.fromisoformat(order[k]) for k in ("served_at", "response_due"))
    assert due - served == timedelta(days=20, hours=8)  # as in the sample
    assert order["scope"]["from"] == "2024-01-01"  # the records asked for stay as written

    auth = redate(
        Redate(body=_sample("sample-authorization.json"), stamp=STAMPS["authorization"], now=now)
    ).body
    assert auth["signed_at"] == "2026-12-10"
    assert auth["expires_at"] == (date(2027, 6, 30) + timedelta(days=10)).isoformat()
    assert auth["information"] == _sample("sample-authorization.json")["information"]

    with pytest.raises(NothingToDate, match="no signed_at"):
        redate(Redate(body={"clinic_id": "x"}, stamp=STAMPS["authorization"], now=now))


def test_flag_now_sends_the_dated_body_and_says_so(monkeypatch, tmp_path):
    sent: list[dict] = []

    class Answer:
        status_code = 202
        text = '{"case_id": "demo-clinic.F-1002"}'

    def post(url, json, timeout, headers):
        sent.append(json)
        return Answer()

    monkeypatch.setattr(main.httpx, "post", post)
    sample = str(ROOT / "deploy/dev/sample-child-abuse-flag.json")
    env = {"CONFIDE_API_KEY": "k", "CONFIDE_VAR_DIR": str(tmp_path)}

    plain = invoke("flag", sample, env=env)
    dated = invoke("flag", sample, "--now", env=env)

    assert sent[0] == _sample("sample-child-abuse-flag.json")  # without --now: as written
    assert "--now" not in plain.output
    flagged = datetime.fromisoformat(sent[1]["flagged_at"])
    assert abs(flagged - datetime.now(UTC)) < timedelta(minutes=1)
    assert flagged.utcoffset() == datetime.now(PACIFIC).utcoffset()  # the clinic's zone
    assert "--now: flagged_at set to" in dated.output


# ------------------------------------------------------------------------------------- help


def test_every_help_fits_80_columns():
    commands = [
        [],
        ["dev"],
        ["worker"],
        ["flag"],
        ["legal-request"],
        ["authorization"],
        ["accounting-request"],
        ["tasks"],
        ["complete"],
        ["migrate"],
        ["ledger"],
        ["accounting"],
        ["policy"],
        ["policy", "show"],
        ["keys"],
        ["keys", "show"],
        ["keys", "rotate"],
        ["audit"],
        ["audit", "replay"],
        ["audit", "report"],
        ["audit", "verify"],
        ["audit", "archive"],
        ["audit", "schedule"],
    ]
    for args in commands:
        out = invoke(*args, "--help").output
        fits(out)
        assert "Usage: confide" in out


def test_every_short_help_is_one_line_of_source():
    # Typer prints a command's first paragraph in the command list with its line breaks kept:
    # written over two source lines, it shows as two broken lines at any width.
    import inspect

    import click
    import typer

    def walk(cmd: click.Command, path: str):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    for path, cmd in walk(typer.main.get_command(main.app), "confide"):
        first = inspect.cleandoc(cmd.help or "").split("\n\n")[0]
        assert "\n" not in first, path
