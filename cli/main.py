"""The `confide` command: run the stack, send flags, list and complete tasks, replay, policy."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.console import Console

from cli import layout
from cli.accounting import accounting
from cli.audit import audit_app, replay_cmd
from cli.dated import STAMPS, NothingToDate, Redate, redate
from infra.settings import Settings

if TYPE_CHECKING:
    from domain.tasks import TaskCompletion, TaskView

app = typer.Typer(
    help="Confide: confidentiality-exception workflows on Temporal.",
    no_args_is_help=True,
    add_completion=False,
)
policy_app = typer.Typer(help="Jurisdiction policy data.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
keys_app = typer.Typer(help="The payload keyring (CONFIDE_KEYRING_FILE).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
console = Console()


def _run(coro):
    """Run a coroutine for a command; turn connection and server errors into one line."""
    from temporalio.service import RPCError

    try:
        return asyncio.run(coro)
    except RPCError as e:
        console.print(f"[red]error:[/] {e.message}")
        raise typer.Exit(1) from None
    except RuntimeError as e:
        if "connect" not in str(e).lower():
            raise
        console.print(
            f"[red]error:[/] cannot reach Temporal ({e}); is `make run` up, or "
            "TEMPORAL_ADDRESS set?"
        )
        raise typer.Exit(1) from None


def _api_key(settings: Settings, given: str | None) -> str:
    key = given or os.environ.get("CONFIDE_API_KEY") or os.environ.get("CONFIDE_DEV_API_KEY")
    path = settings.var_dir / "dev-api-key"
    if not key and path.exists():
        key = path.read_text().strip()
    if not key:
        raise typer.BadParameter("no API key: pass --api-key or set CONFIDE_API_KEY")
    return key


@app.command()
def dev() -> None:
    """Run the whole dev stack (Temporal + Web UI, mail sink, worker, intake API)."""
    from cli.dev import run_dev

    asyncio.run(run_dev())


@app.command()
def worker() -> None:
    """Run a worker against TEMPORAL_ADDRESS until Ctrl-C."""
    from worker import main

    asyncio.run(main())


def _read_body(file: Path) -> dict:
    try:
        body = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise typer.BadParameter(f"{file} is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise typer.BadParameter(f"{file} is not a JSON object")
    return body


def _dated_now(body: dict, command: str, settings: Settings) -> dict:
    """The body dated to now (`--now`), in its clinic's zone; one line on stderr says which
    times changed, so stdout stays the API's answer."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    clinic = layout.load_clinics(settings.clinics_file).get(str(body.get("clinic_id")))
    now = datetime.now(ZoneInfo(clinic.timezone)) if clinic else datetime.now(UTC)
    try:
        dated = redate(Redate(body=body, stamp=STAMPS[command], now=now))
    except NothingToDate as e:
        raise typer.BadParameter(str(e), param_hint="--now") from None
    err = layout.console(stderr=True)
    layout.show(err, layout.para(dated.said, err.width))
    return dated.body


def _post(path: str, file: Path, api: str | None, api_key: str | None, now: str = "") -> None:
    """POST a JSON file to the intake API and print the answer; non-zero exit on an error.
    `now` names the command whose times `--now` sets (empty: send the file as it is)."""
    settings = Settings.from_env()
    url = (api or f"http://127.0.0.1:{settings.api_port}") + path
    body = _read_body(file)
    if now:
        body = _dated_now(body, now, settings)
    try:
        r = httpx.post(
            url,
            json=body,
            timeout=30,
            headers={"Authorization": f"Bearer {_api_key(settings, api_key)}"},
        )
    except httpx.ConnectError:
        console.print(f"[red]error:[/] cannot reach the intake API at {url}; is `make run` up?")
        raise typer.Exit(1) from None
    console.print_json(r.text)
    if r.status_code >= 400:
        raise typer.Exit(1)


# No '[...]' in help texts: the help is rich markup, which would swallow it as a style.
ApiOption = Annotated[
    str | None,
    typer.Option(help="Intake API base URL (default: http://127.0.0.1:$CONFIDE_API_PORT)"),
]
KeyOption = Annotated[
    str | None,
    typer.Option(help="Clinic API key (default: $CONFIDE_API_KEY, else var/dev-api-key)"),
]


