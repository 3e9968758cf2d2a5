"""`confide audit ...`: the auditor's commands. Replay and report a case from Temporal while it
keeps the history and from the archive after; verify the hash chains; run or schedule the
archive.

These commands read; they never migrate the database (an auditor's newer `confide` must not
change production's schema): a database at another revision is refused in one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from cli import layout
from infra.settings import Settings

audit_app = typer.Typer(
    help="For auditors: replay, report, verify the record; archive closed histories.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(1)


def _guarded(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; known failures become one line and exit 1, never a trace."""
    from sqlalchemy.exc import DBAPIError
    from temporalio.service import RPCError

    from infra.migrate import SchemaMismatch

    try:
        return asyncio.run(coro)
    except RPCError as e:
        raise _fail(f"Temporal answered: {e.message}") from None
    except DBAPIError as e:
        raise _fail(f"the ledger database: {type(e.orig).__name__}: {e.orig}") from None
    except SchemaMismatch as e:
        raise _fail(str(e)) from None
    except RuntimeError as e:
        if "connect" not in str(e).lower():
            raise
        raise _fail(
            f"cannot reach Temporal ({e}); is a server up, or TEMPORAL_ADDRESS set?"
        ) from None


async def _client_or_none(settings: Settings, archive_only: bool):
    """A Temporal client, or None (with a note) when told to or when Temporal is not there."""
    if archive_only:
        return None
    from infra.temporal import connect

    try:
        return await asyncio.wait_for(connect(settings), timeout=10)
    except (RuntimeError, TimeoutError) as e:
        err.print(
            f"[yellow]note:[/] Temporal at {settings.temporal_address} is not reachable "
            f"({type(e).__name__}); reading the archive only."
        )
        return None


def _ledger(settings: Settings):
    """The ledger database, opened for reading at exactly this code's schema."""
    from sqlalchemy.engine import make_url

    from infra.ledger_db import Ledger
    from infra.migrate import SchemaMismatch, check

    url = make_url(settings.ledger_url)
    # SQLite would create an empty file and find nothing wrong with it: a typo must not pass.
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        raise SchemaMismatch(f"no ledger database at {url.database} (CONFIDE_LEDGER_URL)")
    ledger = Ledger(settings.ledger_url)
    check(ledger.engine)
    return ledger


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD", param_hint="--since"
        ) from None


def _files(paths: list[Path]):
    from audit.replay import from_files

    for p in paths:
        if not p.is_file():
            raise typer.BadParameter(f"{p} is not a file", param_hint="--file")
    try:
        return from_files(paths)
    except (ValueError, KeyError) as e:
        raise typer.BadParameter(
            f"not a workflow history exported as JSON ({type(e).__name__})", param_hint="--file"
        ) from None


def _said(o, width: int) -> list[str]:
    """One replayed run: ok or FAIL and the workflow id, then its run and source, and where it
    diverged; each id whole on its line."""
    lines = layout.fill([o.workflow_id], "ok    " if o.ok else "FAIL  ", "      ", width)
    lines += layout.para(f"run {o.run_id} ({o.source}, {o.events} events)", width, "      ")
    if not o.ok:
        at = (
            f"diverged at event {o.diverged_at_event} ({o.diverged_event_type}): "
            if o.diverged_at_event
            else ""
        )
        lines += layout.para(at + (o.error or ""), width, "      ")
    return lines


@audit_app.command("replay")
def replay_cmd(
    target: Annotated[
        str | None,
        typer.Argument(help="A case id (replays its concerns too) or any workflow id"),
    ] = None,
    all_: Annotated[
        bool,
        typer.Option("--all", help="Every workflow still open or started since --since"),
    ] = False,
    since: Annotated[str | None, typer.Option(help="With --all: YYYY-MM-DD (UTC)")] = None,
    file: Annotated[list[Path] | None, typer.Option(help="History JSON file(s) instead")] = None,
    archive_only: Annotated[
        bool, typer.Option("--archive-only", help="Do not ask Temporal; read the archive")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array of the runs replayed, at the end")
    ] = False,
) -> None:
    """Replay histories with this code: clean, or where they diverge. Exit 1 on any failure."""
    from audit.replay import replay_each, runs
    from infra.archive_db import ArchiveStore

    if sum(bool(x) for x in (target, all_, file)) != 1:
        raise typer.BadParameter("give one of: a CASE_OR_WORKFLOW_ID, --all, or --file")
    if since and not all_:
        raise typer.BadParameter("--since goes with --all", param_hint="--since")
    start = _since(since)
    recorded = _files(file) if file else None

    async def go() -> tuple[int, int]:
        if recorded is not None:
            source = recorded
        else:
            settings = Settings.from_env()
            ledger = _ledger(settings)
            client = await _client_or_none(settings, archive_only)
            source = runs(target, client=client, archive=ArchiveStore(ledger.engine), since=start)
        total = failed = 0
        # One batch replay for every run (the SDK's replay iterator), each reported as it ends
        # (with --json, all at the end: one document).
        async for o in replay_each(source):
            total, failed = total + 1, failed + (not o.ok)
            if as_json:
                seen.append({**o.model_dump(mode="json"), "ok": o.ok})
            else:
                layout.show(out, _said(o, out.width))
        return total, failed

    out = layout.console()
    seen: list[dict] = []
    total, failed = _guarded(go())
    if total == 0:
        where = f"for {target}" if target else "in that period"
        raise _fail(f"no history found {where}, in Temporal or the archive.")
    if as_json:
        layout.print_json(seen)
    else:
        layout.show(
            out,
            layout.para(
                f"{total - failed} clean, {failed} failed."
                + (" Do not deploy this code over these cases." if failed else ""),
                out.width,
            ),
        )
    raise typer.Exit(1 if failed else 0)


