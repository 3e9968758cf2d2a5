"""Open cases from Flags raised in a clinic's EHR (issue 15): read each Flag, its patient, its
encounter, its author and the people it names with the clinic's SMART token, build the flag
`POST /v1/flags` would have sent (intake.fhir_flags) and start the case the same way, with the
same idempotency: the same Flag read twice finds the case it opened.

What reaches history (the result, a failure's message) is references and reasons only: the
resources read stay in this activity, and the flag built from them travels to the case
workflow encrypted like any other flag.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any, Literal

import structlog
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import (
    AuthorizationError,
    ForbiddenError,
    MultipleResourcesFound,
    ResourceNotFound,
)
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.notify import NoticeActivities, StaffAddress, StaffNoticeInput
from domain.clinic import Clinic, ClinicDirectory, Role, StaffLinks
from domain.fhir_feed import FhirIntakeInput, FhirIntakeResult, FhirUnreadInput
from domain.notices import staff_notice
from infra.fhir_common import TooManyUnknownFields, flag_key, split_reference
from infra.fhir_ehr import Ehrs
from infra.ledger_db import Ledger
from infra.smart_auth import SmartTokenRefused
from intake.cases import earlier_case_on_record, roster_problems, start_case
from intake.fhir_flags import (
    FlagNotUsable,
    FlagRead,
    NotConfides,
    author_reference,
    concern_kinds,
    confide_flag,
    people_references,
)

log = structlog.get_logger()

Outcome = Literal["opened", "skipped", "refused"]

# A catch-up asks for Flags changed a little before the last notification heard: the EHR's
# clock and Temporal's need not agree to the second.
CLOCK_SKEW = timedelta(minutes=15)


class FhirIntakeActivities:
    def __init__(
        self,
        client: Client,
        task_queue: str,
        ledger: Ledger,
        ehrs: Ehrs,
        clinics: Callable[[], ClinicDirectory],
        notices: NoticeActivities,
        links: StaffLinks | None = None,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._ledger = ledger
        self._ehrs = ehrs
        # Read when first needed: a worker without FHIR sources never reads the clinics here.
        self._clinics = clinics
        self._links = links
        self._notices = notices

    def _clinic(self, clinic_id: str) -> Clinic:
        clinic = self._clinics().get(clinic_id)
        if clinic is None:
            raise ApplicationError(
                f"clinic {clinic_id} is not in the clinics file", type="UnknownClinic"
            )
        if clinic.links is None and self._links is not None:
            clinic = clinic.model_copy(update={"links": self._links})
        return clinic

    @activity.defn(name="open_cases_from_fhir")
    async def open_cases_from_fhir(self, inp: FhirIntakeInput) -> FhirIntakeResult:
        """Open the case of each Confide Flag the references (and a catch-up) lead to."""
        ehr = self._ehrs.get(inp.clinic_id)
        if ehr is None:
            raise ApplicationError(
                f"no FHIR source is configured for clinic {inp.clinic_id} (CONFIDE_FHIR_SOURCES)",
                type="NoFhirSource",
            )
        clinic = self._clinic(inp.clinic_id)
        try:
            fhir = await ehr.client()
            flag_ids = await flags_to_read(fhir, inp)
            result = FhirIntakeResult()
            for flag_id in flag_ids:
                kind, outcome = await self._open_one(
                    fhir, clinic, flag_id, ehr.source.staff_identifier_system
                )
                if kind == "opened":
                    result.opened.append(outcome)
                elif kind == "skipped":
                    result.skipped.append(f"Flag/{flag_id}: {outcome}")
                else:
                    result.refused.append(f"Flag/{flag_id}: {outcome}")
                    await self._alert(clinic, flag_id, outcome)
        except ApplicationError:
            raise
        except SmartTokenRefused as e:
            # Its sentence names the client and what to check; nothing of the EHR's data.
            raise ApplicationError(str(e), type="SmartTokenRefused") from None
        except AuthorizationError:
            # The EHR no longer takes the token (revoked, keys rotated): ask for a new one.
            ehr.forget_token()
            raise ApplicationError(
                "the EHR refused Confide's token (HTTP 401); a new one is asked for on retry",
                type="FhirTokenRefused",
            ) from None
        except ForbiddenError:
            # Retried: the clinic's EHR administrator can grant the scope while it waits.
            raise ApplicationError(
                "the EHR refused a read (HTTP 403): grant Confide's client the read scopes "
                "listed in infra/fhir_sources.DEFAULT_SCOPES",
                type="FhirReadRefused",
            ) from None
        except Exception as e:
            # fhirpy's messages can quote a resource: only the type leaves.
            log.warning("fhir intake failed", error_type=type(e).__name__)
            raise ApplicationError(
                f"opening cases from the EHR's Flags failed ({type(e).__name__})",
                type="FhirIntakeFailed",
            ) from None
        log.info(
            "fhir flags read",
            clinic_id=clinic.id,
            opened=len(result.opened),
            skipped=len(result.skipped),
            refused=len(result.refused),
        )
        return result

    async def _open_one(
        self, fhir: AsyncFHIRClient, clinic: Clinic, flag_id: str, staff_system: str | None
    ) -> tuple[Outcome, str]:
        """("opened", case id), ("skipped", why) for a Flag not Confide's to open, or
        ("refused", why) for a Confide Flag that cannot open a case. The EHR being down or
        refusing Confide's token raises (the batch is retried); anything wrong with this
        Flag's data refuses this Flag only, so one bad Flag never holds up the others."""
        try:
            flag_json = (await fhir.reference("Flag", flag_id).to_resource()).serialize()
        except ResourceNotFound:
            return "skipped", "it is no longer in the EHR"
        if not concern_kinds(flag_json):
            return "skipped", "not a Confide concern"
        try:
            flag = confide_flag(await _read_flag(fhir, flag_json), clinic, staff_system)
        except NotConfides as e:
            return "skipped", str(e)
        except FlagNotUsable as e:
            return "refused", str(e)
        except ResourceNotFound:
            return (
                "refused",
                "a resource it points to (patient, session, author or person) is not in the EHR",
            )
        except (TooManyUnknownFields, MultipleResourcesFound, ValueError, TypeError, KeyError) as e:
            # Data the models could not read: the type names the problem, never the data.
            return "refused", f"what it points to could not be read ({type(e).__name__})"
        if problems := roster_problems(flag, clinic):
            return "refused", f"{problems[0]['field']}: {problems[0]['problem']}"
        if await earlier_case_on_record(self._client, self._ledger, f"{clinic.id}.{flag.flag_id}"):
            return "refused", "its case is closed and on record in the ledger"
        started = await start_case(self._client, self._task_queue, flag, clinic)
        if not started.same_body:
            # The Flag was edited after its case opened: the case keeps what it started
            # with; the clinician updates the case, not the Flag.
            log.info("fhir flag changed after its case opened", case_id=started.case_id)
        return "opened", started.case_id

    def _alert_recipients(self, clinic: Clinic) -> list[StaffAddress]:
        people = clinic.with_role(Role.privacy_officer) or clinic.with_role(Role.supervisor)
        return [StaffAddress(recipient_key=f"staff-{p.id}", to=p.email) for p in people]

    async def _alert(self, clinic: Clinic, flag_id: str, reason: str) -> None:
        """E-mail the privacy officers (else the supervisors) that a clinician's Flag opened
        no case, once per Flag and reason (the Message-ID is derived from both, and the sent
        log keeps a retry from sending it again). A mail server that is down fails the
        activity, which retries: the alert is not dropped."""
        case_id = f"{clinic.id}.{flag_key(flag_id)}"
        notice = staff_notice(
            clinic,
            case_id,
            "A Flag raised in the EHR could not open a Confide case",
            [
                f"The EHR's Flag/{flag_id} carries a Confide concern, but {reason}.",
                "Correct it in the EHR (or the clinic's roster) and the Flag is read again "
                "when it changes; or send the flag with `confide flag` or POST /v1/flags. "
                "Until then no deadline is being tracked for this concern.",
            ],
        )
        digest = hashlib.sha256(reason.encode()).hexdigest()[:12]
        await self._notices.send_to_each(
            StaffNoticeInput(
                case_id=case_id,
                step=f"fhir-refused.{digest}",
                subject=notice.subject,
                body=notice.body,
                recipients=self._alert_recipients(clinic),
            )
        )

    @activity.defn(name="alert_unread_fhir")
    async def alert_unread_fhir(self, inp: FhirUnreadInput) -> None:
        """After the reads failed for good: tell the privacy officers which notifications
        Confide could not follow, so no concern waits unseen while the EHR is unreachable."""
        clinic = self._clinic(inp.clinic_id)
        what = ", ".join(inp.focus) if inp.focus else "(none named)"
        lines = [
            f"Confide could not read from the EHR what these notifications point to: {what}"
            + (" (and a search for Flags it may have missed)" if inp.catch_up else "")
            + f". The last error: {inp.error}.",
            "Check Confide's access to the EHR (its address, the SMART client's key and "
            "scopes). The Flags are read again when they change; a concern that cannot wait "
            "can be sent with `confide flag` or POST /v1/flags.",
        ]
        key = "|".join([*inp.focus, str(inp.catch_up), inp.error])
        notice = staff_notice(
            clinic, f"{clinic.id}.fhir-feed", "Flags raised in the EHR could not be read", lines
        )
        await self._notices.send_to_each(
            StaffNoticeInput(
                case_id=f"{clinic.id}.fhir-feed",
                step=f"fhir-unread.{hashlib.sha256(key.encode()).hexdigest()[:12]}",
                subject=notice.subject,
                body=notice.body,
                recipients=self._alert_recipients(clinic),
            )
        )


