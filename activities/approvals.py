"""One-time approval codes: derived, e-mailed to the approver's roster address, stored hashed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from pydantic import BaseModel
from temporalio import activity

from activities.notify import NoticeActivities, SendNoticeInput
from domain.clinic import Clinic, StaffMember
from domain.notices import approval_code_notice
from domain.tasks import hash_code


class IssueCodesInput(BaseModel):
    """Who gets a code for which task; the workflow supplies the salt for the stored hashes."""

    case_id: str
    task_id: str
    salt: str
    due_at: datetime
    clinic: Clinic
    approvers: list[StaffMember]


class ApprovalActivities:
    """Issues approval codes with a server-side secret the workflow never sees."""

    def __init__(self, secret: bytes, notices: NoticeActivities) -> None:
        if len(secret) < 16:
            raise ValueError("the approval-code secret must be at least 16 bytes")
        self._secret = secret
        self._notices = notices

    def code_for(self, case_id: str, task_id: str, actor: str) -> str:
        """The code for one approver. Derived, not random, so a retried activity re-sends the
        same code instead of invalidating the one already delivered."""
        mac = hmac.new(self._secret, f"{case_id}|{task_id}|{actor}".encode(), hashlib.sha256)
        return f"{int.from_bytes(mac.digest()[:8], 'big') % 10**8:08d}"

    @activity.defn(name="issue_approval_codes")
    async def issue_approval_codes(self, inp: IssueCodesInput) -> dict[str, str]:
        """E-mail each approver their code; return only {actor: salted hash}."""
        hashes: dict[str, str] = {}
        for person in inp.approvers:
            code = self.code_for(inp.case_id, inp.task_id, person.id)
            notice = approval_code_notice(inp.clinic, inp.case_id, inp.task_id, code, inp.due_at)
            await self._notices.send_notice(
                SendNoticeInput(
                    case_id=inp.case_id,
                    step=f"{inp.task_id}.code",
                    recipient_key=f"staff-{person.id}",
                    to=person.email,
                    subject=notice.subject,
                    body=notice.body,
                )
            )
            hashes[person.id] = hash_code(inp.salt, code)
        return hashes
