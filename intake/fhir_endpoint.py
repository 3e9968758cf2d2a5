"""`POST /fhir/{clinic_id}/notifications`: where a clinic's EHR delivers its topic-based
Subscription notifications (rest-hook, id-only). The shared secret the Subscription sends in
`channel.header` (`Authorization: Bearer <secret>`) is checked against its SHA-256; the body
is parsed in any of the three shapes (intake.fhir_notifications); handshakes are answered at
once; an event notification is signalled to the subscription's feed workflow, started if need
be (workflows/fhir_feed.py), and answered 200 as soon as Temporal has it. A heartbeat is
passed on only when its count is ahead of what the feed has seen (a lost notification).

Nothing is read from the EHR here: the EHR waits for its 2xx, and the reads happen in the
feed's activity, retried on their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import structlog
from fastapi import APIRouter, HTTPException, Request, Response
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.fhir_feed import FeedEvent, FeedInput, FeedNotice, FeedState
from infra.fhir_sources import FhirSources
from intake.fhir_notifications import NotANotification, Notification, parse_notification
from workflows.fhir_feed import FhirFeedWorkflow

log = structlog.get_logger()

# Spent at most on asking the feed what it has seen, before a heartbeat is passed on anyway.
QUERY_BUDGET = 0.5


def feed_id(clinic_id: str, subscription: str) -> str:
    """The feed workflow's id: the clinic and a hash of the subscription's URL (an EHR's
    address and ids need not appear in Temporal's visibility)."""
    digest = hashlib.sha256(subscription.encode()).hexdigest()[:20]
    return f"fhir-feed.{clinic_id}.{digest}"


def notice(n: Notification) -> FeedNotice:
    return FeedNotice(
        events=[FeedEvent(number=e.number, focus=e.focus) for e in n.events],
        events_since_start=n.events_since_start,
    )


async def _feed_is_behind(client: Client, workflow_id: str, count: int) -> bool:
    try:
        seen = await asyncio.wait_for(
            client.get_workflow_handle(workflow_id).query(FhirFeedWorkflow.last_event),
            QUERY_BUDGET,
        )
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return count > 0
        return True
    except TimeoutError:
        return True  # no worker answered in time: a signal is cheap, a lost Flag is not
    return bool(count > seen)


def fhir_router(client: dict[str, Client], task_queue: str, sources: FhirSources) -> APIRouter:
    """The notification endpoint; `client["client"]` is the Temporal client once connected."""
    router = APIRouter()

    @router.post("/fhir/{clinic_id}/notifications", include_in_schema=True)
    async def fhir_notification(clinic_id: str, request: Request) -> Response:
        """Receive a FHIR Subscription notification (handshake, heartbeat or event)."""
        source = sources.get(clinic_id)
        if source is None:
            raise HTTPException(404, "no FHIR source is configured for this clinic")
        header = request.headers.get("authorization", "")
        secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not secret or not source.accepts(secret):
            raise HTTPException(
                401,
                "send the Subscription's shared secret as 'Authorization: Bearer <secret>' in "
                "channel.header",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise HTTPException(400, "the body is not JSON: send a FHIR Bundle") from None
        try:
            n = parse_notification(body)
        except NotANotification as e:
            raise HTTPException(400, str(e)) from None
        if n.dropped:
            log.info("fhir notification fields ignored", clinic_id=clinic_id, fields=n.dropped[:20])
        if not n.subscription:
            raise HTTPException(400, "the notification names no subscription")
        workflow_id = feed_id(clinic_id, n.subscription)
        if n.kind == "handshake" or n.kind.startswith("query-"):
            return Response(status_code=200)
        if n.kind == "heartbeat" and not await _feed_is_behind(
            client["client"], workflow_id, n.events_since_start or 0
        ):
            return Response(status_code=200)
        try:
            await client["client"].start_workflow(
                FhirFeedWorkflow.run,
                FeedInput(state=FeedState(clinic_id=clinic_id, subscription=n.subscription)),
                id=workflow_id,
                task_queue=task_queue,
                start_signal="notified",
                start_signal_args=[notice(n)],
                static_summary=f"FHIR subscription feed of {clinic_id}",
            )
        except RPCError:
            # Not answered 2xx: the EHR sends it again (or marks the subscription in error).
            raise HTTPException(503, "the workflow service is unavailable; send again") from None
        log.info(
            "fhir notification accepted",
            clinic_id=clinic_id,
            kind=n.kind,
            events=len(n.events),
            feed=workflow_id,
        )
        return Response(status_code=200)

    return router
