"""sekmet-fhir (a pinned test dependency: an R4 server with SMART Backend Services and R4
Subscriptions Backport) run on 127.0.0.1 with its simulator off, for the FHIR tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cli.dev_ehr import KID, new_private_pem, public_jwk, start_sekmet
from harness import free_port

__all__ = ["KID", "ADMIN_TOKEN", "FhirServer", "sekmet"]
# A static token with every right: the EHR's own staff setting up the test's resources.
ADMIN_TOKEN = "ehr-admin-" + "x" * 24


@dataclass
class FhirServer:
    base: str
    token_url: str
    # The private key every registered SMART client signs with (PEM).
    pem: str
    log: Path

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base,
            headers={
                "Authorization": f"Bearer {ADMIN_TOKEN}",
                "Content-Type": "application/fhir+json",
                "Accept": "application/fhir+json",
            },
            timeout=10,
        )

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        with self.admin() as http:
            r = http.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def get(self, path: str) -> dict[str, Any]:
        with self.admin() as http:
            r = http.get(path)
        assert r.status_code == 200, r.text
        return r.json()


@contextlib.contextmanager
def sekmet(tmp: Path, clients: dict[str, str]) -> Iterator[FhirServer]:
    """A server on a free port; `clients` = SMART client id -> registered scopes, all with one
    RSA key (FhirServer.pem)."""
    pem = new_private_pem()
    jwk = public_jwk(pem)
    proc, base, token_url = start_sekmet(
        tmp, free_port(), {cid: (jwk, scopes) for cid, scopes in clients.items()}, ADMIN_TOKEN
    )
    try:
        yield FhirServer(base=base, token_url=token_url, pem=pem, log=tmp / "sekmet.log")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