def _now_option(what: str) -> object:
    return typer.Option(
        "--now", help=f"Date it to this moment first: {what}; prints which times were set"
    )


@app.command()
def flag(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Flag JSON body")],
    api: ApiOption = None,
    api_key: KeyOption = None,
    now: Annotated[
        bool, _now_option("flagged_at becomes now, each known_at keeps its distance")
    ] = False,
) -> None:
    """Send a flagged session to the intake API; prints the case and its Web UI link.

    The samples carry fixed dates: with --now an abuse report's clock starts
    now, not days ago, so its tasks are not overdue the moment it opens."""
    _post("/v1/flags", file, api, api_key, now="flag" if now else "")


@app.command("legal-request")
def legal_request(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Legal request JSON body")
    ],
    api: ApiOption = None,
    api_key: KeyOption = None,
    now: Annotated[
        bool, _now_option("served_at becomes now, response_due as many days after")
    ] = False,
) -> None:
    """Send a court order, subpoena, warrant or administrative request to the intake API."""
    _post("/v1/legal-requests", file, api, api_key, now="legal-request" if now else "")


@app.command("authorization")
def authorization(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Authorization JSON body")
    ],
    api: ApiOption = None,
    api_key: KeyOption = None,
    now: Annotated[
        bool, _now_option("signed_at becomes today, expires_at as many days after")
    ] = False,
) -> None:
    """Send a patient's authorization (45 CFR 164.508); a defective one waits on hold."""
    _post("/v1/authorizations", file, api, api_key, now="authorization" if now else "")


@app.command("accounting-request")
def accounting_request(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Accounting request JSON body")
    ],
    api: ApiOption = None,
    api_key: KeyOption = None,
) -> None:
    """Record a patient's request for the accounting of disclosures (due in 60 days)."""
    _post("/v1/accounting-requests", file, api, api_key)


@app.command()
def tasks(
    clinic: Annotated[str | None, typer.Option(help="Only this clinic's cases")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array, each task with its case_id")
    ] = False,
    as_fhir: Annotated[
        bool, typer.Option("--fhir", help="One FHIR Bundle of Tasks (owner, deadline, status)")
    ] = False,
) -> None:
    """Open tasks of all running cases, overdue first: what, when due, who may do it, the ids.

    Times are in each clinic's zone; the case, task and workflow ids stand whole
    on lines of their own, to paste into `confide complete`."""
    from cli.listings import OpenTask, TaskListing, render_tasks

    rows = _run(_open_tasks(clinic))
    if as_fhir:
        from intake.fhir_tasks import task_bundle

        typer.echo(task_bundle(rows).model_dump_json(exclude_none=True, indent=2))
        return
    if as_json:
        layout.print_json([{**t.model_dump(mode="json"), "case_id": c} for c, t in rows])
        return
    out = layout.console()
    listing = TaskListing(
        tasks=[OpenTask(case_id=c, task=t) for c, t in rows],
        clinics=layout.load_clinics(Settings.from_env().clinics_file),
        width=out.width,
        clinic_filter=clinic,
    )
    layout.show(out, render_tasks(listing))


async def _open_tasks(clinic: str | None):
    from temporalio.service import RPCError

    from domain.tasks import TaskView
    from infra.temporal import connect

    client = await connect(Settings.from_env())
    # A case answers `tasks` for its concerns too, so concern workflows are not asked again;
    # every other kind of workflow with human tasks holds its own.
    query = (
        "ConfidePath IN ('case', 'legal_request', 'authorization', 'accounting') "
        "AND ExecutionStatus = 'Running'"
    )
    if clinic:
        query += f" AND ConfideClinic = '{clinic}'"
    rows = []
    async for wf in client.list_workflows(query):
        try:
            views = await client.get_workflow_handle(wf.id).query(
                "tasks", result_type=list[TaskView]
            )
        except RPCError:
            continue  # closed between the list and the query: nothing waits there
        rows += [(wf.id, t) for t in views]
    return sorted(rows, key=lambda r: r[1].due_at)


def _completion(
    task: TaskView,
    actor: str,
    outcome: str | None,
    data: dict,
    code: str | None,
    note: str | None,
) -> TaskCompletion:
    """The `complete_task` argument `confide complete` sends for an open task."""
    from domain.forms import OUTCOMES
    from domain.tasks import TaskCompletion

    return TaskCompletion(
        task_id=task.task_id,
        actor=actor,
        # As --help says: without --outcome, the task's first (approve, reported...).
        outcome=outcome or OUTCOMES[task.kind][0],
        data=data,
        code=code,
        note=note,
    )


