"""Authorizations on the time-skipping server: verified, released on request, stopped by
revocation and by expiry (what went before stays released), held when defective and resumed
when corrected, and a year of monthly releases in bounded history."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.authorization import Authorization, problems
from domain.authorization_case import Correction, ReleaseRequest, Revocation
from intake.cases import start_authorization
from tests.conftest import make_worker
from tests.support import authorization_body, demo_clinic, eventually, task_of
from tests.support import env_now as now
from tests.test_duty_to_warn_workflow import complete
from tests.test_legal_request_workflow import approval_code
from workflows.authorization import AuthorizationWorkflow

RECIPIENT = "park@clinic.test"
VERIFIED = {
    "identity_verified": True,
    "discloser_is_this_clinic": True,
    "method": "photo ID at the front desk",
}


def authorization(today: dt.date, auth_id: str, **overrides) -> tuple[Authorization, list[str]]:
    fields = {
        "signed_at": today.isoformat(),
        "expires_at": (today + timedelta(days=400)).isoformat(),
        **overrides,
    }
    auth = Authorization.model_validate(authorization_body(authorization_id=auth_id, **fields))
    return auth, problems(auth, today)


def expiry_utc(auth: Authorization) -> datetime:
    """The end of the expiry date in the demo clinic's zone."""
    ends = auth.expires(demo_clinic().timezone)
    assert ends is not None
    return ends.astimezone(UTC)


async def approve(client, handle, mail):
    task = await task_of(handle, "release_approval")
    mine = f"approval code for task {task.task_id}:"
    await eventually(lambda: any(mine in m.get_content() for m in mail.to("diaz@demo-clinic.test")))
    await complete(
        client,
        task,
        actor="po-diaz",
        outcome="approve",
        code=approval_code(mail, task.task_id + ":"),
        data={
            "documents": task.choices,
            "redactions_reviewed": any(c in task.choice_notes for c in task.choices),
            "reason": "as authorized",
        },
    )


async def status(client, case_id):
    return await client.get_workflow_handle(case_id).query(AuthorizationWorkflow.status)


async def refused(message: str, attempt) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await attempt
    assert message in str(err.value.cause), err.value.cause


