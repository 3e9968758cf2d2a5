"""The texts a legal request produces: staff notes, the privilege assertion, the patient's notice,
the packet's cover letter and the requester's answers. Plain sentences, times in the clinic's
zone; subjects carry only the clinic name and the opaque case id."""

from __future__ import annotations

from datetime import datetime

from domain.authorization import Authorization
from domain.clinic import Clinic
from domain.legal_request import INSTRUMENT_TITLE, LegalRequest, LegalRequestRule
from domain.local_time import local, local_date
from domain.notices import Notice, how_to_complete, staff_message, staff_name


def _what(req: LegalRequest) -> str:
    return (
        f"the {INSTRUMENT_TITLE[req.instrument]} in {req.issuer.name} case {req.issuer.case_number}"
    )


def _scope(req: LegalRequest) -> str:
    cats = ", ".join(c.value.replace("_", " ") for c in req.scope.categories)
    return f"{cats} dated {req.scope.from_.isoformat()} to {req.scope.to.isoformat()}"


def received_lines(req: LegalRequest, clinic: Clinic) -> list[str]:
    """What the privacy officer is told when a request arrives (no patient data)."""
    title = INSTRUMENT_TITLE[req.instrument]
    article = "an" if title[:1] in "aeiou" else "a"
    return [
        f"{clinic.name} has received {article} {title} for a patient's records, issued by "
        f"{req.issuer.name} in case {req.issuer.case_number}.",
        f"It was served on {local(req.served_at, clinic.timezone)}, and the response is due by "
        f"{local(req.response_due, clinic.timezone)}.",
        "Please classify it first: nothing is released before a privacy officer approves the "
        "set of records.",
    ]


def request_received_notice(
    req: LegalRequest, clinic: Clinic, case_id: str, workflow_id: str = ""
) -> Notice:
    """To the privacy officer: a legal request arrived and needs classifying, and where."""
    body = "\n\n".join([*received_lines(req, clinic), how_to_complete(workflow_id)])
    return staff_message(clinic, case_id, "A legal request for records needs classifying", body)


def response_due_notice(
    clinic: Clinic, case_id: str, response_due: datetime, task_id: str, workflow_id: str = ""
) -> Notice:
    """To the privacy officer and counsel: the response date came without assurance."""
    body = "\n\n".join(
        [
            f"The response to the legal request on case {case_id} was due by "
            f"{local(response_due, clinic.timezone)}, and no satisfactory assurance or qualified "
            "protective order has been received.",
            "Nothing has been released, and nothing will be released automatically.",
            "Please serve a written objection or obtain an extension, and record which on the "
            f"task (task id {task_id}).",
            how_to_complete(workflow_id),
        ]
    )
    return staff_message(
        clinic, case_id, "A legal request's response is due without assurance", body
    )


def counsel_asked_notice(
    clinic: Clinic,
    case_id: str,
    asked_by: str,
    task_id: str,
    response_due: datetime,
    workflow_id: str = "",
) -> Notice:
    """To counsel: a decision-maker asks their advice on a request for records."""
    body = "\n\n".join(
        [
            f"{staff_name(clinic, asked_by)} asks for your advice on a request for records on "
            f"case {case_id}. The question is in the task (task id {task_id}).",
            f"The response to the request is due by {local(response_due, clinic.timezone)}, and "
            "that deadline does not stop while you advise.",
            how_to_complete(workflow_id),
        ]
    )
    return staff_message(clinic, case_id, "Your advice is asked on a request for records", body)


def authorization_held_notice(
    clinic: Clinic, case_id: str, authorization_id: str, workflow_id: str = ""
) -> Notice:
    """To the privacy officer: an authorization is on hold and its requester could not be
    told by e-mail."""
    where = f"the workflow {workflow_id}" if workflow_id else "the case's workflow"
    body = "\n\n".join(
        [
            f"Authorization {authorization_id} on case {case_id} is on hold: it lacks what "
            "federal law requires of an authorization (45 CFR 164.508). The Current Details of "
            f"{where} in the Temporal Web UI list what is missing.",
            "The requester gave no e-mail address, or the e-mail to them was refused, so "
            "Confide could not tell them.",
            "Please tell the requester by telephone or by post what is missing, and ask for a "
            "corrected authorization under the same id. Confide resumes as soon as it arrives.",
        ]
    )
    return staff_message(
        clinic, case_id, "Authorization on hold: please contact the requester", body
    )


