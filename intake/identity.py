"""Who is calling the intake API or the codec endpoint: a clinic's system or a person.

Workflow code cannot see who sent an Update (DESIGN.md §2, principle 4), so the API has to know:
- a **system** is a clinic's integration, authenticated by the clinic's API key
  (`api_key_sha256` in the clinics file). It submits flags, legal requests, authorizations and
  accounting requests and reads cases; it completes no task, since a task's answer is a person's.
- a **person** is someone on a clinic's roster, authenticated either by a personal API token
  (its SHA-256 on their roster entry, `token_sha256`) or by an OIDC token (a JWT) from the
  clinic's identity provider, verified here: signature against the issuer's published keys
  (JWKS), `iss`, `aud` and `exp`; the clinic is a claim (`confide_clinic` by default) and the
  roster id another (`preferred_username` by default), or the roster entry's `oidc_subject`
  matches the token's `sub`.

Every refusal is an `IdentityError`: 401 when the credential itself is missing or bad, 403
when a valid credential names someone the clinic does not know; its message is one sentence
and never echoes the credential. Settings come from the environment (`IdentitySettings`); with
no `CONFIDE_OIDC_ISSUER`, OIDC is off and a JWT is refused like any unknown token.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from pydantic import BaseModel, ConfigDict

from domain.clinic import Clinic, ClinicDirectory, StaffMember

# Asymmetric algorithms only: a symmetric one would let anyone holding the issuer's public key
# (everyone: it is published) sign tokens.
SAFE_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_ALGORITHMS = ["RS256", "ES256"]


class IdentityError(Exception):
    """A refused credential: the HTTP status (401 or 403) and one sentence saying why."""

    def __init__(self, status: Literal[401, 403, 503], message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class System:
    """A clinic's own system, signed in with the clinic's API key."""

    clinic: Clinic


@dataclass(frozen=True)
class Person:
    """Someone on a clinic's roster, signed in as themself."""

    clinic: Clinic
    member: StaffMember
    via: Literal["token", "oidc"]

    @property
    def id(self) -> str:
        return self.member.id


Caller = System | Person


class CodecNamespace(BaseModel):
    """One Temporal namespace the codec endpoint serves: the clinic whose payloads it holds
    (None: whichever clinic the directory holds, when it holds exactly one) and the keyring
    file its payloads are encrypted with (None: the process's own keyring)."""

    model_config = ConfigDict(extra="forbid")
    clinic: str | None = None
    keyring: Path | None = None


