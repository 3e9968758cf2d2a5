"""A FHIR `Flag` raised in the EHR, read into the flag `POST /v1/flags` takes (issue 15).

The clinician flags the session in the EHR: a Flag whose `code` carries one of Confide's
concern codes (system `urn:confide:concern-kind`, codes = `ConcernKind`) with their own words
as `code.text`, `subject` the patient, `encounter` the session, `author` the clinician. The
people a concern involves are extensions on the Flag pointing to RelatedPerson (or Patient)
resources: `urn:confide:extension:victim` and `urn:confide:extension:contact`.

Flags without a Confide code (allergy alerts, fall risks...) are not Confide's: `NotConfides`.
A Flag that is Confide's but cannot open a case says why in one sentence naming the field,
never a value (`FlagNotUsable`): the sentence reaches workflow history.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.flag import Flag as FhirFlag
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.relatedperson import RelatedPerson
from pydantic import BaseModel, ValidationError

from domain.clinic import Clinic
from domain.flags import ClinicianRef, Concern, ConcernKind, Flag, Patient, Person
from infra.fhir_common import confide_key, flag_key, split_reference, tolerant

CONCERN_SYSTEM = "urn:confide:concern-kind"
VICTIM = "urn:confide:extension:victim"
CONTACT = "urn:confide:extension:contact"
KIND_CODES = {k.value for k in ConcernKind}


class NotConfides(ValueError):
    """A Flag with no Confide concern code (or no longer active): not a case to open."""


class FlagNotUsable(ValueError):
    """A Confide Flag that cannot open a case; one sentence naming the field, no value."""


class FlagRead(BaseModel):
    """What was read from the EHR for one Flag: the resources as JSON."""

    flag: dict[str, Any]
    patient: dict[str, Any]
    encounter: dict[str, Any] | None = None
    practitioner: dict[str, Any] | None = None
    # RelatedPerson / Patient resources the Flag's extensions point to, by "Type/id".
    people: dict[str, dict[str, Any]] = {}


def _model(model: type[Any], data: dict[str, Any], what: str) -> Any:
    try:
        return tolerant(model, data)[0]
    except ValidationError as e:
        where = ".".join(str(p) for p in e.errors()[0]["loc"])
        raise FlagNotUsable(f"the {what} read from the EHR is malformed at {where}") from None


def _name(names: list[HumanName] | None) -> str | None:
    for n in names or []:
        if n.use in ("old", "anonymous"):
            continue
        if n.text:
            return str(n.text)
        parts = [str(p) for p in [*(n.given or []), n.family] if p]
        if parts:
            return " ".join(parts)
    return None


def _telecom(points: list[Any] | None, system: str) -> str | None:
    for p in points or []:
        if p.system == system and p.value and p.use != "old":
            return str(p.value)
    return None


def _address(addresses: list[Any] | None) -> str | None:
    for a in addresses or []:
        if a.text:
            return str(a.text)
        parts = [*(a.line or []), a.city, a.state, a.postalCode]
        text = ", ".join(str(p) for p in parts if p)
        if text:
            return text
    return None


def _age(born: date | None, on: datetime) -> int | None:
    if born is None:
        return None
    day = on.date()
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _person(data: dict[str, Any], on: datetime, what: str) -> Person:
    kind = data.get("resourceType")
    model = {"RelatedPerson": RelatedPerson, "Patient": FhirPatient}.get(str(kind))
    if model is None:
        raise FlagNotUsable(f"a {what} of the Flag is a {kind}, not a RelatedPerson or Patient")
    r = _model(model, data, what)
    name = _name(r.name)
    if name is None:
        raise FlagNotUsable(f"a {what} of the Flag has no name in the EHR")
    relationship = None
    for concept in getattr(r, "relationship", None) or []:
        relationship = concept.text or next(
            (c.display for c in concept.coding or [] if c.display), None
        )
        if relationship:
            break
    try:
        return Person(
            name=name,
            email=_telecom(r.telecom, "email"),
            phone=_telecom(r.telecom, "phone"),
            address=_address(r.address),
            age=_age(r.birthDate, on),
            relationship=relationship,
        )
    except ValidationError as e:
        raise FlagNotUsable(_unusable(f"a {what}'s", e)) from None


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    return None


def _clinician(read: FlagRead, flag: FhirFlag, staff_system: str | None) -> str:
    if read.practitioner is None:
        raise FlagNotUsable(
            "the Flag names no Practitioner as its author, nor does its Encounter: Confide "
            "needs the clinician who raised it"
        )
    practitioner = _model(Practitioner, read.practitioner, "author")
    if staff_system:
        for identifier in practitioner.identifier or []:
            if identifier.system == staff_system and identifier.value:
                return confide_key(str(identifier.value))
    return confide_key(str(practitioner.id))


def author_reference(read_flag: dict[str, Any], encounter: dict[str, Any] | None) -> str | None:
    """Who raised the Flag: its author if a Practitioner, else the Encounter's first
    Practitioner participant."""
    author = (read_flag.get("author") or {}).get("reference")
    if (ref := split_reference(author)) and ref[0] == "Practitioner":
        return f"Practitioner/{ref[1]}"
    for participant in (encounter or {}).get("participant") or []:
        who = (participant.get("individual") or {}).get("reference")
        if (ref := split_reference(who)) and ref[0] == "Practitioner":
            return f"Practitioner/{ref[1]}"
    return None


def people_references(read_flag: dict[str, Any]) -> list[str]:
    """The "Type/id" of every person the Flag's victim and contact extensions name."""
    refs = []
    for ext in read_flag.get("extension") or []:
        if ext.get("url") in (VICTIM, CONTACT):
            if ref := split_reference((ext.get("valueReference") or {}).get("reference")):
                refs.append(f"{ref[0]}/{ref[1]}")
    return refs


