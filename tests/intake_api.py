"""Shared by the hostile-input, cross-clinic and rate-limit tests: the intake app over ASGI for two
clinics, and the result files the README's reliability table is rendered from."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from domain.clinic import ClinicDirectory, hash_api_key
from harness import ROOT, demo_clinic
from infra.settings import Settings
from intake.app import create_app
from intake.rate_limit import RateLimiter
from tests.people import with_people
from tests.support import authorization_body, eventually, flag_body, legal_request_body

RELIABILITY = ROOT / "var" / "reliability"
BASE = "http://intake"


def record(name: str, *, fault: str, times: int, checked: str, result: str) -> None:
    """Write var/reliability/<name>.json, one row of the README's reliability table."""
    RELIABILITY.mkdir(parents=True, exist_ok=True)
    row = {"fault": fault, "times": times, "checked": checked, "result": result}
    (RELIABILITY / f"{name}.json").write_text(json.dumps(row, indent=2) + "\n")


@dataclass
class Api:
    """The app, a client with clinic A's key (`http`), both clinics' keys, and the personal
    tokens of both rosters ({roster id: token})."""

    app: object
    http: httpx.AsyncClient
    key_a: str
    key_b: str
    people_a: dict[str, str]
    people_b: dict[str, str]

    def auth(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}


def two_clinics() -> tuple[ClinicDirectory, str, str, dict[str, str], dict[str, str]]:
    """demo-clinic (A) and other-clinic (B, the same roster ids under another clinic id), with
    fresh clinic keys and a personal token for everyone on each roster."""
    key_a, key_b = "a-key-" + uuid.uuid4().hex, "b-key-" + uuid.uuid4().hex
    a, people_a = with_people(demo_clinic())
    a.api_key_sha256 = [hash_api_key(key_a)]
    b, people_b = with_people(
        a.model_copy(update={"id": "other-clinic", "api_key_sha256": [hash_api_key(key_b)]})
    )
    return ClinicDirectory(clinics=[a, b]), key_a, key_b, people_a, people_b


@asynccontextmanager
async def intake_api(
    client, ledger, task_queue: str, limiter: RateLimiter | None = None
) -> AsyncIterator[Api]:
    """The intake app on `client`'s Temporal server. Rate limiting is off unless `limiter`
    is given (the generated run sends far more than a clinic's minute allows)."""
    directory, key_a, key_b, people_a, people_b = two_clinics()
    settings = Settings.from_env().model_copy(update={"task_queue": task_queue})
    app = create_app(
        settings,
        directory,
        client,
        ledger=ledger,
        rate_limiter=limiter or RateLimiter(per_minute=0),
    )
    # raise_app_exceptions=False: an unhandled error comes back as the 500 a client would get.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {key_a}"}
    ) as http:
        yield Api(app, http, key_a, key_b, people_a, people_b)


async def open_cases(api: Api) -> list[str]:
    """One case of each kind at clinic A (flag, legal request, authorization, accounting
    request), once each answers its query."""
    tag = uuid.uuid4().hex[:6]
    bodies = [
        ("/v1/flags", flag_body(flag_id=f"HF-{tag}")),
        ("/v1/legal-requests", legal_request_body(request_id=f"HL-{tag}")),
        ("/v1/authorizations", authorization_body(authorization_id=f"HA-{tag}")),
        (
            "/v1/accounting-requests",
            {"clinic_id": "demo-clinic", "request_id": f"HR-{tag}", "patient": {"ref": "P-301"}},
        ),
    ]
    ids = []
    for path, body in bodies:
        r = await api.http.post(path, json=body)
        assert r.status_code == 202, (path, r.text)
        ids.append(r.json()["case_id"])

    async def answering():
        return all([(await api.http.get(f"/v1/cases/{c}")).status_code == 200 for c in ids])

    await eventually(answering)
    return ids
