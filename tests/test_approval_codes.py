"""Approval codes (issue 12): every decision and personal duty asks for the actor's e-mailed
code; five wrong codes lock the task and alert the privacy officers, whose recorded decision
alone unlocks it; a used code cannot be used again. Codes are read from the e-mails, as the
people they are for read them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowUpdateFailedError

from audit.replay import replay_histories
from domain.flags import Flag
from domain.tasks import MAX_CODE_TRIES, TaskCompletion
from intake.cases import start_case
from tests.conftest import make_worker
from tests.support import (
    ROOT,
    code_from_mail,
    demo_clinic,
    eventually,
    flag_body,
    task_of,
)
from workflows.task_board import CODES_FOR_DECISIONS

LEE, KIM, DIAZ = "lee@demo-clinic.test", "kim@demo-clinic.test", "diaz@demo-clinic.test"
THREAT = {"serious_threat": True, "identifiable_victims": True, "imminent": True}
NO_THREAT = {"serious_threat": False, "identifiable_victims": False, "imminent": False}
WRONG = "AAAA-BBBB-CCCC-DDDD"
RESULT = ROOT / "var" / "reliability" / "approval_lockout.json"


async def answer(handle, task, actor: str, code: str | None, **kw):
    return await handle.execute_update(
        "complete_task", TaskCompletion(task_id=task.task_id, actor=actor, code=code, **kw)
    )


async def refused(handle, task, actor: str, code: str | None, **kw) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await answer(handle, task, actor, code, **kw)
    return str(getattr(err.value.cause, "message", err.value.cause))


async def test_five_wrong_codes_lock_the_task_until_the_privacy_officer_unlocks_it(
    ts_env, smtp, mail, ledger, task_queue
):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id="LOCK-1"))
    sent = 0
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await task_of(started.handle, "risk_assessment")
        concern = client.get_workflow_handle(task.workflow_id)
        assert task.requires_code, "a risk assessment decides whether the duty applies"
        code = await code_from_mail(mail, LEE, task.task_id)
        assert not [m for m in mail.to(KIM) + mail.to(DIAZ) if task.task_id in m.get_content()]

        # A missing code is refused by the validator: nothing is counted.
        assert "needs the approval code" in await refused(
            concern, task, "dr-lee", None, data=THREAT
        )
        # Each wrong code is counted and refused with what to do and the tries left.
        for n in range(1, MAX_CODE_TRIES):
            message = await refused(concern, task, "dr-lee", WRONG, data=THREAT)
            sent += 1
            left = MAX_CODE_TRIES - n
            assert f"({left} tr{'y remains' if left == 1 else 'ies remain'} before" in message
            assert "copy the code from that e-mail" in message and WRONG not in message
        counted = await task_of(concern, "risk_assessment")
        assert counted.wrong_codes == MAX_CODE_TRIES - 1 and not counted.locked
        assert [t.actor for t in counted.failed_tries] == ["dr-lee"] * (MAX_CODE_TRIES - 1)
        assert WRONG not in counted.model_dump_json()

        # The fifth locks it.
        message = await refused(concern, task, "dr-lee", WRONG, data=THREAT)
        sent += 1
        assert "the task is now locked" in message and "privacy officer" in message
        locked = await task_of(concern, "risk_assessment")
        assert locked.locked and locked.unlock_task_id == f"{task.task_id}-unlock1"
        # The case's view (the API's, the work list's) shows it locked too.
        assert (await task_of(started.handle, "risk_assessment")).locked

        # Locked: even the right code is refused, and not counted.
        assert "is locked after 5 wrong approval codes" in await refused(
            concern, task, "dr-lee", code, data=THREAT
        )
        sent += 1
        assert (await task_of(concern, "risk_assessment")).wrong_codes == MAX_CODE_TRIES

        # The privacy officer is told: no patient data in the subject, who and when in the body.
        alert = await eventually(
            lambda: [m for m in mail.to(DIAZ) if "Task locked" in m["Subject"]]
        )
        subject, body = alert[0]["Subject"], alert[0].get_content()
        assert started.case_id in subject
        for phi in ("Jordan", "Example", "Casey", "Rivera", "coworker"):
            assert phi not in subject and phi not in body
        assert "dr-lee" in body and locked.unlock_task_id in body and WRONG not in body

        # Only the privacy officer's recorded decision, with their own code, unlocks it.
        unlock = await task_of(concern, "unlock_task")
        assert unlock.task_id == locked.unlock_task_id and unlock.requires_code
        assert unlock.allowed_roles == ["privacy_officer"] and unlock.unlocks == task.task_id
        diaz_code = await code_from_mail(mail, DIAZ, unlock.task_id)
        assert "needs the role privacy_officer" in await refused(
            concern, unlock, "dr-lee", code, data={"reason": "it was me"}
        )
        await answer(
            concern, unlock, "po-diaz", diaz_code, data={"reason": "Dr. Lee mistyped; verified"}
        )
        reopened = await eventually(
            lambda: _unlocked(concern),
        )
        assert reopened.wrong_codes == 0 and len(reopened.failed_tries) == MAX_CODE_TRIES

        # Unlocked: the assessor's own code completes it, and the case goes on.
        await answer(concern, task, "dr-lee", code, data=NO_THREAT)
        result = await started.handle.result()
        histories = [
            await started.handle.fetch_history(),
            await concern.fetch_history(),
        ]
    assert result.status == "closed"
    # The case's histories, with the refused Updates and the lock, replay on today's code.
    assert {error for _, error in await replay_histories(histories)} == {None}
    concern_events = histories[1].events
    refusals = [
        e
        for e in concern_events
        if e.HasField("workflow_execution_update_completed_event_attributes")
        and e.workflow_execution_update_completed_event_attributes.outcome.HasField("failure")
    ]
    assert len(refusals) == MAX_CODE_TRIES, "each wrong code is on record, nothing more"
    # History version 4: codes by the case's version (no patch marker), each issue one
    # local-activity marker, not an activity and a workflow task.
    markers = [
        e.marker_recorded_event_attributes.SerializeToString()
        for e in concern_events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert any(b"issue_approval_codes" in m for m in markers)
    assert not any(CODES_FOR_DECISIONS.encode() in m for m in markers)
    assert not [
        e
        for e in concern_events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "issue_approval_codes"
    ]
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(
        json.dumps(
            {
                "name": "approval_lockout",
                "fault": "wrong approval codes sent for one task (a guessed or mistyped code)",
                "times": f"{sent} completions with a wrong or locked-out code on one task",
                "checked": [
                    "each of the first 4 wrong codes refused with the tries left, and counted "
                    "on the task (who and when, never the code)",
                    "the 5th locks the task; the right code is then refused too",
                    "the privacy officer is e-mailed (no patient data in the subject or body)",
                    "only the privacy officer's coded decision unlocks it; then the assessor's "
                    "own code completes it and the case closes",
                    "the histories, refusals included, replay on today's code",
                ],
                "result": (
                    f"locked at wrong code {MAX_CODE_TRIES}; {len(refusals)} refusals on record; "
                    "unlocked by po-diaz's recorded decision; case closed; replay clean"
                ),
                "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            indent=1,
        )
        + "\n"
    )


async def _unlocked(handle):
    task = await task_of(handle, "risk_assessment")
    return task if not task.locked else None


async def test_a_used_code_cannot_be_used_again(ts_env, smtp, mail, ledger, task_queue):
    client = ts_env.client
    flag = Flag.model_validate(flag_body(flag_id="REUSE-1", jurisdiction="US-TX"))
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_case(client, task_queue, flag, demo_clinic())
        task = await task_of(started.handle, "risk_assessment")
        concern = client.get_workflow_handle(task.workflow_id)
        code = await code_from_mail(mail, LEE, task.task_id)
        await answer(concern, task, "dr-lee", code, data=THREAT)

        # The same task again, with the same code: it is closed.
        again = await refused(concern, task, "dr-lee", code, data=THREAT)
        assert f"task {task.task_id} is already done" in again

        # Another task of the same case (the supervisor's release decision), with the used
        # code: not that task's code; counted there like any wrong code.
        decision = await task_of(concern, "release_decision")
        other = await refused(
            concern,
            decision,
            "sup-kim",
            code,
            outcome="approve",
            data={"actions": ["notify_law_enforcement"], "reason": "imminent"},
        )
        assert f"not the one e-mailed to sup-kim for task {decision.task_id}" in other
        assert (await task_of(concern, "release_decision")).wrong_codes == 1
        # Nor does the assessor's used code work for the assessor on another task.
        follow = await refused(
            concern,
            decision,
            "dr-lee",
            code,
            outcome="approve",
            data={"actions": ["notify_law_enforcement"], "reason": "imminent"},
        )
        assert "needs the role supervisor" in follow
        # The supervisor's own code for it does.
        kim = await code_from_mail(mail, KIM, decision.task_id)
        await answer(
            concern,
            decision,
            "sup-kim",
            kim,
            outcome="approve",
            data={"actions": ["notify_law_enforcement"], "reason": "imminent"},
        )
        assert "already done" in await refused(
            concern,
            decision,
            "sup-kim",
            kim,
            outcome="approve",
            data={"actions": ["notify_law_enforcement"], "reason": "imminent"},
        )