@audit_app.command("report")
def report_cmd(
    case: Annotated[
        str, typer.Argument(help="A case, legal request, authorization or accounting id")
    ],
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    pdf: Annotated[Path | None, typer.Option(help="Also write a printable PDF here")] = None,
    archive_only: Annotated[
        bool, typer.Option("--archive-only", help="Do not ask Temporal; read the archive")
    ] = False,
) -> None:
    """The timeline an auditor reads: trigger, policy, tasks, notices, disclosures, outcome."""
    from audit.replay import gather
    from audit.timeline import build_report
    from infra.archive_db import ArchiveStore

    if pdf is not None and not pdf.parent.is_dir():
        raise typer.BadParameter(f"{pdf.parent} is not a folder", param_hint="--pdf")

    async def go():
        settings = Settings.from_env()
        ledger = _ledger(settings)
        client = await _client_or_none(settings, archive_only)
        recorded = await gather(case, client=client, archive=ArchiveStore(ledger.engine))
        if not recorded:
            raise _fail(f"no history found for {case}, in Temporal or the archive.")
        return await build_report(recorded, ledger)

    report = _guarded(go())
    if pdf is not None:
        from audit.report_pdf import render_pdf

        pdf.write_bytes(render_pdf(report))
    if json_:
        print(report.model_dump_json(indent=2))
    else:
        from cli.audit_text import ReportText, render_report

        out = layout.console()
        layout.show(out, render_report(ReportText(report=report, width=out.width)))
    if pdf is not None:
        err.print(f"PDF written to {pdf}")


def _chain_lines(c, width: int) -> list[str]:
    """One chain verified: ok with its length and head hash, or BROKEN where and why."""
    if c.broken is None:
        said = f"{c.chain}: {c.links} entries, head {c.head_hash}"
        return layout.fill(said.split(), "ok      ", "        ", width)
    b = c.broken
    where = f"entry {b.seq}" if b.seq is not None else "after the last entry"
    row = f"{b.source} row {b.source_id}" if b.source_id is not None else b.source
    said = f"{c.chain}: {where} ({row}): {b.problem}. The first {c.links} entries hold."
    return layout.fill(said.split(), "BROKEN  ", "        ", width)


@audit_app.command("fhir")
def fhir_cmd(
    case: Annotated[str, typer.Argument(help="A case, legal request or authorization id")],
    out: Annotated[
        Path | None, typer.Option(help="Write the Bundle here instead of printing it")
    ] = None,
) -> None:
    """The case's disclosures as FHIR AuditEvents (IHE BALP Privacy Disclosure), one Bundle."""
    from audit.fhir_audit_events import audit_bundle
    from domain.clinic import ClinicDirectory
    from infra.ledger_db import Ledger

    settings = Settings.from_env()
    rows = Ledger(settings.ledger_url).for_case(case)
    if not rows:
        raise typer.BadParameter(f"the ledger holds no disclosure for {case}", param_hint="case")
    clinic = ClinicDirectory.load(settings.clinics_file).get(rows[0].clinic_id)
    bundle = audit_bundle(rows, clinic.name if clinic else rows[0].clinic_id)
    text = bundle.model_dump_json(exclude_none=True, indent=2)
    if out is None:
        typer.echo(text)
        return
    out.write_text(text + "\n")
    typer.echo(f"{len(rows)} AuditEvents for {case} written to {out}")


