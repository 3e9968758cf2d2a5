"""A clinic's EHR as Confide talks to it: one SMART Backend Services client per FHIR source,
its token reused until near expiry, and fhirpy clients carrying it (issue 15)."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
from fhirpy import AsyncFHIRClient, SyncFHIRClient

from infra.fhir_sources import FhirSource
from infra.smart_auth import SmartClient, discover_token_url

# Seconds one request to the EHR may take.
READ_TIMEOUT = 20


class Ehr:
    def __init__(self, source: FhirSource) -> None:
        self.source = source
        self._smart: SmartClient | None = None
        self._made = threading.Lock()

    def smart(self) -> SmartClient:
        """The SMART client (blocking the first time: it may read the server's
        smart-configuration and the key file)."""
        with self._made:
            if self._smart is None:
                token_url = self.source.token_url or discover_token_url(self.source.base)
                self._smart = SmartClient(self.source.smart_config(token_url))
            return self._smart

    async def client(self) -> AsyncFHIRClient:
        smart = await asyncio.to_thread(self.smart)
        token = await smart.token()
        return AsyncFHIRClient(
            self.source.base,
            authorization=f"Bearer {token}",
            aiohttp_config={"timeout": aiohttp.ClientTimeout(total=READ_TIMEOUT)},
        )

    def sync_client(self) -> SyncFHIRClient:
        token = self.smart().token_sync()
        # A hung EHR must not hold a worker thread for ever (requests has no default timeout).
        return SyncFHIRClient(
            self.source.base,
            authorization=f"Bearer {token}",
            requests_config={"timeout": READ_TIMEOUT},
        )

    def forget_token(self) -> None:
        """Drop the cached token (the EHR answered 401): the next call asks for a new one."""
        if self._smart is not None:
            self._smart.forget()


class Ehrs:
    """One `Ehr` per configured clinic, made when first needed."""

    def __init__(self, sources: list[FhirSource]) -> None:
        self._sources = {s.clinic_id: s for s in sources}
        self._ehrs: dict[str, Ehr] = {}

    def clinic_ids(self) -> list[str]:
        return list(self._sources)

    def get(self, clinic_id: str) -> Ehr | None:
        if clinic_id not in self._ehrs and clinic_id in self._sources:
            self._ehrs[clinic_id] = Ehr(self._sources[clinic_id])
        return self._ehrs.get(clinic_id)
