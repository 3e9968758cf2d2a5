"""The `confide` command: run the stack, send flags, list and complete tasks, replay, policy."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from cli.accounting import accounting
from cli.audit import audit_app, replay_cmd
from infra.settings import Settings

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


def _post(path: str, file: Path, api: str | None, api_key: str | None) -> None:
    """POST a JSON file to the intake API and print the answer; non-zero exit on an error."""
    settings = Settings.from_env()
    url = (api or f"http://127.0.0.1:{settings.api_port}") + path
    try:
        body = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise typer.BadParameter(f"{file} is not JSON: {e}") from None
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


ApiOption = Annotated[str | None, typer.Option(help="Intake API base URL")]
KeyOption = Annotated[str | None, typer.Option(help="Clinic API key")]


@app.command()
def flag(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Flag JSON body")],
    api: ApiOption = None,
    api_key: KeyOption = None,
) -> None:
    """Send a flagged session to the intake API; prints the case and its Web UI link."""
    _post("/v1/flags", file, api, api_key)


@app.command("legal-request")
def legal_request(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Legal request JSON body")
    ],
    api: ApiOption = None,
    api_key: KeyOption = None,
) -> None:
    """Send a court order, subpoena, warrant or administrative request to the intake API."""
    _post("/v1/legal-requests", file, api, api_key)


@app.command("authorization")
def authorization(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Authorization JSON body")
    ],
    api: ApiOption = None,
    api_key: KeyOption = None,
) -> None:
    """Send a patient's authorization (45 CFR 164.508); a defective one waits on hold."""
    _post("/v1/authorizations", file, api, api_key)


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
) -> None:
    """Open tasks across all running cases: case, task, role, due, overdue."""
    rows = _run(_open_tasks(clinic))
    if as_json:
        # For scripts: whole ids and times with their offsets, nothing folded to fit a screen.
        print(json.dumps([{"case_id": c, **t.model_dump(mode="json")} for c, t in rows], indent=1))
        return
    table = Table("case", "task", "kind", "role", "due", "overdue", "workflow")
    for column in table.columns:
        column.overflow = "fold"  # ids must stay whole to be pasted
    for case_id, t in rows:
        table.add_row(
            case_id,
            t.task_id,
            t.kind.value,
            " or ".join(r.value for r in t.allowed_roles),
            t.due_at.isoformat(timespec="minutes"),
            "[bold red]OVERDUE[/]" if t.overdue else "",
            t.workflow_id,
        )
    console.print(table if rows else "No open tasks.")


async def _open_tasks(clinic: str | None):
    from infra.temporal import connect
    from workflows.case import CaseWorkflow

    client = await connect(Settings.from_env())
    query = (
        "(ConfidePath = 'case' OR ConfidePath = 'legal_request') AND ExecutionStatus = 'Running'"
    )
    if clinic:
        query += f" AND ConfideClinic = '{clinic}'"
    rows = []
    async for wf in client.list_workflows(query):
        for t in await client.get_workflow_handle(wf.id).query(CaseWorkflow.tasks):
            rows.append((wf.id, t))
    return sorted(rows, key=lambda r: r[1].due_at)


