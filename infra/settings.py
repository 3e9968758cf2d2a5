"""Runtime settings, from the environment (DESIGN.md §4 names the dev defaults)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import BaseModel

from activities.notify import SmtpSettings

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


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

    @classmethod
    def from_env(cls) -> Settings:
        """Read settings from environment variables, with the dev-stack defaults."""
        var = Path(_env("CONFIDE_VAR_DIR", str(ROOT / "var")))
        temporal_port = int(_env("TEMPORAL_PORT", "7233"))
        ui_port = int(_env("TEMPORAL_UI_PORT", "8233"))
        smtp_port = int(_env("CONFIDE_SMTP_PORT", "1025"))
        api_port = int(_env("CONFIDE_API_PORT", "8080"))
        return cls(
            var_dir=var,
            temporal_address=_env("TEMPORAL_ADDRESS", f"127.0.0.1:{temporal_port}"),
            temporal_namespace=_env("TEMPORAL_NAMESPACE", "default"),
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
            ),
        )

    def code_secret(self) -> bytes:
        """The approval-code secret: CONFIDE_CODE_SECRET, else a file under var/ made once."""
        if value := os.environ.get("CONFIDE_CODE_SECRET"):
            return value.encode()
        path = self.var_dir / "approval-code.secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()

    def codec_tokens(self) -> list[str]:
        """Tokens the codec endpoints accept: CONFIDE_CODEC_TOKENS (comma-separated), else one
        generated under var/ on first use."""
        if value := os.environ.get("CONFIDE_CODEC_TOKENS"):
            return [t.strip() for t in value.split(",") if t.strip()]
        path = self.var_dir / "codec-token"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return [path.read_text().strip()]

    def workflow_url(self, workflow_id: str) -> str:
        """The Web UI page of a workflow."""
        return f"{self.ui_url}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"
