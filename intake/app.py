"""The intake API clinic systems call (DESIGN.md §3)."""

import asyncio
import hmac
import re
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.approvals import derive_code
from domain.accounting import Suspension
from domain.accounting_case import AccountingRequest
from domain.authorization import Authorization, problems
from domain.authorization_case import Correction, ExpiryEvent, ReleaseRequest, Revocation
from domain.case import CaseStatus
from domain.clinic import Clinic, ClinicDirectory, Role, StaffLinks
from domain.flags import Flag, case_id_for
from domain.legal_request import LegalRequest
from domain.tasks import TaskCompletion, TaskView, normalize_code
from infra.codec import EncryptionCodec
from infra.fhir_sources import FhirSources
from infra.ledger_db import Ledger
from infra.records_db import RecordsStore
from infra.settings import Settings
from infra.temporal import connect, data_converter
from intake import errors
from intake.cases import (
    Started,
    earlier_case_on_record,
    fresh_concerns,
    roster_problems,
    start_accounting,
    start_authorization,
    start_case,
    start_legal_request,
)
from intake.codec_server import codec_router, namespace_codecs
from intake.fhir_endpoint import fhir_router
from intake.identity import Identities, IdentityError, IdentitySettings, Person, System
from intake.policy_store import jurisdictions
from intake.rate_limit import RateLimiter
from intake.work_list import render_page, ui_list_url, visibility_query, waiting_work
from workflows import search_attributes
from workflows.case import CaseWorkflow

MAX_BODY = 64 * 1024
# Ids in URL paths: a case id is "<clinic id>.<own id>", each a domain.flags.OpaqueKey; a task id
# is built from such keys and words (workflows/*: "c1-2-release_decision"); a packet link's token
# is secrets.token_urlsafe. Anything else is refused before it reaches Temporal or the database.
CASE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}$")
TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
LINK_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
# A packet link is for one download, soon: long enough to fetch it, too short to linger in mail.
PACKET_LINK_TTL = timedelta(minutes=15)
FUTURE_SKEW = timedelta(minutes=10)
# The instants a case's clocks run from may be late, not ancient: a flag "flagged" in the year
# 20 is overdue by two thousand years, and its workflow would walk every missed escalation
# round in one workflow task (found by the generated requests of tests/test_hostile_input.py).
PAST_LIMIT = timedelta(days=3653)


class FlagAccepted(BaseModel):
    """The answer to POST /v1/flags."""

    case_id: str
    workflow_id: str
    web_ui: str
    created: bool


class PacketLink(BaseModel):
    """A one-time, short-lived download link for a release packet."""

    url: str
    expires_at: datetime
    sha256: str


class CompleteTaskBody(BaseModel):
    """POST /v1/cases/{case_id}/tasks/{task_id}: the Update's body; task_id from the path."""

    model_config = ConfigDict(extra="forbid")
    task_id: str | None = None
    # The person signed in (intake/identity.py); given, it must be them.
    actor: str | None = None
    outcome: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    code: str | None = None
    note: str | None = Field(None, max_length=2000)


class TaskOut(TaskView):
    """A task with a link to the workflow page where it is completed in the Web UI."""

    web_ui: str


class CaseOut(BaseModel):
    """GET /v1/cases/{case_id}."""

    case_id: str
    status: str
    jurisdiction: str
    policy_version: str
    policy_unverified: bool
    web_ui: str
    overdue: bool
    next_due: Any
    tasks: list[TaskOut]
    deadlines: list[dict[str, Any]]
    concerns: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    disclosures: list[dict[str, Any]]
    path: str = "case"
    legal: dict[str, Any] | None = None
    authorization: dict[str, Any] | None = None
    # Accounting requests: the entries (date, recipient, description, basis) once prepared.
    accounting: list[dict[str, Any]] | None = None
    accounting_request: dict[str, Any] | None = None
    problems: list[str] = []


def _invalid(field: str, problem: str) -> HTTPException:
    return HTTPException(
        422, {"error": "invalid request", "errors": [{"field": field, "problem": problem}]}
    )


def not_ancient(field: str, value: datetime | None) -> None:
    """Refuse an instant more than PAST_LIMIT (10 years) ago."""
    if value is not None and value < datetime.now(UTC) - PAST_LIMIT:
        raise _invalid(field, "is more than 10 years in the past")


