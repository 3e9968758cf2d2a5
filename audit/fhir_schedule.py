"""The FHIR write-back's Temporal Schedule (issue 15): every CONFIDE_FHIR_WRITE_BACK_MINUTES
(default 5) one pass copies new disclosures into the clinics' EHRs. Created by `confide dev`
and `confide audit schedule` when FHIR sources are configured; paused or triggered from the
Web UI's Schedules page like the archive's."""

from __future__ import annotations

import os
from datetime import timedelta

from temporalio.client import Client, Schedule, ScheduleHandle

from activities.fhir_write_back import WriteBackPass
from audit.archive import ensure, every
from infra.settings import Settings
from workflows.fhir_write_back import FhirWriteBackWorkflow

SCHEDULE_ID = "confide-fhir-write-back"


def interval() -> timedelta:
    return timedelta(minutes=int(os.environ.get("CONFIDE_FHIR_WRITE_BACK_MINUTES") or 5))


def schedule(settings: Settings) -> Schedule:
    return every(FhirWriteBackWorkflow.run, WriteBackPass(), SCHEDULE_ID, interval(), settings)


async def ensure_write_back_schedule(client: Client, settings: Settings) -> ScheduleHandle:
    return await ensure(client, SCHEDULE_ID, schedule(settings))
