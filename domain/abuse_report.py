"""Texts of an abuse report: what the law requires of the reporter, and the written report
prepared from the case for the reporter to review (fields of CA SS 8572 / SOC 341 and their
equivalents elsewhere)."""

from __future__ import annotations

from datetime import datetime

from domain.clinic import Clinic, StaffMember
from domain.flags import Concern, Patient, Person
from domain.forms import OralReportForm
from domain.local_time import local
from domain.notice_templates import join_words, render
from domain.reporting import Deadline, ReportingRule, Unit, WrittenReport

KIND_TITLE = {
    "child_abuse": "suspected child abuse or neglect",
    "elder_abuse": "suspected elder abuse",
    "dependent_adult_abuse": "suspected dependent-adult abuse",
}


def describe_deadline(d: Deadline | None, what: str) -> str:
    """'within 36 hours of knowledge' and the like, for people."""
    if d is None:
        return f"{what}: immediately (no numeric bound in the statute)"
    unit = "working days" if d.unit == Unit.working_days else "hours"
    clock = "the first knowledge or suspicion" if d.clock == "knowledge" else "the oral report"
    extra = []
    if d.excludes_weekends_holidays:
        extra.append("excluding weekends and holidays")
    if d.or_next_working_day:
        extra.append("or the next working day")
    return f"{what}: within {d.amount} {unit} of {clock}" + (
        f" ({', '.join(extra)})" if extra else ""
    )


def deadline_words(d: Deadline | None) -> str:
    """A statutory deadline as a sentence continues it: 'within 36 hours of the first knowledge
    or suspicion', 'without delay' where the statute gives no number."""
    if d is None:
        return "without delay"
    unit = {Unit.working_days: "working day", Unit.hours: "hour"}[d.unit]
    unit += "" if d.amount == 1 else "s"
    clock = "the first knowledge or suspicion" if d.clock == "knowledge" else "the oral report"
    extra = []
    if d.excludes_weekends_holidays:
        extra.append("not counting weekends and holidays")
    if d.or_next_working_day:
        extra.append("or by the next working day")
    return f"within {d.amount} {unit} of {clock}" + (f" ({', '.join(extra)})" if extra else "")


def duty_lines(
    rule: ReportingRule,
    kind: str,
    oral_due: datetime,
    written_due: datetime | None,
    timezone: str | None = None,
    clinic: Clinic | None = None,
) -> list[str]:
    """What the reporter must do, by when (in the clinic's zone when given), to whom, with the
    clinic's contact for each receiving agency (telephone, address, portal): the lines of the
    reporter's e-mail, in sentences (no PHI: this goes to staff by e-mail)."""

    def when_(t: datetime) -> str:
        return local(t, timezone) if timezone else t.isoformat(timespec="minutes")

    written = None
    if rule.written in (WrittenReport.required, WrittenReport.unverified) or rule.default:
        written = "required"
    elif rule.written == WrittenReport.if_requested:
        written = "if_requested"
    # The clinic's own contact for each receiving agency, so the reporter can call at once.
    contacts = []
    for route in rule.agencies:
        contact = clinic.agency(route.kind) if clinic is not None else None
        if contact is not None and contact not in contacts:
            if contact.phone or contact.address or contact.portal_url:
                contacts.append(contact)
    text = render(
        "mandated_report_duty",
        kind=KIND_TITLE[kind],
        statute=rule.statute,
        personal=rule.delegation in ("non_delegable", "unverified"),
        oral=deadline_words(rule.oral_deadline) if rule.oral_deadline else "",
        oral_due=when_(oral_due),
        written=written,
        form=rule.written_form or "",
        written_deadline=deadline_words(rule.written_deadline),
        written_due=when_(written_due) if written_due and written == "required" else "",
        agencies=[a.description for a in rule.agencies],
        contacts=contacts,
        conditional=rule.conditional or "",
        further=rule.further_reports or "",
        unverified=join_words([u.replace("_", " ") for u in rule.unverified or ["the rule"]])
        if rule.default or rule.unverified
        else "",
    )
    return text.rstrip("\n").split("\n")


def _person(label: str, p: Person | None) -> list[str]:
    if p is None:
        return [f"{label}: unknown"]
    parts = [p.name] + [
        x
        for x in (
            f"age {p.age}" if p.age is not None else None,
            p.address,
            p.phone,
            p.email,
            p.relationship,
        )
        if x
    ]
    return [f"{label}: " + ", ".join(parts)]


def written_report(
    rule: ReportingRule,
    kind: str,
    clinic: Clinic,
    reporter: StaffMember,
    patient: Patient,
    concern: Concern,
    victim: Person,
    oral: OralReportForm,
    known_at: datetime,
) -> str:
    """The written report as plain text, for the reporter to review and the agency to read."""
    form = rule.written_form or "written report"
    return "\n".join(
        [
            f"{form.upper()} — REPORT OF {KIND_TITLE[kind].upper()}",
            f"Jurisdiction: {rule.jurisdiction} · {rule.statute}",
            "",
            "A. REPORTING PARTY",
            f"Name: {reporter.name} · Title: mandated reporter · Agency: {clinic.name}",
            f"Contact: {reporter.email} · Reply to: {clinic.reply_to}",
            f"Date of knowledge: {known_at.isoformat(timespec='minutes')}",
            "",
            "B. REPORT NOTIFICATION (oral report)",
            f"Agency: {oral.agency} · Number: {oral.number_called}",
            f"Date/time: {oral.called_at.isoformat(timespec='minutes')} · Taken by: {oral.taken_by}"
            + (f" · Reference: {oral.reference_number}" if oral.reference_number else ""),
            "",
            "C. VICTIM",
            *_person("Victim", victim),
            "",
            "D. INVOLVED PARTIES",
            *_person("Suspected abuser", concern.alleged_abuser),
            "Suspected abuser is a caretaker: "
            + {True: "yes", False: "no", None: "unknown"}[concern.abuser_is_caretaker],
            f"Setting: {concern.setting or 'unknown'}",
            f"Source of information: disclosure in a therapy session with patient {patient.name}",
            "",
            "E. INCIDENT INFORMATION",
            concern.summary,
            "",
            "Disclosed under " + rule.legal_basis + ".",
        ]
    )
