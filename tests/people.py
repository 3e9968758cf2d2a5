"""Test helpers for signing in as a person (intake/identity.py): personal API tokens on a
clinic's roster, and OIDC tokens signed with a locally generated RSA key whose JWKS is served
from a file or over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from domain.clinic import Clinic, hash_api_key
from intake.identity import IdentitySettings

ISSUER = "https://id.clinic.test/realms/confide"
AUDIENCE = "confide"


def with_people(clinic: Clinic, prefix: str | None = None) -> tuple[Clinic, dict[str, str]]:
    """A deep copy of the clinic in which every roster member has a personal API token
    (`<prefix>-<roster id>`, a random prefix unless given), and {roster id: token}."""
    prefix = prefix or uuid.uuid4().hex
    copy = clinic.model_copy(deep=True)
    tokens = {}
    for member in copy.staff:
        token = f"{prefix}-{member.id}"
        member.token_sha256 = [hash_api_key(token)]
        tokens[member.id] = token
    return copy, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class People:
    """Personal tokens for a test module: `people.sign(clinic)` gives the clinic's roster its
    tokens; `people.as_("dr-lee")` is the header that signs in as dr-lee."""

    def __init__(self) -> None:
        self.prefix = "person-" + uuid.uuid4().hex

    def sign(self, clinic: Clinic) -> Clinic:
        """The clinic (a deep copy) with a personal token on every roster entry."""
        return with_people(clinic, f"{self.prefix}-{clinic.id}")[0]

    def as_(self, roster_id: str, clinic_id: str = "demo-clinic") -> dict[str, str]:
        return bearer(f"{self.prefix}-{clinic_id}-{roster_id}")


class Issuer:
    """A stand-in OIDC issuer: an RSA key, its JWKS, and tokens signed with it."""

    def __init__(self, kid: str | None = None) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid or uuid.uuid4().hex[:12]

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(
        self,
        user: str = "dr-lee",
        clinic: str | None = "demo-clinic",
        *,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        expires_in: int = 300,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": f"sub-{user}",
            "preferred_username": user,
            "iat": now,
            "exp": now + expires_in,
            **claims,
        }
        if clinic is not None:
            body["confide_clinic"] = clinic
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.kid})

    def settings(self, jwks_file: Path | None = None, jwks_url: str | None = None, **kw):
        return IdentitySettings(
            issuer=ISSUER, audiences=[AUDIENCE], jwks_file=jwks_file, jwks_url=jwks_url, **kw
        )


class JwksServer:
    """The issuer's JWKS over real HTTP on 127.0.0.1 (a free port), counting fetches."""

    def __init__(self, issuer: Issuer) -> None:
        body = json.dumps(issuer.jwks()).encode()
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                served.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.fetches = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/protocol/openid-connect/certs"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
