"""The archive's Temporal Schedule: created (or brought up to date) by `confide dev` and by
`confide audit schedule`; an operator can also pause it or trigger it from the Web UI's
Schedules page."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from activities.archive import ArchivePass
from infra.settings import Settings
from workflows.archive import ArchiveWorkflow

SCHEDULE_ID = "confide-archive"


def interval() -> timedelta:
    """How often closed workflows are archived: CONFIDE_ARCHIVE_EVERY_MINUTES, default 60."""
    return timedelta(minutes=int(os.environ.get("CONFIDE_ARCHIVE_EVERY_MINUTES") or 60))


def every(
    run: Callable[[Any, Any], Awaitable[Any]],
    arg: Any,
    schedule_id: str,
    period: timedelta,
    settings: Settings,
) -> Schedule:
    """One pass of a workflow per period; a pass still running skips the next."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            run, arg, id=schedule_id, task_queue=settings.task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=period)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def schedule(settings: Settings) -> Schedule:
    """The archive schedule: one pass per interval."""
    return every(ArchiveWorkflow.run, ArchivePass(), SCHEDULE_ID, interval(), settings)


async def ensure_schedule(client: Client, settings: Settings) -> ScheduleHandle:
    """Create the schedule, or update the existing one to this code's definition."""
    return await ensure(client, SCHEDULE_ID, schedule(settings))


async def ensure(client: Client, schedule_id: str, wanted: Schedule) -> ScheduleHandle:
    """Create a schedule, or update the existing one to `wanted`."""
    try:
        return await client.create_schedule(schedule_id, wanted)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        def _update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await handle.update(_update)
        return handle