async def flags_to_read(fhir: AsyncFHIRClient, inp: FhirIntakeInput) -> list[str]:
    """The Flag ids the focus references and the catch-up lead to, each once, in order."""
    ids: list[str] = []

    def add(flag_id: str) -> None:
        if flag_id not in ids:
            ids.append(flag_id)

    for focus in inp.focus:
        ref = split_reference(focus)
        if ref is None:
            continue
        kind, rid = ref
        if kind == "Flag":
            add(rid)
        elif kind in ("Encounter", "Task"):
            # Fallbacks: a signed-off Encounter or a Task; the Flags on that session.
            encounter = rid
            if kind == "Task":
                try:
                    task = (await fhir.reference("Task", rid).to_resource()).serialize()
                except ResourceNotFound:
                    continue  # deleted since: nothing to follow
                focus_ref = split_reference((task.get("focus") or {}).get("reference"))
                if focus_ref and focus_ref[0] == "Flag":
                    add(focus_ref[1])
                    continue
                enc_ref = split_reference((task.get("encounter") or {}).get("reference"))
                if not enc_ref:
                    continue
                encounter = enc_ref[1]
            for flag in (
                await fhir.resources("Flag")
                .search(encounter=f"Encounter/{encounter}", status="active")
                .fetch_all()
            ):
                add(str(flag["id"]))
    if inp.catch_up:
        search = fhir.resources("Flag").search(status="active")
        if inp.since is not None:
            # In UTC with a Z: a "+" offset could arrive as a space in a query string.
            since = (inp.since - CLOCK_SKEW).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            search = search.search(_lastUpdated=f"ge{since}")
        for flag in await search.fetch_all():
            if concern_kinds(flag.serialize()):
                add(str(flag["id"]))
    return ids


