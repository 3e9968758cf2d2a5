"""AuditEvents written into a real FHIR server (sekmet-fhir, an R4 server run locally on
127.0.0.1 with its simulator off) with a SMART Backend Services token: stored once however
often they are sent; a client registered without the AuditEvent write scope gets the server's
403, which Confide reports in one sentence naming the scope (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from audit.fhir_audit_events import audit_event
from domain.records import Disclosure
from infra.fhir_audit_writer import FhirWriteRefused, send_audit_events
from infra.smart_auth import SmartClient, SmartClientConfig, SmartTokenRefused
from tests.fhir_server import KID, sekmet


@pytest.fixture(scope="module")
def fhir_server(tmp_path_factory):
    """Two registered clients sharing one key: `confide` may write AuditEvents,
    `confide-readonly` may only read."""
    clients = {"confide": "system/AuditEvent.cruds", "confide-readonly": "system/AuditEvent.rs"}
    with sekmet(tmp_path_factory.mktemp("fhir"), clients) as server:
        yield server.base, server.token_url, server.pem


def _smart(token_url: str, pem: str, client_id: str, scopes: str) -> SmartClient:
    return SmartClient(
        SmartClientConfig(
            token_url=token_url, client_id=client_id, private_key_pem=pem, key_id=KID, scopes=scopes
        )
    )


def _events():
    base = {
        "case_id": "demo-clinic.F-1",
        "clinic_id": "demo-clinic",
        "patient_ref": "P-301",
        "disclosed_at": datetime(2026, 12, 5, 10, tzinfo=UTC),
        "channel": "email",
        "description": "The threat communicated and the patient's identity",
        "purpose": "prevent or lessen a serious and imminent threat",
        "legal_basis": "Cal. Civ. Code 43.92; 45 CFR 164.512(j)",
    }
    return [
        audit_event(
            Disclosure(
                **base,
                step=f"c1.{step}",
                recipient_key=key,
                recipient_name=name,
                recipient_address=address,
            ),
            "Demo Clinic",
        )
        for step, key, name, address in [
            ("warn_victim", "victim-1", "Casey Rivera", "casey@example.org"),
            (
                "notify_law_enforcement",
                "agency-law_enforcement",
                "Demo Police",
                "police@agency.test",
            ),
        ]
    ]


async def _stored(base: str, smart: SmartClient) -> list[dict]:
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{base}/AuditEvent",
            headers={
                "Authorization": f"Bearer {await smart.token()}",
                "Accept": "application/fhir+json",
            },
        )
    r.raise_for_status()
    return [
        e["resource"]
        for e in r.json().get("entry", [])
        if e.get("resource", {}).get("resourceType") == "AuditEvent"
    ]


async def test_audit_events_are_written_once_with_a_smart_token(fhir_server):
    base, token_url, pem = fhir_server
    smart = _smart(token_url, pem, "confide", "system/AuditEvent.cruds")
    events = _events()
    ids = await send_audit_events(base, smart, events)
    assert ids == [e.id for e in events]
    again = await send_audit_events(base, smart, events)  # a retry, or a second export
    assert again == ids
    stored = await _stored(base, smart)
    assert sorted(e["id"] for e in stored) == sorted(ids)
    victim = next(e for e in stored if e["id"] == ids[0])
    assert victim["type"]["code"] == "110106" and victim["subtype"][0]["code"] == "disclose"
    # Each token request carried a fresh assertion: a reused jti would have been refused.
    assert smart.assertion() != smart.assertion()
    await smart.aclose()


async def test_a_token_without_the_write_scope_gets_the_403_and_confide_says_which_scope(
    fhir_server,
):
    base, token_url, pem = fhir_server
    readonly = _smart(token_url, pem, "confide-readonly", "system/AuditEvent.rs")
    with pytest.raises(
        FhirWriteRefused, match=r"HTTP 403\): grant Confide's client the scope system/AuditEvent.c"
    ):
        await send_audit_events(base, readonly, _events())
    await readonly.aclose()


async def test_an_unknown_client_is_refused_a_token_in_one_sentence(fhir_server):
    _, token_url, pem = fhir_server
    stranger = _smart(token_url, pem, "nobody", "system/AuditEvent.rs")
    with pytest.raises(SmartTokenRefused, match="refused client 'nobody'"):
        await stranger.token()
    await stranger.aclose()