class IdentitySettings(BaseModel):
    """OIDC and codec-namespace settings (environment names in `from_env`)."""

    issuer: str | None = None
    audiences: list[str] = []
    jwks_url: str | None = None
    jwks_file: Path | None = None
    user_claim: str = "preferred_username"
    clinic_claim: str = "confide_clinic"
    algorithms: list[str] = DEFAULT_ALGORITHMS
    leeway_seconds: int = 30
    # Namespace -> owner and keyring; None: the one configured namespace, the process's keyring.
    codec_namespaces: dict[str, CodecNamespace] | None = None

    @property
    def oidc(self) -> bool:
        """Whether OIDC sign-in is configured."""
        return self.issuer is not None

    @classmethod
    def from_env(cls) -> IdentitySettings:
        """CONFIDE_OIDC_ISSUER, CONFIDE_OIDC_AUDIENCE (comma-separated), CONFIDE_OIDC_JWKS_URL
        or CONFIDE_OIDC_JWKS_FILE, CONFIDE_OIDC_USER_CLAIM, CONFIDE_OIDC_CLINIC_CLAIM,
        CONFIDE_OIDC_ALGORITHMS, CONFIDE_OIDC_LEEWAY, CONFIDE_CODEC_NAMESPACES (JSON).

        A half-configured issuer stops the process at start (ValueError): a typo must not
        quietly turn sign-in off or on."""
        env = {k: v.strip() for k, v in os.environ.items() if k.startswith("CONFIDE_")}
        issuer = env.get("CONFIDE_OIDC_ISSUER") or None
        audiences = [a.strip() for a in env.get("CONFIDE_OIDC_AUDIENCE", "").split(",")]
        jwks_url = env.get("CONFIDE_OIDC_JWKS_URL") or None
        jwks_file = env.get("CONFIDE_OIDC_JWKS_FILE") or None
        algorithms = [
            a.strip()
            for a in env.get("CONFIDE_OIDC_ALGORITHMS", ",".join(DEFAULT_ALGORITHMS)).split(",")
            if a.strip()
        ]
        if issuer is None:
            if jwks_url or jwks_file or any(audiences):
                raise ValueError(
                    "CONFIDE_OIDC_JWKS_URL, _JWKS_FILE or _AUDIENCE is set without "
                    "CONFIDE_OIDC_ISSUER: set the issuer too, or unset them"
                )
        else:
            if not any(audiences):
                raise ValueError(
                    "CONFIDE_OIDC_AUDIENCE is not set: name the audience Confide's tokens are "
                    "issued for (the client id at the identity provider)"
                )
            if bool(jwks_url) == bool(jwks_file):
                raise ValueError(
                    "set exactly one of CONFIDE_OIDC_JWKS_URL and CONFIDE_OIDC_JWKS_FILE: where "
                    "the issuer's signing keys are read"
                )
            unsafe = [a for a in algorithms if a not in SAFE_ALGORITHMS]
            if unsafe or not algorithms:
                raise ValueError(
                    f"CONFIDE_OIDC_ALGORITHMS may name only {', '.join(sorted(SAFE_ALGORITHMS))}"
                )
        namespaces = None
        if raw := env.get("CONFIDE_CODEC_NAMESPACES"):
            try:
                loaded = json.loads(raw)
                if not isinstance(loaded, dict) or not loaded:
                    raise ValueError
                namespaces = {ns: CodecNamespace.model_validate(v) for ns, v in loaded.items()}
            except ValueError:
                raise ValueError(
                    'CONFIDE_CODEC_NAMESPACES must be a JSON object {"<namespace>": '
                    '{"clinic": "<clinic id>", "keyring": "<keyring file>"}, ...}'
                ) from None
        return cls(
            issuer=issuer,
            audiences=[a for a in audiences if a],
            jwks_url=jwks_url,
            jwks_file=Path(jwks_file) if jwks_file else None,
            user_claim=env.get("CONFIDE_OIDC_USER_CLAIM") or "preferred_username",
            clinic_claim=env.get("CONFIDE_OIDC_CLINIC_CLAIM") or "confide_clinic",
            algorithms=algorithms,
            leeway_seconds=int(env.get("CONFIDE_OIDC_LEEWAY") or 30),
            codec_namespaces=namespaces,
        )


