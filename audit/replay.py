"""Replay: run recorded histories through today's workflow code with the shared converter.

A history that no longer replays means the code changed incompatibly for cases already on
record, which an auditor (and a deploy) must know: where it diverged, by event number and type.
Histories come from Temporal while it keeps them and from the archive after (infra.archive_db).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from infra.archive_db import ArchiveStore
from infra.temporal import data_converter
from worker import WORKFLOWS, reuse_compiled_code

Source = Literal["temporal", "archive", "file"]

_runtime: Runtime | None = None


def _quiet_runtime() -> Runtime:
    # The SDK core logs each failing workflow task as a WARN with a Rust debug dump; the
    # replay outcome says the same in one line, so only errors are let through.
    global _runtime
    if _runtime is None:
        _runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")
                )
            )
        )
    return _runtime


def replayer(**options) -> Replayer:
    """A replayer for every Confide workflow, with the converter the worker uses."""
    reuse_compiled_code()  # each replayed history imports the workflow modules anew
    return Replayer(
        workflows=WORKFLOWS, data_converter=data_converter(), runtime=_quiet_runtime(), **options
    )


@dataclass(frozen=True)
class Recorded:
    """One run's history and where it came from."""

    workflow_id: str
    run_id: str
    source: Source
    history: WorkflowHistory
    start_time: datetime | None = None


class ReplayOutcome(BaseModel):
    """One run replayed: clean, or the failure with the event where it diverged."""

    workflow_id: str
    run_id: str
    source: Source
    events: int
    error: str | None = None
    diverged_at_event: int | None = None
    diverged_event_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_EVENT = re.compile(r"HistoryEvent\(id: (\d+)")
_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


def _describe(history: WorkflowHistory, failure: Exception) -> tuple[str, int | None, str | None]:
    """The failure in one line, and the event it names (number and type) if it names one."""
    text = str(failure)
    found = _MESSAGE.search(text)
    message = found.group(1) if found else text
    event = _EVENT.search(message)
    if event is None:
        return f"{type(failure).__name__}: {message}", None, None
    event_id = int(event.group(1))
    kind = next(
        (
            EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
            for e in history.events
            if e.event_id == event_id
        ),
        None,
    )
    return f"{type(failure).__name__}: {message}", event_id, kind


def _outcome(rec: Recorded, failure: Exception | None) -> ReplayOutcome:
    error, event_id, kind = _describe(rec.history, failure) if failure else (None, None, None)
    return ReplayOutcome(
        workflow_id=rec.workflow_id,
        run_id=rec.run_id,
        source=rec.source,
        events=len(rec.history.events),
        error=error,
        diverged_at_event=event_id,
        diverged_event_type=kind,
    )


async def replay_each(
    recorded: Iterable[Recorded] | AsyncIterable[Recorded], r: Replayer | None = None
) -> AsyncIterator[ReplayOutcome]:
    """Replay runs with today's code in one batch (one replay worker, the SDK's
    `workflow_replay_iterator`), yielding each run's outcome as soon as it is replayed, in the
    order given; never raises for a run that fails. Runs are read one at a time, so an async
    source (Temporal, the archive) is fetched while the runs before it replay."""
    r = r or replayer()
    # The SDK pushes one history and waits for its result before it reads the next, so the
    # run a result belongs to is always the one read last.
    pending: deque[Recorded] = deque()

    async def histories() -> AsyncIterator[WorkflowHistory]:
        if isinstance(recorded, AsyncIterable):
            async for rec in recorded:
                pending.append(rec)
                yield rec.history
        else:
            for rec in recorded:
                pending.append(rec)
                yield rec.history

    async with r.workflow_replay_iterator(histories()) as results:
        async for result in results:
            rec = pending.popleft()
            assert result.history is rec.history
            yield _outcome(rec, result.replay_failure)


async def replay(recorded: Sequence[Recorded], r: Replayer | None = None) -> list[ReplayOutcome]:
    """Replay each run with today's code, in one batch; never raises for a run that fails."""
    return [o async for o in replay_each(recorded, r)]


async def replay_histories(histories: list[WorkflowHistory]) -> list[tuple[str, str | None]]:
    """(workflow id, error or None) per history."""
    outcomes = await replay([Recorded(h.workflow_id, _run_id(h), "file", h) for h in histories])
    return [(o.workflow_id, o.error) for o in outcomes]


def recorded(h: WorkflowHistory, source: Source) -> Recorded:
    """A history with its run id and start time read from its first event."""
    started = h.events[0].event_time.ToDatetime(tzinfo=UTC) if h.events else None
    return Recorded(h.workflow_id, _run_id(h), source, h, started)


def from_files(paths: list[Path]) -> list[Recorded]:
    """Histories saved as JSON (`temporal workflow show -o json`, or the UI download)."""
    out = [recorded(WorkflowHistory.from_json(p.stem, p.read_text()), "file") for p in paths]
    return sorted(out, key=_started)


async def replay_files(paths: list[Path]) -> list[tuple[str, str | None]]:
    """(workflow id, error or None) per saved history file."""
    return [(o.workflow_id, o.error) for o in await replay(from_files(paths))]


def _run_id(h: WorkflowHistory) -> str:
    started = h.events[0].workflow_execution_started_event_attributes if h.events else None
    return started.original_execution_run_id if started else ""


async def runs(
    target: str | None,
    *,
    client: Client | None,
    archive: ArchiveStore | None,
    since: datetime | None = None,
) -> AsyncIterator[Recorded]:
    """Every run of `target` and of the workflows whose ids extend it (a case's concerns,
    an authorization's continued runs), or with target None every run still open or started
    since `since` (the runs a deploy puts at risk): from Temporal while it keeps them, then
    from the archive for the rest. One at a time, so a year of cases is not held in memory."""
    seen: set[tuple[str, str]] = set()
    if client is not None:
        if target is not None:
            t = _quote(target)
            query = f"WorkflowId = '{t}' OR WorkflowId STARTS_WITH '{t}.'"
        elif since is not None:
            query = f"ExecutionStatus = 'Running' OR StartTime >= '{since.isoformat()}'"
        else:
            query = ""
        async for wf in client.list_workflows(query or None):
            if wf.workflow_type == "ArchiveWorkflow":
                continue
            try:
                h = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    raise
                continue  # deleted since it was listed: the archive has it, if anyone does
            seen.add((wf.id, wf.run_id))
            yield Recorded(wf.id, wf.run_id, "temporal", h, wf.start_time)
    if archive is not None:
        for entry in archive.entries(target, family=True, since=since):
            if (entry.workflow_id, entry.run_id) not in seen:
                yield Recorded(
                    entry.workflow_id,
                    entry.run_id,
                    "archive",
                    archive.history(entry.id),
                    entry.start_time,
                )


async def gather(
    target: str | None,
    *,
    client: Client | None,
    archive: ArchiveStore | None,
    since: datetime | None = None,
) -> list[Recorded]:
    """`runs`, collected and ordered oldest first (what a report needs)."""
    found = [r async for r in runs(target, client=client, archive=archive, since=since)]
    return sorted(found, key=_started)


def _started(r: Recorded) -> tuple[float, str]:
    return (r.start_time.timestamp() if r.start_time else 0.0, r.workflow_id)


def _quote(value: str) -> str:
    # Visibility queries are strings: an id with a quote must not end the literal early.
    return value.replace("\\", "\\\\").replace("'", "\\'")
