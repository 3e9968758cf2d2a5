"""The three shapes of a topic-based subscription notification become one Notification; vendor
fields are dropped, not fatal; a body that is no notification is refused in one sentence that
quotes nothing of it. Shapes as the Subscriptions Backport IG (R4), R4B and R5 show them."""

from __future__ import annotations

import copy

import pytest

from intake.fhir_notifications import NotANotification, parse_notification

TOPIC = "http://example.org/fhir/SubscriptionTopic/confidentiality-flag"
SUB = "https://ehr.example.org/fhir/Subscription/confide-1"


def r4_backport(kind="event-notification", since="12", events=((12, "Flag/f-12"),)):
    params = [
        {"name": "subscription", "valueReference": {"reference": SUB}},
        {"name": "topic", "valueCanonical": TOPIC},
        {"name": "status", "valueCode": "active"},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": since},
    ]
    for number, focus in events:
        params.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(number)},
                    {"name": "timestamp", "valueInstant": "2026-12-05T10:00:00Z"},
                    {"name": "focus", "valueReference": {"reference": focus}},
                ],
            }
        )
    return {
        "resourceType": "Bundle",
        "id": "n-1",
        "type": "history",
        "timestamp": "2026-12-05T10:00:01Z",
        "entry": [
            {
                "fullUrl": "urn:uuid:1",
                "resource": {"resourceType": "Parameters", "id": "s", "parameter": params},
                "request": {"method": "GET", "url": f"{SUB}/$status"},
                "response": {"status": "200"},
            },
            *[
                {
                    "fullUrl": f"https://ehr.example.org/fhir/{focus}",
                    "request": {"method": "POST", "url": "Flag"},
                    "response": {"status": "201"},
                }
                for _, focus in events
            ],
        ],
    }


def subscription_status(bundle_type, kind="event-notification", since=3, events=((3, "Flag/f-3"),)):
    r5 = bundle_type == "subscription-notification"
    return {
        "resourceType": "Bundle",
        "type": bundle_type,
        "timestamp": "2026-12-05T10:00:01Z",
        "entry": [
            {
                "fullUrl": "urn:uuid:2",
                "resource": {
                    "resourceType": "SubscriptionStatus",
                    "status": "active",
                    "type": kind,
                    # integer64: a JSON string in R4B, a number in R5.
                    "eventsSinceSubscriptionStart": since if r5 else str(since),
                    "notificationEvent": [
                        {
                            "eventNumber": number if r5 else str(number),
                            "timestamp": "2026-12-05T10:00:00Z",
                            "focus": {"reference": focus},
                        }
                        for number, focus in events
                    ],
                    "subscription": {"reference": SUB},
                    "topic": TOPIC,
                },
            }
        ],
    }


@pytest.mark.parametrize(
    ("body", "shape", "since", "events"),
    [
        (r4_backport(), "r4-backport", 12, [(12, "Flag/f-12")]),
        (subscription_status("history"), "r4b", 3, [(3, "Flag/f-3")]),
        (subscription_status("subscription-notification"), "r5", 3, [(3, "Flag/f-3")]),
    ],
)
def test_each_shape_becomes_one_notification(body, shape, since, events):
    n = parse_notification(body)
    assert (n.shape, n.kind, n.subscription, n.topic) == (shape, "event-notification", SUB, TOPIC)
    assert n.events_since_start == since
    assert [(e.number, e.focus) for e in n.events] == events
    assert n.dropped == []


@pytest.mark.parametrize("kind", ["handshake", "heartbeat"])
def test_handshakes_and_heartbeats_carry_no_events(kind):
    for body in (
        r4_backport(kind=kind, since="0", events=()),
        subscription_status("history", kind=kind, since=0, events=()),
    ):
        n = parse_notification(body)
        assert n.kind == kind and n.events == []


def test_a_vendors_extra_fields_are_dropped_and_named_not_fatal():
    body = subscription_status("subscription-notification")
    status = body["entry"][0]["resource"]
    status["vendorTrace"] = "abc"
    status["notificationEvent"][0]["vendorPriority"] = 2
    body["vendorEnvelope"] = {"x": 1}
    n = parse_notification(body)
    assert [(e.number, e.focus) for e in n.events] == [(3, "Flag/f-3")]
    assert set(n.dropped) == {"vendorTrace", "notificationEvent.0.vendorPriority", "vendorEnvelope"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.update(resourceType="Patient"), "not a FHIR Bundle"),
        (lambda b: b.update(entry=[]), "no entries"),
        (lambda b: b.update(type="searchset"), "neither a history Bundle"),
        (
            lambda b: b["entry"][0]["resource"].update(
                eventsSinceSubscriptionStart="Jordan Example"
            ),
            "events count is not a whole number",
        ),
        (
            lambda b: b["entry"][0]["resource"].update(subscription="Jordan Example"),
            "malformed at subscription",
        ),
    ],
)
def test_a_body_that_is_no_notification_is_refused_without_quoting_it(mutate, message):
    body = copy.deepcopy(subscription_status("history"))
    mutate(body)
    with pytest.raises(NotANotification, match=message) as e:
        parse_notification(body)
    assert "Jordan" not in str(e.value)
