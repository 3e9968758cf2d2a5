"""One-time approval codes: derived, e-mailed to the approver's roster address, stored hashed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notify import PERMANENT, NoticeActivities, SendNoticeInput
from domain.clinic import ESCALATION_ORDER, ROLE_WORDS, Clinic, StaffMember
from domain.forms import TaskKind
from domain.notices import approval_code_notice
from domain.tasks import hash_code

log = structlog.get_logger("confide.approvals")


def derive_code(secret: bytes, case_id: str, task_id: str, actor: str) -> str:
    """The code for one approver: 80 bits as four groups of base32 (XXXX-XXXX-XXXX-XXXX).

    Derived, not random, so a retried activity re-sends the same code instead of
    invalidating the one already delivered. 80 bits because its salted hash sits in
    workflow history, which anyone with Web UI access can decrypt: a short numeric code
    would fall to brute force in seconds. A pure function of the secret, so the HTTP API
    (which holds the same secret) can fill in the code for an authenticated user.
    """
    mac = hmac.new(secret, f"{case_id}|{task_id}|{actor}".encode(), hashlib.sha256)
    raw = base64.b32encode(mac.digest()[:10]).decode()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


class IssueCodesInput(BaseModel):
    """Who gets a code for which task; the workflow supplies the salt for the stored hashes."""

    case_id: str
    task_id: str
    salt: str
    due_at: datetime
    clinic: Clinic
    approvers: list[StaffMember]
    # What the e-mail says of the decision: its kind, title and choices (in words there), and
    # the workflow where it is answered. Absent in histories recorded before they were added.
    kind: TaskKind | None = None
    title: str = ""
    choices: list[str] = []
    workflow_id: str = ""


class ApprovalActivities:
    """Issues approval codes with a server-side secret the workflow never sees."""

    def __init__(self, secret: bytes, notices: NoticeActivities) -> None:
        if len(secret) < 16:
            raise ValueError("the approval-code secret must be at least 16 bytes")
        self._secret = secret
        self._notices = notices

    def code_for(self, case_id: str, task_id: str, actor: str) -> str:
        """The code one approver is e-mailed for one task (see `derive_code`)."""
        return derive_code(self._secret, case_id, task_id, actor)

    @activity.defn(name="issue_approval_codes")
    async def issue_approval_codes(self, inp: IssueCodesInput) -> dict[str, str]:
        """E-mail each approver their code; return only {actor: salted hash}. The workflow runs
        it as a local activity where it can (workflows/mail.py `issue_codes`), so its e-mails
        and the hashes cost the history one marker.

        An approver whose address the mail server refuses permanently is left out (and
        logged) rather than failing the others: the decision escalates to the next role anyway.
        Transient trouble still fails the activity, so it retries.
        """
        hashes: dict[str, str] = {}
        for person in inp.approvers:
            code = self.code_for(inp.case_id, inp.task_id, person.id)
            notice = approval_code_notice(
                inp.clinic,
                inp.case_id,
                inp.task_id,
                code,
                inp.due_at,
                actor=person.id,
                kind=inp.kind,
                title=inp.title,
                choices=inp.choices,
                workflow_id=inp.workflow_id,
                links=_links(inp, person),
            )
            try:
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
            except ApplicationError as e:
                if e.type != PERMANENT:
                    raise
                log.warning("approval code not delivered", task_id=inp.task_id, approver=person.id)
                continue
            hashes[person.id] = hash_code(inp.salt, code)
        return hashes


def _links(inp: IssueCodesInput, person: StaffMember) -> list[str]:
    """Where the approver decides: the task's page and their own work lists (when the case's
    clinic snapshot has links, see domain.clinic.StaffLinks)."""
    links = inp.clinic.links
    if links is None or not inp.workflow_id:
        return []
    return [
        f"Open the task: {links.workflow(inp.workflow_id)}",
        *(
            f"Work waiting on the {ROLE_WORDS[role]}: {links.work_list(inp.clinic.id, role)}"
            for role in person.roles
            if role in ESCALATION_ORDER[1:]
        ),
    ]
