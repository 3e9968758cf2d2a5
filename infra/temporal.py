"""The one place Temporal clients are built: one data converter for worker, API, CLI, replayer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from infra.codec import EncryptionCodec
from infra.failures import FailureConverter
from infra.keyring import Keyring
from infra.payloads import PayloadConverter
from infra.settings import MissingSetting, Settings, temporal_profile


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


def connect_options(settings: Settings) -> dict[str, Any]:
    """`Client.connect`'s arguments: the address and namespace of the settings (which read the
    same profile, unless a caller set them), and TLS, mTLS client certificates, API key and gRPC
    metadata from the Temporal profile (infra.settings.temporal_profile)."""
    options = dict(temporal_profile().to_client_connect_config())
    options["target_host"] = settings.temporal_address
    options["namespace"] = settings.temporal_namespace
    return options


def metrics_runtime(env: Mapping[str, str] = os.environ) -> Runtime | None:
    """A Temporal runtime serving the SDK's metrics for Prometheus at CONFIDE_METRICS_ADDRESS
    (host:port; GET /metrics): task latencies, slots, poll and activity failures. None (the
    default runtime, no metrics endpoint) when unset."""
    address = env.get("CONFIDE_METRICS_ADDRESS", "").strip()
    if not address:
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise MissingSetting(
            f"CONFIDE_METRICS_ADDRESS must be host:port, e.g. 0.0.0.0:9464 (it is {address!r})."
        )
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


async def connect(
    settings: Settings, keyring: Keyring | None = None, runtime: Runtime | None = None
) -> Client:
    """A client for the configured server and namespace (on `runtime`, else the default)."""
    return await Client.connect(
        **connect_options(settings), data_converter=data_converter(keyring), runtime=runtime
    )
