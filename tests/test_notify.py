"""E-mail notices and approval codes against a real SMTP server (aiosmtpd), outside Temporal."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.approvals import ApprovalActivities, IssueCodesInput
from activities.notify import (
    NoticeActivities,
    SendNoticeInput,
    SentLog,
    SmtpSettings,
    StaffAddress,
    StaffNoticeInput,
)
from domain.flags import Concern, Patient, Person
from domain.notices import message_id, victim_warning
from domain.tasks import hash_code
from tests.support import CODE_PATTERN, demo_clinic, free_port

# Distinctive fake PHI: must reach the body and never the subject or an error message.
PHI_NAME = "Quillon Vexworth-Zanzibar"
PHI_THREAT = "said he would burn down 17 Marigold Lane on Friday"
SECRET = b"test-approval-secret-0123456789"


def notices_for(smtp) -> NoticeActivities:
    ctl, _ = smtp
    return NoticeActivities(SmtpSettings(host="127.0.0.1", port=ctl.port, timeout_seconds=10))


def notice(
    to: str,
    *,
    case_id: str = "demo-clinic.F-1",
    step: str = "warn.victim",
    recipient_key: str = "victim-0",
    subject: str = "Safety notice (ref demo-clinic.F-1)",
    body: str = "hello\n",
    reply_to: str | None = None,
) -> SendNoticeInput:
    return SendNoticeInput(
        case_id=case_id,
        step=step,
        recipient_key=recipient_key,
        to=to,
        subject=subject,
        body=body,
        reply_to=reply_to,
    )


def body_of(message) -> str:
    return message.get_content().replace("\r\n", "\n")


def as_sent_to_temporal(err: ApplicationError) -> str:
    """The failure exactly as the worker would record it in the workflow history."""
    failure = Failure()
    dc = DataConverter.default
    dc.failure_converter.to_failure(err, dc.payload_converter, failure)
    # The stack trace holds source lines of this test module (which name addresses), not data.
    failure.ClearField("stack_trace")
    return str(failure)


async def send(acts: NoticeActivities, inp: SendNoticeInput):
    return await ActivityEnvironment().run(acts.send_notice, inp)


async def test_notice_arrives_with_to_subject_reply_to_body_and_phi_free_subject(smtp, mail):
    clinic = demo_clinic()
    patient = Patient(ref="P-301", name=PHI_NAME)
    victim = Person(name="Casey Rivera", email="casey@example.org")
    concern = Concern(kind="threat_to_others", summary=PHI_THREAT, victims=[victim])
    rendered = victim_warning(clinic, "demo-clinic.F-1", patient, concern, victim)

    receipt = await send(
        notices_for(smtp),
        notice(
            "casey@example.org",
            subject=rendered.subject,
            body=rendered.body,
            reply_to=clinic.reply_to,
        ),
    )

    [msg] = mail.to("casey@example.org")
    assert mail.envelopes[0][1] == ["casey@example.org"]
    assert msg["Subject"] == rendered.subject
    assert msg["Reply-To"] == "privacy@demo-clinic.test"
    assert body_of(msg) == rendered.body
    assert PHI_NAME in body_of(msg) and PHI_THREAT in body_of(msg)
    assert PHI_NAME not in msg["Subject"] and "Marigold" not in msg["Subject"]
    assert str(msg["Message-ID"]) == receipt.message_id
    assert receipt.sent_at.tzinfo is not None


async def test_notice_without_reply_to_has_no_reply_to_header(smtp, mail):
    await send(notices_for(smtp), notice("noreply@example.org"))

    [msg] = mail.to("noreply@example.org")
    assert msg["Reply-To"] is None


async def test_message_id_is_deterministic_per_case_step_and_recipient(smtp, mail):
    acts = notices_for(smtp)
    first = await send(acts, notice("casey@example.org", recipient_key="victim-0"))
    again = await send(acts, notice("casey@example.org", recipient_key="victim-0"))
    other = await send(acts, notice("police@agency.test", recipient_key="agency-police"))

    expected = message_id("demo-clinic.F-1", "warn.victim", "victim-0")
    sent_twice = [str(m["Message-ID"]) for m in mail.to("casey@example.org")]
    assert sent_twice == [expected, expected]
    assert first.message_id == again.message_id == expected
    [to_police] = mail.to("police@agency.test")
    assert str(to_police["Message-ID"]) == other.message_id
    assert other.message_id == message_id("demo-clinic.F-1", "warn.victim", "agency-police")
    assert other.message_id != expected


async def test_4xx_reply_raises_retryable_error_without_address_and_retry_delivers(smtp, mail):
    acts = notices_for(smtp)
    mail.script["x@example.org"] = ["451 4.3.0 <x@example.org> try again later"]

    with pytest.raises(ApplicationError) as caught:
        await send(acts, notice("x@example.org", body=f"about {PHI_NAME}\n"))

    err = caught.value
    assert err.non_retryable is False
    assert err.type != "PermanentDeliveryFailure"
    assert "451" in err.message
    assert "x@example.org" not in err.message and "example.org" not in err.message
    assert "x@example.org" not in as_sent_to_temporal(err)
    assert mail.to("x@example.org") == []

    await send(acts, notice("x@example.org", body=f"about {PHI_NAME}\n"))  # the retry

    [msg] = mail.to("x@example.org")
    assert PHI_NAME in body_of(msg)


async def test_5xx_reply_raises_non_retryable_permanent_failure_without_address(smtp, mail):
    mail.script["gone@example.org"] = ["550 5.1.1 <gone@example.org> no such user"]

    with pytest.raises(ApplicationError) as caught:
        await send(notices_for(smtp), notice("gone@example.org"))

    err = caught.value
    assert err.type == "PermanentDeliveryFailure"
    assert err.non_retryable is True
    assert "550" in err.message
    assert "gone@example.org" not in err.message and "example.org" not in err.message
    assert "gone@example.org" not in as_sent_to_temporal(err)
    assert mail.messages == []


async def test_unreachable_mail_server_raises_retryable_mail_server_unreachable(mail):
    acts = NoticeActivities(SmtpSettings(host="127.0.0.1", port=free_port(), timeout_seconds=5))

    with pytest.raises(ApplicationError) as caught:
        await send(acts, notice("casey@example.org"))

    err = caught.value
    assert err.type == "MailServerUnreachable"
    assert err.non_retryable is False
    assert "casey@example.org" not in as_sent_to_temporal(err)
    assert mail.messages == []


def codes_input(case_id: str = "demo-clinic.F-7", task_id: str = "release-1") -> IssueCodesInput:
    clinic = demo_clinic()
    return IssueCodesInput(
        case_id=case_id,
        task_id=task_id,
        salt="salt-4242",
        due_at=datetime(2026, 11, 28, 18, 0, tzinfo=UTC),
        clinic=clinic,
        approvers=[clinic.member("sup-kim"), clinic.member("po-diaz")],
    )


def code_in(message) -> str:
    found = re.findall(CODE_PATTERN, body_of(message))
    assert len(found) == 1, body_of(message)
    return found[0]


async def test_each_approver_gets_an_8_digit_code_and_only_its_salted_hash_is_returned(smtp, mail):
    approvals = ApprovalActivities(SECRET, notices_for(smtp))
    inp = codes_input()

    hashes = await ActivityEnvironment().run(approvals.issue_approval_codes, inp)

    assert set(hashes) == {"sup-kim", "po-diaz"}
    codes = {}
    for actor, address in (
        ("sup-kim", "kim@demo-clinic.test"),
        ("po-diaz", "diaz@demo-clinic.test"),
    ):
        [msg] = mail.to(address)
        code = code_in(msg)
        assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code)  # 80 bits
        assert code not in msg["Subject"]
        assert hashes[actor] == hash_code(inp.salt, code)
        # On a line of its own, whole in the raw message as well as decoded (a quoted-printable
        # soft break inside it would make it unreadable to anyone looking at the source).
        assert f"    {code}" in msg.get_content().splitlines()
        assert code in msg.as_string()
        due = next(line for line in msg.get_content().splitlines() if "is due by" in line)
        assert re.search(r"\d{1,2}:\d\d [AP]M P[SD]T\.$", due), due
        codes[actor] = code
    assert codes["sup-kim"] != codes["po-diaz"]
    returned = repr(hashes)
    assert not any(code in returned for code in codes.values())


async def test_retried_code_issue_resends_the_same_codes_and_hashes(smtp, mail):
    approvals = ApprovalActivities(SECRET, notices_for(smtp))
    inp = codes_input()

    first = await ActivityEnvironment().run(approvals.issue_approval_codes, inp)
    retry = await ActivityEnvironment().run(approvals.issue_approval_codes, inp)

    assert first == retry
    sent = mail.to("kim@demo-clinic.test")
    assert len(sent) == 2
    assert code_in(sent[0]) == code_in(sent[1])
    assert str(sent[0]["Message-ID"]) == str(sent[1]["Message-ID"])


async def test_codes_differ_between_tasks_and_between_secrets(smtp, mail):
    notices = notices_for(smtp)
    one = await ActivityEnvironment().run(
        ApprovalActivities(SECRET, notices).issue_approval_codes, codes_input()
    )
    other_task = await ActivityEnvironment().run(
        ApprovalActivities(SECRET, notices).issue_approval_codes, codes_input(task_id="release-2")
    )
    other_secret = await ActivityEnvironment().run(
        ApprovalActivities(b"another-secret-abcdefghijk", notices).issue_approval_codes,
        codes_input(),
    )

    assert one["sup-kim"] != other_task["sup-kim"]
    assert one["sup-kim"] != other_secret["sup-kim"]


def test_short_approval_secret_is_refused(smtp):
    with pytest.raises(ValueError):
        ApprovalActivities(b"too-short", notices_for(smtp))


async def test_a_refused_approver_is_skipped_and_the_others_still_get_codes(smtp, mail):
    mail.script["diaz@demo-clinic.test"] = ["550 5.1.1 <diaz@demo-clinic.test> no such user"]

    hashes = await ActivityEnvironment().run(
        ApprovalActivities(SECRET, notices_for(smtp)).issue_approval_codes, codes_input()
    )

    assert set(hashes) == {"sup-kim"}
    assert hashes["sup-kim"] == hash_code("salt-4242", code_in(mail.to("kim@demo-clinic.test")[0]))


async def test_a_transient_refusal_of_an_approver_still_fails_the_activity_for_retry(smtp, mail):
    mail.script["diaz@demo-clinic.test"] = ["451 4.3.0 try again later"]

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            ApprovalActivities(SECRET, notices_for(smtp)).issue_approval_codes, codes_input()
        )

    assert caught.value.non_retryable is False
    assert "diaz@demo-clinic.test" not in as_sent_to_temporal(caught.value)


def staff_notice_input() -> StaffNoticeInput:
    return StaffNoticeInput(
        case_id="demo-clinic.F-1",
        step="c1-risk_assessment.overdue3",
        subject="Confide: task OVERDUE (ref demo-clinic.F-1)",
        body="Task: Risk assessment\n",
        recipients=[
            StaffAddress(recipient_key="staff-dr-lee", to="lee@demo-clinic.test"),
            StaffAddress(recipient_key="staff-sup-kim", to="kim@demo-clinic.test"),
            StaffAddress(recipient_key="staff-po-diaz", to="diaz@demo-clinic.test"),
        ],
    )


async def test_a_staff_notice_retried_after_trouble_reaches_each_person_once(smtp, mail):
    sink = mail
    sink.script["kim@demo-clinic.test"] = ["421 try again later"]
    sink.script["diaz@demo-clinic.test"] = ["550 no such mailbox"]
    acts = notices_for(smtp)
    first = ActivityEnvironment()
    beats: list = []
    first.on_heartbeat = lambda *details: beats.append(details)
    with pytest.raises(ApplicationError) as e:
        await first.run(acts.send_staff_notice, staff_notice_input())
    assert not e.value.non_retryable  # a deferral: the activity retries
    assert len(sink.to("lee@demo-clinic.test")) == 1
    # The retry, as Temporal runs it, sees the last heartbeat: Lee is not sent to again.
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, heartbeat_details=list(beats[-1]), attempt=2)
    receipts = await retry.run(acts.send_staff_notice, staff_notice_input())
    assert len(sink.to("lee@demo-clinic.test")) == 1
    assert len(sink.to("kim@demo-clinic.test")) == 1
    # A permanent refusal leaves that person out without failing the others.
    assert not sink.to("diaz@demo-clinic.test")
    assert sorted(receipts) == ["staff-dr-lee", "staff-sup-kim"]
    assert receipts["staff-sup-kim"].message_id == message_id(
        "demo-clinic.F-1", "c1-risk_assessment.overdue3", "staff-sup-kim"
    )


async def test_a_retry_does_not_resend_what_the_server_accepted(smtp, mail, ledger):
    """The sent log (ledger database): a retried send after the server's 250 returns the first
    receipt and sends nothing; another recipient of the same step is still sent."""
    ctl, _ = smtp
    acts = NoticeActivities(
        SmtpSettings(host="127.0.0.1", port=ctl.port, timeout_seconds=10), SentLog(ledger.engine)
    )
    env = ActivityEnvironment()
    first = await env.run(acts.send_notice, notice("casey@example.org"))
    again = await env.run(acts.send_notice, notice("casey@example.org"))
    assert again == first
    assert len(mail.to("casey@example.org")) == 1
    await env.run(acts.send_notice, notice("pat@example.org", recipient_key="victim-1"))
    assert len(mail.to("pat@example.org")) == 1