class _JwksFile:
    """The issuer's keys from a file (tests, air-gapped sites); read again when a token names
    a key id the last reading did not hold, so rotating the file needs no restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._mtime = -1.0

    def _load(self) -> None:
        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return
        keyset = jwt.PyJWKSet.from_json(self.path.read_text())
        self._keys = {k.key_id: k for k in keyset.keys if k.public_key_use in (None, "sig")}
        self._mtime = mtime

    def key_for(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        with self._lock:
            try:
                self._load()
            except (OSError, jwt.PyJWKSetError, ValueError):
                raise IdentityError(503, "the sign-in keys could not be read") from None
            if kid in self._keys:
                return self._keys[kid]
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
        raise IdentityError(401, "the token is signed with a key the issuer does not publish")


class _JwksUrl:
    """The issuer's keys from its JWKS endpoint, cached five minutes (refetched early for an
    unknown key id, at most every 30 s)."""

    def __init__(self, url: str) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=300, timeout=10)

    def key_for(self, token: str) -> jwt.PyJWK:
        try:
            return self._client.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise IdentityError(503, "the sign-in provider's keys could not be fetched") from None
        except jwt.PyJWKClientError:
            raise IdentityError(
                401, "the token is signed with a key the issuer does not publish"
            ) from None


def looks_like_jwt(credential: str) -> bool:
    """A compact JWS: three base64url parts. Opaque tokens (token_urlsafe) have no dots."""
    return credential.count(".") == 2 and credential.startswith("eyJ")


class Identities:
    """Resolves a bearer credential to a System or a Person (see the module docstring).

    `resolve` may fetch the issuer's keys over HTTP: call it from a worker thread
    (FastAPI runs plain-def dependencies in one) or through `asyncio.to_thread`."""

    def __init__(self, directory: ClinicDirectory, settings: IdentitySettings) -> None:
        self.directory = directory
        self.settings = settings
        self._keys: _JwksFile | _JwksUrl | None = None
        if settings.jwks_file is not None:
            self._keys = _JwksFile(settings.jwks_file)
        elif settings.jwks_url is not None:
            self._keys = _JwksUrl(settings.jwks_url)

    def resolve(self, credential: str | None) -> Caller:
        """The caller a bearer credential names, or IdentityError."""
        if not credential:
            raise IdentityError(401, "sign in: send Authorization: Bearer <API key or token>")
        if looks_like_jwt(credential):
            return self.person_from_jwt(credential)
        clinic = self.directory.by_api_key(credential)
        if clinic is not None:
            return System(clinic)
        found = self.directory.by_staff_token(credential)
        if found is not None:
            return Person(found[0], found[1], "token")
        raise IdentityError(401, "the API key or token is not valid")

    def verify_jwt(self, token: str) -> dict[str, Any]:
        """The claims of an OIDC token whose signature, issuer, audience and expiry hold."""
        s = self.settings
        if not s.oidc or self._keys is None:
            raise IdentityError(401, "sign-in with an OIDC token is not configured here")
        try:
            key = self._keys.key_for(token)
            return jwt.decode(
                token,
                key.key,
                algorithms=s.algorithms,
                audience=s.audiences,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except IdentityError:
            raise
        except jwt.ExpiredSignatureError:
            raise IdentityError(401, "the token has expired; sign in again") from None
        except jwt.InvalidIssuerError:
            raise IdentityError(401, "the token was not issued by the configured issuer") from None
        except jwt.InvalidAudienceError:
            raise IdentityError(401, "the token was issued for another audience") from None
        except jwt.MissingRequiredClaimError as e:
            raise IdentityError(401, f"the token has no {e.claim!r} claim") from None
        except jwt.ImmatureSignatureError:
            raise IdentityError(401, "the token is not valid yet") from None
        except jwt.InvalidAlgorithmError:
            raise IdentityError(401, "the token is signed with an algorithm not allowed") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise IdentityError(401, "the token's signature does not verify") from None

    def person_from_jwt(self, token: str) -> Person:
        """The roster entry a verified OIDC token names."""
        claims = self.verify_jwt(token)
        s = self.settings
        clinic_id = claims.get(s.clinic_claim)
        if not isinstance(clinic_id, str) or not clinic_id:
            raise IdentityError(403, f"the token names no clinic (claim {s.clinic_claim!r})")
        clinic = self.directory.get(clinic_id)
        if clinic is None:
            raise IdentityError(403, "the token's clinic is not one this service serves")
        member = member_for(clinic, claims, s.user_claim)
        if member is None:
            raise IdentityError(403, f"the signed-in person is not on the roster of {clinic.id}")
        return Person(clinic, member, "oidc")


def member_for(clinic: Clinic, claims: dict[str, Any], user_claim: str) -> StaffMember | None:
    """The roster entry whose `oidc_subject` is the token's `sub`; else the one whose id the
    user claim names, unless that entry is bound to another subject."""
    sub = claims.get("sub")
    if isinstance(sub, str) and sub:
        bound = next((m for m in clinic.staff if m.oidc_subject == sub), None)
        if bound is not None:
            return bound
    name = claims.get(user_claim)
    if not isinstance(name, str):
        return None
    member = clinic.member(name)
    if member is None or member.oidc_subject is not None:
        return None
    return member