def privilege_letter(
    req: LegalRequest, clinic: Clinic, rule: LegalRequestRule, now: datetime
) -> str:
    """The assertion of the psychotherapist-patient privilege and objection to production.

    Outside the US (a rule with a `privacy_basis`) there may be no therapist's privilege to
    assert (England has none): the letter objects on the patient's behalf and names the privacy
    law a disclosure would rest on, not HIPAA."""
    if rule.privacy_basis:
        middle = [
            "To the extent any such records exist, they are confidential health records. On the "
            f"patient's behalf we object to their production ({rule.privilege}).",
            "We will produce no records unless a court orders it or the patient consents in "
            f"writing; any disclosure we make will rest on {rule.privacy_basis}.",
        ]
    else:
        middle = [
            "To the extent any such records exist, they are confidential communications "
            "between a patient and a psychotherapist. On the patient's behalf we assert the "
            f"psychotherapist-patient privilege ({rule.privilege}) and object to their "
            "production.",
            "We will produce no records in response to a subpoena unless we receive a court "
            "order, the patient's written authorization, or satisfactory assurance under 45 CFR "
            "164.512(e)(1)(ii): written proof that the patient was notified and the time to "
            "object passed without objection, or a qualified protective order. Records of a "
            "substance-use-disorder program are never released on a subpoena alone "
            "(42 CFR Part 2).",
        ]
    return "\n\n".join(
        [
            f"{clinic.name}\n{local_date(now, clinic.timezone)}",
            f"To: {req.requester.name}\n{req.requester.address}",
            f"Re: {_what(req)}",
            f"{clinic.name} has received {_what(req)}, served on "
            f"{local_date(req.served_at, clinic.timezone)}, asking for records described as "
            f"{_scope(req)}.",
            *middle,
            f"Please direct any questions to {clinic.reply_to}.",
        ]
    )


def defective_letter(req: LegalRequest, clinic: Clinic, now: datetime) -> str:
    """The answer to an instrument the privacy officer found defective."""
    return "\n\n".join(
        [
            f"{clinic.name}\n{local_date(now, clinic.timezone)}",
            f"To: {req.requester.name}\n{req.requester.address}",
            f"Re: {_what(req)}",
            f"{clinic.name} has received {_what(req)}. We object to it and will produce no "
            "records in response: it does not meet the requirements for a valid demand for "
            "confidential health information (signature or the issuer's authority over this "
            "clinic).",
            f"Please direct any questions to {clinic.reply_to}.",
        ]
    )


def patient_notice(
    req: LegalRequest,
    clinic: Clinic,
    case_id: str,
    window_ends: datetime,
    asserting: bool,
    privilege: bool = True,
) -> Notice:
    """The patient's notice of a subpoena for their records and of their right to object.
    `privilege`: the jurisdiction has a therapist's privilege to assert (not England)."""
    name = req.patient.name or "patient"
    body = "\n\n".join(
        [
            f"Dear {name},",
            f"{clinic.name} has received {_what(req)}, asking for your records "
            f"({_scope(req)}). The request came from {req.requester.name}.",
            "We have not released anything. "
            + (
                (
                    "We are asserting the psychotherapist-patient privilege on your behalf."
                    if privilege
                    else "We are objecting to the release on your behalf."
                )
                if asserting
                else "You gave us a written waiver or authorization; even so we release "
                "nothing before your time to object has passed."
            ),
            f"If you object to the release, tell the court and the requester before "
            f"{local(window_ends, clinic.timezone)}, and let us know at {clinic.reply_to}. "
            "You may wish to speak with a lawyer.",
            f"Please quote reference {case_id}.",
        ]
    )
    return Notice(subject=f"A request for your records at {clinic.name} (ref {case_id})", body=body)


def cover_letter(
    req: LegalRequest,
    clinic: Clinic,
    basis: str,
    count: int,
    approved_by: str,
    now: datetime,
    us: bool = True,
) -> str:
    """The packet's cover letter: what is enclosed, under which authority, nothing more.
    `us`: a US clinic, whose further-disclosure warning names state and federal law."""
    return "\n\n".join(
        [
            f"{clinic.name}\n{local_date(now, clinic.timezone)}",
            f"To: {req.requester.name}\n{req.requester.address}",
            f"Re: {_what(req)}",
            f"In response to {_what(req)}, {clinic.name} encloses {count} "
            f"record{'s' if count != 1 else ''} of the patient it names, limited to {_scope(req)}.",
            f"Legal basis: {basis}. Only the records listed in the enclosed manifest are "
            "produced; psychotherapy notes and substance-use-disorder records are excluded "
            "unless the instrument expressly and lawfully reaches them. Each record's SHA-256 "
            "digest is listed so the copy can be verified.",
            "These records are confidential. They are produced for use in this proceeding only; "
            "further disclosure may be prohibited by "
            + ("state and federal law." if us else "law."),
            f"Release approved by the clinic's privacy officer ({approved_by}). "
            f"Questions: {clinic.reply_to}.",
        ]
    )


