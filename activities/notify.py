"""E-mail notices over SMTP (aiosmtplib): deterministic Message-IDs, PHI-free failure messages."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum

import aiosmtplib
import structlog
from pydantic import BaseModel, SecretStr
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.notices import message_id
from infra.sent_log import sent_notices

PERMANENT = "PermanentDeliveryFailure"
log = structlog.get_logger("confide.notify")


class SmtpTls(StrEnum):
    """How the connection to the relay is protected (CONFIDE_SMTP_TLS)."""

    starttls = "starttls"  # plain connect, then STARTTLS is required (port 587)
    implicit = "implicit"  # TLS from the first byte (port 465)
    none = "none"  # plain SMTP: the dev stack's local sink only


class SmtpSettings(BaseModel):
    """Where and as whom to send mail."""

    host: str = "127.0.0.1"
    port: int = 1025
    sender: str = "confide@localhost"
    timeout_seconds: float = 20.0
    tls: SmtpTls = SmtpTls.none
    username: str | None = None
    password: SecretStr | None = None
    # A CA bundle for a relay whose certificate a private CA signed (else the system's CAs).
    ca_file: str | None = None

    def connection(self) -> dict[str, object]:
        """aiosmtplib's connection arguments. STARTTLS is demanded, not opportunistic, where
        TLS is asked for (a relay that does not offer it fails the send), and switched off
        explicitly for "none" (aiosmtplib would otherwise upgrade whenever offered)."""
        context = None
        if self.tls != SmtpTls.none:
            context = ssl.create_default_context(cafile=self.ca_file)
        return {
            "hostname": self.host,
            "port": self.port,
            "timeout": self.timeout_seconds,
            "use_tls": self.tls == SmtpTls.implicit,
            "start_tls": self.tls == SmtpTls.starttls,
            "tls_context": context,
            "username": self.username,
            "password": self.password.get_secret_value() if self.password else None,
        }


class SendNoticeInput(BaseModel):
    """One e-mail: the (case, step, recipient) triple fixes its Message-ID."""

    case_id: str
    step: str
    recipient_key: str
    to: str
    subject: str
    body: str
    reply_to: str | None = None


class StaffAddress(BaseModel):
    """One member of staff a notice goes to."""

    recipient_key: str
    to: str


class StaffNoticeInput(BaseModel):
    """One staff notice (no PHI beyond the case id) to several members of staff at once."""

    case_id: str
    step: str
    subject: str
    body: str
    recipients: list[StaffAddress]

    def each(self) -> list[SendNoticeInput]:
        """The notice as one message per recipient (each its own Message-ID)."""
        return [
            SendNoticeInput(
                case_id=self.case_id,
                step=self.step,
                recipient_key=r.recipient_key,
                to=r.to,
                subject=self.subject,
                body=self.body,
            )
            for r in self.recipients
        ]


class NoticeReceipt(BaseModel):
    """What the mail server accepted."""

    message_id: str
    sent_at: datetime


class SentLog:
    """Which messages the mail server has accepted, by (Message-ID, recipient), in a database
    every worker shares (the ledger's): looked up before a send, written the moment the
    server's 250 is read. A retry of an activity whose worker died after the 250 but before
    Temporal heard of it, or a local activity run again because its workflow task was lost,
    then returns the first receipt instead of sending the message a second time.

    Exactly once is not possible with SMTP alone: a crash after the server took the message and
    before its 250 reached us still sends it again (RFC 1047), with the same Message-ID. The log
    serves delivery, never blocks it: if the database cannot be read the message is sent (a
    lost warning is worse than a repeated one), and if it cannot be written the send stands.
    """

    def __init__(self, engine: Engine) -> None:
        # The table is made by the ledger's migrations (0003), which every worker runs at start.
        self._engine = engine

    def _get(self, message_id: str, to: str) -> datetime | None:
        q = select(sent_notices.c.sent_at).where(
            sent_notices.c.message_id == message_id, sent_notices.c.recipient == to
        )
        with self._engine.connect() as conn:
            at = conn.execute(q).scalar()
        if at is None:
            return None
        return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite drops the offset

    def _put(self, message_id: str, to: str, at: datetime) -> None:
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(sent_notices)
            .values(message_id=message_id, recipient=to, sent_at=at)
            .on_conflict_do_nothing()
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    async def sent_at(self, message_id: str, to: str) -> datetime | None:
        """When the server accepted this message for `to`, if it did; None when unknown."""
        try:
            return await asyncio.to_thread(self._get, message_id, to)
        except SQLAlchemyError as e:
            log.warning("sent log unreadable: sending", error=type(e).__name__)
            return None

    async def mark(self, message_id: str, to: str, at: datetime) -> None:
        try:
            await asyncio.to_thread(self._put, message_id, to, at)
        except SQLAlchemyError as e:
            log.warning("sent log not written", error=type(e).__name__)


class NoticeActivities:
    """Sends notices; holds the SMTP settings it was built with, and the sent log that keeps a
    retry from sending a message the server already accepted (None: no such check)."""

    def __init__(self, smtp: SmtpSettings, sent: SentLog | None = None) -> None:
        self._smtp = smtp
        self._sent = sent

    @activity.defn(name="send_notice")
    async def send_notice(self, inp: SendNoticeInput) -> NoticeReceipt:
        """Send one notice. 4xx and connection trouble retry; a 5xx refusal is permanent.

        Failure messages carry the SMTP code only: the server's own text may echo the address.
        """
        return await deliver(self._smtp, compose(self._smtp, inp), inp, sent=self._sent)

    @activity.defn(name="send_staff_notice")
    async def send_staff_notice(self, inp: StaffNoticeInput) -> dict[str, NoticeReceipt]:
        """Send one staff notice to each recipient; return the receipts by recipient key.

        One activity for all of them, so a round of staff e-mails costs a workflow one
        activity in its history, not one per person. A recipient whose address the server
        refuses permanently is left out (and logged): staff notices are best effort and must
        not stop a mandated step. Transient trouble fails the activity so it retries, and the
        retry skips whoever the heartbeat says already has the message (no duplicates).
        """
        done: dict[str, NoticeReceipt] = {}
        if activity.info().heartbeat_details:
            done = {
                k: NoticeReceipt.model_validate(v)
                for k, v in activity.info().heartbeat_details[0].items()
            }
        for one in inp.each():
            if one.recipient_key in done:
                continue
            receipt = await self._unless_refused(one)
            if receipt is None:
                continue
            done[one.recipient_key] = receipt
            activity.heartbeat({k: v.model_dump(mode="json") for k, v in done.items()})
        return done

    async def _unless_refused(self, one: SendNoticeInput) -> NoticeReceipt | None:
        """Send one staff message; None when the server refuses the address for good (staff
        notices are best effort); transient trouble raises, so the caller retries."""
        try:
            return await deliver(self._smtp, compose(self._smtp, one), one, sent=self._sent)
        except ApplicationError as e:
            if e.type != PERMANENT:
                raise
            return None

    async def send_to_each(self, inp: StaffNoticeInput) -> None:
        """The same staff notice from inside another activity (no heartbeat of its own: the
        caller's is not this one's). Each recipient once: the sent log remembers what the
        server took, so a retry of the caller sends nothing twice. A permanent refusal of one
        address is skipped; transient trouble raises, so the caller retries."""
        for one in inp.each():
            await self._unless_refused(one)


def compose(smtp: SmtpSettings, inp: SendNoticeInput) -> EmailMessage:
    """The text message for one input, with its deterministic Message-ID; a caller may add
    attachments before `deliver`."""
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = inp.to
    msg["Subject"] = inp.subject
    msg["Message-ID"] = message_id(inp.case_id, inp.step, inp.recipient_key)
    msg["Date"] = format_datetime(datetime.now(UTC))
    if inp.reply_to:
        msg["Reply-To"] = inp.reply_to
    msg.set_content(inp.body, cte=transfer_encoding(inp.body))
    return msg


# RFC 5322's limit for a line, less room for its CRLF.
MAX_LINE = 78


def transfer_encoding(body: str) -> str:
    """7bit where the text allows it; quoted-printable otherwise (non-ASCII, or a paragraph
    longer than a mail line). Never base64, which would hide the text from anyone reading the
    message's source, and never 8bit, which not every relay takes. Quoted-printable breaks only
    lines longer than 76 characters, so an approval code on a short line of its own stays whole
    in the raw message too."""
    lines = body.splitlines()
    if body.isascii() and all(len(line) <= MAX_LINE for line in lines):
        return "7bit"
    return "quoted-printable"


async def deliver(
    smtp: SmtpSettings,
    msg: EmailMessage,
    inp: SendNoticeInput,
    *,
    what: str = "notice",
    sent: SentLog | None = None,
) -> NoticeReceipt:
    """Hand one message to the mail server; SMTP trouble becomes a PHI-free ApplicationError
    (4xx and connection trouble retry, a 5xx refusal is permanent). `what` names it in logs.
    With a sent log, a message the server already accepted is not sent again."""
    if sent is not None and (at := await sent.sent_at(msg["Message-ID"], inp.to)) is not None:
        log.info(
            f"{what} already sent",
            step=inp.step,
            recipient_key=inp.recipient_key,
            message_id=msg["Message-ID"],
        )
        return NoticeReceipt(message_id=msg["Message-ID"], sent_at=at)
    # aiosmtplib.send() spelled out, so the sent log is written as soon as the server's 250
    # for the message is read, before the QUIT that follows it.
    client = aiosmtplib.SMTP(**smtp.connection())  # type: ignore[arg-type]
    try:
        try:
            await client.connect()
            await client.send_message(msg)
        except BaseException:
            client.close()
            raise
    except aiosmtplib.SMTPAuthenticationError as e:
        # Our credentials, not the message: retried (an operator fixes the secret and every
        # waiting notice goes out) rather than marking each message permanently refused.
        log.error(f"{what} not sent: the mail server refused our login", smtp_code=e.code)
        raise ApplicationError(
            f"mail server refused our login (SMTP {e.code}); check CONFIDE_SMTP_USERNAME and "
            "CONFIDE_SMTP_PASSWORD",
            type="MailServerLoginRefused",
        ) from None
    except aiosmtplib.SMTPRecipientsRefused as e:
        codes = sorted({r.code for r in e.recipients})
        raise _failure(inp, codes[-1] if codes else 550, what) from None
    except aiosmtplib.SMTPResponseException as e:
        raise _failure(inp, e.code, what) from None
    except (aiosmtplib.SMTPException, OSError) as e:
        raise ApplicationError(
            f"mail server unreachable ({type(e).__name__})", type="MailServerUnreachable"
        ) from None
    at = datetime.now(UTC)
    if sent is not None:
        await sent.mark(msg["Message-ID"], inp.to, at)
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()  # the message was accepted; only the goodbye failed
    log.info(
        f"{what} sent",
        step=inp.step,
        recipient_key=inp.recipient_key,
        message_id=msg["Message-ID"],
    )
    return NoticeReceipt(message_id=msg["Message-ID"], sent_at=at)


def _failure(inp: SendNoticeInput, code: int, what: str) -> ApplicationError:
    log.warning(f"{what} refused", step=inp.step, recipient_key=inp.recipient_key, smtp_code=code)
    if 500 <= code < 600:
        return ApplicationError(
            f"mail server refused the message permanently (SMTP {code})",
            code,
            type=PERMANENT,
            non_retryable=True,
        )
    return ApplicationError(
        f"mail server deferred the message (SMTP {code})", code, type="TransientDeliveryFailure"
    )
