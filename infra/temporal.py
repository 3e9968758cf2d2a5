"""The one place Temporal clients are built: one data converter for worker, API, CLI, replayer."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.converter import DataConverter

from infra.codec import EncryptionCodec
from infra.failures import FailureConverter
from infra.keyring import Keyring
from infra.payloads import PayloadConverter
from infra.settings import Settings


def data_converter(keyring: Keyring | None = None) -> DataConverter:
    """Pydantic models as JSON, then AES-256-GCM: nothing reaches Temporal in clear.

    Failures are not encoded: the Web UI shows an Update validator's rejection message as is,
    so Confide keeps PHI out of every exception message instead (see README, PHI).
    """
    keyring = keyring or Keyring.from_env(Settings.from_env().var_dir / "keyring.json")
    return DataConverter(
        payload_converter_class=PayloadConverter,
        failure_converter_class=FailureConverter,
        payload_codec=EncryptionCodec(keyring),
    )


async def connect(settings: Settings, keyring: Keyring | None = None) -> Client:
    """A client for the configured server and namespace."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(keyring),
    )
