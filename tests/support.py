"""Test helpers: a real SMTP sink, polling without sleeps, a sample flag, worker wiring."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from domain.clinic import Clinic, ClinicDirectory

ROOT = Path(__file__).resolve().parent.parent


def reference_file() -> Path:
    """The legal reference the policy data is encoded from: ../shared (current) when present,
    else the snapshot the data was last built from (tools/reference/)."""
    shared = ROOT.parent / "shared" / "reference" / "jurisdictions.json"
    return shared if shared.exists() else ROOT / "tools" / "reference" / "jurisdictions.json"


BIN = Path(sys.executable).parent


# An approval code as the e-mails carry it (80 bits, four groups of base32).
CODE_PATTERN = r"([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def eventually(
    check: Callable[[], Awaitable[Any] | Any], timeout: float = 20.0, interval: float = 0.05
) -> Any:
    """Poll `check` until it returns a truthy value without raising; then return that value."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
        except AssertionError as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s: {last}")
        await asyncio.sleep(interval)


class MailSink:
    """An aiosmtpd handler keeping every message; `refuse` scripts SMTP replies per recipient."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.recipients: set[str] = set()
        # recipient address -> list of SMTP replies to give, in order, before accepting.
        self.script: dict[str, list[str]] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        replies = self.script.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.recipients.update(envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        """Messages delivered to one address."""
        return [m for m in self.messages if m["To"] == address]

    def clear(self) -> None:
        self.messages.clear()
        self.envelopes.clear()
        self.recipients.clear()
        self.script.clear()


def start_smtp() -> tuple[Controller, MailSink]:
    """A real SMTP server on a free port."""
    sink = MailSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    ctl.start()
    return ctl, sink


def demo_clinic() -> Clinic:
    """The demo clinic of DESIGN.md §4 (the same file `make run` uses)."""
    clinic = ClinicDirectory.load(ROOT / "deploy/dev/clinics.json").get("demo-clinic")
    assert clinic is not None
    return clinic


def flag_body(flag_id: str = "F-1001", jurisdiction: str = "US-CA", **overrides) -> dict:
    """The DESIGN.md §3 sample flag, with distinctive fake PHI."""
    body = {
        "clinic_id": "demo-clinic",
        "flag_id": flag_id,
        "session_id": "S-2001",
        "jurisdiction": jurisdiction,
        "flagged_at": "2026-11-27T10:15:00-08:00",
        "clinician": {"id": "dr-lee"},
        "patient": {
            "ref": "P-301",
            "name": "Jordan Example",
            "birth_date": "1990-04-02",
            "email": "jordan@example.org",
            "phone": "+1-555-0101",
        },
        "concerns": [
            {
                "kind": "threat_to_others",
                "summary": "Stated intent to hurt a coworker tomorrow",
                "victims": [
                    {
                        "name": "Casey Rivera",
                        "email": "casey@example.org",
                        "phone": "+1-555-0102",
                        "relationship": "coworker",
                    }
                ],
            }
        ],
    }
    body.update(overrides)
    return body


def legal_request_body(
    request_id: str = "L-3001",
    instrument: str = "attorney_subpoena",
    served_at: str = "2026-12-01T09:00:00-08:00",
    response_due: str = "2026-12-21T17:00:00-08:00",
    **overrides,
) -> dict:
    """The DESIGN.md §3 sample legal request, with the patient's contact for the notice."""
    body = {
        "clinic_id": "demo-clinic",
        "request_id": request_id,
        "jurisdiction": "US-CA",
        "instrument": instrument,
        "issuer": {"name": "Superior Court, County of Alameda", "case_number": "RG26-000123"},
        "served_at": served_at,
        "response_due": response_due,
        "requester": {
            "name": "A. Attorney",
            "email": "attorney@law.test",
            "address": "1 Main St, Oakland CA",
        },
        "patient": {"ref": "P-301", "name": "Jordan Example", "email": "jordan@example.org"},
        "scope": {
            "from": "2024-01-01",
            "to": "2024-12-31",
            "categories": ["progress_note"],
            "psychotherapy_notes": False,
            "part2_compliant_order": False,
        },
        "documents": [{"name": "subpoena.pdf", "sha256": "ab" * 32}],
    }
    body.update(overrides)
    return body


def authorization_body(authorization_id: str = "A-4001", **overrides) -> dict:
    """The DESIGN.md §3 sample authorization: complete, valid until mid-2027."""
    body = {
        "clinic_id": "demo-clinic",
        "authorization_id": authorization_id,
        "jurisdiction": "US-CA",
        "patient": {"ref": "P-301", "name": "Jordan Example", "email": "jordan@example.org"},
        "information": {
            "from": "2024-01-01",
            "to": "2025-12-31",
            "categories": ["assessment"],
            "psychotherapy_notes": False,
        },
        "discloser": "demo-clinic",
        "recipient": {"name": "Dr. Park", "email": "park@clinic.test", "address": "2 Oak Ave"},
        "purpose": "continuity of care",
        "expires_at": "2027-06-30",
        "expiry_event": None,
        "signed_by": {"name": "Jordan Example", "relationship": "self"},
        "signed_at": "2026-11-30",
        "statements": {"right_to_revoke": True, "conditioning": True, "redisclosure": True},
    }
    body.update(overrides)
    return body


async def env_now(env) -> datetime:
    """The (time-skipping) test server's clock, in UTC: `now + timedelta(hours=36)` is then
    36 elapsed hours whatever the daylight-saving calendar says."""
    return (await env.get_current_time()).astimezone(UTC)


async def task_of(handle, kind: str, not_id: str | None = None):
    """The open task of this kind on a workflow with a `tasks` query (any path), waiting for it.

    A query that times out is asked again: right after continue-as-new the time-skipping server
    can let a query to the new run time out while its first workflow task is in flight.
    """
    from temporalio.service import RPCError

    from domain.tasks import TaskView

    async def find():
        try:
            tasks = await handle.query(
                "tasks", result_type=list[TaskView], rpc_timeout=timedelta(seconds=5)
            )
        except RPCError:
            return None
        return next((t for t in tasks if t.kind == kind and t.task_id != not_id), None)

    return await eventually(find, timeout=60)
