"""The FHIR feed's bookkeeping (workflows/fhir_feed.py `_take`): every event's focus is read,
whatever its number; the numbers only decide when to search the EHR for what was missed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cli.dev_ehr import confide_source, new_private_pem
from domain.clinic import ClinicDirectory
from domain.fhir_feed import FeedEvent, FeedInput, FeedNotice, FeedState
from harness import demo_clinic, eventually, free_port, make_worker
from infra.fhir_sources import DEFAULT_SCOPES
from workflows.fhir_feed import REORDER_WINDOW, FhirFeedWorkflow


def feed(last_event: int) -> FhirFeedWorkflow:
    state = FeedState(clinic_id="demo-clinic", subscription="https://ehr/fhir/Subscription/1")
    state.last_event = last_event
    return FhirFeedWorkflow(FeedInput(state=state))


def notice(*events: tuple[int, str], count: int | None = None) -> FeedNotice:
    return FeedNotice(
        events=[FeedEvent(number=n, focus=f) for n, f in events], events_since_start=count
    )


@pytest.mark.parametrize(
    ("last", "notices", "focus", "gap", "advanced", "after"),
    [
        # The next event: read it, no search.
        (4, [notice((5, "Flag/e"), count=5)], ["Flag/e"], False, True, 5),
        # An event skipped: read this one and search.
        (4, [notice((7, "Flag/g"), count=7)], ["Flag/g"], True, True, 7),
        # Overtaken: 6 arrives after 7 was handled. Still read (idempotent), no new search.
        (7, [notice((6, "Encounter/f"), count=6)], ["Encounter/f"], False, False, 7),
        # Sent again: read again (finds its case), nothing else.
        (5, [notice((5, "Flag/e"), count=5)], ["Flag/e"], False, False, 5),
        # Two notices together, out of order: both read, in number order, no gap.
        (4, [notice((6, "Flag/f")), notice((5, "Flag/e"))], ["Flag/e", "Flag/f"], False, True, 6),
        # A heartbeat whose count is ahead: search.
        (5, [notice(count=8)], [], True, False, 8),
        # A heartbeat the feed has seen: nothing.
        (8, [notice(count=8)], [], False, False, 8),
        # The EHR's counter started again (Subscription recreated): read, and search.
        (40, [notice((1, "Flag/a"), count=1)], ["Flag/a"], True, True, 1),
    ],
)
def test_what_a_batch_reads_and_when_it_searches(last, notices, focus, gap, advanced, after):
    wf = feed(last)
    wf._pending = list(notices)
    assert wf._take() == (focus, gap, advanced)
    assert wf._state.last_event == after and wf._pending == []


def test_a_count_a_little_behind_is_an_overtaken_notification_not_a_restart():
    wf = feed(20)
    wf._pending = [notice((20 - REORDER_WINDOW, "Flag/x"), count=20 - REORDER_WINDOW)]
    assert wf._take() == (["Flag/x"], False, False)
    assert wf._state.last_event == 20


async def test_an_ehr_that_cannot_be_read_for_an_hour_is_told_to_the_privacy_officers(
    ts_env, smtp, mail, ledger, task_queue, tmp_path
):
    """Nothing listens where the EHR should be: the feed's reads are retried for about an
    hour of (skipped) time, then the privacy officers learn which notification went unread,
    and the feed takes the next one."""
    key = tmp_path / "smart.pem"
    key.write_text(new_private_pem())
    nowhere = f"http://127.0.0.1:{free_port()}"
    sources = confide_source(
        f"{nowhere}/fhir", key, DEFAULT_SCOPES, token_url=f"{nowhere}/auth/token"
    )
    directory = ClinicDirectory(clinics=[demo_clinic()])
    worker = make_worker(
        ts_env.client, task_queue, smtp[0].port, ledger, fhir_sources=sources, clinics=directory
    )
    async with worker:
        handle = await ts_env.client.start_workflow(
            FhirFeedWorkflow.run,
            FeedInput(state=FeedState(clinic_id="demo-clinic", subscription=f"{nowhere}/S/1")),
            id=f"fhir-feed.demo-clinic.{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            start_signal="notified",
            start_signal_args=[notice((1, "Flag/f-1"), count=1)],
        )
        await ts_env.sleep(timedelta(hours=2))
        [alert] = await eventually(lambda: mail.to("diaz@demo-clinic.test"), timeout=60)
        state = await eventually(lambda: _unread(handle))
        # The feed goes on: the next notification is taken.
        await handle.signal(FhirFeedWorkflow.notified, notice((2, "Flag/f-2"), count=2))
        await eventually(lambda: _last_event(handle, 2))
    assert "could not be read" in alert["Subject"]
    body = alert.get_content()
    assert "Flag/f-1" in body and "FhirIntakeFailed" in body
    assert state.unread == 1 and state.opened == 0
    # Once a read succeeds again, the next batch also searches for what went unread.
    assert state.owed_catch_up and state.heard_at is None


async def _unread(handle):
    state = await handle.query(FhirFeedWorkflow.state)
    return state if state.unread else None


async def _last_event(handle, n: int) -> bool:
    return (await handle.query(FhirFeedWorkflow.state)).last_event == n
