"""The FHIR sources file (infra/fhir_sources.py): read at start, refused in one sentence that
names the field; the notification secret compared by its hash."""

from __future__ import annotations

import hashlib
import json

import pytest

from infra.fhir_sources import DEFAULT_SCOPES, FhirSources
from infra.settings import MissingSetting


def write(tmp_path, **over):
    key = tmp_path / "smart.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    source = {
        "clinic_id": "demo-clinic",
        "base_url": "https://ehr.example.org/fhir/",
        "client_id": "confide",
        "private_key_file": str(key),
        "key_id": "k1",
        "notification_secret_sha256": hashlib.sha256(b"s3cret").hexdigest(),
        **over,
    }
    path = tmp_path / "fhir.json"
    path.write_text(json.dumps({"sources": [source]}))
    return path


def test_a_source_is_read_and_its_secret_checked_by_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("CONFIDE_FHIR_SOURCES", str(write(tmp_path)))
    source = FhirSources.from_env().get("demo-clinic")
    assert source is not None and source.base == "https://ehr.example.org/fhir"
    assert source.scopes == DEFAULT_SCOPES and "system/AuditEvent.cu" in source.scopes
    assert source.accepts("s3cret") and not source.accepts("s3cret ") and not source.accepts("")
    monkeypatch.delenv("CONFIDE_FHIR_SOURCES")
    assert FhirSources.from_env().sources == []


@pytest.mark.parametrize(
    ("over", "where"),
    [
        ({"private_key_file": "/nowhere/key.pem"}, "sources.0.private_key_file"),
        ({"notification_secret_sha256": "s3cret"}, "sources.0.notification_secret_sha256"),
        ({"base_url": "ehr.example.org"}, "sources.0.base_url"),
        ({"colour": "blue"}, "sources.0.colour"),
    ],
)
def test_a_bad_file_stops_the_process_naming_the_field(tmp_path, over, where):
    with pytest.raises(MissingSetting) as e:
        FhirSources.load(write(tmp_path, **over))
    message = str(e.value)
    assert where in message and "CONFIDE_FHIR_SOURCES" in message
    assert "s3cret" not in message.replace(where, "")