@app.command()
def complete(
    case_id: str,
    task_id: str,
    actor: Annotated[str, typer.Option(help="Roster id of the person completing it")],
    outcome: Annotated[str | None, typer.Option()] = None,
    data: Annotated[str, typer.Option(help="The task's form as JSON")] = "{}",
    code: Annotated[str | None, typer.Option(help="Approval code from the e-mail")] = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Complete a task with the `complete_task` Update (same validation as the Web UI)."""
    from temporalio.client import WorkflowUpdateFailedError

    from domain.tasks import TaskCompletion

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
        done = TaskCompletion(
            task_id=task_id, actor=actor, outcome=outcome, data=form, code=code, note=note
        )
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
    case_id: str,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array of the rows, every field")
    ] = False,
) -> None:
    """The disclosures recorded for a case (the ledger's rows)."""
    from infra.ledger_db import Ledger

    rows = Ledger(Settings.from_env().ledger_url).for_case(case_id)
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=1))
        return
    table = Table("date", "recipient", "address", "what", "purpose", "legal basis", "task")
    for column in table.columns:
        column.overflow = "fold"
    for r in rows:
        table.add_row(
            r.disclosed_at.isoformat(timespec="minutes"),
            r.recipient_name,
            r.recipient_address,
            r.description,
            r.purpose,
            r.legal_basis,
            r.task_ref or "",
        )
    console.print(table if rows else f"No disclosures recorded for {case_id}.")
    for r in rows:
        if r.documents:
            docs = Table("document", "category", "date", "sha256", title=f"Released in {r.step}")
            for column in docs.columns:
                column.overflow = "fold"
            for d in r.documents:
                docs.add_row(d.id, d.category, d.date.isoformat(), d.sha256)
            console.print(docs)


def _keyring_file(settings: Settings) -> Path:
    if os.environ.get("CONFIDE_KEYRING"):
        raise typer.BadParameter(
            "CONFIDE_KEYRING is set: rotate it in the secret store that "
            "provides it (this command edits keyring files)"
        )
    return Path(os.environ.get("CONFIDE_KEYRING_FILE") or settings.var_dir / "keyring.json")


@keys_app.command("show")
def keys_show() -> None:
    """List key ids and which one encrypts new payloads (never the keys)."""
    from infra.keyring import Keyring

    settings = Settings.from_env()
    ring = Keyring.from_env(settings.var_dir / "keyring.json")
    for kid in ring.keys:
        console.print(f"{kid}{'  (current)' if kid == ring.current else ''}")


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
def policy_show(jurisdiction: str) -> None:
    """Show a jurisdiction's duty-to-warn rule, its sources and what is unverified."""
    from domain.policy import describe_plans
    from intake.policy_store import UnknownJurisdiction, resolve_policy

    try:
        snap = resolve_policy(jurisdiction.upper())
    except UnknownJurisdiction as e:
        raise typer.BadParameter(str(e)) from None
    rule = snap.duty_to_warn
    table = Table(show_header=False)
    for label, value in [
        ("jurisdiction", f"{rule.jurisdiction} ({rule.name})"),
        ("policy version", snap.version),
        ("duty to warn", f"{rule.category.value} ({rule.category_basis})"),
        ("trigger", rule.trigger),
        ("discharge", describe_plans(rule)),
        ("permitted", ", ".join(a.value for a in rule.permitted_actions) or "-"),
        ("optional", ", ".join(a.value for a in rule.optional_actions) or "-"),
        ("forbidden", ", ".join(a.value for a in rule.forbidden_actions) or "-"),
        ("statute", rule.statute),
        ("unverified", ", ".join(rule.unverified) or "none"),
        ("sources", "\n".join(rule.sources)),
        ("notes", rule.notes or "-"),
        ("timers", ", ".join(f"{k}={v}" for k, v in snap.timers.model_dump().items())),
        *_legal_rows(rule.jurisdiction),
    ]:
        table.add_row(label, str(value))
    console.print(table)


def _legal_rows(jurisdiction: str) -> list[tuple[str, str]]:
    """The court-order / subpoena rules of a jurisdiction, as `policy show` lists them."""
    from intake.policy_store import legal_rule

    legal = legal_rule(jurisdiction)
    window = legal.objection
    counted = (
        f"{window.days} days after service"
        if window.counted == "after_service"
        else f"ends {window.days} days before production"
    )
    return [
        ("subpoena: objection window", f"{counted} ({window.basis})"),
        ("subpoena: privilege", legal.privilege),
        ("subpoena: therapist must claim it", str(legal.therapist_must_claim)),
        ("subpoena: court order required", str(legal.court_order_required)),
        (
            "subpoena: unverified",
            "default (no state rule encoded)"
            if legal.default
            else ", ".join(legal.unverified) or "none",
        ),
        ("subpoena: sources", "\n".join(legal.sources)),
    ]


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
