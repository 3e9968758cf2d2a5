"""Error bodies: JSON naming the field and the problem, never a stack trace, never an input value
(inputs are PHI)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

log = structlog.get_logger("confide.intake")


def field_path(loc: tuple) -> str:
    """('body', 'concerns', 0, 'victims', 0, 'name') -> 'concerns[0].victims[0].name'."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "path", "query", "header") else loc:
        name = str(part) if isinstance(part, int) else _name(str(part))
        out += f"[{name}]" if isinstance(part, int) else (f".{name}" if out else name)
    return out or "body"


def install(app: FastAPI) -> None:
    """Register the handlers that shape every error response."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": "body" if e["type"] == "json_invalid" else field_path(tuple(e["loc"])),
                "problem": "body is not valid JSON" if e["type"] == "json_invalid" else e["msg"],
            }
            for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid request", "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"error": exc.detail}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DBAPIError)
    async def _ledger_down(_: Request, exc: DBAPIError) -> JSONResponse:
        # The ledger is read before a request starts anything (a reused id is refused), so
        # nothing was accepted; every intake request is idempotent, so repeating it is safe.
        log.warning("ledger database unavailable", error_type=type(exc.orig).__name__)
        return JSONResponse(
            {
                "error": "the ledger database is not answering; send the same request again in a "
                "minute (repeating it is safe)"
            },
            status_code=503,
            headers={"Retry-After": "60"},
        )

    @app.exception_handler(RPCError)
    async def _temporal_down(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status not in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return await _unexpected(_, exc)
        log.warning("workflow service unavailable", status=exc.status.name)
        return JSONResponse(
            {
                "error": "the workflow service is not answering; send the same request again in "
                "a minute (repeating it is safe)"
            },
            status_code=503,
            headers={"Retry-After": "60"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        # The type only: an exception's message may quote the PHI it choked on.
        log.error("unhandled error", error_type=type(exc).__name__, reference=ref)
        return JSONResponse({"error": "internal error", "reference": ref}, status_code=500)


class BodyLimit:
    """ASGI middleware: refuse request bodies over `limit` bytes with 413, and, for the JSON API
    (`/v1/`), a body that is not strict JSON before any handler parses it.

    The body is read here, up to the limit, and replayed to the app: a chunked upload without
    Content-Length is caught too, before the app tries to parse it. A body sent to `/v1/` must
    be `application/json` (else 415), valid UTF-8, JSON without NaN or Infinity, no deeper than
    `MAX_DEPTH`, with no key twice in one object (Python's parser would keep the last one
    silently), and no control character other than tab, CR and LF in any string (a NUL cannot
    be stored in PostgreSQL text): else 422 naming the field. (Line breaks in an e-mail address
    are refused by domain.flags.Email, with the body's other problems.)
    """

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await _too_large(send, self.limit)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await _too_large(send, self.limit)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if body and scope.get("path", "").startswith("/v1/"):
            refused = json_body_problem(headers.get(b"content-type", b""), body)
            if refused is not None:
                status, field, problem = refused
                return await _send_json(
                    send,
                    status,
                    {"error": "invalid request", "errors": [{"field": field, "problem": problem}]},
                )
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


MAX_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SAFE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class _Refused(Exception):
    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem


def json_body_problem(content_type: bytes, body: bytes) -> tuple[int, str, str] | None:
    """(status, field, problem) when a JSON API body must be refused before parsing, else None.

    The problem names the field (by its path, e.g. `concerns[0].victims[0].email`), never the
    value: a body is PHI.
    """
    media, _, params = content_type.decode("latin-1").partition(";")
    if media.strip().lower() != "application/json":
        return 415, "content-type", "must be application/json"
    charset = params.strip().lower()
    if charset and charset.replace(" ", "") not in ("charset=utf-8", "charset=utf8"):
        return 415, "content-type", "must be application/json in UTF-8"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return 422, "body", "is not valid UTF-8"
    # The C parser is linear in the body's length, and stops a nesting deeper than the
    # interpreter's recursion limit itself. (A regular expression over the raw text, tried
    # first, took 19 s on 64 KiB of quote-backslash pairs: each quote began a string that
    # ran to the end of the body.)
    try:
        tree = json.loads(text, object_pairs_hook=_Pairs, parse_constant=_no_constant)
    except RecursionError:
        return 422, "body", f"is nested deeper than {MAX_DEPTH} levels"
    except ValueError:
        return 422, "body", "body is not valid JSON"
    if _depth(tree) > MAX_DEPTH:
        return 422, "body", f"is nested deeper than {MAX_DEPTH} levels"
    try:
        _walk(tree, "")
    except _Refused as r:
        return 422, r.field or "body", r.problem
    return None


class _Pairs(list):
    """A JSON object as its (key, value) pairs, in order, duplicates kept (to be refused)."""


def _depth(tree: Any) -> int:
    """How deeply arrays and objects nest (without recursion: the walk comes after this)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, list):  # an array, or an object's pairs
            deepest = max(deepest, depth)
            items = (v for _, v in node) if isinstance(node, _Pairs) else node
            stack.extend((item, depth + 1) for item in items)
    return deepest


def _no_constant(name: str) -> float:
    raise ValueError("NaN and Infinity are not JSON")


def _name(key: str) -> str:
    # A key is named in an error only when it looks like a field name: an arbitrary key is
    # input like any other, and is not echoed.
    return key if _SAFE_KEY.fullmatch(key) else "(a key)"


def _walk(node: Any, path: str) -> None:
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for key, value in node:
            where = f"{path}.{_name(key)}" if path else _name(key)
            _check_text(key, where)
            if key in seen:
                raise _Refused(where, "appears twice in the same object")
            seen.add(key)
            _walk(value, where)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, f"{path}[{i}]")
    elif isinstance(node, str):
        _check_text(node, path)


def _check_text(text: str, where: str) -> None:
    if _CONTROL.search(text):
        raise _Refused(where, "contains a control character")
    if _SURROGATE.search(text):
        raise _Refused(where, "contains an unpaired surrogate (not valid Unicode)")


async def _send_json(send, status: int, body: dict) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def _too_large(send, limit: int) -> None:
    await _send_json(
        send,
        413,
        {
            "error": f"request body larger than {limit} bytes",
            "errors": [{"field": "body", "problem": f"is larger than {limit} bytes"}],
        },
    )