def requester_answer(
    req: LegalRequest, clinic: Clinic, case_id: str, headline: str, text: str
) -> Notice:
    """A short answer to the requester (a letter attached as text, or a status)."""
    body = "\n\n".join([f"Re: {_what(req)}", headline, text, f"Reference: {case_id}"]) + "\n"
    return Notice(subject=f"Response from {clinic.name} (ref {case_id})", body=body)


def authorization_letter(
    auth: Authorization, clinic: Clinic, count: int, approved_by: str, now: datetime
) -> str:
    """The cover letter of records released under the patient's authorization."""
    recipient = auth.recipient.name if auth.recipient and auth.recipient.name else "recipient"
    info = auth.information
    span = (
        f" dated {info.from_.isoformat()} to {info.to.isoformat()}"
        if info and info.from_ and info.to
        else ""
    )
    return "\n\n".join(
        [
            f"{clinic.name}\n{local_date(now, clinic.timezone)}",
            f"To: {recipient}"
            + (f"\n{auth.recipient.address}" if auth.recipient and auth.recipient.address else ""),
            f"Re: the patient's authorization {auth.authorization_id}",
            f"At the patient's written request (authorization {auth.authorization_id}, signed "
            f"{auth.signed_at.isoformat() if auth.signed_at else 'undated'}), {clinic.name} "
            f"encloses {count} record{'s' if count != 1 else ''}{span}, for this purpose: "
            f"{auth.purpose}.",
            "Only the records listed in the enclosed manifest are released, each with its "
            "SHA-256 digest so the copy can be verified.",
            "Information disclosed under an authorization may be redisclosed by the recipient "
            "and may then no longer be protected by federal privacy law (45 CFR "
            "164.508(c)(2)(iii)). The patient may revoke the authorization in writing at any "
            "time; a revocation does not undo releases already made.",
            f"Release approved by the clinic's privacy officer ({approved_by}). "
            f"Questions: {clinic.reply_to}.",
        ]
    )


def authorization_on_hold(
    auth: Authorization, clinic: Clinic, case_id: str, problems: list[str]
) -> Notice:
    """The notice naming exactly what an authorization lacks before it can be used."""
    body = "\n\n".join(
        [
            f"{clinic.name} received authorization {auth.authorization_id} but cannot act on "
            "it yet: it lacks what federal law (45 CFR 164.508) requires of an authorization.",
            "What is missing or wrong:\n" + "\n".join(f"- {p}" for p in problems),
            "Please send a corrected authorization under the same id; we will resume as soon "
            f"as it arrives. Questions: {clinic.reply_to}, reference {case_id}.",
        ]
    )
    return Notice(subject=f"Authorization on hold at {clinic.name} (ref {case_id})", body=body)


def accounting_extension(
    clinic: Clinic, case_id: str, patient_name: str | None, reason: str, new_date: datetime
) -> Notice:
    """164.528(c)(2)(i): the written statement of the reasons for the delay and the date."""
    body = "\n\n".join(
        [
            f"Dear {patient_name or 'patient'},",
            f"{clinic.name} received your request for an accounting of disclosures of your "
            "health information. We need more time to complete it.",
            f"Why: {reason}",
            f"You will receive it by {local(new_date, clinic.timezone)}. The law allows one "
            "such extension of at most 30 days.",
            f"Questions: {clinic.reply_to}, reference {case_id}.",
        ]
    )
    return Notice(subject=f"Your accounting request at {clinic.name} (ref {case_id})", body=body)


def accounting_cover(clinic: Clinic, case_id: str, patient_name: str | None, count: int) -> str:
    """The e-mail that carries the accounting PDF to the patient."""
    return "\n\n".join(
        [
            f"Dear {patient_name or 'patient'},",
            f"Attached is the accounting of disclosures you asked {clinic.name} for: "
            + (
                f"{count} entr{'y' if count == 1 else 'ies'}."
                if count
                else "we made no disclosures that the law asks us to list."
            ),
            f"Questions: {clinic.reply_to}, reference {case_id}.",
        ]
    )