@audit_app.command("consent")
def consent_cmd(
    case: Annotated[str, typer.Argument(help="An authorization's id, e.g. demo-clinic.A-4001")],
) -> None:
    """An authorization as a FHIR Consent (its status from the phase). Needs a worker.

    The authorization lives in its workflow, which is asked (a query: nothing is recorded)."""
    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError, RPCStatusCode

    from domain.authorization import Authorization
    from domain.case import CaseStatus
    from domain.clinic import ClinicDirectory
    from infra.temporal import connect
    from intake.fhir_consent import consent

    settings = Settings.from_env()

    async def go():
        handle = (await connect(settings)).get_workflow_handle(case)
        try:
            status = await handle.query("status", result_type=CaseStatus)
            if status.path != "authorization":
                return None, status
            return await handle.query("authorization", result_type=Authorization), status
        except WorkflowQueryFailedError:
            # A workflow that answers no `status` (a FHIR feed, a write-back pass).
            raise typer.BadParameter(f"{case} is not an authorization", param_hint="case") from None
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise typer.BadParameter(
                    f"no workflow {case} in Temporal", param_hint="case"
                ) from None
            raise

    auth, status = _guarded(go())
    if auth is None:
        raise typer.BadParameter(
            f"{case} is a {status.path}, not an authorization", param_hint="case"
        )
    clinic = ClinicDirectory.load(settings.clinics_file).get(status.clinic_id)
    resource = consent(auth, status.status, case, clinic.name if clinic else status.clinic_id)
    typer.echo(resource.model_dump_json(exclude_none=True, indent=2))


@audit_app.command("verify")
def verify_cmd(
    as_json: Annotated[
        bool, typer.Option("--json", help="Each chain's length, head hash and first bad link")
    ] = False,
) -> None:
    """Recompute the ledger's and archive's hash chains; exit 1 naming the first bad link."""
    from dataclasses import asdict

    from audit.verify import verify_all

    async def go():
        return verify_all(_ledger(Settings.from_env()))

    checks = _guarded(go())
    broken = sum(c.broken is not None for c in checks)
    if as_json:
        layout.print_json([asdict(c) for c in checks])
        raise typer.Exit(1 if broken else 0)
    out = layout.console()
    for c in checks:
        layout.show(out, _chain_lines(c, out.width))
    if not broken:
        layout.show(
            out,
            layout.para(
                "Note the head hashes: the next verify must end in them or extend them.",
                out.width,
            ),
        )
    raise typer.Exit(1 if broken else 0)


@audit_app.command("archive")
def archive_cmd(
    everything: Annotated[
        bool, typer.Option(help="Look at every closed workflow, not just recent ones")
    ] = False,
) -> None:
    """Archive closed workflows' histories now (the schedule does it hourly). Needs a worker."""
    from activities.archive import ArchivePass
    from infra.temporal import connect
    from workflows.archive import ArchiveWorkflow

    settings = Settings.from_env()

    async def go():
        client = await connect(settings)
        return await client.execute_workflow(
            ArchiveWorkflow.run,
            ArchivePass(everything=everything),
            id=f"confide-archive-now-{datetime.now(UTC):%Y%m%dT%H%M%S}",
            task_queue=settings.task_queue,
        )

    console.print("Archiving closed workflows (a worker must be running) ...")
    outcome = _guarded(go())
    console.print(
        f"{outcome.archived} newly archived of {outcome.seen} closed workflow run(s) looked at."
    )
    if outcome.failed:
        console.print(
            f"[red]{len(outcome.failed)} could not be archived[/] (the next pass tries again):"
        )
        layout.show(layout.console(), [f"{layout.INDENT}{wid}" for wid in outcome.failed])
        raise typer.Exit(1)


@audit_app.command("schedule")
def schedule_cmd() -> None:
    """Create or update the archive's Schedule, and the FHIR write-back's if EHRs are set.

    Archive: every CONFIDE_ARCHIVE_EVERY_MINUTES (60). FHIR write-back, when
    CONFIDE_FHIR_SOURCES names EHRs: every CONFIDE_FHIR_WRITE_BACK_MINUTES (5)."""
    from audit import fhir_schedule
    from audit.archive import SCHEDULE_ID, ensure_schedule, interval
    from infra.fhir_sources import FhirSources
    from infra.temporal import connect

    settings = Settings.from_env()
    fhir = bool(FhirSources.from_env().sources)

    async def go():
        client = await connect(settings)
        await ensure_schedule(client, settings)
        if fhir:
            await fhir_schedule.ensure_write_back_schedule(client, settings)

    _guarded(go())
    console.print(f"Schedule {SCHEDULE_ID}: archive every {interval()}.")
    if fhir:
        console.print(
            f"Schedule {fhir_schedule.SCHEDULE_ID}: disclosures written into the EHRs every "
            f"{fhir_schedule.interval()}."
        )
