"""FHIR topic-based subscription notifications, in the three shapes EHRs send (issue 15):

- R4 with the Subscriptions Backport IG: a `history` Bundle whose first entry is a `Parameters`
  resource (subscription, topic, type, events-since-subscription-start, notification-event
  parts with event-number and focus);
- R4B: a `history` Bundle whose first entry is a `SubscriptionStatus`;
- R5: a `subscription-notification` Bundle whose first entry is a `SubscriptionStatus`.

All become one `Notification`: what kind (handshake, heartbeat, event-notification,
query-status), which subscription and topic, the events counter, and each event's number and
focus reference. Payloads are `id-only`, so no PHI travels in them: Confide reads the Flag
itself afterwards.

Models come from `fhir.resources` (R4B and R5), which forbid unknown fields; vendors add some,
so `tolerant()` drops what the model does not know and says what it dropped, rather than
refusing a notification a strict reading would.
"""

from __future__ import annotations

from typing import Any, Literal

from fhir.resources.R4B.bundle import Bundle as BundleR4B
from fhir.resources.R4B.parameters import Parameters, ParametersParameter
from fhir.resources.R4B.subscriptionstatus import SubscriptionStatus as StatusR4B
from fhir.resources.subscriptionstatus import SubscriptionStatus as StatusR5
from pydantic import BaseModel, ValidationError

from infra.fhir_common import TooManyUnknownFields, tolerant

Kind = Literal["handshake", "heartbeat", "event-notification", "query-status", "query-event"]
Shape = Literal["r4-backport", "r4b", "r5"]


class NotANotification(ValueError):
    """The body is not a subscription notification Confide can read; the message says why in
    one sentence and never quotes the body."""


class NotificationEvent(BaseModel):
    number: int
    # "Flag/123", "Encounter/9" or an absolute URL, as the EHR wrote it.
    focus: str | None = None


class Notification(BaseModel):
    shape: Shape
    kind: Kind
    subscription: str | None = None
    topic: str | None = None
    # The server's count of events since the subscription started: with the event numbers,
    # how a gap (a lost notification) is noticed.
    events_since_start: int | None = None
    events: list[NotificationEvent] = []
    # Dotted paths of fields the models did not know (vendor additions), for the log.
    dropped: list[str] = []


def _first_resource(body: dict[str, Any]) -> dict[str, Any]:
    entries = body.get("entry") or []
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        raise NotANotification("the Bundle has no entries: a notification starts with its status")
    resource = entries[0].get("resource")
    if not isinstance(resource, dict):
        raise NotANotification("the Bundle's first entry has no resource")
    return resource


def _count(value: Any, field: str) -> int:
    # integer64 is a JSON string in R4 and R4B: a non-number is refused without quoting it.
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotANotification(f"the notification's {field} is not a whole number") from None


def _reference(value: Any) -> str | None:
    return getattr(value, "reference", None) if value is not None else None


def _from_status(shape: Shape, status: Any) -> dict[str, Any]:
    events = [
        NotificationEvent(number=_count(e.eventNumber, "event number"), focus=_reference(e.focus))
        for e in status.notificationEvent or []
    ]
    since = status.eventsSinceSubscriptionStart
    return {
        "shape": shape,
        "kind": status.type,
        "subscription": _reference(status.subscription),
        "topic": status.topic,
        "events_since_start": _count(since, "events count") if since is not None else None,
        "events": events,
    }


def _value(p: ParametersParameter) -> Any:
    for name in (
        "valueReference",
        "valueCanonical",
        "valueCode",
        "valueString",
        "valueInteger64",
        "valueUnsignedInt",
        "valueInteger",
        "valueUri",
    ):
        value = getattr(p, name, None)
        if value is not None:
            return value
    return None


def _from_parameters(params: Parameters) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    events = []
    for p in params.parameter or []:
        if p.name == "notification-event":
            parts = {part.name: _value(part) for part in p.part or []}
            number = parts.get("event-number")
            if number is None:
                raise NotANotification("a notification-event has no event-number")
            events.append(
                NotificationEvent(
                    number=_count(number, "event number"), focus=_reference(parts.get("focus"))
                )
            )
        elif p.name:
            fields[p.name] = _value(p)
    since = fields.get("events-since-subscription-start")
    return {
        "shape": "r4-backport",
        "kind": fields.get("type"),
        "subscription": _reference(fields.get("subscription")),
        "topic": fields.get("topic"),
        "events_since_start": _count(since, "events count") if since is not None else None,
        "events": events,
    }


def parse_notification(body: Any) -> Notification:
    """The notification in a POSTed body, whichever of the three shapes it has."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise NotANotification("the body is not a FHIR Bundle")
    first = _first_resource(body)
    kind_of = first.get("resourceType")
    try:
        if body.get("type") == "subscription-notification" and kind_of == "SubscriptionStatus":
            status5, dropped = tolerant(StatusR5, first)
            fields = _from_status("r5", status5)
        elif body.get("type") == "history" and kind_of == "SubscriptionStatus":
            status4, dropped = tolerant(StatusR4B, first)
            fields = _from_status("r4b", status4)
        elif body.get("type") == "history" and kind_of == "Parameters":
            params, dropped = tolerant(Parameters, first)
            fields = _from_parameters(params)
        else:
            raise NotANotification(
                "the Bundle is neither a history Bundle starting with Parameters or "
                "SubscriptionStatus nor a subscription-notification Bundle"
            )
        # The rest of the Bundle (id-only entries, or full resources) is not read: Confide
        # fetches the focus itself. Its envelope is still checked, tolerantly.
        envelope = {k: v for k, v in body.items() if k != "entry"}
        _, dropped_envelope = tolerant(BundleR4B, envelope)
        return Notification(**fields, dropped=dropped + dropped_envelope)
    except ValidationError as e:
        where = ".".join(str(p) for p in e.errors()[0]["loc"])
        raise NotANotification(f"the notification's status is malformed at {where}") from None
    except TooManyUnknownFields as e:
        raise NotANotification(f"the notification has {e}") from None
    except (TypeError, KeyError, AttributeError, IndexError):
        # A shape no model check caught (a list where an object belongs...): still one
        # sentence, naming nothing of the body.
        raise NotANotification("the notification is not shaped as FHIR requires") from None
