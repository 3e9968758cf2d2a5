"""The dev stack's stand-in EHR (issue 15): sekmet-fhir, a FHIR R4 server with SMART Backend
Services and topic-based Subscriptions, run on 127.0.0.1 as the demo clinic's EHR, the way the
mail sink stands in for the clinic's mail. `make run` starts it (CONFIDE_DEV_EHR=0: not), adds
a Flag topic, registers Confide as a SMART client with a key made once under var/ehr/, and
subscribes Confide's notification endpoint: a Flag raised there opens a case, records are
read from it, disclosures are written back into it.

`start_sekmet` is also how the tests run their FHIR server (tests/fhir_server.py).
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.fhir_sources import DEFAULT_SCOPES, FhirSource, FhirSources
from infra.secret_files import read_or_create

KID = "confide-1"
# sekmet's topic encoding (Basic with the R5 cross-version extensions); it has no Flag topic.
ST = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"
FLAG_TOPIC = "http://sekmet.dev/fhir/SubscriptionTopic/confide-flag"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"


class EhrDidNotStart(SystemExit):
    """The stand-in EHR exited or did not answer; the message names its log."""


def public_jwk(private_pem: str) -> dict[str, Any]:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)  # new_private_pem makes RSA keys
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=KID, alg="RS384", use="sig")
    return jwk


def new_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def start_sekmet(
    directory: Path,
    port: int,
    clients: dict[str, tuple[dict[str, Any], str]],
    admin_token: str,
    db_path: str = ":memory:",
) -> tuple[subprocess.Popen, str, str]:
    """sekmet on 127.0.0.1:`port` with its simulator off; `clients` = SMART client id ->
    (public JWK, registered scopes); `admin_token` a static token with every right.
    Returns the process, the FHIR base URL and the token endpoint."""
    base = f"http://127.0.0.1:{port}/fhir"
    settings = {
        "base_url": base,
        "db_path": db_path,
        "host": "127.0.0.1",
        "port": port,
        "simulator": {"enabled": False},
        "server_auth": {
            "types": ["smart", "bearer"],
            "tokens": [admin_token],
            "smart_clients": [
                {"client_id": cid, "jwks": {"keys": [jwk]}, "scopes": scopes}
                for cid, (jwk, scopes) in clients.items()
            ],
        },
    }
    # Here, not at the top: PyYAML comes with the test extra (with sekmet), and `confide dev`
    # must start without them (dev_ehr_wanted() is then false).
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "sekmet.yaml"
    config.write_text(yaml.safe_dump(settings))
    log_path = directory / "sekmet.log"
    command = Path(sys.executable).parent / "sekmet"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(command), "serve", "-c", str(config), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise EhrDidNotStart(f"confide dev: the stand-in EHR did not start; see {log_path}")
        time.sleep(0.1)
    token_url = httpx.get(f"{base}/.well-known/smart-configuration").json()["token_endpoint"]
    return proc, base, token_url


def flag_topic() -> dict[str, Any]:
    """A topic for Flags created or updated (sekmet's encoding of a SubscriptionTopic)."""
    trigger = [
        {"url": "description", "valueMarkdown": "A Flag was raised or changed"},
        {"url": "resource", "valueUri": "http://hl7.org/fhir/StructureDefinition/Flag"},
        {"url": "supportedInteraction", "valueCode": "create"},
        {"url": "supportedInteraction", "valueCode": "update"},
        {"url": "fhirPathCriteria", "valueString": "%current.status = 'active'"},
    ]
    return {
        "resourceType": "Basic",
        "id": "topic-confide-flag",
        "modifierExtension": [{"url": f"{ST}.status", "valueCode": "active"}],
        "extension": [
            {"url": f"{ST}.url", "valueUri": FLAG_TOPIC},
            {"url": f"{ST}.title", "valueString": "Flag raised"},
            {"url": f"{ST}.resourceTrigger", "extension": trigger},
            {
                "url": f"{ST}.canFilterBy",
                "extension": [
                    {"url": "resource", "valueUri": "Flag"},
                    {"url": "filterParameter", "valueString": "patient"},
                ],
            },
        ],
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/fhir-types", "code": "SubscriptionTopic"}]
        },
    }


def subscription(sub_id: str, topic: str, endpoint: str, secret: str) -> dict[str, Any]:
    """A Backport rest-hook Subscription, id-only, carrying the shared secret."""
    return {
        "resourceType": "Subscription",
        "id": sub_id,
        "meta": {"profile": [f"{BACKPORT}/backport-subscription"]},
        "status": "requested",
        "reason": "Confide: flagged sessions",
        "criteria": topic,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {
                "extension": [
                    {"url": f"{BACKPORT}/backport-payload-content", "valueCode": "id-only"}
                ]
            },
            "header": [f"Authorization: Bearer {secret}"],
        },
    }


def confide_source(
    base: str,
    key_file: Path,
    scopes: str,
    *,
    secret: str = "",
    client_id: str = "confide",
    token_url: str | None = None,
    records: bool = True,
    clinic_id: str = "demo-clinic",
) -> FhirSources:
    """One clinic's EHR as Confide's FHIR sources name it, for a locally run sekmet (the dev
    stack's, the tests', the benchmark's): Confide's SMART client with key `KID`."""
    return FhirSources(
        sources=[
            FhirSource(
                clinic_id=clinic_id,
                base_url=base,
                token_url=token_url,
                client_id=client_id,
                private_key_file=key_file,
                key_id=KID,
                scopes=scopes,
                notification_secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
                records=records,
            )
        ]
    )


@dataclass
class DevEhr:
    proc: subprocess.Popen
    base: str
    admin_token: str
    secret: str
    sources: FhirSources

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base,
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                "Content-Type": "application/fhir+json",
            },
            timeout=10,
        )

    def subscribe(self, api_url: str, clinic_id: str) -> None:
        """Subscribe the clinic's notification endpoint to the Flag topic (the EHR sends the
        handshake at once: the API must be listening)."""
        endpoint = f"{api_url}/fhir/{clinic_id}/notifications"
        with self.admin() as http:
            r = http.put(
                f"/Subscription/confide-{clinic_id}",
                json=subscription(f"confide-{clinic_id}", FLAG_TOPIC, endpoint, self.secret),
            )
        r.raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_dev_ehr(var: Path, port: int, clinic_id: str) -> DevEhr:
    """The stand-in EHR of `make run`, its state kept in var/ehr/ across restarts."""
    home = var / "ehr"
    pem = read_or_create(home / "smart-client.pem", new_private_pem)
    admin = read_or_create(home / "admin-token", lambda: secrets.token_urlsafe(24))
    secret = read_or_create(home / "notification-secret", lambda: secrets.token_urlsafe(24))
    proc, base, token_url = start_sekmet(
        home,
        port,
        {"confide": (public_jwk(pem), DEFAULT_SCOPES)},
        admin,
        db_path=str(home / "ehr.db"),
    )
    ehr = DevEhr(
        proc=proc,
        base=base,
        admin_token=admin,
        secret=secret,
        # The demo patient's chart stays in the built-in store, where the court-order and
        # authorization walk-throughs find it.
        sources=confide_source(
            base,
            home / "smart-client.pem",
            DEFAULT_SCOPES,
            secret=secret,
            token_url=token_url,
            records=False,
            clinic_id=clinic_id,
        ),
    )
    with ehr.admin() as http:
        http.put("/Basic/topic-confide-flag", json=flag_topic()).raise_for_status()
    return ehr
