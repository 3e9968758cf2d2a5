"""A real SMTP server (aiosmtpd) that keeps what it receives and can refuse on cue."""

from __future__ import annotations

import email
import email.policy
from email.message import Message

from aiosmtpd.controller import Controller

from harness.runtime import free_port


class MailSink:
    """An aiosmtpd handler keeping every message; `refuse` scripts SMTP replies per recipient."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.recipients: set[str] = set()
        # recipient address -> list of SMTP replies to give, in order, before accepting.
        self.script: dict[str, list[str]] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        replies = self.script.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.recipients.update(envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        """Messages delivered to one address."""
        return [m for m in self.messages if m["To"] == address]

    def clear(self) -> None:
        self.messages.clear()
        self.envelopes.clear()
        self.recipients.clear()
        self.script.clear()


def start_smtp(sink: MailSink | None = None) -> tuple[Controller, MailSink]:
    """A real SMTP server on a free port (with this handler, or a new MailSink)."""
    sink = sink if sink is not None else MailSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    ctl.start()
    return ctl, sink
