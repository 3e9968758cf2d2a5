"""SMART Backend Services (client credentials with a signed JWT): the access token Confide
presents to a clinic's EHR. Each token request carries a fresh assertion (a new `jti`, five
minutes at most, `aud` = the token endpoint), as the specification requires; the token is
reused until shortly before it expires, so a burst of reads asks the EHR once."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
import jwt
from pydantic import BaseModel

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# An assertion may live at most 5 minutes (SMART Backend Services); 4 leaves room for skew.
ASSERTION_SECONDS = 240
# A token this close to its expiry is renewed rather than used.
RENEW_BEFORE = 30


class SmartTokenRefused(RuntimeError):
    """The EHR's token endpoint said no; the message says what to fix, in one sentence."""


class SmartClientConfig(BaseModel):
    token_url: str
    client_id: str
    private_key_pem: str
    key_id: str
    scopes: str
    algorithm: str = "RS384"


class SmartClient:
    def __init__(self, config: SmartClientConfig, http: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=10)
        self._cached: tuple[str | None, float] = (None, 0.0)
        self._lock = asyncio.Lock()
        self._thread_lock = threading.Lock()

    async def aclose(self) -> None:
        """Close the HTTP connections to the token endpoint (when this client made them)."""
        if self._owns_http:
            await self._http.aclose()

    def assertion(self) -> str:
        """A client assertion, new each time (its `jti` is never reused)."""
        c = self._config
        now = int(time.time())
        claims = {
            "iss": c.client_id,
            "sub": c.client_id,
            "aud": c.token_url,
            "exp": now + ASSERTION_SECONDS,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(
            claims, c.private_key_pem, algorithm=c.algorithm, headers={"kid": c.key_id}
        )

    def _form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
            "scope": self._config.scopes,
        }

    def _fresh(self) -> str | None:
        # One tuple, assigned at once: the async and the threaded callers may both look.
        token, expires = self._cached
        if token and time.monotonic() < expires - RENEW_BEFORE:
            return token
        return None

    def forget(self) -> None:
        """Drop the cached token (the server refused it): the next caller gets a new one."""
        self._cached = (None, 0.0)

    def _accept(self, r: httpx.Response) -> str:
        if r.status_code != 200:
            error = (
                r.json().get("error", "")
                if r.headers.get("content-type", "").startswith("application/json")
                else ""
            )
            raise SmartTokenRefused(
                f"the EHR's token endpoint refused client {self._config.client_id!r} "
                f"(HTTP {r.status_code} {error}): check its registered key and scopes"
            )
        body = r.json()
        token = str(body["access_token"])
        self._cached = (token, time.monotonic() + float(body.get("expires_in", 300)))
        return token

    async def token(self) -> str:
        async with self._lock:
            if token := self._fresh():
                return token
            return self._accept(await self._http.post(self._config.token_url, data=self._form()))

    def token_sync(self) -> str:
        """The same token, for blocking callers (the records source runs in a thread)."""
        with self._thread_lock:
            if token := self._fresh():
                return token
            with httpx.Client(timeout=10) as http:
                return self._accept(http.post(self._config.token_url, data=self._form()))


def discover_token_url(base_url: str) -> str:
    """The token endpoint a FHIR server names in `.well-known/smart-configuration`."""
    r = httpx.get(f"{base_url.rstrip('/')}/.well-known/smart-configuration", timeout=10)
    if r.status_code != 200 or "token_endpoint" not in r.json():
        raise SmartTokenRefused(
            f"the EHR at {base_url} publishes no SMART configuration (HTTP {r.status_code}): "
            "set token_url in the FHIR sources file"
        )
    return str(r.json()["token_endpoint"])
