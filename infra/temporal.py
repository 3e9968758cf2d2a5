"""The one place Temporal clients are built: one data converter for worker, API, CLI, replayer."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from infra.settings import Settings


def data_converter() -> DataConverter:
    """The converter every Confide process uses (pydantic models as JSON)."""
    return pydantic_data_converter


async def connect(settings: Settings) -> Client:
    """A client for the configured server and namespace."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(),
    )
