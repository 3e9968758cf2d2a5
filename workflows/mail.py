"""Workflow-side calls to the notice, approval-code and ledger activities, with one retry policy.

SMTP trouble retries with backoff for about a quarter of an hour; after that, or at once on a
permanent refusal, the caller gets DeliveryFailed and turns it into a human task.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.approvals import ApprovalActivities, IssueCodesInput
    from activities.ledger import LedgerActivities
    from activities.notify import (
        NoticeActivities,
        NoticeReceipt,
        SendNoticeInput,
        StaffAddress,
        StaffNoticeInput,
    )
    from domain.clinic import Clinic, Role
    from domain.notices import Notice, ledger_failing_notice, staff_notice
    from domain.records import Disclosure, NoticeRecord

MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=12,
)
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=15,
)
LEDGER_RETRY_PAUSE = timedelta(hours=1)


# A staff notice to several people is one activity (send_staff_notice), where one send_notice
# per person, one after another, cost three events and a workflow task each. An overdue round
# pages three people, so this more than halves what an abandoned task adds to its history.
# Runs that sent staff notices one by one before this change replay as recorded
# (workflow.patched keeps a run on the path it started on).
STAFF_AT_ONCE = "staff-notices-at-once"


class DeliveryFailed(Exception):
    """The notice could not be delivered by e-mail (refused, or retries exhausted)."""


async def send(
    case_id: str,
    step: str,
    recipient_key: str,
    to: str,
    notice: Notice,
    reply_to: str | None = None,
) -> NoticeReceipt:
    """Send one notice through the send_notice activity."""
    try:
        return await workflow.execute_activity_method(
            NoticeActivities.send_notice,
            SendNoticeInput(
                case_id=case_id,
                step=step,
                recipient_key=recipient_key,
                to=to,
                subject=notice.subject,
                body=notice.body,
                reply_to=reply_to,
            ),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=MAIL_RETRY,
        )
    except ActivityError as e:
        raise DeliveryFailed(str(e.cause) if e.cause else "delivery failed") from None


async def tracked(
    notices: list[NoticeRecord],
    step: str,
    recipient_key: str,
    recipient_role: str,
    sending: Awaitable[NoticeReceipt],
) -> NoticeRecord:
    """Await a sending and keep its record in `notices` (the case view's notifications):
    "sent" with its Message-ID, or "refused" and DeliveryFailed raised for the caller's
    fallback (a task to deliver it another way)."""
    record = NoticeRecord(
        step=step,
        recipient_key=recipient_key,
        recipient_role=recipient_role,
        channel="email",
        status="sending",
    )
    notices.append(record)
    try:
        receipt = await sending
    except (DeliveryFailed, ActivityError):
        record.status = "refused"
        raise DeliveryFailed("not delivered") from None
    record.message_id, record.sent_at, record.status = receipt.message_id, receipt.sent_at, "sent"
    return record


async def tell_staff(
    case_id: str,
    clinic: Clinic,
    step: str,
    roles: list[Role],
    notice: Notice | str,
    lines: list[str] | None = None,
    only: list[str] | None = None,
) -> None:
    """E-mail everyone with these roles (or only these staff ids) a notice rendered by
    domain.notices (or a headline and sentences, for domain.notices.staff_notice). Best effort:
    a failed staff message must not stop a mandated step, so failures are logged, not raised."""
    if not isinstance(notice, Notice):
        notice = staff_notice(clinic, case_id, notice, lines or [])
    people = [s for s in clinic.staff if set(s.roles) & set(roles)]
    if only is not None:
        people = [s for s in clinic.staff if s.id in only]

    if len(people) > 1 and workflow.patched(STAFF_AT_ONCE):
        try:
            await workflow.execute_activity_method(
                NoticeActivities.send_staff_notice,
                StaffNoticeInput(
                    case_id=case_id,
                    step=step,
                    subject=notice.subject,
                    body=notice.body,
                    recipients=[
                        StaffAddress(recipient_key=f"staff-{p.id}", to=p.email) for p in people
                    ],
                ),
                start_to_close_timeout=timedelta(seconds=60 + 20 * len(people)),
                retry_policy=MAIL_RETRY,
            )
        except ActivityError:
            workflow.logger.warning("staff notice not delivered", extra={"step": step})
        return
    for person in people:
        try:
            await send(case_id, step, f"staff-{person.id}", person.email, notice)
        except DeliveryFailed:
            workflow.logger.warning("staff notice not delivered", extra={"step": step})


async def issue_codes(inp: IssueCodesInput, *, local: bool = False) -> dict[str, str]:
    """Have approval codes e-mailed; returns {actor: salted hash}.

    `local`: as a local activity first (one marker event inside the workflow task that opened
    the task, instead of three events and a workflow task of their own), on a short leash: if
    the mail server is slow or down, the regular activity and its retries take over. A retry
    re-sends the same codes (they are derived), so nothing already delivered goes stale.
    """
    if local:
        try:
            return await workflow.execute_local_activity_method(
                ApprovalActivities.issue_approval_codes,
                inp,
                start_to_close_timeout=timedelta(seconds=10),
                schedule_to_close_timeout=timedelta(seconds=20),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except FailureError:
            # Any failure of the local attempt, not only ActivityError: one whose attempts run
            # out reaches the workflow as the activity's own ApplicationError, unwrapped (seen
            # with the mail server down, tests/chaos/test_mail_down.py), and must fall back too.
            pass
    return await workflow.execute_activity_method(
        ApprovalActivities.issue_approval_codes,
        inp,
        start_to_close_timeout=timedelta(seconds=120),
        retry_policy=MAIL_RETRY,
    )


async def record(d: Disclosure, clinic: Clinic, *, local: bool = False) -> None:
    """Append a disclosure to the ledger, until the database takes it. The disclosure has
    happened, so the record must follow; while the database refuses, the privacy officer is
    told (once, then daily), never left to find out in an audit.

    `local`: as a local activity (one marker event, inside the workflow task that decided it,
    instead of three events and a workflow task of their own): a single insert that takes
    milliseconds. Cases of history version 2 use it; older histories replay as recorded.
    """
    failures = 0
    while True:
        try:
            if local:
                try:
                    # A short leash: a local activity retrying for minutes holds its workflow
                    # task open and costs events all the while. If the database is down, fall
                    # back to the regular activity (and its hourly alert loop) below.
                    await workflow.execute_local_activity_method(
                        LedgerActivities.record_disclosure,
                        d,
                        start_to_close_timeout=timedelta(seconds=10),
                        schedule_to_close_timeout=timedelta(seconds=20),
                        retry_policy=RetryPolicy(maximum_attempts=3),
                    )
                    return
                except FailureError:  # unwrapped too: see issue_codes
                    local = False
                    continue
            else:
                await workflow.execute_activity_method(
                    LedgerActivities.record_disclosure,
                    d,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=LEDGER_RETRY,
                )
            return
        except ActivityError:
            if failures % 24 == 0:
                await tell_staff(
                    d.case_id,
                    clinic,
                    f"{d.step}.{d.recipient_key}.ledger{failures}",
                    [Role.privacy_officer],
                    ledger_failing_notice(clinic, d.case_id),
                )
            failures += 1
            await workflow.sleep(LEDGER_RETRY_PAUSE)