def latest_packet(s: CaseStatus) -> tuple[str, str] | None:
    """(packet id, SHA-256) of the newest packet a case produced, if any."""
    if s.legal is not None and s.legal.packet is not None:
        return s.legal.packet.packet_id, s.legal.packet.sha256
    if s.authorization is not None and s.authorization.recent_releases:
        last = s.authorization.recent_releases[-1]
        return last.packet_id, last.sha256
    if s.accounting is not None and s.accounting.packet_id and s.accounting.sha256:
        return s.accounting.packet_id, s.accounting.sha256
    return None


def create_app(
    settings: Settings,
    directory: ClinicDirectory,
    client: Client | None = None,
    *,
    ledger: Ledger,
    records: RecordsStore | None = None,
    identity: IdentitySettings | None = None,
    rate_limiter: RateLimiter | None = None,
    fhir_sources: FhirSources | None = None,
) -> FastAPI:
    """The FastAPI app (intake API and codec endpoints); pass a client in tests, or let it
    connect from the settings. The ledger is read to refuse a flag id already on record; the
    records store serves release packets (default: the store beside the ledger). Who may call
    is `identity` (default: IdentitySettings.from_env(), see intake/identity.py)."""
    records = records or RecordsStore(ledger.url)
    identities = Identities(directory, identity or IdentitySettings.from_env())
    # Intake (the POSTs that open cases) is rate-limited per clinic: intake/rate_limit.py.
    limiter = rate_limiter or RateLimiter.from_env()
    state: dict[str, Client] = {"client": client} if client else {}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if "client" not in state:
            settings.check_service()
            state["client"] = await connect(settings)
            await search_attributes.check_registered(state["client"], settings.temporal_namespace)
        # Packet links are served from the records store: its tables must exist even when the
        # API starts before any worker has created them.
        await asyncio.to_thread(records.migrate)
        yield

    app = FastAPI(title="Confide intake API", version="1", lifespan=lifespan)
    app.add_middleware(errors.BodyLimit, limit=MAX_BODY)
    errors.install(app)
    codec = (client.data_converter if client else data_converter()).payload_codec
    if not isinstance(codec, EncryptionCodec):
        raise TypeError("the intake app needs a client built with infra.temporal.data_converter")
    app.include_router(
        codec_router(
            namespace_codecs(codec, directory, identities.settings, settings.temporal_namespace),
            settings.codec_tokens(),
            settings.ui_origins,
            identities,
            settings.temporal_namespace,
        )
    )
    # EHR notifications (issue 15): only for clinics with a FHIR source configured.
    app.include_router(
        fhir_router(state, settings.task_queue, fhir_sources or FhirSources.from_env())
    )
    bearer = HTTPBearer(auto_error=False)

    def who(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> System | Person:
        # A plain def: FastAPI runs it in a worker thread, where fetching an issuer's keys
        # does not stall the event loop.
        try:
            return identities.resolve(creds.credentials if creds else None)
        except IdentityError as e:
            extra = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
            raise HTTPException(e.status, e.message, headers=extra) from None

    def clinic_for(caller: Annotated[System | Person, Depends(who)]) -> Clinic:
        clinic = caller.clinic
        # The case's snapshot of the clinic carries where its staff work, for the links in
        # its task e-mails (a clinic's own configuration may name other addresses).
        return clinic if clinic.links else clinic.model_copy(update={"links": staff_links})

    Caller = Annotated[Clinic, Depends(clinic_for)]
    secret: list[bytes] = []

    def code_secret() -> bytes:
        # The approval-code secret the workers derive the e-mailed codes from; read when first
        # needed, so an API that never fills in a code does not need it.
        if not secret:
            secret.append(settings.code_secret())
        return secret[0]

    Signed = Annotated[System | Person, Depends(who)]

    def work_viewer(request: Request, clinic: Clinic) -> Person:
        """Who may see a clinic's work lists outside dev: a person on its roster. A browser
        follows the link from an e-mail, so the credential is the one the clinic's sign-in
        proxy forwards (oauth2-proxy's X-Forwarded-Access-Token / X-Auth-Request-Access-Token)
        or an Authorization header; the page names no patient, but the roster and the shape
        of a clinic's open duties are still the clinic's business."""
        header = request.headers.get("authorization", "")
        credential = (
            header[7:].strip()
            if header.lower().startswith("bearer ")
            else request.headers.get("x-forwarded-access-token")
            or request.headers.get("x-auth-request-access-token")
        )
        try:
            caller = identities.resolve(credential)
        except IdentityError as e:
            raise HTTPException(
                e.status, "sign in through the clinic's sign-in page, then open the link again"
            ) from None
        if not isinstance(caller, Person) or caller.clinic.id != clinic.id:
            raise HTTPException(403, f"only staff of {clinic.id} may see its work lists")
        return caller

    staff_links = StaffLinks(
        work=settings.api_url, ui=settings.ui_url, namespace=settings.temporal_namespace
    )

    def limited(caller: Caller) -> None:
        limiter.check(caller.id)

    Limited = [Depends(limited)]

    def own(case_id: str, caller: Clinic) -> None:
        # A case id is exactly "<clinic>.<flag>"; anything else (a concern's workflow id, a
        # path with "../", an over-long or non-ASCII id) is not a case. Errors never quote it.
        if not CASE_ID.fullmatch(case_id):
            raise HTTPException(404, "no such case")
        if case_id.split(".", 1)[0] != caller.id:
            raise HTTPException(403, "this case belongs to another clinic")

    async def case_status(case_id: str) -> CaseStatus:
        try:
            status = await state["client"].get_workflow_handle(case_id).query(CaseWorkflow.status)
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise HTTPException(404, "no such case") from None
            raise HTTPException(503, "the workflow service is unavailable") from None
        return await fresh_concerns(state["client"], status)

    async def refuse_reused_id(clinic_id: str, own_id: str) -> None:
        try:
            reused = await earlier_case_on_record(
                state["client"], ledger, case_id_for(clinic_id, own_id)
            )
        except RPCError:
            raise HTTPException(503, "the workflow service is unavailable") from None
        if reused:
            raise HTTPException(
                409,
                f"this {own_id.split()[0]} id belongs to an earlier case on record in the "
                "ledger; send a new id",
            )

    def accepted(started: Started, own_id: str, response: Response) -> FlagAccepted:
        if not started.same_body:
            raise HTTPException(
                409,
                f"this {own_id.split()[0]} id was already sent with a different body; send a "
                "new id for a new case",
            )
        if not started.created:
            response.status_code = 200
        return FlagAccepted(
            case_id=started.case_id,
            workflow_id=started.case_id,
            web_ui=settings.workflow_url(started.case_id),
            created=started.created,
        )

    def known_jurisdiction(jurisdiction: str) -> None:
        if jurisdiction not in jurisdictions():
            raise _invalid(
                "jurisdiction",
                "not a jurisdiction Confide has policy for (e.g. US-CA, CA-ON, GB-ENG)",
            )

    @app.post("/v1/flags", status_code=202, response_model=FlagAccepted, dependencies=Limited)
    async def submit_flag(flag: Flag, caller: Caller, response: Response) -> FlagAccepted:
        """Open a case for a flagged session (idempotent on clinic + flag id)."""
        if flag.clinic_id != caller.id:
            raise HTTPException(403, "the API key belongs to another clinic")
        known_jurisdiction(flag.jurisdiction)
        not_ancient("flagged_at", flag.flagged_at)
        for i, concern in enumerate(flag.concerns):
            not_ancient(f"concerns[{i}].known_at", concern.known_at)
        roster_errors = roster_problems(flag, caller)
        if roster_errors:
            raise HTTPException(422, {"error": "invalid request", "errors": roster_errors})
        await refuse_reused_id(flag.clinic_id, flag.flag_id)
        started = await start_case(state["client"], settings.task_queue, flag, caller)
        return accepted(started, f"flag {flag.flag_id}", response)

    @app.post(
        "/v1/legal-requests", status_code=202, response_model=FlagAccepted, dependencies=Limited
    )
    async def submit_legal_request(
        request: LegalRequest, caller: Caller, response: Response
    ) -> FlagAccepted:
        """Open a case for a court order, subpoena, warrant or administrative request
        (idempotent on clinic + request id)."""
        if request.clinic_id != caller.id:
            raise HTTPException(403, "the API key belongs to another clinic")
        known_jurisdiction(request.jurisdiction)
        if request.served_at > datetime.now(UTC) + FUTURE_SKEW:
            raise _invalid("served_at", "is in the future")
        not_ancient("served_at", request.served_at)
        not_ancient("response_due", request.response_due)
        await refuse_reused_id(request.clinic_id, request.request_id)
        started = await start_legal_request(state["client"], settings.task_queue, request, caller)
        return accepted(started, f"request {request.request_id}", response)

    @app.post(
        "/v1/authorizations", status_code=202, response_model=FlagAccepted, dependencies=Limited
    )
    async def submit_authorization(
        auth: Authorization, caller: Caller, response: Response
    ) -> FlagAccepted:
        """Record a patient's authorization (idempotent on clinic + authorization id). A
        defective one is accepted and put on hold, its problems named in the case view; the
        same id with a corrected body resumes it."""
        if auth.clinic_id != caller.id:
            raise HTTPException(403, "the API key belongs to another clinic")
        known_jurisdiction(auth.jurisdiction)
        today = datetime.now(ZoneInfo(caller.timezone)).date()
        found = problems(auth, today)
        await refuse_reused_id(auth.clinic_id, auth.authorization_id)
        started = await start_authorization(
            state["client"], settings.task_queue, auth, found, caller
        )
        if not started.same_body:
            current = await case_status(started.case_id)
            in_force = current.authorization.digest if current.authorization else ""
            if in_force == auth.digest():  # the correction already applied, sent again
                started.same_body = True
                return accepted(started, f"authorization {auth.authorization_id}", response)
            if current.status != "on_hold":
                raise HTTPException(
                    409,
                    f"this authorization is {current.status}, not on hold: "
                    "a changed authorization needs a new authorization_id",
                )
            await update(started.case_id, "correct", Correction(authorization=auth, problems=found))
            started.same_body = True
        return accepted(started, f"authorization {auth.authorization_id}", response)

    @app.post(
        "/v1/accounting-requests",
        status_code=202,
        response_model=FlagAccepted,
        dependencies=Limited,
    )
    async def submit_accounting_request(
        request: AccountingRequest, caller: Caller, response: Response
    ) -> FlagAccepted:
        """A patient asks for the accounting of disclosures (idempotent on the request id)."""
        if request.clinic_id != caller.id:
            raise HTTPException(403, "the API key belongs to another clinic")
        asked = request.requested_at or datetime.now(UTC)
        if asked > datetime.now(UTC) + FUTURE_SKEW:
            raise _invalid("requested_at", "is in the future")
        not_ancient("requested_at", asked)
        if request.period_from and request.period_from > asked.date():
            raise _invalid("period_from", "is after requested_at")
        started = await start_accounting(state["client"], settings.task_queue, request, caller)
        return accepted(started, f"request {request.request_id}", response)

    @app.post("/v1/accounting-suspensions", status_code=201, dependencies=Limited)
    async def suspend_accounting(suspension: Suspension, caller: Caller) -> dict[str, Any]:
        """A health-oversight or law-enforcement statement that suspends the accounting of
        disclosures to it (164.528(a)(2)); an oral one lasts 30 days at most."""
        if suspension.clinic_id != caller.id:
            raise HTTPException(403, "the API key belongs to another clinic")
        row = await asyncio.to_thread(ledger.record_suspension, suspension)
        return {"id": row, "ends": suspension.ends()}

    async def update(case_id: str, name: str, arg: BaseModel) -> Any:
        """An Update on a case's own workflow; a validator's refusal is a 422 with its reason."""
        try:
            return await state["client"].get_workflow_handle(case_id).execute_update(name, arg)
        except WorkflowUpdateFailedError as e:
            message = getattr(e.cause, "message", None) or str(e.cause)
            raise HTTPException(422, {"error": f"{name} refused", "reason": message}) from None
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise HTTPException(503, "the workflow service is unavailable") from None
        # The workflow has closed (revoked, expired): say so rather than "not found".
        ended = await case_status(case_id)
        raise HTTPException(
            422, {"error": f"{name} refused", "reason": f"the case has ended ({ended.status})"}
        )

    async def own_authorization(case_id: str, caller: Clinic) -> None:
        own(case_id, caller)
        if (await case_status(case_id)).path != "authorization":
            raise HTTPException(404, "this case is not an authorization")

    @app.post("/v1/cases/{case_id}/revoke")
    async def revoke_authorization(
        case_id: str, revocation: Revocation, caller: Caller
    ) -> dict[str, Any]:
        """Record the patient's revocation: no release after it (earlier ones stand)."""
        await own_authorization(case_id, caller)
        if (await case_status(case_id)).status == "revoked":
            return {"case_id": case_id, "status": "revoked"}  # a re-sent revocation
        await update(case_id, "revoke", revocation)
        return {"case_id": case_id, "status": "revoked"}

    @app.post("/v1/cases/{case_id}/expiry-event")
    async def expiry_event(case_id: str, event: ExpiryEvent, caller: Caller) -> dict[str, Any]:
        """The event an authorization named as its end happened: it ends now."""
        await own_authorization(case_id, caller)
        await update(case_id, "record_expiry_event", event)
        return {"case_id": case_id, "status": "expired"}

    @app.post("/v1/cases/{case_id}/releases", status_code=202)
    async def request_release(
        case_id: str, request: ReleaseRequest, caller: Caller
    ) -> dict[str, Any]:
        """A further release under an active authorization."""
        await own_authorization(case_id, caller)
        await update(case_id, "request_release", request)
        return {"case_id": case_id, "status": "release requested"}

    @app.post("/v1/cases/{case_id}/packet-link", response_model=PacketLink)
    async def packet_link(case_id: str, caller: Caller, request: Request) -> PacketLink:
        """A one-time link (15 minutes) to the case's latest packet: a release (legal request,
        authorization) or a patient's accounting."""
        own(case_id, caller)
        found = latest_packet(await case_status(case_id))
        if found is None:
            raise HTTPException(404, "this case has no packet (yet)")
        packet_id, sha256 = found
        if await asyncio.to_thread(records.downloaded, packet_id):
            raise HTTPException(
                409, "this packet was already downloaded once; it is not offered again"
            )
        token = await asyncio.to_thread(records.create_link, packet_id, PACKET_LINK_TTL)
        return PacketLink(
            url=str(request.url_for("download_packet", token=token)),
            expires_at=datetime.now(UTC) + PACKET_LINK_TTL,
            sha256=sha256,
        )

    @app.get("/v1/packets/{token}", name="download_packet", include_in_schema=True)
    async def download_packet(token: str) -> Response:
        """The packet behind a one-time link: the link is the credential, and it works once."""
        found = None
        if LINK_TOKEN.fullmatch(token):
            found = await asyncio.to_thread(records.redeem, token)
        if found is None:
            raise HTTPException(
                410, "this link has expired or was already used; ask the clinic for a new one"
            )
        packet_id, pdf = found
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{packet_id}.pdf"',
                "Cache-Control": "no-store",
            },
        )

    @app.get("/v1/cases/{case_id}", response_model=CaseOut)
    async def get_case(case_id: str, caller: Caller) -> CaseOut:
        """Status, open tasks with ready-to-paste examples, deadlines, notices, disclosures."""
        own(case_id, caller)
        s = await case_status(case_id)
        tasks = [
            TaskOut(**t.model_dump(), web_ui=settings.workflow_url(t.workflow_id)) for t in s.tasks
        ]
        return CaseOut(
            case_id=s.case_id,
            status=s.status,
            jurisdiction=s.jurisdiction,
            policy_version=s.policy_version,
            policy_unverified=s.policy_unverified,
            web_ui=settings.workflow_url(case_id),
            overdue=s.overdue,
            next_due=s.next_due,
            tasks=tasks,
            deadlines=[
                {"task_id": t.task_id, "due_at": t.due_at, "overdue": t.overdue} for t in s.tasks
            ],
            concerns=[
                {
                    "index": c.index,
                    "kind": c.kind,
                    "phase": c.phase,
                    "workflow_id": c.workflow_id,
                    "decision": c.decision.model_dump(mode="json") if c.decision else None,
                }
                for c in s.concerns
            ],
            notifications=[n.model_dump(mode="json") for n in s.notifications],
            disclosures=[d.model_dump(mode="json") for d in s.disclosures],
            path=s.path,
            legal=s.legal.model_dump(mode="json") if s.legal else None,
            authorization=s.authorization.model_dump(mode="json") if s.authorization else None,
            accounting=s.accounting.entries if s.accounting and s.accounting.packet_id else None,
            accounting_request=s.accounting.model_dump(mode="json", exclude={"prepared"})
            if s.accounting
            else None,
            problems=(s.legal.problems if s.legal else [])
            + (s.authorization.problems if s.authorization else []),
        )

    @app.post("/v1/cases/{case_id}/tasks/{task_id}", response_model=TaskView)
    async def complete_task(
        case_id: str, task_id: str, body: CompleteTaskBody, signed: Signed
    ) -> TaskView:
        """Complete a task through the same `complete_task` Update the Web UI uses. A person
        completes it as themself (their own token or OIDC sign-in): `actor` is who signed in,
        and where the task asks for an e-mailed approval code the API supplies that person's
        own, as it can prove who they are. A clinic's API key completes no task."""
        if not isinstance(signed, Person):
            raise HTTPException(403, "a person must complete this task; use your own token")
        own(case_id, signed.clinic)
        if not TASK_ID.fullmatch(task_id):
            raise HTTPException(404, "no such task")
        if body.actor not in (None, signed.id):
            raise HTTPException(
                403, f"you are signed in as {signed.id} and cannot answer as someone else"
            )
        if body.task_id not in (None, task_id):
            raise HTTPException(
                422,
                {
                    "error": "invalid request",
                    "errors": [
                        {"field": "task_id", "problem": "does not match the task in the URL"}
                    ],
                },
            )
        s = await case_status(case_id)
        task = next((t for t in s.tasks if t.task_id == task_id), None)
        if task is None:
            raise HTTPException(
                422,
                {
                    "error": "task not completed",
                    "reason": "this task is not open in this case (unknown, or already completed)",
                },
            )
        code = None
        if task.requires_code:
            # The code e-mailed to this person for this task: they proved who they are. A code
            # in the body is checked here and never forwarded: a signed-in person's mistyped
            # or stale code must not count towards the task's lockout (five would lock it).
            of_case = getattr(task, "case_id", "") or case_id
            code = derive_code(code_secret(), of_case, task_id, signed.id)
            typed, ours = normalize_code(body.code or ""), normalize_code(code)
            if body.code and not hmac.compare_digest(typed.encode(), ours.encode()):
                raise HTTPException(
                    422,
                    {
                        "error": "task not completed",
                        "errors": [
                            {
                                "field": "code",
                                "problem": "is not the code e-mailed to you for this task; "
                                "leave it out (signing in is enough) or use that code",
                            }
                        ],
                    },
                )
        done = TaskCompletion(
            **body.model_dump(exclude={"task_id", "actor", "code"}),
            task_id=task_id,
            actor=signed.id,
            code=code,
        )
        try:
            return (
                await state["client"]
                .get_workflow_handle(task.workflow_id)
                .execute_update("complete_task", done, result_type=TaskView)
            )
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            message = getattr(cause, "message", None) or str(cause)
            raise HTTPException(422, {"error": "task not completed", "reason": message}) from None

    @app.get("/work/{clinic_id}/{role}", response_class=HTMLResponse, include_in_schema=False)
    async def work_page(clinic_id: str, role: str, request: Request) -> HTMLResponse:
        """The role link: open work waiting on a role, overdue first (intake/work_list.py)."""
        clinic = directory.get(clinic_id)
        if clinic is None:
            raise HTTPException(404, f"no clinic {clinic_id}")
        if not settings.dev:
            await asyncio.to_thread(work_viewer, request, clinic)
        if role not in Role.__members__:
            raise HTTPException(
                404, f"no role {role}; use one of {', '.join(r.value for r in Role)}"
            )
        try:
            work = await waiting_work(
                state["client"],
                clinic_id,
                Role(role),
                settings.ui_url,
                settings.temporal_namespace,
            )
        except RPCError:
            raise HTTPException(503, "the workflow service is unavailable") from None
        ui_list = ui_list_url(
            settings.ui_url, settings.temporal_namespace, visibility_query(clinic_id, Role(role))
        )
        return HTMLResponse(render_page(clinic, Role(role), work, ui_list, datetime.now(UTC)))

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> dict[str, str]:
        return {"status": "ok"}

    return app
