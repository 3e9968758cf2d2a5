"""ASGI entry point for production (`uvicorn intake.asgi:app`): settings from the environment."""

from domain.clinic import ClinicDirectory
from infra.ledger_db import Ledger
from infra.logging import configure
from infra.settings import Settings
from intake.app import create_app

configure()
_settings = Settings.from_env()
app = create_app(
    _settings,
    ClinicDirectory.load(_settings.clinics_file),
    ledger=Ledger(_settings.ledger_url),
)