def concern_kinds(read_flag: dict[str, Any]) -> list[ConcernKind]:
    """The Confide concerns a Flag raises (none: not Confide's)."""
    kinds = []
    for coding in (read_flag.get("code") or {}).get("coding") or []:
        if coding.get("system") == CONCERN_SYSTEM and coding.get("code") in KIND_CODES:
            kind = ConcernKind(coding["code"])
            if kind not in kinds:
                kinds.append(kind)
    return kinds


def confide_flag(read: FlagRead, clinic: Clinic, staff_system: str | None = None) -> Flag:
    """The flag a `POST /v1/flags` would have sent for this FHIR Flag."""
    kinds = concern_kinds(read.flag)
    if not kinds:
        raise NotConfides("the Flag carries no Confide concern code")
    if read.flag.get("status") != "active":
        raise NotConfides("the Flag is not active")
    flag = _model(FhirFlag, read.flag, "Flag")
    patient = _model(FhirPatient, read.patient, "patient")
    encounter = _model(Encounter, read.encounter, "encounter") if read.encounter else None
    flagged_at = _aware(flag.period.start if flag.period else None) or _aware(
        flag.meta.lastUpdated if flag.meta else None
    )
    if flagged_at is None:
        raise FlagNotUsable(
            "the Flag has neither a period.start with a time zone nor a meta.lastUpdated"
        )
    name = _name(patient.name)
    if name is None:
        raise FlagNotUsable("the Flag's patient has no name in the EHR")
    summary = (flag.code.text or "").strip()
    if not summary:
        raise FlagNotUsable(
            "the Flag's code.text is empty: Confide needs the clinician's words for the concern"
        )
    victims: list[Person] = []
    contacts: list[Person] = []
    for ext in flag.extension or []:
        if ext.url not in (VICTIM, CONTACT):
            continue
        ref = split_reference(ext.valueReference.reference if ext.valueReference else None)
        data = read.people.get(f"{ref[0]}/{ref[1]}") if ref else None
        what = "victim" if ext.url == VICTIM else "contact"
        if data is None:
            raise FlagNotUsable(f"a {what} of the Flag could not be read from the EHR")
        (victims if ext.url == VICTIM else contacts).append(_person(data, flagged_at, what))
    session = encounter.id if encounter else None
    try:
        return Flag(
            clinic_id=clinic.id,
            flag_id=flag_key(str(flag.id)),
            session_id=confide_key(str(session)) if session else flag_key(str(flag.id)),
            jurisdiction=clinic.jurisdiction,
            flagged_at=flagged_at,
            clinician=ClinicianRef(id=_clinician(read, flag, staff_system)),
            patient=Patient(
                ref=confide_key(str(patient.id)),
                name=name,
                birth_date=patient.birthDate,
                email=_telecom(patient.telecom, "email"),
                phone=_telecom(patient.telecom, "phone"),
            ),
            concerns=[
                Concern(kind=kind, summary=summary, victims=victims, contacts=contacts)
                for kind in kinds
            ],
        )
    except ValidationError as e:
        raise FlagNotUsable(_unusable("the Flag's", e)) from None


def _unusable(whose: str, e: ValidationError) -> str:
    # hide_input_in_errors: pydantic's message names the rule, not the value.
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "value"
    return f"{whose} {where} is unusable: {err['msg']}"
