"""`confide accounting PATIENT_REF`: a patient's accounting of disclosures (164.528) from the
ledger, as a table for the privacy officer and, with --pdf, the document for the patient.

Registered by cli/main.py as `app.command("accounting")(accounting)`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from infra.settings import Settings


def accounting(
    patient_ref: Annotated[str, typer.Argument(help="The patient's reference (e.g. P-301)")],
    clinic: Annotated[str, typer.Option(help="Clinic id, as in the clinics file")] = "demo-clinic",
    period_from: Annotated[
        date | None,
        typer.Option(
            "--from",
            help="First day of a shorter period (YYYY-MM-DD); never more than six years back",
        ),
    ] = None,
    pdf: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Also write the patient's PDF to this file"),
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--no-summary", help="List every disclosure; no summary of repeated ones"),
    ] = False,
) -> None:
    """A patient's accounting of disclosures for the six years before today (or from --from)."""
    from domain.accounting import AccountingQuery, build_accounting
    from domain.clinic import ClinicDirectory
    from infra.accounting_pdf import AccountingDocument, render_accounting
    from infra.ledger_db import Ledger

    console = Console()
    settings = Settings.from_env()
    found = ClinicDirectory.load(settings.clinics_file).get(clinic)
    if found is None:
        raise typer.BadParameter(f"no clinic {clinic!r} in {settings.clinics_file}")
    url = make_url(settings.ledger_url)
    # A mistyped path must not yield an empty ledger (SQLite creates the file on connect)
    # and "no disclosures" from it: say there is no ledger instead.
    absent = url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file()
    ledger = Ledger(settings.ledger_url)
    tables = set() if absent else set(inspect(ledger.engine).get_table_names())
    if "disclosures" not in tables:
        where = url.render_as_string(hide_password=True)
        console.print(f"[red]error:[/] no ledger at {escape(where)} (CONFIDE_LEDGER_URL)")
        raise typer.Exit(1)
    if "accounting_suspensions" not in tables:
        ledger.migrate()  # a ledger from before suspensions: add their table
    try:
        query = AccountingQuery(
            clinic_id=clinic,
            patient_ref=patient_ref,
            requested_at=datetime.now(UTC),
            period_from=period_from,
            summarize=not full,
            timezone=found.timezone,
        )
        result = build_accounting(
            query,
            ledger.for_patient(clinic, patient_ref),
            ledger.suspensions_for(clinic, patient_ref),
        )
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--from") from None
    finally:
        ledger.engine.dispose()

    zone = ZoneInfo(found.timezone)
    period = f"{result.period_from.isoformat()} and {result.period_to.isoformat()}"
    if not result.entries:
        console.print(f"No disclosures to account for between {period}.")
    else:
        console.print(
            f"Accounting of disclosures for {escape(patient_ref)} at {escape(found.name)}: "
            f"between {period} (dates in {found.timezone})"
        )
        table = Table("date", "recipient", "address", "description", "basis", "count")
        for column in table.columns:
            column.overflow = "fold"
        for e in result.entries:
            when = e.date.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            if e.count > 1 and e.last_date is not None:
                last = e.last_date.astimezone(zone).date().isoformat()
                when = f"{e.date.astimezone(zone).date().isoformat()} to {last}"
            table.add_row(
                when,
                escape(e.recipient),
                escape(e.recipient_address),
                escape(e.description),
                escape(e.basis),
                str(e.count),
            )
        console.print(table)
    if pdf is not None:
        data, pages = render_accounting(
            AccountingDocument(
                accounting=result,
                clinic_name=found.name,
                clinic_reply_to=found.reply_to,
                timezone=found.timezone,
            )
        )
        pdf.write_bytes(data)
        console.print(f"wrote {escape(str(pdf))} ({pages} {'page' if pages == 1 else 'pages'})")
