"""The dev stack's SMTP server: keeps every message under a folder as an .eml file.

Files are named by time and Message-ID hash, so a retried send of the same notice (same
Message-ID) overwrites its earlier copy instead of adding a second one.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller


class FolderHandler:
    """aiosmtpd handler writing each message to `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        msg = message_from_bytes(envelope.content, policy=policy.default)
        msgid = msg.get("Message-ID") or datetime.now(UTC).isoformat()
        token = hashlib.sha256(msgid.encode()).hexdigest()[:16]
        existing = list(self.folder.glob(f"*-{token}.eml"))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        to = re.sub(r"[^A-Za-z0-9@._-]", "_", ",".join(envelope.rcpt_tos))[:80]
        path = existing[0] if existing else self.folder / f"{stamp}-{to}-{token}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start_mail_sink(folder: Path, port: int, host: str = "127.0.0.1") -> Controller:
    """Start the SMTP server in its own thread; call .stop() to end it."""
    controller = Controller(FolderHandler(folder), hostname=host, port=port)
    controller.start()
    return controller
