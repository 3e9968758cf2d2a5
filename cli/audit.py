"""`confide audit ...`: the auditor's commands. Replay and report a case from Temporal while it
keeps the history and from the archive after; verify the hash chains; run or schedule the
archive."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra.settings import Settings

audit_app = typer.Typer(
    help="For auditors: replay, report, verify the record; archive closed histories.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)


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
    from infra.ledger_db import Ledger

    ledger = Ledger(settings.ledger_url)
    ledger.migrate()
    return ledger


async def _gather(target: str | None, since: datetime | None, archive_only: bool):
    from audit.replay import gather
    from infra.archive_db import ArchiveStore

    settings = Settings.from_env()
    ledger = _ledger(settings)
    client = await _client_or_none(settings, archive_only)
    recorded = await gather(target, client=client, archive=ArchiveStore(ledger.engine), since=since)
    return recorded, ledger


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD", "--since") from None


@audit_app.command("replay")
def replay_cmd(
    target: Annotated[
        str | None,
        typer.Argument(help="A case id (replays its concerns too) or any workflow id"),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every workflow started since --since")
    ] = False,
    since: Annotated[str | None, typer.Option(help="With --all: YYYY-MM-DD (UTC)")] = None,
    file: Annotated[list[Path] | None, typer.Option(help="History JSON file(s) instead")] = None,
    archive_only: Annotated[
        bool, typer.Option("--archive-only", help="Do not ask Temporal; read the archive")
    ] = False,
) -> None:
    """Replay histories with this code: clean, or where they diverge. Exit 1 on any failure."""
    from audit.replay import from_files, replay

    if sum(bool(x) for x in (target, all_, file)) != 1:
        raise typer.BadParameter("give one of: a CASE_OR_WORKFLOW_ID, --all, or --file")
    if since and not all_:
        raise typer.BadParameter("--since goes with --all", param_hint="--since")

    async def go():
        if file:
            return await replay(from_files(file))
        recorded, _ = await _gather(target, _since(since), archive_only)
        if not recorded:
            where = f"for {target}" if target else "in that period"
            err.print(f"[red]error:[/] no history found {where}, in Temporal or the archive.")
            raise typer.Exit(1)
        console.print(f"Replaying {len(recorded)} run(s) with this code ...")
        return await replay(recorded)

    outcomes = asyncio.run(go())
    table = Table("", "workflow", "run", "from", "events", "result")
    for column in table.columns:
        column.overflow = "fold"
    for o in outcomes:
        detail = "clean"
        if not o.ok:
            at = (
                f"diverged at event {o.diverged_at_event} ({o.diverged_event_type}): "
                if o.diverged_at_event
                else ""
            )
            detail = at + (o.error or "")
        table.add_row(
            "[green]ok[/]" if o.ok else "[red]FAIL[/]",
            o.workflow_id,
            o.run_id,
            o.source,
            str(o.events),
            detail,
        )
    console.print(table)
    failed = sum(not o.ok for o in outcomes)
    console.print(
        f"{len(outcomes) - failed} clean, {failed} failed."
        + (" Do not deploy this code over these cases." if failed else "")
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
    from audit.timeline import build_report

    async def go():
        recorded, ledger = await _gather(case, None, archive_only)
        if not recorded:
            err.print(f"[red]error:[/] no history found for {case}, in Temporal or the archive.")
            raise typer.Exit(1)
        return await build_report(recorded, ledger)

    report = asyncio.run(go())
    if pdf is not None:
        from audit.report_pdf import render_pdf

        pdf.write_bytes(render_pdf(report))
    if json_:
        print(report.model_dump_json(indent=2))
    else:
        from audit.report_text import print_report

        print_report(console, report)
    if pdf is not None:
        err.print(f"PDF written to {pdf}")


@audit_app.command("verify")
def verify_cmd() -> None:
    """Recompute the ledger's and archive's hash chains; exit 1 naming the first bad link."""
    from audit.verify import verify_all

    settings = Settings.from_env()
    checks = verify_all(_ledger(settings))
    broken = 0
    for c in checks:
        if c.broken is None:
            console.print(f"[green]ok[/]   {c.chain}: {c.links} entries, head {c.head_hash}")
            continue
        broken += 1
        b = c.broken
        where = f"entry {b.seq}" if b.seq is not None else "after the last entry"
        row = f"{b.source} row {b.source_id}" if b.source_id is not None else b.source
        console.print(
            f"[red]BROKEN[/] {c.chain}: {where} ({row}): {b.problem}. "
            f"The first {c.links} entries hold."
        )
    if not broken:
        console.print("Note the head hashes: the next verify must end in them or extend them.")
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
    outcome = asyncio.run(go())
    console.print(
        f"{outcome.archived} newly archived of {outcome.seen} closed workflow run(s) looked at."
    )


@audit_app.command("schedule")
def schedule_cmd() -> None:
    """Create or update the hourly archive Schedule (CONFIDE_ARCHIVE_EVERY_MINUTES)."""
    from audit.archive import SCHEDULE_ID, ensure_schedule, interval
    from infra.temporal import connect

    settings = Settings.from_env()

    async def go():
        await ensure_schedule(await connect(settings), settings)

    asyncio.run(go())
    console.print(f"Schedule {SCHEDULE_ID}: archive every {interval()}.")