@app.command()
def complete(
    case_id: Annotated[str, typer.Argument(help="The case, e.g. demo-clinic.F-1001")],
    task_id: Annotated[str, typer.Argument(help="The task, as `confide tasks` lists it")],
    actor: Annotated[str, typer.Option(help="Roster id of the person completing it")],
    outcome: Annotated[
        str | None, typer.Option(help="One of the task's outcomes (default: its first)")
    ] = None,
    data: Annotated[str, typer.Option(help="The task's form as JSON")] = "{}",
    code: Annotated[str | None, typer.Option(help="Approval code from the e-mail")] = None,
    note: Annotated[
        str | None, typer.Option(help="A note for the record (or the question for counsel)")
    ] = None,
) -> None:
    """Complete a task with the `complete_task` Update (same validation as the Web UI)."""
    from temporalio.client import WorkflowUpdateFailedError

    try:
        form = json.loads(data)
    except json.JSONDecodeError as e:
        raise typer.BadParameter(f"--data is not JSON: {e}") from None

    async def go():
        from infra.temporal import connect
        from workflows.case import CaseWorkflow

        client = await connect(Settings.from_env())
        open_tasks = await client.get_workflow_handle(case_id).query(CaseWorkflow.tasks)
        task = next((t for t in open_tasks if t.task_id == task_id), None)
        if task is None:
            raise typer.BadParameter(f"no open task {task_id} in case {case_id}")
        done = _completion(task, actor, outcome, form, code, note)
        return await client.get_workflow_handle(task.workflow_id).execute_update(
            "complete_task", done
        )

    try:
        _run(go())
    except WorkflowUpdateFailedError as e:
        console.print(f"[red]rejected:[/] {getattr(e.cause, 'message', e.cause)}")
        raise typer.Exit(1) from None
    console.print(f"completed {task_id}")


@app.command()
def migrate() -> None:
    """Bring the ledger database (CONFIDE_LEDGER_URL) to this code's schema (Alembic)."""
    from infra.ledger_db import Ledger
    from infra.migrate import current, head

    ledger = Ledger(Settings.from_env().ledger_url)
    before = current(ledger.engine)
    ledger.migrate()
    console.print(f"schema revision {before or 'none'} -> {current(ledger.engine)} (head {head()})")


@app.command(hidden=True)
def replay(
    case_id: Annotated[str | None, typer.Argument(help="Replay a case and its concerns")] = None,
    file: Annotated[list[Path] | None, typer.Option(help="History JSON file(s) instead")] = None,
) -> None:
    """Same as `confide audit replay` (kept for scripts written before it)."""
    replay_cmd(target=case_id, all_=False, since=None, file=file, archive_only=False)


@app.command()
def ledger(
    case_id: Annotated[str, typer.Argument(help="The case, e.g. demo-clinic.F-1001")],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array of the rows, every field")
    ] = False,
) -> None:
    """The disclosures recorded for a case: when, to whom, what, why, on what basis.

    One block per ledger row, times in the clinic's zone; records released are
    listed with their SHA-256 and the packet's."""
    from cli.listings import LedgerListing, render_ledger
    from infra.ledger_db import Ledger

    settings = Settings.from_env()
    rows = Ledger(settings.ledger_url).for_case(case_id)
    if as_json:
        layout.print_json([r.model_dump(mode="json") for r in rows])
        return
    out = layout.console()
    listing = LedgerListing(
        case_id=case_id,
        rows=rows,
        zones=layout.clinic_zones(settings.clinics_file) if rows else layout.Zones(),
        width=out.width,
    )
    layout.show(out, render_ledger(listing))


def _keyring_file(settings: Settings) -> Path:
    if os.environ.get("CONFIDE_KEYRING"):
        raise typer.BadParameter(
            "CONFIDE_KEYRING is set: rotate it in the secret store that "
            "provides it (this command edits keyring files)"
        )
    return Path(os.environ.get("CONFIDE_KEYRING_FILE") or settings.var_dir / "keyring.json")


