"""Codec endpoints for the Temporal Web UI and CLI (`/codec/.../encode`, `/codec/.../decode`).

The browser calls these directly (temporal-notes.md §3), so they answer CORS preflights for the
configured UI origins only, and every POST must carry a credential:
- a person's sign-in, as `Authorization: Bearer <token>`: the Web UI's "pass the user access
  token" sends the signed-in user's OIDC access token, verified like the API's (issuer,
  audience, expiry, clinic claim; intake/identity.py); a personal API token works too (the
  CLI's `--codec-auth "Bearer <token>"`). A person decodes only the namespaces their clinic owns.
- a static codec token (CONFIDE_CODEC_TOKENS; generated in dev), in the same header or as a
  path segment (`/codec/<token>/decode`), which is how the dev server's `--ui-codec-endpoint`
  carries it since the dev UI has no login to take a token from. A static token is an
  operator's: it decodes every namespace served here.

The namespace is the UI's `X-Namespace` header (the configured namespace when absent); each
namespace served has its clinic and its keyring (IdentitySettings.codec_namespaces). Not
signed in: 401; a namespace not served here: 404; another clinic's namespace: 403.
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads

from domain.clinic import ClinicDirectory
from infra.codec import EncryptionCodec
from infra.keyring import Keyring
from intake.identity import CodecNamespace, Identities, IdentityError, IdentitySettings, Person

log = structlog.get_logger("confide.codec")

ALLOWED_HEADERS = "content-type,x-namespace,authorization"


@dataclass(frozen=True)
class NamespaceCodec:
    """What one namespace's payloads are decoded with, and whose they are (None: no clinic's,
    so only a static codec token decodes them)."""

    codec: EncryptionCodec
    clinic: str | None


def namespace_codecs(
    default: EncryptionCodec,
    directory: ClinicDirectory,
    settings: IdentitySettings,
    default_namespace: str,
) -> dict[str, NamespaceCodec]:
    """The namespaces served: CONFIDE_CODEC_NAMESPACES, else the one configured namespace with
    the process's keyring. A namespace with no clinic named belongs to the directory's only
    clinic when there is exactly one, else to none (a static token still decodes it): with
    several clinics in one namespace no person may read another clinic's payloads."""
    only = directory.clinics[0].id if len(directory.clinics) == 1 else None
    mapping = settings.codec_namespaces or {default_namespace: CodecNamespace()}
    served = {}
    for name, entry in mapping.items():
        if entry.clinic is not None and directory.get(entry.clinic) is None:
            raise ValueError(f"CONFIDE_CODEC_NAMESPACES: {name!r} names unknown clinic")
        codec = default
        if entry.keyring is not None:
            try:
                codec = EncryptionCodec(Keyring.model_validate_json(entry.keyring.read_text()))
            except (OSError, ValueError):
                raise ValueError(
                    f"CONFIDE_CODEC_NAMESPACES: the keyring of {name!r} is missing or not a keyring"
                ) from None
        served[name] = NamespaceCodec(codec, entry.clinic or only)
    return served


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _same(given: str, token: str) -> bool:
    # Bytes, not str: hmac.compare_digest refuses non-ASCII str, which was a 500.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode())


def codec_router(
    namespaces: dict[str, NamespaceCodec],
    tokens: list[str],
    ui_origins: list[str],
    identities: Identities,
    default_namespace: str = "default",
) -> APIRouter:
    """Routes for /codec/{op} and /codec/{token}/{op}, op being encode or decode."""
    router = APIRouter(include_in_schema=False)

    def cors(request: Request) -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin not in ui_origins:
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    def static(given: str) -> bool:
        return any(_same(given, t) for t in tokens)

    async def caller(request: Request, path_token: str | None) -> Person | None:
        """None for an operator's static token, the Person for a personal sign-in."""
        if path_token is not None:
            # A credential in a URL lands in logs: only the dev server's static token goes there.
            if static(path_token):
                return None
            raise _Refused(401, "the codec token is not valid")
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            raise _Refused(401, "sign in: send Authorization: Bearer <access token>")
        given = header[7:].strip()
        if static(given):
            return None
        try:
            who = await asyncio.to_thread(identities.resolve, given)
        except IdentityError as e:
            raise _Refused(e.status, e.message) from None
        if not isinstance(who, Person):
            raise _Refused(403, "a clinic API key cannot decode payloads; sign in as a person")
        return who

    def namespace_for(request: Request, who: Person | None) -> NamespaceCodec:
        name = request.headers.get("x-namespace") or default_namespace
        served = namespaces.get(name)
        if served is None:
            raise _Refused(404, "this codec endpoint serves no such namespace")
        if who is not None and served.clinic is None:
            raise _Refused(
                403, "this namespace is shared by several clinics, so no person decodes it"
            )
        if who is not None and served.clinic != who.clinic.id:
            raise _Refused(403, "this namespace holds another clinic's cases")
        return served

    async def handle(request: Request, op: str, token: str | None) -> Response:
        headers = cors(request)
        if op not in ("encode", "decode"):
            return JSONResponse({"error": "not found"}, status_code=404, headers=headers)
        try:
            who = await caller(request, token)
            served = namespace_for(request, who)
        except _Refused as e:
            log.warning(
                "codec request refused",
                status=e.status,
                reason=e.message,
                namespace=request.headers.get("x-namespace", "")[:100],
            )
            extra = {"WWW-Authenticate": "Bearer"} if e.status == 401 else {}
            return JSONResponse(
                {"error": e.message}, status_code=e.status, headers={**headers, **extra}
            )
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
            codec = served.codec
            fn = codec.encode if op == "encode" else codec.decode
            result = Payloads(payloads=await fn(payloads.payloads))
        except (json_format.ParseError, DecodeError, UnicodeDecodeError):
            return JSONResponse(
                {"error": "body is not a Payloads JSON document"}, status_code=400, headers=headers
            )
        except (ValueError, KeyError) as e:
            # Codec errors name a key id or say "failed authentication"; never payload content.
            return JSONResponse({"error": str(e)}, status_code=400, headers=headers)
        return Response(
            json_format.MessageToJson(result), media_type="application/json", headers=headers
        )

    async def preflight(request: Request) -> Response:
        return Response(status_code=204, headers=cors(request))

    for path in ("/codec/{op}", "/codec/{token}/{op}"):
        router.add_api_route(path, preflight, methods=["OPTIONS"])

    @router.post("/codec/{op}")
    async def with_header(request: Request, op: str) -> Response:
        return await handle(request, op, None)

    @router.post("/codec/{token}/{op}")
    async def with_path_token(request: Request, token: str, op: str) -> Response:
        return await handle(request, op, token)

    return router
