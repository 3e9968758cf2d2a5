"""ASGI entry point for production (`uvicorn intake.asgi:app`): settings from the environment."""

from domain.clinic import ClinicDirectory
from infra.ledger_db import Ledger
from infra.logging import configure
from infra.records_db import RecordsStore
from infra.settings import Settings
from intake.app import create_app

configure()
_settings = Settings.from_env()
# The records store (and its packets) lives beside the ledger; the API serves packet links
# from it, so its tables must exist even before a worker has started.
_records = RecordsStore(_settings.ledger_url)
_records.migrate()
app = create_app(
    _settings,
    ClinicDirectory.load(_settings.clinics_file),
    ledger=Ledger(_settings.ledger_url),
    records=_records,
)
