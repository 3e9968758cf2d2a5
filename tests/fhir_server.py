"""sekmet-fhir (a pinned test dependency: an R4 server with SMART Backend Services and R4
Subscriptions Backport) run on 127.0.0.1 with its simulator off, for the FHIR tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import free_port

KID = "confide-1"
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
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=KID, alg="RS384", use="sig")
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    settings = {
        "base_url": base,
        "db_path": ":memory:",
        "host": "127.0.0.1",
        "port": port,
        "simulator": {"enabled": False},
        "server_auth": {
            "types": ["smart", "bearer"],
            "tokens": [ADMIN_TOKEN],
            "smart_clients": [
                {"client_id": cid, "jwks": {"keys": [jwk]}, "scopes": scopes}
                for cid, scopes in clients.items()
            ],
        },
    }
    config = tmp / "settings.yaml"
    config.write_text(yaml.safe_dump(settings))
    log_path = tmp / "sekmet.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed below)
    command = Path(sys.executable).parent / "sekmet"
    proc = subprocess.Popen(
        [str(command), "serve", "-c", str(config), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text()[-2000:])
            time.sleep(0.1)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        token_url = httpx.get(f"{base}/.well-known/smart-configuration").json()["token_endpoint"]
        yield FhirServer(base=base, token_url=token_url, pem=pem, log=log_path)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
