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
from pydantic import BaseModel
from rich.markup import escape
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from cli.layout import console, count, fields, para, print_json, show
from domain.accounting import Accounting, AccountingEntry
from domain.clinic import Clinic
from domain.local_time import local
from infra.settings import Settings


class AccountingText(BaseModel):
    """What the command prints: the accounting, the clinic it is from, the width to fit."""

    accounting: Accounting
    clinic: Clinic
    width: int = 80


def _entry(e: AccountingEntry, a: AccountingText) -> list[str]:
    zone = a.clinic.timezone
    if e.count > 1 and e.last_date is not None:
        first = e.date.astimezone(ZoneInfo(zone)).date().isoformat()
        last = e.last_date.astimezone(ZoneInfo(zone)).date().isoformat()
        head = f"{first} to {last}: {e.count} disclosures to {e.recipient}"
    else:
        head = f"{local(e.date, zone)}: to {e.recipient}"
    rows = [("address", e.recipient_address), ("what", e.description), ("why", e.basis)]
    return para(head, a.width) + fields(rows, a.width)


def render_accounting_text(a: AccountingText) -> list[str]:
    """The accounting for the privacy officer: one block per entry, oldest first."""
    r = a.accounting
    period = f"{r.period_from.isoformat()} and {r.period_to.isoformat()}"
    if not r.entries:
        return para(f"No disclosures to account for between {period}.", a.width)
    out = para(
        f"Accounting of disclosures for {r.patient_ref} at {a.clinic.name}: between {period} "
        f"(dates in {a.clinic.timezone})",
        a.width,
    )
    for e in r.entries:
        out += ["", *_entry(e, a)]
    return out


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
    as_json: Annotated[
        bool, typer.Option("--json", help="The accounting as JSON, every entry whole")
    ] = False,
) -> None:
    """A patient's accounting of disclosures for the six years before today (or from --from)."""
    from domain.accounting import AccountingQuery, build_accounting
    from domain.clinic import ClinicDirectory
    from infra.accounting_pdf import AccountingDocument, render_accounting
    from infra.ledger_db import Ledger

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
        console(stderr=True).print(
            f"[red]error:[/] no ledger at {escape(where)} (CONFIDE_LEDGER_URL)"
        )
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

    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        out = console()
        show(
            out,
            render_accounting_text(
                AccountingText(accounting=result, clinic=found, width=out.width)
            ),
        )
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
        # On stderr with --json, so stdout stays one JSON document.
        console(stderr=as_json).print(
            f"wrote {pdf} ({count(pages, 'page')})", markup=False, highlight=False
        )
