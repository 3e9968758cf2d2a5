"""One Confide case the way a clinic system drives it through the intake API: POST the flag,
GET the case until its risk-assessment task shows, POST the assessment (serious, identifiable
victim, imminent: California's duty to warn), then wait for the warnings at the SMTP sink."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.levels import CaseTiming
from bench.results import GetCost, Latency
from bench.stack import POLICE, ClockSink
from harness import flag_body

ASSESSMENT = {
    "actor": "dr-lee",
    "data": {"serious_threat": True, "identifiable_victims": True, "imminent": True},
}
FOLLOW_UP = 7 * 86400  # the CA re-assessment timer the concern starts once it has acted


def case_id(flag_id: str) -> str:
    return f"demo-clinic.{flag_id}"


async def _call(
    http: httpx.AsyncClient, method: str, url: str, pause: float, deadline: float, **kw
) -> tuple[httpx.Response, int]:
    """One API call, sent again after `pause` while the API answers 503 (the workflow service
    did not answer in time) as a clinic system would; (response, how many times it was retried)."""
    retries = 0
    while True:
        r = await http.request(method, url, **kw)
        if r.status_code != 503 or time.monotonic() > deadline:
            r.raise_for_status()
            return r, retries
        retries += 1
        await asyncio.sleep(pause)


async def one_case(
    http: httpx.AsyncClient,
    sink: ClockSink,
    flag_id: str,
    poll: float,
    t0: float | None = None,
    timeout: float = 300,
) -> CaseTiming:
    """One case from its flag to both warnings delivered; times are from `t0` (a scheduled send
    time) or from the POST."""
    victim = f"victim.{flag_id}@example.org".lower()
    body = flag_body(flag_id=flag_id)
    body["concerns"][0]["victims"][0]["email"] = victim
    if t0 is None:
        t0 = time.perf_counter()
    deadline = time.monotonic() + timeout
    sent = time.perf_counter()
    r, retries = await _call(http, "POST", "/v1/flags", poll, deadline, json=body)
    intake = time.perf_counter() - sent
    cid = r.json()["case_id"]
    polls = 0
    while True:
        polls += 1
        r, again = await _call(http, "GET", f"/v1/cases/{cid}", poll, deadline)
        retries += again
        tasks = r.json()["tasks"]
        if tasks:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{cid}: no task after {timeout} s")
        await asyncio.sleep(poll)
    visible = time.perf_counter() - t0
    task = tasks[0]
    posted = time.perf_counter()
    r, again = await _call(
        http,
        "POST",
        f"/v1/cases/{cid}/tasks/{task['task_id']}",
        poll,
        deadline,
        json=ASSESSMENT,
        # dr-lee answers as himself (intake/identity.py); bench/stack.py sets the token.
        headers={"Authorization": f"Bearer {os.environ['BENCH_PERSON_TOKEN']}"},
    )
    retries += again
    complete = time.perf_counter() - posted
    seen = await sink.wait_for(cid, {victim, POLICE}, timeout=timeout)
    return CaseTiming(
        case_id=cid,
        workflow_id=task["workflow_id"],
        intake=intake,
        task_visible=visible,
        complete_task=complete,
        first_email=min(seen.values()) - t0,
        warnings=max(seen[victim], seen[POLICE]) - t0,
        polls=polls,
        retries=retries,
    )


def _tasks(history) -> int:
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in history.events)


async def events_per_case(client: Client, cases: list[CaseTiming]) -> list[tuple[int, int]]:
    """(events, workflow tasks) of case + concern from the flag to both warnings, both ledger
    rows and the follow-up timer (as tests/test_history_cost.py counts them)."""
    counts = []
    for c in cases:
        concern = client.get_workflow_handle(c.workflow_id)
        history = None
        for _ in range(200):
            history = await concern.fetch_history()
            if any(
                e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
                and e.timer_started_event_attributes.start_to_fire_timeout.seconds == FOLLOW_UP
                for e in history.events
            ):
                break
            await asyncio.sleep(0.05)
        assert history is not None
        case_history = await client.get_workflow_handle(c.case_id).fetch_history()
        counts.append(
            (
                len(history.events) + len(case_history.events),
                _tasks(history) + _tasks(case_history),
            )
        )
    return counts


async def baseline_events(client: Client, cases: list[CaseTiming]) -> list[tuple[int, int]]:
    """(events, workflow tasks) of the baseline workflow, once it has completed."""
    counts = []
    for c in cases:
        handle = client.get_workflow_handle(c.workflow_id)
        await handle.result()
        history = await handle.fetch_history()
        counts.append((len(history.events), _tasks(history)))
    return counts


async def get_case_cost(stack, case_id: str, n: int) -> GetCost:
    """What one GET /v1/cases/{id} costs (a query to the case, one to each open concern):
    n of them one after another on a case in follow-up, with each process's CPU per GET."""
    async with stack.http() as http:
        await http.get(f"/v1/cases/{case_id}")
        before = stack.cpu()
        took = []
        for _ in range(n):
            t = time.perf_counter()
            (await http.get(f"/v1/cases/{case_id}")).raise_for_status()
            took.append(time.perf_counter() - t)
        cpu = stack.cpu_since(before)
    per = 1000 / n
    return GetCost(
        gets=n,
        latency=Latency.of(took),
        server_ms=round(cpu.temporal_server * per, 2),
        worker_ms=round(cpu.worker * per, 2),
        api_ms=round(cpu.api * per, 2),
        driver_ms=round(cpu.driver * per, 2),
    )
