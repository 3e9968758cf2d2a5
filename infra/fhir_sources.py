"""Which clinics have an EHR that speaks FHIR, and how Confide reaches it (issue 15).

Read from the JSON file `CONFIDE_FHIR_SOURCES` names (none: no clinic uses FHIR). Kept apart
from the clinics file on purpose: a case's workflow input carries a snapshot of its clinic,
and nothing here (the EHR's address, the client's key file, the notification secret's hash)
belongs in workflow history.

    {"sources": [{
        "clinic_id": "demo-clinic",
        "base_url": "https://ehr.example.org/fhir",
        "client_id": "confide",
        "private_key_file": "/run/secrets/confide-smart.pem",
        "key_id": "confide-1",
        "notification_secret_sha256": "<sha256 hex of the secret the Subscription sends>"
    }]}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from domain.flags import OpaqueKey
from infra.settings import MissingSetting
from infra.smart_auth import SmartClientConfig

# What Confide reads (the flag, who it is about, the session, the people named in it, the
# records) and writes (AuditEvents; a copy of each notice as a Communication). SMART v2 scopes;
# `s` beside `r` because many servers (sekmet among them) require it for every GET.
DEFAULT_SCOPES = " ".join(
    [
        "system/Flag.rs",
        "system/Patient.rs",
        "system/Encounter.rs",
        "system/Task.rs",
        "system/RelatedPerson.rs",
        "system/Practitioner.rs",
        "system/DocumentReference.rs",
        "system/Binary.rs",
        "system/AuditEvent.cu",
        "system/Communication.cu",
    ]
)

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class FhirSource(BaseModel):
    """One clinic's EHR."""

    model_config = ConfigDict(extra="forbid")
    clinic_id: OpaqueKey
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
    # Default: `{base_url}/.well-known/smart-configuration`'s token_endpoint, read when needed.
    token_url: str | None = None
    client_id: str
    private_key_file: Path
    key_id: str
    scopes: str = DEFAULT_SCOPES
    algorithm: str = "RS384"
    # The secret the EHR's Subscription sends (`channel.header: Authorization: Bearer <secret>`),
    # stored as its SHA-256 only.
    notification_secret_sha256: Sha256Hex
    # Where a Practitioner's roster id is found: the identifier with this system; without it
    # (or without such an identifier), the Practitioner's own id is the roster id.
    staff_identifier_system: str | None = None
    # Whether the release paths read the patient's documents from this EHR (infra/fhir_records);
    # false: from Confide's built-in records store, as for a clinic without an EHR.
    records: bool = True

    @field_validator("private_key_file")
    @classmethod
    def _key_readable(cls, value: Path) -> Path:
        # Checked at start: found missing at the first Flag, it would fail in an activity.
        if not value.is_file():
            raise ValueError("names no file (the SMART client's private key, PEM)")
        return value

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")

    def smart_config(self, token_url: str) -> SmartClientConfig:
        return SmartClientConfig(
            token_url=token_url,
            client_id=self.client_id,
            private_key_pem=self.private_key_file.read_text(),
            key_id=self.key_id,
            scopes=self.scopes,
            algorithm=self.algorithm,
        )

    def accepts(self, secret: str) -> bool:
        """Whether `secret` is the notification secret (constant-time on the hashes)."""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return hmac.compare_digest(digest, self.notification_secret_sha256)


class FhirSources(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: list[FhirSource] = []

    def get(self, clinic_id: str) -> FhirSource | None:
        return next((s for s in self.sources if s.clinic_id == clinic_id), None)

    @classmethod
    def load(cls, path: Path) -> FhirSources:
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError, ValidationError) as e:
            where = ""
            if isinstance(e, ValidationError):
                err = e.errors()[0]
                where = f" at {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            raise MissingSetting(
                f"The FHIR sources file {path} could not be read{where}; fix it or unset "
                "CONFIDE_FHIR_SOURCES."
            ) from None

    @classmethod
    def from_env(cls) -> FhirSources:
        """The file CONFIDE_FHIR_SOURCES names; no variable, no FHIR."""
        path = os.environ.get("CONFIDE_FHIR_SOURCES")
        return cls.load(Path(path)) if path else cls(sources=[])
