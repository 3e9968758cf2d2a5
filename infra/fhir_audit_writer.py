"""Write a case's AuditEvents (audit.fhir_audit_events) and the notices' copies
(audit.fhir_communications) into the clinic's EHR over FHIR REST, with a SMART Backend Services
token. Each is written with its own id (PUT), so sending again updates rather than duplicates.
An EHR that refuses the AuditEvents (a token without `system/AuditEvent.c`) is reported in one
sentence naming the scope to grant; one that refuses Communications only loses the copies."""

from __future__ import annotations

from collections.abc import Sequence

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.resource import Resource
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError, OperationOutcome

from infra.smart_auth import SmartClient


class FhirWriteRefused(RuntimeError):
    """The EHR refused a write Confide needs; the message says what to ask for."""


async def _put_all(client: AsyncFHIRClient, kind: str, resources: Sequence[Resource]) -> list[str]:
    stored = []
    for r in resources:
        resource = client.resource(kind, **r.model_dump(mode="json", exclude_none=True))
        await resource.save()
        stored.append(str(resource.id))
    return stored


async def send_audit_events(
    base_url: str, smart: SmartClient, events: Sequence[AuditEvent]
) -> list[str]:
    """Write each AuditEvent; their ids, as the EHR stored them."""
    client = AsyncFHIRClient(base_url, authorization=f"Bearer {await smart.token()}")
    try:
        return await _put_all(client, "AuditEvent", events)
    except ForbiddenError:
        raise FhirWriteRefused(
            "the EHR refused to store Confide's AuditEvents (HTTP 403): grant Confide's "
            "client the scope system/AuditEvent.c (or .cu)"
        ) from None


async def send_communications(
    base_url: str, smart: SmartClient, notices: Sequence[Communication]
) -> list[str] | None:
    """Write each notice's copy; None when the EHR does not accept Communications from
    Confide (403): the copies are a courtesy to the chart, the AuditEvents the record."""
    client = AsyncFHIRClient(base_url, authorization=f"Bearer {await smart.token()}")
    try:
        return await _put_all(client, "Communication", notices)
    except ForbiddenError:
        return None
    except OperationOutcome:
        # The copies are a courtesy; the EHR's answer may quote them, so it is not kept.
        return None
