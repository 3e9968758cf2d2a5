"""An SMTP server for fault tests: counts every DATA it accepts, per (recipient, Message-ID),
never deduplicating, can be stopped and started again on the same port (a mail outage), and can
call back at the two moments a crash matters (message taken, reply read by the client)."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from aiosmtpd.controller import Controller

from harness.mail import MailSink
from harness.runtime import free_port


@dataclass(frozen=True)
class Arrival:
    """One message as one recipient got it."""

    at: float  # time.time()
    recipient: str
    message_id: str
    subject: str


class CountingSink(MailSink):
    """MailSink (keeps every message, `script` refuses per recipient) that also counts every
    accepted DATA per (recipient, Message-ID). A resent message with the same Message-ID is
    counted again: this server does what a plain relay does, it does not deduplicate.

    `on_data(recipients, message_id)` runs after the message is taken and before the 250 reply
    (a crash of the sender here is the window no client can close: the server has the
    message, the client does not know). `on_quit()` runs when the client sends QUIT, i.e. after
    it read the 250 (a crash here is a crash after a send the client knew had succeeded).
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()
        self.arrivals: list[Arrival] = []
        self.on_data: Callable[[list[str], str], None] | None = None
        self.on_quit: Callable[[], None] | None = None
        # Messages of sessions that have not said QUIT: the client may not have read the 250.
        self._unacked: dict[object, list[tuple[str, str]]] = {}

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        mid = str(msg["Message-ID"] or "")
        rcpts = list(envelope.rcpt_tos)
        now = time.time()
        with self._lock:
            self.messages.append(msg)
            self.envelopes.append((envelope.mail_from, rcpts))
            self.recipients.update(rcpts)
            for r in rcpts:
                self.counts[(r, mid)] += 1
                self.arrivals.append(Arrival(now, r, mid, str(msg["Subject"] or "")))
                self._unacked.setdefault(session, []).append((r, mid))
        if self.on_data is not None:
            self.on_data(rcpts, mid)
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802
        if self.on_quit is not None:
            self.on_quit()
        with self._lock:
            self._unacked.pop(session, None)
        return "221 Bye"

    def unacknowledged(self) -> set[tuple[str, str]]:
        """(recipient, Message-ID) of messages taken in sessions that never said QUIT (yet): a
        sender that crashed then cannot have known for sure that they arrived (RFC 1047), so
        sending them again is the only safe thing it can do. A client sends QUIT only after
        it read the 250 for its message."""
        with self._lock:
            return {k for pairs in self._unacked.values() for k in pairs}

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(recipient, Message-ID) pairs received more than once, with their counts."""
        with self._lock:
            return {k: n for k, n in self.counts.items() if n > 1}

    def received(self, recipient: str, message_id: str) -> int:
        with self._lock:
            return self.counts[(recipient, message_id)]

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def first_arrival(self, recipient: str, subject_has: str) -> Arrival | None:
        with self._lock:
            return next(
                (a for a in self.arrivals if a.recipient == recipient and subject_has in a.subject),
                None,
            )


class SmtpServer:
    """A real SMTP server on a fixed port that can go down (connection refused) and come back."""

    def __init__(self, sink: CountingSink, port: int | None = None) -> None:
        self.sink = sink
        self.port = port or free_port()
        self._ctl: Controller | None = None

    @property
    def up(self) -> bool:
        return self._ctl is not None

    def start(self) -> None:
        if self._ctl is None:
            ctl = Controller(self.sink, hostname="127.0.0.1", port=self.port)
            ctl.start()
            self._ctl = ctl

    def stop(self) -> None:
        if self._ctl is not None:
            self._ctl.stop()
            self._ctl = None
