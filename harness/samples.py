"""The demo clinic and the DESIGN.md §3 sample flag."""

from __future__ import annotations

from domain.clinic import Clinic, ClinicDirectory
from harness.runtime import ROOT


def demo_clinic() -> Clinic:
    """The demo clinic of DESIGN.md §4 (the same file `make run` uses)."""
    return sample_clinic("demo-clinic")


def sample_clinic(clinic_id: str) -> Clinic:
    """A sample clinic of deploy/dev/clinics.json: "toronto-clinic" (CA-ON), "london-clinic"
    (GB-ENG), or the demo clinic."""
    clinic = ClinicDirectory.load(ROOT / "deploy/dev/clinics.json").get(clinic_id)
    assert clinic is not None, clinic_id
    return clinic


def flag_body(flag_id: str = "F-1001", jurisdiction: str = "US-CA", **overrides) -> dict:
    """The DESIGN.md §3 sample flag, with distinctive fake PHI."""
    body = {
        "clinic_id": "demo-clinic",
        "flag_id": flag_id,
        "session_id": "S-2001",
        "jurisdiction": jurisdiction,
        "flagged_at": "2026-11-27T10:15:00-08:00",
        "clinician": {"id": "dr-lee"},
        "patient": {
            "ref": "P-301",
            "name": "Jordan Example",
            "birth_date": "1990-04-02",
            "email": "jordan@example.org",
            "phone": "+1-555-0101",
        },
        "concerns": [
            {
                "kind": "threat_to_others",
                "summary": "Stated intent to hurt a coworker tomorrow",
                "victims": [
                    {
                        "name": "Casey Rivera",
                        "email": "casey@example.org",
                        "phone": "+1-555-0102",
                        "relationship": "coworker",
                    }
                ],
            }
        ],
    }
    body.update(overrides)
    return body
