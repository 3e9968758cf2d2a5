"""E-mail notices over SMTP (aiosmtplib): deterministic Message-IDs, PHI-free failure messages."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum

import aiosmtplib
import structlog
from pydantic import BaseModel, SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.notices import message_id

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


class NoticeReceipt(BaseModel):
    """What the mail server accepted."""

    message_id: str
    sent_at: datetime


class NoticeActivities:
    """Sends notices; holds the SMTP settings it was built with."""

    def __init__(self, smtp: SmtpSettings) -> None:
        self._smtp = smtp

    @activity.defn(name="send_notice")
    async def send_notice(self, inp: SendNoticeInput) -> NoticeReceipt:
        """Send one notice. 4xx and connection trouble retry; a 5xx refusal is permanent.

        Failure messages carry the SMTP code only: the server's own text may echo the address.
        """
        return await deliver(self._smtp, compose(self._smtp, inp), inp)

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
        for r in inp.recipients:
            if r.recipient_key in done:
                continue
            one = SendNoticeInput(
                case_id=inp.case_id,
                step=inp.step,
                recipient_key=r.recipient_key,
                to=r.to,
                subject=inp.subject,
                body=inp.body,
            )
            try:
                done[r.recipient_key] = await deliver(self._smtp, compose(self._smtp, one), one)
            except ApplicationError as e:
                if e.type != PERMANENT:
                    raise
                continue
            activity.heartbeat({k: v.model_dump(mode="json") for k, v in done.items()})
        return done


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
    smtp: SmtpSettings, msg: EmailMessage, inp: SendNoticeInput, *, what: str = "notice"
) -> NoticeReceipt:
    """Hand one message to the mail server; SMTP trouble becomes a PHI-free ApplicationError
    (4xx and connection trouble retry, a 5xx refusal is permanent). `what` names it in logs."""
    try:
        await aiosmtplib.send(msg, **smtp.connection())  # type: ignore[arg-type]
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
    log.info(
        f"{what} sent",
        step=inp.step,
        recipient_key=inp.recipient_key,
        message_id=msg["Message-ID"],
    )
    return NoticeReceipt(message_id=msg["Message-ID"], sent_at=datetime.now(UTC))


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
