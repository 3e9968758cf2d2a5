"""Clinic configuration: staff roster, agency contacts, time zone, API key hash."""

from __future__ import annotations

import hashlib
import hmac
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.flags import Email, OpaqueKey
from domain.jurisdiction import Jurisdiction


class Role(StrEnum):
    """Who may act on a task. Escalation climbs this order."""

    clinician = "clinician"
    supervisor = "supervisor"
    privacy_officer = "privacy_officer"
    # Advises on legal requests when a decision-maker asks; outside the escalation ladder.
    counsel = "counsel"


ESCALATION_ORDER = [Role.clinician, Role.supervisor, Role.privacy_officer]

# Each role as a person reads it (notices, work lists, decisions): the one place its words live.
ROLE_WORDS: dict[Role, str] = {
    Role.clinician: "clinician",
    Role.supervisor: "supervisor",
    Role.privacy_officer: "privacy officer",
    Role.counsel: "counsel",
}


class StaffMember(BaseModel):
    """A roster entry: who they are, what they may do, where their codes and reminders go."""

    model_config = ConfigDict(extra="forbid")
    id: OpaqueKey
    name: str
    email: Email
    roles: list[Role]
    # How the person signs in to the intake API (intake/identity.py): sha256 hex of each of
    # their personal API tokens (the tokens themselves are never stored), and the `sub` of
    # their account at the clinic's OIDC issuer where it is not their roster id. Read from the
    # clinics file only: `exclude` keeps both out of every dump, so the clinic snapshot a case
    # carries in its workflow input (and so in history) never holds them.
    token_sha256: list[str] = Field(default_factory=list, exclude=True, repr=False)
    oidc_subject: str | None = Field(default=None, exclude=True, repr=False)


class AgencyKind(StrEnum):
    """The kinds of agency a clinic configures a contact for."""

    law_enforcement = "law_enforcement"
    child_protective_services = "child_protective_services"
    adult_protective_services = "adult_protective_services"
    medical_personnel = "medical_personnel"
    county_director_of_community_services = "county_director_of_community_services"
    long_term_care_ombudsman = "long_term_care_ombudsman"
    licensing_agency = "licensing_agency"
    medical_examiner = "medical_examiner"
    prosecutor = "prosecutor"
    # Receiving agencies some statutes name beside the protective services: a court (e.g. a
    # report to the probate court) and a professional licensing board.
    court = "court"
    licensing_board = "licensing_board"


# Each kind of agency as a person reads it (notices name the clinic's configured agency where
# there is one; these words stand in where there is none).
AGENCY_WORDS: dict[AgencyKind, str] = {
    AgencyKind.law_enforcement: "law enforcement",
    AgencyKind.child_protective_services: "child protective services",
    AgencyKind.adult_protective_services: "adult protective services",
    AgencyKind.medical_personnel: "medical personnel",
    AgencyKind.county_director_of_community_services: "the county director of community services",
    AgencyKind.long_term_care_ombudsman: "the long-term care ombudsman",
    AgencyKind.licensing_agency: "the licensing agency",
    AgencyKind.medical_examiner: "the medical examiner",
    AgencyKind.prosecutor: "the prosecutor",
    AgencyKind.court: "the court",
    AgencyKind.licensing_board: "the licensing board",
}


class Agency(BaseModel):
    """A receiving agency's contact as the clinic configured it."""

    model_config = ConfigDict(extra="forbid")
    kind: AgencyKind
    name: str
    email: Email | None = None
    phone: str | None = None
    # Where written reports are filed when the agency takes them only on its own portal.
    portal_url: str | None = None
    # The postal or street address, as a reporter would write it on a form or visit it.
    address: str | None = None


class StaffLinks(BaseModel):
    """Where staff do their work, for the links in task e-mails: the public addresses of the
    intake API (its role links) and of the Web UI (a task's page). Set by the API on the
    clinic's snapshot when a case starts, from its settings; cases started without them (and
    cases recorded before they existed) send their e-mails without links."""

    model_config = ConfigDict(extra="forbid")
    work: str
    ui: str
    namespace: str = "default"

    def work_list(self, clinic_id: str, role: Role) -> str:
        """The role link: the open work waiting on a role (intake/work_list.py)."""
        return f"{self.work}/work/{clinic_id}/{role.value}"

    def workflow(self, workflow_id: str) -> str:
        """A workflow's page in the Web UI, where its tasks are done."""
        return f"{self.ui}/namespaces/{self.namespace}/workflows/{workflow_id}"


class Clinic(BaseModel):
    """One clinic's configuration; a snapshot of it travels in each case's workflow input."""

    model_config = ConfigDict(extra="forbid")
    id: OpaqueKey
    name: str
    timezone: str = "America/Los_Angeles"
    jurisdiction: Jurisdiction
    reply_to: Email
    staff: Annotated[list[StaffMember], Field(min_length=1)]
    agencies: list[Agency] = []
    # sha256 hex of each API key this clinic may use; the keys themselves are never stored.
    api_key_sha256: list[str] = []
    links: StaffLinks | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # Checked at load: an unknown zone would otherwise fail every deadline computation
        # inside the workflows, where it cannot be fixed.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    def member(self, staff_id: str) -> StaffMember | None:
        """The roster entry with this id, if any."""
        return next((s for s in self.staff if s.id == staff_id), None)

    def with_role(self, role: Role) -> list[StaffMember]:
        """Everyone on the roster who holds this role."""
        return [s for s in self.staff if role in s.roles]

    def agency(self, kind: AgencyKind) -> Agency | None:
        """The configured contact for this kind of agency, if any."""
        return next((a for a in self.agencies if a.kind == kind), None)

    def public(self) -> Clinic:
        """The clinic without its key hashes or its staff's sign-in details: what a case
        snapshot carries."""
        return self.model_copy(
            update={
                "api_key_sha256": [],
                "staff": [
                    s.model_copy(update={"token_sha256": [], "oidc_subject": None})
                    for s in self.staff
                ],
            }
        )


def hash_api_key(key: str) -> str:
    """The at-rest form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


class ClinicDirectory(BaseModel):
    """All configured clinics, loaded from one JSON file."""

    clinics: list[Clinic]

    @classmethod
    def load(cls, path: Path) -> ClinicDirectory:
        """Read and validate the clinics file."""
        return cls.model_validate(json.loads(path.read_text()))

    def get(self, clinic_id: str) -> Clinic | None:
        """The clinic with this id, if configured."""
        return next((c for c in self.clinics if c.id == clinic_id), None)

    def by_api_key(self, key: str) -> Clinic | None:
        """The clinic an API key belongs to (constant-time comparison of the hashes)."""
        digest = hash_api_key(key)
        for clinic in self.clinics:
            if any(hmac.compare_digest(digest, h) for h in clinic.api_key_sha256):
                return clinic
        return None

    def by_staff_token(self, token: str) -> tuple[Clinic, StaffMember] | None:
        """The clinic and roster entry a personal API token belongs to (constant-time
        comparison of the hashes)."""
        digest = hash_api_key(token)
        for clinic in self.clinics:
            for member in clinic.staff:
                if any(hmac.compare_digest(digest, h) for h in member.token_sha256):
                    return clinic, member
        return None
