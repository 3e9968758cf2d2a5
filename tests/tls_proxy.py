"""A TLS-terminating proxy for the mTLS test: it requires a client certificate signed by the
test CA, speaks HTTP/2 by ALPN as a gRPC server must, and pipes the bytes to the dev server's
plaintext port. The dev server (`temporal server start-dev`) has no TLS flags of its own; a
self-hosted cluster terminates mTLS in its frontend instead, which the worker cannot tell apart."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.asynccontextmanager
async def tls_proxy(context: ssl.SSLContext, upstream: str) -> AsyncIterator[tuple[int, list]]:
    """Listen on a free port of 127.0.0.1 with `context`; yield (port, the peer certificates
    of accepted connections)."""
    host, port = upstream.rsplit(":", 1)
    peers: list = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peercert"))
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], peers
    finally:
        server.close()
