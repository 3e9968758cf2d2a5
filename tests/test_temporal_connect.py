"""How a Confide process finds Temporal: `temporalio.envconfig`'s profile and TEMPORAL_*
variables, so the same worker reaches the dev server, an mTLS cluster or Temporal Cloud by
configuration alone (issue 14)."""

from __future__ import annotations

import pytest

from infra.settings import MissingSetting, Settings
from infra.temporal import connect_options

CERT = b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No Temporal settings from the machine running the tests (nor a profile in its home)."""
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("CONFIDE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CONFIDE_ENV", "dev")
    return monkeypatch


def test_without_configuration_the_dev_server(clean_env):
    settings = Settings.from_env()
    assert (settings.temporal_address, settings.temporal_namespace) == ("127.0.0.1:7233", "default")
    options = connect_options(settings)
    assert options == {"target_host": "127.0.0.1:7233", "namespace": "default"}


def test_mtls_and_an_api_key_from_the_environment_alone(clean_env, tmp_path):
    (tmp_path / "client.pem").write_bytes(CERT)
    (tmp_path / "client.key").write_bytes(KEY)
    clean_env.setenv("TEMPORAL_ADDRESS", "temporal.clinic.example:7233")
    clean_env.setenv("TEMPORAL_NAMESPACE", "confide")
    clean_env.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(tmp_path / "client.pem"))
    clean_env.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(tmp_path / "client.key"))
    clean_env.setenv("TEMPORAL_API_KEY", "cloud-key")
    options = connect_options(Settings.from_env())
    assert options["target_host"] == "temporal.clinic.example:7233"
    assert options["namespace"] == "confide"
    assert options["tls"].client_cert == CERT and options["tls"].client_private_key == KEY
    assert options["api_key"] == "cloud-key"


def test_a_profile_file_and_the_environment_over_it(clean_env, tmp_path):
    config = tmp_path / "temporal.toml"
    config.write_text(
        '[profile.production]\naddress = "cluster.internal:7233"\nnamespace = "confide"\n'
        "[profile.production.tls]\n"
        f'client_cert_path = "{tmp_path / "client.pem"}"\n'
        f'client_key_path = "{tmp_path / "client.key"}"\n'
    )
    (tmp_path / "client.pem").write_bytes(CERT)
    (tmp_path / "client.key").write_bytes(KEY)
    clean_env.setenv("TEMPORAL_CONFIG_FILE", str(config))
    clean_env.setenv("TEMPORAL_PROFILE", "production")
    settings = Settings.from_env()
    assert (settings.temporal_address, settings.temporal_namespace) == (
        "cluster.internal:7233",
        "confide",
    )
    assert connect_options(settings)["tls"].client_cert == CERT
    clean_env.setenv("TEMPORAL_NAMESPACE", "confide-staging")  # the environment wins
    assert Settings.from_env().temporal_namespace == "confide-staging"


def test_a_profile_that_is_not_in_the_file_stops_the_process_with_one_sentence(clean_env, tmp_path):
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.production]\naddress = "cluster.internal:7233"\n')
    clean_env.setenv("TEMPORAL_CONFIG_FILE", str(config))
    clean_env.setenv("TEMPORAL_PROFILE", "prodution")
    with pytest.raises(MissingSetting, match="TEMPORAL_PROFILE"):
        Settings.from_env()
