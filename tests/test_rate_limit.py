"""Intake is rate-limited per clinic key (intake/rate_limit.py): a token bucket per clinic, 429
with Retry-After when it is empty, other clinics unaffected, refilled with time (an injected
clock, no sleeps)."""

from __future__ import annotations

import uuid

import pytest
import pytest_asyncio

from intake.rate_limit import DEFAULT_PER_MINUTE, RateLimiter
from tests.intake_api import intake_api, record
from tests.support import flag_body


class Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


PER_MINUTE = 6  # one token every 10 s
BURST = 3


@pytest.fixture
def clock():
    return Clock()


@pytest_asyncio.fixture
async def api(dev_env, ledger, task_queue, clock):
    """The intake app with a small bucket (3, refilled at 6 a minute) on the injected clock."""
    limiter = RateLimiter(per_minute=PER_MINUTE, burst=BURST, clock=clock)
    async with intake_api(dev_env.client, ledger, task_queue, limiter) as api:
        yield api


def a_flag(clinic: str = "demo-clinic") -> dict:
    return flag_body(flag_id=f"RL-{uuid.uuid4().hex[:8]}", clinic_id=clinic)


async def test_over_the_limit_is_429_with_retry_after_and_other_clinics_are_unaffected(api, clock):
    attempts = 0
    for _ in range(BURST):
        r = await api.http.post("/v1/flags", json=a_flag())
        attempts += 1
        assert r.status_code == 202, r.text
    refused = await api.http.post("/v1/flags", json=a_flag())
    attempts += 1
    assert refused.status_code == 429
    # Whole seconds until the next token: 10 s at 6 a minute.
    assert refused.headers["Retry-After"] == "10"
    body = refused.json()
    assert set(body) == {"error"} and body["error"].count(".") == 0
    assert "Retry-After" in body["error"]
    # Every intake endpoint draws on the same bucket (a refused body too: the check comes first).
    for path in [
        "/v1/legal-requests",
        "/v1/authorizations",
        "/v1/accounting-requests",
        "/v1/accounting-suspensions",
    ]:
        r = await api.http.post(path, json={})
        attempts += 1
        assert r.status_code == 429 and r.headers["Retry-After"].isdigit(), path
    # Reading a case is not intake, and is not limited.
    assert (await api.http.get("/v1/cases/demo-clinic.RL-none")).status_code == 404
    # Another clinic's bucket is full.
    other = api.auth(api.key_b)
    for _ in range(BURST):
        r = await api.http.post("/v1/flags", json=a_flag("other-clinic"), headers=other)
        attempts += 1
        assert r.status_code == 202, r.text
    # Part of the way to a token: the wait shrinks, still in whole seconds, rounded up.
    clock.now += 4.5
    r = await api.http.post("/v1/flags", json=a_flag())
    attempts += 1
    assert r.status_code == 429 and r.headers["Retry-After"] == "6"
    record(
        "rate-limit",
        fault=f"a clinic's key sending past its bucket ({BURST} burst, {PER_MINUTE} a minute) "
        "on every intake endpoint, while another clinic sends",
        times=attempts,
        checked="429 with an integer Retry-After and a one-sentence JSON error once the bucket "
        "is empty; the other clinic accepted; refilled with time",
        result=f"{BURST} accepted then 429 on all 5 intake endpoints; other clinic "
        f"{BURST} of {BURST} accepted; Retry-After 10 s, then 6 s after 4.5 s",
    )


async def test_the_bucket_refills_with_time(api, clock):
    for _ in range(BURST):
        assert (await api.http.post("/v1/flags", json=a_flag())).status_code == 202
    assert (await api.http.post("/v1/flags", json=a_flag())).status_code == 429
    clock.now += 10  # one token back
    assert (await api.http.post("/v1/flags", json=a_flag())).status_code == 202
    assert (await api.http.post("/v1/flags", json=a_flag())).status_code == 429
    clock.now += 3600  # refilled, to the burst and no more
    for _ in range(BURST):
        assert (await api.http.post("/v1/flags", json=a_flag())).status_code == 202
    assert (await api.http.post("/v1/flags", json=a_flag())).status_code == 429


async def test_unauthenticated_requests_take_no_token(api):
    for _ in range(BURST * 3):
        r = await api.http.post("/v1/flags", json=a_flag(), headers={"Authorization": "Bearer x"})
        assert r.status_code == 401
    assert (await api.http.post("/v1/flags", json=a_flag())).status_code == 202


def test_bucket_arithmetic_on_an_injected_clock():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(1.0)
    assert limiter.take("b") == 0  # per key
    clock.now += 0.5
    assert limiter.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("a") == 0
    # A clock that goes backwards (it is monotonic, but still) adds nothing.
    clock.now -= 100
    assert limiter.take("a") > 0


def test_configuration_from_the_environment():
    assert RateLimiter.from_env({}).per_minute == DEFAULT_PER_MINUTE
    assert RateLimiter.from_env({}).burst == DEFAULT_PER_MINUTE
    limiter = RateLimiter.from_env(
        {"CONFIDE_RATE_LIMIT_PER_MINUTE": "30", "CONFIDE_RATE_LIMIT_BURST": "5"}
    )
    assert (limiter.per_minute, limiter.burst) == (30, 5)
    off = RateLimiter.from_env({"CONFIDE_RATE_LIMIT_PER_MINUTE": "0"})
    assert not off.enabled and all(off.take("a") == 0 for _ in range(1000))
    for bad in ("lots", "-1", "nan", "inf"):
        with pytest.raises(ValueError, match="CONFIDE_RATE_LIMIT_PER_MINUTE"):
            RateLimiter.from_env({"CONFIDE_RATE_LIMIT_PER_MINUTE": bad})
