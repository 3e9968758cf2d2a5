"""Runtime settings, from the environment (DESIGN.md §4 names the dev defaults)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, SecretStr
from temporalio.envconfig import ClientConfigProfile

from activities.notify import SmtpSettings, SmtpTls
from infra.secret_files import read_or_create

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


class MissingSetting(SystemExit):
    """A setting production must be given (a secret, a public URL): the process stops at start
    with one sentence naming the variable, instead of inventing a value no other host shares."""


def _secret(name: str) -> str | None:
    """A secret from NAME, or from the file NAME_FILE names (how secret stores mount them)."""
    if value := os.environ.get(name):
        return value
    if path := os.environ.get(f"{name}_FILE"):
        return Path(path).read_text().strip()
    return None


Environment = Literal["dev", "production"]


def temporal_profile() -> ClientConfigProfile:
    """Where Temporal is and how to reach it, as Temporal's own tools read it
    (`temporalio.envconfig`): the TOML profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) and the
    TEMPORAL_* variables over it — address, namespace, TLS or mTLS (TEMPORAL_TLS_CLIENT_CERT_PATH,
    TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH...) and API key. One worker
    reaches the dev server, a self-hosted cluster with mTLS or Temporal Cloud by configuration
    alone."""
    try:
        return ClientConfigProfile.load()
    except Exception as e:  # noqa: BLE001 (a TOML error, a profile not in the file, a bad path)
        raise MissingSetting(
            f"The Temporal connection profile could not be read ({type(e).__name__}: {e}); "
            "check TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE and the TEMPORAL_TLS_* paths."
        ) from None


def _smtp_tls(value: str) -> SmtpTls:
    try:
        return SmtpTls(value.strip().lower())
    except ValueError:
        choices = ", ".join(t.value for t in SmtpTls)
        raise MissingSetting(f"CONFIDE_SMTP_TLS must be one of {choices}.") from None


class Settings(BaseModel):
    """Everything a Confide process needs to find its peers."""

    var_dir: Path
    temporal_address: str
    temporal_namespace: str
    task_queue: str
    temporal_port: int
    ui_port: int
    api_port: int
    smtp_port: int
    ui_url: str
    # Where people reach the intake API's pages (the role links): in production, the public
    # address behind the clinic's sign-in.
    api_url: str
    ledger_url: str
    clinics_file: Path
    smtp: SmtpSettings
    ui_origins: list[str]
    # "dev" only where CONFIDE_ENV=dev says so (`confide dev` and the tests set it): only there
    # are missing secrets generated (per host, under var/) and localhost URLs assumed. Anything
    # else is production, where a missing secret stops the process at start.
    env: Environment = "production"

    @classmethod
    def from_env(cls) -> Settings:
        """Read settings from environment variables, with the dev-stack defaults."""
        var = Path(_env("CONFIDE_VAR_DIR", str(ROOT / "var")))
        temporal_port = int(_env("TEMPORAL_PORT", "7233"))
        ui_port = int(_env("TEMPORAL_UI_PORT", "8233"))
        smtp_port = int(_env("CONFIDE_SMTP_PORT", "1025"))
        api_port = int(_env("CONFIDE_API_PORT", "8080"))
        env: Environment = "dev" if os.environ.get("CONFIDE_ENV") == "dev" else "production"
        password = _secret("CONFIDE_SMTP_PASSWORD")
        profile = temporal_profile()
        return cls(
            env=env,
            var_dir=var,
            temporal_address=profile.address or f"127.0.0.1:{temporal_port}",
            temporal_namespace=profile.namespace or "default",
            task_queue=_env("CONFIDE_TASK_QUEUE", "confide"),
            temporal_port=temporal_port,
            ui_port=ui_port,
            api_port=api_port,
            smtp_port=smtp_port,
            ui_url=_env("CONFIDE_UI_URL", f"http://localhost:{ui_port}"),
            api_url=_env("CONFIDE_API_URL", f"http://localhost:{api_port}"),
            ledger_url=_env("CONFIDE_LEDGER_URL", f"sqlite:///{var / 'ledger.db'}"),
            clinics_file=Path(_env("CONFIDE_CLINICS", str(ROOT / "deploy/dev/clinics.json"))),
            ui_origins=_env(
                "CONFIDE_UI_ORIGINS", f"http://localhost:{ui_port},http://127.0.0.1:{ui_port}"
            ).split(","),
            smtp=SmtpSettings(
                host=_env("CONFIDE_SMTP_HOST", "127.0.0.1"),
                port=smtp_port,
                sender=_env("CONFIDE_MAIL_FROM", "confide@localhost"),
                # The local mail sink speaks plain SMTP; a real relay gets STARTTLS unless told
                # otherwise, and "none" must then be said out loud.
                tls=_smtp_tls(_env("CONFIDE_SMTP_TLS", "none" if env == "dev" else "starttls")),
                username=os.environ.get("CONFIDE_SMTP_USERNAME") or None,
                password=SecretStr(password) if password else None,
                ca_file=os.environ.get("CONFIDE_SMTP_CA_FILE") or None,
            ),
        )

    @property
    def dev(self) -> bool:
        return self.env == "dev"

    def code_secret(self) -> bytes:
        """The approval-code secret: CONFIDE_CODE_SECRET (or _FILE); in dev only, a file under
        var/ made once. Every worker and API process must share it (a retried code e-mail is
        derived again and must match the hash already stored), so production never makes one."""
        if value := _secret("CONFIDE_CODE_SECRET"):
            return value.encode()
        if not self.dev:
            raise MissingSetting(
                "CONFIDE_CODE_SECRET is not set: give every worker and API process the same "
                "secret (32+ random bytes) from the secret store, or set CONFIDE_ENV=dev."
            )
        return read_or_create(
            self.var_dir / "approval-code.secret", lambda: secrets.token_hex(32)
        ).encode()

    def codec_tokens(self) -> list[str]:
        """Static tokens the codec endpoints accept: CONFIDE_CODEC_TOKENS (comma-separated, or
        _FILE); in dev only, one generated under var/. In production none unless configured:
        the endpoint then accepts only the signed-in user's token (intake/identity.py)."""
        if value := _secret("CONFIDE_CODEC_TOKENS"):
            return [t.strip() for t in value.split(",") if t.strip()]
        if not self.dev:
            return []
        return [read_or_create(self.var_dir / "codec-token", lambda: secrets.token_urlsafe(24))]

    def check_service(self) -> None:
        """What a worker or the API checks at start outside dev: every secret it will need is
        given, and the addresses written into e-mails are real ones, not localhost."""
        if self.dev:
            return
        self.code_secret()
        for name in ("CONFIDE_UI_URL", "CONFIDE_API_URL"):
            if not os.environ.get(name):
                raise MissingSetting(
                    f"{name} is not set: e-mails link to it, so give the address people use "
                    "(https://...), or set CONFIDE_ENV=dev."
                )

    def workflow_url(self, workflow_id: str) -> str:
        """The Web UI page of a workflow."""
        return f"{self.ui_url}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"
