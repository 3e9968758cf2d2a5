"""Write a case's AuditEvents (audit.fhir_audit_events) into the clinic's EHR over FHIR REST,
with a SMART Backend Services token. Each is written with its own id (PUT), so sending again
updates rather than duplicates. An EHR that refuses the write (a token without
`system/AuditEvent.c`) is reported in one sentence naming the scope to grant."""

from __future__ import annotations

from collections.abc import Sequence

from fhir.resources.R4B.auditevent import AuditEvent
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError

from infra.smart_auth import SmartClient


class FhirWriteRefused(RuntimeError):
    """The EHR refused a write Confide needs; the message says what to ask for."""


async def send_audit_events(
    base_url: str, smart: SmartClient, events: Sequence[AuditEvent]
) -> list[str]:
    """Write each AuditEvent; their ids, as the EHR stored them."""
    client = AsyncFHIRClient(base_url, authorization=f"Bearer {await smart.token()}")
    stored = []
    for event in events:
        resource = client.resource("AuditEvent", **event.model_dump(mode="json", exclude_none=True))
        try:
            await resource.save()
        except ForbiddenError:
            raise FhirWriteRefused(
                "the EHR refused to store Confide's AuditEvents (HTTP 403): grant Confide's "
                "client the scope system/AuditEvent.c (or .cu)"
            ) from None
        stored.append(str(resource.id))
    return stored