@keys_app.command("show")
def keys_show(
    as_json: Annotated[
        bool, typer.Option("--json", help="The key ids and the current one, as JSON")
    ] = False,
) -> None:
    """List key ids and which one encrypts new payloads (never the keys)."""
    from infra.keyring import Keyring

    settings = Settings.from_env()
    ring = Keyring.from_env(settings.var_dir / "keyring.json")
    if as_json:
        layout.print_json({"current": ring.current, "keys": list(ring.keys)})
        return
    out = layout.console()
    lines = [f"{layout.count(len(ring.keys), 'key')}; the current one encrypts new payloads:"]
    for kid in ring.keys:
        lines.append(f"{layout.INDENT}{kid}{'  (current)' if kid == ring.current else ''}")
    layout.show(out, lines)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new key and make it current; old keys stay so existing cases still decode.

    Restart workers and the API afterwards so they encrypt with the new key."""
    from infra.keyring import Keyring

    settings = Settings.from_env()
    path = _keyring_file(settings)
    ring = Keyring.from_env(path).rotated()
    ring.dump(path)
    console.print(f"new current key {ring.current} in {path} ({len(ring.keys)} keys)")


@policy_app.command("show")
def policy_show(
    jurisdiction: Annotated[str, typer.Argument(help="A state, e.g. US-CA")],
    clinic: Annotated[
        str | None,
        typer.Option(
            help="The clinic whose cases the case version is for (default: the first in "
            "this state in the clinics file, else the first there)"
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Every rule whole, and the versions, as JSON")
    ] = False,
) -> None:
    """A state's rules in plain words, their sources, what is unverified, and two versions.

    Duty to warn, child and elder abuse reporting, court orders and subpoenas,
    and Confide's time limits. The rules' own hash is the same for every clinic;
    a case's policy_version also covers its clinic's zone and holidays and the
    year it was flagged, and the command says which one a new case carries."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from cli.policy import PolicyQuery, describe, resolve
    from cli.policy import as_json as policy_json
    from intake.policy_store import UnknownJurisdiction

    code = jurisdiction.upper()
    clinics = layout.load_clinics(Settings.from_env().clinics_file)
    if clinic is not None and clinic not in clinics:
        raise typer.BadParameter(f"no clinic {clinic!r} in the clinics file", param_hint="--clinic")
    chosen = (
        clinics.get(clinic or "")
        or next((c for c in clinics.values() if c.jurisdiction == code), None)
        or next(iter(clinics.values()), None)
    )
    today = datetime.now(ZoneInfo(chosen.timezone) if chosen else UTC).date()
    out = layout.console()
    try:
        facts = resolve(PolicyQuery(jurisdiction=code, clinic=chosen, today=today, width=out.width))
    except UnknownJurisdiction as e:
        raise typer.BadParameter(str(e)) from None
    if as_json:
        layout.print_json(policy_json(facts))
        return
    layout.show(out, describe(facts))


@policy_app.command("coverage")
def policy_coverage(
    write: Annotated[
        bool, typer.Option("--write", help="Also write the table to docs/policy-coverage.md")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Every cell as JSON")] = False,
) -> None:
    """How well each jurisdiction's rules are sourced, path by path.

    Every jurisdiction x path (duty to warn, child abuse, elder abuse, court orders
    and subpoenas): sourced, partly sourced (naming the unconfirmed values) or on
    Confide's conservative default. Generated from the policy data."""
    from pathlib import Path

    from cli import coverage

    table = coverage.rows()
    if write:  # before printing: a reader that closes the pipe early must not skip it
        path = Path(__file__).resolve().parent.parent / coverage.DOC
        path.write_text(coverage.markdown(table))
        layout.console(stderr=True).print(f"wrote {path}")
    if as_json:
        layout.print_json([r.model_dump(mode="json") for r in table])
    else:
        layout.show(layout.console(), coverage.text(table))


app.command("accounting")(accounting)

if __name__ == "__main__":
    app()


def run() -> None:
    """The `confide` entry point: the app, then an exit that skips interpreter teardown.

    A short-lived process that used a Temporal client can abort while the interpreter
    finalizes (temporalio/sdk-python#300: the client's Rust threads release the GIL into a
    finalizing interpreter), turning a command that succeeded into exit 134. Every command has
    finished its work, closed its files and printed everything by the time `app()` returns.
    """
    code = 0
    try:
        app()
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            code = 1
        else:
            code = e.code or 0
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