async def test_verified_authorization_releases_until_revoked_and_releases_stand(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    auth, found = authorization((await now(ts_env)).date(), "A-REVOKE")
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_authorization(client, task_queue, auth, found, demo_clinic())
        handle = client.get_workflow_handle_for(AuthorizationWorkflow.run, started.case_id)
        verify = await task_of(handle, "verify_authorization")
        await refused(
            "verified needs data.identity_verified true",
            complete(
                client,
                verify,
                actor="po-diaz",
                outcome="verified",
                data={**VERIFIED, "identity_verified": False},
            ),
        )
        await complete(client, verify, actor="po-diaz", outcome="verified", data=VERIFIED)
        await approve(client, handle, mail)
        await eventually(lambda: len(ledger.for_case(started.case_id)) == 1)
        first = await eventually(lambda: mail.to(RECIPIENT))
        assert "Jordan" not in first[0]["Subject"]

        await handle.execute_update(
            "request_release", ReleaseRequest(requested_by="Dr. Park", note="follow-up visit")
        )
        await approve(client, handle, mail)
        await eventually(lambda: len(ledger.for_case(started.case_id)) == 2)

        # A third request, then the revocation while its approval is open: it never goes.
        await handle.execute_update("request_release", ReleaseRequest(requested_by="Dr. Park"))
        await task_of(handle, "release_approval")
        revoked_at = await now(ts_env)
        await handle.execute_update(
            "revoke", Revocation(received_at=revoked_at, received_by="po-diaz", method="letter")
        )
        final = await handle.result()
    assert final.status == "revoked" and final.authorization.releases_made == 2
    rows = ledger.for_case(started.case_id)
    assert len(rows) == 2 and all(not r.accountable for r in rows)  # 164.528(a)(1)(iv)
    assert all("164.508" in r.legal_basis and "A-REVOKE" in r.legal_basis for r in rows)
    assert {r.recipient_name for r in rows} == {"Dr. Park"}
    released = {d.category for r in rows for d in r.documents}
    assert released == {"assessment"}  # what the authorization describes, nothing more
    assert final.authorization.revocation.received_by == "po-diaz"
    assert len(mail.to(RECIPIENT)) == 2


async def test_expiry_stops_an_open_release_and_ends_the_authorization(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    today = (await now(ts_env)).date()
    auth, found = authorization(
        today, "A-EXPIRE", expires_at=(today + timedelta(days=10)).isoformat()
    )
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_authorization(client, task_queue, auth, found, demo_clinic())
        handle = client.get_workflow_handle_for(AuthorizationWorkflow.run, started.case_id)
        await complete(
            client,
            await task_of(handle, "verify_authorization"),
            actor="sup-kim",
            outcome="verified",
            data=VERIFIED,
        )
        await approve(client, handle, mail)
        await eventually(lambda: len(ledger.for_case(started.case_id)) == 1)
        await handle.execute_update("request_release", ReleaseRequest(requested_by="Dr. Park"))
        await task_of(handle, "release_approval")
        # Nobody approves; the authorization expires at the end of its date (clinic zone).
        await ts_env.sleep(expiry_utc(auth) - await now(ts_env) + timedelta(minutes=1))
        final = await handle.result()
    assert final.status == "expired" and final.tasks == []
    assert final.authorization.releases_made == 1 and len(ledger.for_case(started.case_id)) == 1


async def test_defective_authorization_waits_on_hold_and_a_correction_resumes_it(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    today = (await now(ts_env)).date()
    auth, found = authorization(
        today, "A-HOLD", statements={"right_to_revoke": True, "conditioning": True}
    )
    assert [p.split(":")[0] for p in found] == ["statements.redisclosure"]
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_authorization(client, task_queue, auth, found, demo_clinic())
        handle = client.get_workflow_handle_for(AuthorizationWorkflow.run, started.case_id)
        held = await eventually(
            lambda: [m for m in mail.to(RECIPIENT) if "on hold" in m["Subject"]]
        )
        assert "statements.redisclosure" in held[0].get_content()
        view = await status(client, started.case_id)
        assert view.status == "on_hold" and view.authorization.problems == found
        await refused(
            "is on hold",
            handle.execute_update("request_release", ReleaseRequest(requested_by="Dr. Park")),
        )
        still, still_found = authorization(today, "A-HOLD", statements={"right_to_revoke": True})
        await refused(
            "the correction still lacks",
            handle.execute_update("correct", Correction(authorization=still, problems=still_found)),
        )
        fixed, none = authorization(today, "A-HOLD")
        await handle.execute_update("correct", Correction(authorization=fixed, problems=none))
        await task_of(handle, "verify_authorization")
        assert (await status(client, started.case_id)).status == "verifying"
        await handle.execute_update(
            "revoke", Revocation(received_at=await now(ts_env), received_by="po-diaz")
        )
        final = await handle.result()
    assert final.status == "revoked" and ledger.for_case(started.case_id) == []


# Each run holds one release at most: verification or a request, the approval (its code
# e-mail and reminders), the packet, the delivery, the ledger row, then continue-as-new.
RUN_EVENT_BOUND = 80  # measured: 61 for the first run, 53 for each release


async def test_a_year_of_monthly_releases_stays_in_bounded_history(
    ts_env, mail, smtp, ledger, records, task_queue
):
    client = ts_env.client
    auth, found = authorization((await now(ts_env)).date(), "A-YEAR")
    async with make_worker(client, task_queue, smtp[0].port, ledger):
        started = await start_authorization(client, task_queue, auth, found, demo_clinic())
        handle = client.get_workflow_handle_for(AuthorizationWorkflow.run, started.case_id)
        await complete(
            client,
            await task_of(handle, "verify_authorization"),
            actor="po-diaz",
            outcome="verified",
            data=VERIFIED,
        )
        for month in range(12):
            if month:
                await handle.execute_update(
                    "request_release", ReleaseRequest(requested_by="Dr. Park")
                )
            await approve(client, handle, mail)
            await eventually(lambda m=month: len(ledger.for_case(started.case_id)) == m + 1)
            await ts_env.sleep(timedelta(days=30))
        await handle.execute_update(
            "revoke", Revocation(received_at=await now(ts_env), received_by="po-diaz")
        )
        final = await handle.result()
        lengths = await run_lengths(client, started.case_id, started.handle.result_run_id)
    assert len(lengths) == 13  # the first run, then one per release
    assert max(lengths) < RUN_EVENT_BOUND, lengths
    assert final.authorization.releases_made == 12 and final.authorization.run == 13
    assert len(final.authorization.recent_releases) == 10  # the ledger keeps all twelve
    assert len(ledger.for_case(started.case_id)) == 12


async def run_lengths(client, workflow_id: str, run_id: str | None) -> list[int]:
    """The event count of every run, following continue-as-new from the first."""
    lengths = []
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    return lengths
