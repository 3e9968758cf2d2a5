"""Codec endpoints for the Temporal Web UI and CLI (`/codec/.../encode`, `/codec/.../decode`).

The browser calls these directly (temporal-notes.md §3), so they answer CORS preflights for the
configured UI origins only, and every POST must carry a valid token: either `Authorization:
Bearer <token>` (the UI's "pass the user access token" option, the CLI's
`--codec-auth`) or the token as a path segment (`/codec/<token>/decode`), which is how the dev
server's `--ui-codec-endpoint` carries it since the dev UI has no login to take a token from.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads

from infra.codec import EncryptionCodec

ALLOWED_HEADERS = "content-type,x-namespace,authorization"


def codec_router(codec: EncryptionCodec, tokens: list[str], ui_origins: list[str]) -> APIRouter:
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

    def authorised(request: Request, path_token: str | None) -> bool:
        given = path_token
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        return bool(given) and any(hmac.compare_digest(given, t) for t in tokens)

    async def handle(request: Request, op: str, token: str | None) -> Response:
        headers = cors(request)
        if op not in ("encode", "decode"):
            return JSONResponse({"error": "not found"}, status_code=404, headers=headers)
        if not authorised(request, token):
            return JSONResponse(
                {"error": "missing or invalid codec token"},
                status_code=401,
                headers={**headers, "WWW-Authenticate": "Bearer"},
            )
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
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
