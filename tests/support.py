"""Test helpers: a real SMTP sink, polling without sleeps, a sample flag, worker wiring.

What the benchmark uses too lives in the `harness` package; it is re-exported here so tests keep
importing it from `tests.support`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import BIN as BIN
from harness import ROOT as ROOT
from harness import MailSink as MailSink
from harness import code_for as code_for
from harness import demo_clinic as demo_clinic
from harness import eventually as eventually
from harness import flag_body as flag_body
from harness import free_port as free_port
from harness import start_smtp as start_smtp
from harness import with_code as with_code


def reference_file() -> Path:
    """The legal reference the policy data is encoded from: ../shared (current) when present,
    else the snapshot the data was last built from (tools/reference/)."""
    shared = ROOT.parent / "shared" / "reference" / "jurisdictions.json"
    return shared if shared.exists() else ROOT / "tools" / "reference" / "jurisdictions.json"


# An approval code as the e-mails carry it (80 bits, four groups of base32).
CODE_PATTERN = r"([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})"


async def worker_identities(client: Any, workflow_id: str) -> set[str]:
    """The workers (pid@host) that completed this workflow's workflow and activity tasks."""
    from temporalio.api.enums.v1 import EventType

    seen = set()
    async for e in client.get_workflow_handle(workflow_id).fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            seen.add(e.workflow_task_completed_event_attributes.identity)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            seen.add(e.activity_task_started_event_attributes.identity)
    return seen


async def code_from_mail(mail: MailSink, address: str, task_id: str) -> str:
    """The code in the e-mail `address` got for `task_id`, as its reader copies it. Matching on
    the task (not on "approval code") matters: one person often gets codes for several tasks,
    and the newest e-mail may not yet be the one for this task."""
    mine = f"approval code for task {task_id}:"

    def find() -> str | None:
        for m in mail.to(address):
            text = m.get_content()  # type: ignore[attr-defined]  # an EmailMessage
            if mine in text:
                return re.search(CODE_PATTERN, text).group(1)  # type: ignore[union-attr]
        return None

    return await eventually(find)


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
