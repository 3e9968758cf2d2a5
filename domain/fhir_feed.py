"""What flows between the FHIR notification endpoint, the per-subscription feed workflow and
its activity (issue 15). Only references and counters: no resource content, no PHI."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

# The feed hands at most this many focus references to one activity; more wait for the next.
MAX_FOCUS = 50


class FeedEvent(BaseModel):
    number: int
    # "Flag/123", "Encounter/9", "Task/4", or absolute; None for an event with no focus.
    focus: str | None = None


class FeedNotice(BaseModel):
    """One notification, as the endpoint signals it to the feed."""

    events: list[FeedEvent] = []
    # The EHR's count of events since the subscription started (a heartbeat's too).
    events_since_start: int | None = None


class FeedState(BaseModel):
    """Carried across continue-as-new."""

    clinic_id: str
    subscription: str
    last_event: int = 0
    # Workflow time of the last notification handled: a catch-up asks for what changed since.
    heard_at: datetime | None = None
    opened: int = 0
    skipped: int = 0
    refused: int = 0
    catch_ups: int = 0
    # Focus references (or catch-ups) whose reads failed for good; the privacy officers were told.
    unread: int = 0
    # After such a failure: the next batch also searches, from before the failed one.
    owed_catch_up: bool = False


class FeedInput(BaseModel):
    state: FeedState
    pending: list[FeedNotice] = []


class FhirIntakeInput(BaseModel):
    """Open the cases these references lead to; with `catch_up`, also every active Confide
    Flag updated since `since` (None: every active Flag)."""

    clinic_id: str
    focus: list[str] = []
    catch_up: bool = False
    since: datetime | None = None


class FhirIntakeResult(BaseModel):
    # Case ids started now or found already open.
    opened: list[str] = []
    # "Flag/123: why", for Flags that are not Confide's to open (no Confide code, inactive,
    # deleted).
    skipped: list[str] = []
    # "Flag/123: why", for Confide Flags that could not open a case (the privacy officers
    # were e-mailed: a concern raised by a clinician must not be dropped in silence).
    refused: list[str] = []


class FhirUnreadInput(BaseModel):
    """Notifications whose reads failed for good (the activity's retries ran out)."""

    clinic_id: str
    focus: list[str] = []
    catch_up: bool = False
    # The failure's type and Confide's sentence (no EHR content).
    error: str
