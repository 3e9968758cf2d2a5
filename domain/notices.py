"""Notice texts. Subjects carry only the clinic name and the opaque case id (never PHI); bodies
carry the minimum each recipient needs to act (164.502(b), 164.514(d))."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from domain.clinic import Agency, Clinic
from domain.flags import Concern, Patient, Person
from domain.local_time import local


class Notice(BaseModel):
    """A rendered e-mail: subject (no PHI) and plain-text body."""

    model_config = ConfigDict(hide_input_in_errors=True)  # the body is PHI

    subject: str
    body: str


def message_id(case_id: str, step: str, recipient_key: str) -> str:
    """A deterministic Message-ID per (case, step, recipient): a retry resends the same message."""
    token = hashlib.sha256(f"{case_id}|{step}|{recipient_key}".encode()).hexdigest()[:32]
    return f"<{token}@confide.invalid>"


def person_key(kind: str, index: int) -> str:
    """An opaque recipient key for a person named in a concern (no name in it)."""
    return f"{kind}-{index}"


def victim_warning(
    clinic: Clinic, case_id: str, patient: Patient, concern: Concern, victim: Person
) -> Notice:
    """Warn an identifiable potential victim: who, what threat, what to do."""
    body = (
        f"Dear {victim.name},\n\n"
        f"{clinic.name} is contacting you because one of its patients, {patient.name}, has "
        "communicated a threat of physical violence against you. We are required or permitted "
        "by law to warn you so that you can protect yourself.\n\n"
        f"What was communicated: {concern.summary}\n\n"
        "If you are in immediate danger, call 911. Law enforcement has been or will be "
        "notified where the law requires it.\n\n"
        f"Questions: reply to {clinic.reply_to} and quote reference {case_id}.\n"
    )
    return Notice(subject=f"Important safety notice from {clinic.name} (ref {case_id})", body=body)


def agency_notice(
    clinic: Clinic,
    case_id: str,
    patient: Patient,
    concern: Concern,
    agency: Agency,
    purpose: str,
    legal_basis: str,
) -> Notice:
    """Notify an agency (law enforcement, crisis team, county director) of a threat."""
    victims = (
        "\n".join(
            f"  - {v.name}"
            + (f", {v.phone}" if v.phone else "")
            + (f", {v.address}" if v.address else "")
            for v in concern.victims
        )
        or "  (no identifiable person)"
    )
    dob = f" (born {patient.birth_date.isoformat()})" if patient.birth_date else ""
    body = (
        f"To: {agency.name}\n\n"
        f"{clinic.name} reports, for the purpose of {purpose}, that its patient "
        f"{patient.name}{dob} has communicated the following:\n\n  {concern.summary}\n\n"
        f"Persons at risk:\n{victims}\n\n"
        f"Legal basis: {legal_basis}.\n"
        f"Contact: {clinic.reply_to}, reference {case_id}.\n"
    )
    return Notice(subject=f"Confidential report from {clinic.name} (ref {case_id})", body=body)


def contact_notice(clinic: Clinic, case_id: str, patient: Patient, contact: Person) -> Notice:
    """Tell an emergency contact that the patient may be at serious risk of self-harm."""
    body = (
        f"Dear {contact.name},\n\n"
        f"{clinic.name} is contacting you because we believe {patient.name} may be at serious "
        "and imminent risk of harming themselves, and you may be able to help keep them safe.\n\n"
        "If there is immediate danger, call 911 or the 988 Suicide & Crisis Lifeline.\n\n"
        f"Please contact {clinic.reply_to} and quote reference {case_id}.\n"
    )
    return Notice(subject=f"Urgent message from {clinic.name} (ref {case_id})", body=body)


def staff_notice(clinic: Clinic, case_id: str, headline: str, lines: list[str]) -> Notice:
    """A message to staff: reminders, escalations, 'you are informed'. Opaque references only."""
    body = "\n".join([headline, "", *lines, "", f"Case: {case_id}"]) + "\n"
    return Notice(subject=f"Confide: {headline} (case {case_id})", body=body)


def approval_code_notice(
    clinic: Clinic, case_id: str, task_id: str, code: str, due_at: datetime
) -> Notice:
    """The one-time approval code for a release decision, to the approver's roster address."""
    return staff_notice(
        clinic,
        case_id,
        "approval code for a release decision",
        [
            f"Your one-time approval code for task {task_id}:",
            "",
            # On a line of its own, short: no mail encoding wraps or splits it.
            f"    {code}",
            "",
            f"The decision is due by {local(due_at, clinic.timezone)}.",
            "Enter it as `code` when you complete the task. Do not forward this message.",
        ],
    )
