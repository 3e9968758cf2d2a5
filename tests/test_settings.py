"""Secrets fail closed outside dev; generated ones are private from creation and shared by every
process; worker and API refuse a namespace without Confide's search attributes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest

from activities.notify import SmtpTls
from infra.secret_files import read_or_create, write_private
from infra.settings import MissingSetting, Settings
from tests.support import ROOT
from workflows import search_attributes

PRODUCTION_UNSET = (
    "CONFIDE_ENV",
    "CONFIDE_CODE_SECRET",
    "CONFIDE_CODE_SECRET_FILE",
    "CONFIDE_CODEC_TOKENS",
    "CONFIDE_CODEC_TOKENS_FILE",
    "CONFIDE_SMTP_TLS",
    "CONFIDE_UI_URL",
    "CONFIDE_API_URL",
)


@pytest.fixture
def production(monkeypatch, tmp_path):
    """The environment of a production host that was given nothing."""
    for name in PRODUCTION_UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONFIDE_VAR_DIR", str(tmp_path / "var"))
    return monkeypatch


def test_production_refuses_to_invent_the_approval_code_secret(production, tmp_path):
    s = Settings.from_env()
    assert s.env == "production"
    with pytest.raises(MissingSetting, match="CONFIDE_CODE_SECRET is not set"):
        s.code_secret()
    assert not (tmp_path / "var").exists()  # nothing generated behind the operator's back


def test_production_reads_the_secret_from_the_environment_or_a_mounted_file(production, tmp_path):
    production.setenv("CONFIDE_CODE_SECRET", "from-the-environment-0123456789")
    assert Settings.from_env().code_secret() == b"from-the-environment-0123456789"
    production.delenv("CONFIDE_CODE_SECRET")
    mounted = tmp_path / "code-secret"
    mounted.write_text("from-a-mounted-file-0123456789\n")
    production.setenv("CONFIDE_CODE_SECRET_FILE", str(mounted))
    assert Settings.from_env().code_secret() == b"from-a-mounted-file-0123456789"


def test_production_has_no_static_codec_token_unless_given(production):
    assert Settings.from_env().codec_tokens() == []
    production.setenv("CONFIDE_CODEC_TOKENS", "one, two")
    assert Settings.from_env().codec_tokens() == ["one", "two"]


def test_production_needs_the_addresses_e_mails_link_to(production):
    production.setenv("CONFIDE_CODE_SECRET", "x" * 32)
    with pytest.raises(MissingSetting, match="CONFIDE_UI_URL is not set"):
        Settings.from_env().check_service()
    production.setenv("CONFIDE_UI_URL", "https://temporal.clinic.example")
    production.setenv("CONFIDE_API_URL", "https://confide.clinic.example")
    Settings.from_env().check_service()


def test_smtp_tls_defaults_to_starttls_outside_dev_and_none_in_dev(production):
    assert Settings.from_env().smtp.tls == SmtpTls.starttls
    production.setenv("CONFIDE_SMTP_TLS", "implicit")
    assert Settings.from_env().smtp.tls == SmtpTls.implicit
    production.setenv("CONFIDE_SMTP_TLS", "sometimes")
    with pytest.raises(MissingSetting, match="CONFIDE_SMTP_TLS must be one of"):
        Settings.from_env()
    production.delenv("CONFIDE_SMTP_TLS")
    production.setenv("CONFIDE_ENV", "dev")
    assert Settings.from_env().smtp.tls == SmtpTls.none


def test_dev_generates_a_secret_once_private_from_creation_and_shared(production, tmp_path):
    production.setenv("CONFIDE_ENV", "dev")
    settings = Settings.from_env()
    # Sixteen "processes" starting together all get the one secret the first of them wrote.
    with ThreadPoolExecutor(16) as pool:
        secrets = set(pool.map(lambda _: settings.code_secret(), range(16)))
    assert len(secrets) == 1
    path = tmp_path / "var" / "approval-code.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_secret_files_are_never_readable_by_others_even_while_being_written(tmp_path):
    old = os.umask(0)  # the most permissive umask a process could run with
    try:
        write_private(tmp_path / "keyring.json", "{}")
        made = read_or_create(tmp_path / "token", lambda: "t")
    finally:
        os.umask(old)
    assert made == "t"
    for name in ("keyring.json", "token"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_the_worker_refuses_to_start_without_its_secret(production, tmp_path):
    """Started as an operator would start it, with nothing configured: one sentence, exit 1."""
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_UNSET}
    out = subprocess.run(
        [sys.executable, str(ROOT / "worker.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "CONFIDE_CODE_SECRET is not set" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_production_docs_register_every_search_attribute():
    docs = (ROOT / "deploy/production/README.md").read_text()
    assert search_attributes.register_command("confide") in docs


async def test_a_namespace_without_our_search_attributes_is_refused(dev_env):
    client = dev_env.client
    await search_attributes.check_registered(client, client.namespace)  # the dev stack's: fine
    bare = f"bare-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=bare, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    with pytest.raises(search_attributes.NotRegistered) as e:
        await search_attributes.check_registered(client, bare)
    message = str(e.value)
    for key in search_attributes.ALL:
        assert key.name in message
    assert search_attributes.register_command(bare) in message


def test_the_production_example_configuration_is_complete(production, tmp_path):
    """deploy/production/confide.env.example, its secret files mounted, passes the start check."""
    for line in (ROOT / "deploy/production/confide.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            if name.endswith("_FILE"):
                value = str(tmp_path / Path(value).name)
                Path(value).write_text(f"secret-for-{name}-0123456789abcdef\n")
            production.setenv(name, value)
    settings = Settings.from_env()
    settings.check_service()
    assert settings.smtp.tls == SmtpTls.starttls and settings.smtp.username == "confide"
    assert settings.smtp.password is not None
    assert settings.code_secret().startswith(b"secret-for-CONFIDE_CODE_SECRET_FILE")