async def _read(fhir: AsyncFHIRClient, reference: str) -> dict[str, Any] | None:
    ref = split_reference(reference)
    if ref is None:
        return None
    return (await fhir.reference(ref[0], ref[1]).to_resource()).serialize()


async def _read_flag(fhir: AsyncFHIRClient, flag: dict[str, Any]) -> FlagRead:
    """What a Confide Flag points to: its patient, encounter, author and people."""
    subject = (flag.get("subject") or {}).get("reference")
    ref = split_reference(subject)
    if ref is None or ref[0] != "Patient":
        raise FlagNotUsable("the Flag's subject is not a Patient")
    encounter_ref = (flag.get("encounter") or {}).get("reference")
    patient, encounter = await asyncio.gather(
        _read(fhir, f"Patient/{ref[1]}"),
        _read(fhir, encounter_ref) if encounter_ref else asyncio.sleep(0, None),
    )
    author = author_reference(flag, encounter)
    people_refs = people_references(flag)
    practitioner, *people = await asyncio.gather(
        _read(fhir, author) if author else asyncio.sleep(0, None),
        *(_read(fhir, r) for r in people_refs),
    )
    return FlagRead(
        flag=flag,
        patient=patient or {},
        encounter=encounter,
        practitioner=practitioner,
        people={r: p for r, p in zip(people_refs, people, strict=True) if p is not None},
    )
