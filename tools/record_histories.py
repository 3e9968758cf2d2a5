"""Record the checked-in histories that tests/test_replay.py replays.

Runs each duty-to-warn scenario to completion on the time-skipping test server (real SMTP sink,
SQLite ledger) and saves the case's and its concerns' histories under tests/histories/.
Existing histories are kept (they are the cases on record, which new code must still replay);
only missing scenarios are recorded, unless --all is given.
    .venv/bin/python tools/record_histories.py [--all]
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.testing import WorkflowEnvironment  # noqa: E402

from domain.flags import Flag  # noqa: E402
from domain.legal_request import LegalRequest  # noqa: E402
from domain.tasks import TaskCompletion  # noqa: E402
from infra.ledger_db import Ledger  # noqa: E402
from infra.records_db import RecordsStore  # noqa: E402
from infra.temporal import data_converter  # noqa: E402
from intake.cases import start_case, start_legal_request  # noqa: E402
from tests.conftest import make_worker  # noqa: E402
from tests.support import (  # noqa: E402
    BIN,
    CODE_PATTERN,
    demo_clinic,
    eventually,
    flag_body,
    legal_request_body,
    start_smtp,
)
from workflows import search_attributes as sa  # noqa: E402
from workflows.case import CaseWorkflow  # noqa: E402

OUT = ROOT / "tests" / "histories"
NO_THREAT = {"serious_threat": False, "identifiable_victims": False, "imminent": False}
THREAT = {"serious_threat": True, "identifiable_victims": True, "imminent": True}


async def _task(handle, kind):
    async def find():
        return next((t for t in await handle.query(CaseWorkflow.tasks) if t.kind == kind), None)

    return await eventually(find)


async def _done(client, task, **kw):
    await client.get_workflow_handle(task.workflow_id).execute_update(
        "complete_task", TaskCompletion(task_id=task.task_id, **kw)
    )


async def scenario(env, client, queue, sink, name, jurisdiction, steps, concerns=None):
    sink.clear()
    body = flag_body(flag_id=f"HIST-{name}", jurisdiction=jurisdiction)
    if concerns:
        body["concerns"] = concerns
        body["flagged_at"] = (await env.get_current_time()).isoformat()
    flag = Flag.model_validate(body)
    started = await start_case(client, queue, flag, demo_clinic())
    await steps(env, client, started.handle, sink)
    await started.handle.result()
    ids = [started.case_id] + [
        c.workflow_id for c in (await started.handle.query(CaseWorkflow.status)).concerns
    ]
    for wid in ids:
        history = await client.get_workflow_handle(wid).fetch_history()
        path = OUT / f"{wid}.json"
        path.write_text(history.to_json())
        print(f"wrote {path.relative_to(ROOT)} ({len(history.events)} events)")


async def ca_mandatory(env, client, handle, sink):
    await _done(client, await _task(handle, "risk_assessment"), actor="dr-lee", data=THREAT)
    await eventually(lambda: sink.to("police@agency.test"))
    await env.sleep(timedelta(days=7))
    await _done(client, await _task(handle, "reassessment"), actor="dr-lee", data=NO_THREAT)


async def tx_permissive(env, client, handle, sink):
    await _done(client, await _task(handle, "risk_assessment"), actor="dr-lee", data=THREAT)
    decision = await _task(handle, "release_decision")
    mail = await eventually(
        lambda: [m for m in sink.to("kim@demo-clinic.test") if "approval code" in m["Subject"]]
    )
    code = re.search(r": " + CODE_PATTERN, mail[0].get_content()).group(1)
    await _done(
        client,
        decision,
        actor="sup-kim",
        outcome="approve",
        code=code,
        data={"actions": ["notify_law_enforcement"], "reason": "imminent"},
    )
    await env.sleep(timedelta(days=7))
    await _done(client, await _task(handle, "reassessment"), actor="dr-lee", data=NO_THREAT)


async def ca_overdue_then_closed(env, client, handle, sink):
    await _task(handle, "risk_assessment")
    await env.sleep(timedelta(hours=5))
    task = await _task(handle, "risk_assessment")
    await _done(client, task, actor="sup-kim", data=NO_THREAT)


CHILD = [
    {
        "kind": "child_abuse",
        "summary": "Child disclosed being hit with a belt",
        "victims": [{"name": "Robin Child", "age": 9}],
        "alleged_abuser": {"name": "Pat Parent"},
        "abuser_is_caretaker": True,
    }
]
ORAL = {"agency": "County CWS", "number_called": "+1-555-0300", "taken_by": "Intake A"}


async def ca_child_abuse(env, client, handle, sink):
    called = (await env.get_current_time()).isoformat()
    await _done(
        client,
        await _task(handle, "oral_report"),
        actor="dr-lee",
        data={**ORAL, "called_at": called},
    )
    await env.sleep(timedelta(hours=37))  # the written report goes overdue and escalates
    await _done(
        client,
        await _task(handle, "written_report"),
        actor="dr-lee",
        outcome="submit",
        data={"reviewed": True},
    )


ELDER = [
    {
        "kind": "elder_abuse",
        "summary": "Elderly patient's son takes her pension",
        "victims": [{"name": "Ada Elder", "age": 84}],
        "alleged_abuser": {"name": "Sam Son", "relationship": "son"},
        "abuser_is_caretaker": True,
        "setting": "community",
    }
]
NO_EMAIL_VICTIM = [
    {
        "kind": "threat_to_others",
        "summary": "Threatened a neighbour",
        "victims": [{"name": "Robin Neighbour", "phone": "+1-555-0199"}],
    }
]


async def ca_elder_inform(env, client, handle, sink):
    called = (await env.get_current_time()).isoformat()
    await _done(
        client,
        await _task(handle, "oral_report"),
        actor="dr-lee",
        data={**ORAL, "called_at": called},
    )
    await _done(
        client,
        await _task(handle, "inform_individual"),
        actor="dr-lee",
        outcome="not_informed",
        data={"reason_not_informed": "representative_is_suspected_abuser"},
    )
    await _done(
        client,
        await _task(handle, "written_report"),
        actor="dr-lee",
        outcome="submit",
        data={"reviewed": True},
    )


async def ca_call_renewed(env, client, handle, sink):
    await _done(client, await _task(handle, "risk_assessment"), actor="dr-lee", data=THREAT)
    for round_ in range(2):
        called = (await env.get_current_time()).isoformat()
        await _done(
            client,
            await _task(handle, "call_person"),
            actor="dr-lee",
            outcome="reached",
            data={"called_at": called},
        )
        await env.sleep(timedelta(days=7))
        await _done(
            client,
            await _task(handle, "reassessment"),
            actor="dr-lee",
            data=THREAT if round_ == 0 else NO_THREAT,
        )  # renewed once, then over


VALID = {
    "signed": True,
    "issuer_has_jurisdiction": True,
    "names_psychotherapy_notes": False,
    "part2_compliant_order": False,
}


async def legal_scenario(env, client, queue, sink, name, instrument, steps):
    sink.clear()
    served = await env.get_current_time()
    req = LegalRequest.model_validate(
        legal_request_body(
            request_id=f"HIST-{name}",
            instrument=instrument,
            served_at=served.isoformat(),
            response_due=(served + timedelta(days=20)).isoformat(),
        )
    )
    started = await start_legal_request(client, queue, req, demo_clinic())
    await steps(env, client, started.handle, sink, req)
    await started.handle.result()
    history = await started.handle.fetch_history()
    path = OUT / f"{started.case_id}.json"
    path.write_text(history.to_json())
    print(f"wrote {path.relative_to(ROOT)} ({len(history.events)} events)")


async def _approve(client, handle, sink):
    approval = await _task(handle, "release_approval")
    mail = await eventually(
        lambda: [m for m in sink.to("diaz@demo-clinic.test") if "approval code" in m.get_content()]
    )
    code = re.search(CODE_PATTERN, mail[-1].get_content()).group(1)
    await _done(
        client,
        approval,
        actor="po-diaz",
        outcome="approve",
        code=code,
        data={"documents": approval.choices, "redactions_reviewed": True, "reason": "ok"},
    )


async def legal_subpoena(env, client, handle, sink, req):
    await _done(
        client,
        await _task(handle, "classify_request"),
        actor="po-diaz",
        outcome="valid",
        data={**VALID, "instrument": "attorney_subpoena"},
    )
    await _done(
        client,
        await _task(handle, "send_letter"),
        actor="po-diaz",
        outcome="send",
        data={"reviewed": True},
    )
    assurance = await _task(handle, "record_assurance")
    await env.sleep(req.response_due - timedelta(days=5) - await env.get_current_time())
    await _done(
        client,
        assurance,
        actor="po-diaz",
        outcome="notice_given_no_objection",
        data={"received_at": (await env.get_current_time()).isoformat(), "document": "stmt"},
    )
    await _approve(client, handle, sink)


async def legal_order_counsel(env, client, handle, sink, req):
    await _done(
        client,
        await _task(handle, "classify_request"),
        actor="po-diaz",
        outcome="ask_counsel",
        note="Valid here?",
    )
    await _done(
        client, await _task(handle, "counsel_review"), actor="counsel-ng", data={"advice": "yes"}
    )
    await _done(
        client,
        await _task(handle, "classify_request"),
        actor="po-diaz",
        outcome="valid",
        data={**VALID, "instrument": "court_order"},
    )
    await _approve(client, handle, sink)


async def legal_due_objected(env, client, handle, sink, req):
    await _done(
        client,
        await _task(handle, "classify_request"),
        actor="po-diaz",
        outcome="valid",
        data={**VALID, "instrument": "attorney_subpoena"},
    )
    await _done(
        client,
        await _task(handle, "send_letter"),
        actor="po-diaz",
        outcome="send",
        data={"reviewed": True},
    )
    await env.sleep(req.response_due - await env.get_current_time() + timedelta(hours=1))
    await _done(
        client,
        await _task(handle, "respond_when_due"),
        actor="counsel-ng",
        outcome="objection_sent",
        data={"done_at": (await env.get_current_time()).isoformat(), "details": "served"},
    )


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ctl, sink = start_smtp()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"), data_converter=data_converter()
    )
    await sa.register(env.client)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(f"sqlite:///{tmp}/ledger.db")
        ledger.migrate()
        queue = f"hist-{uuid.uuid4()}"
        records = RecordsStore(ledger.url)
        records.migrate()
        records.seed_demo("demo-clinic", "P-301")
        async with make_worker(env.client, queue, ctl.port, ledger, records=records):
            for name, juris, steps, concerns in [
                ("CA-MANDATORY", "US-CA", ca_mandatory, None),
                ("TX-PERMISSIVE", "US-TX", tx_permissive, None),
                ("CA-OVERDUE", "US-CA", ca_overdue_then_closed, None),
                ("CA-CHILD-ABUSE", "US-CA", ca_child_abuse, CHILD),
                ("CA-ELDER-INFORM", "US-CA", ca_elder_inform, ELDER),
                ("CA-CALL-RENEWED", "US-CA", ca_call_renewed, NO_EMAIL_VICTIM),
            ]:
                if (OUT / f"demo-clinic.HIST-{name}.json").exists() and "--all" not in sys.argv:
                    print(f"kept tests/histories/demo-clinic.HIST-{name}*.json (on record)")
                    continue
                await scenario(env, env.client, queue, sink, name, juris, steps, concerns)
            for name, instrument, legal_steps in [
                ("L-SUBPOENA", "attorney_subpoena", legal_subpoena),
                ("L-ORDER-COUNSEL", "court_order", legal_order_counsel),
                ("L-DUE-OBJECTED", "attorney_subpoena", legal_due_objected),
            ]:
                if (OUT / f"demo-clinic.HIST-{name}.json").exists() and "--all" not in sys.argv:
                    print(f"kept tests/histories/demo-clinic.HIST-{name}.json (on record)")
                    continue
                await legal_scenario(env, env.client, queue, sink, name, instrument, legal_steps)
    await env.shutdown()
    ctl.stop()


if __name__ == "__main__":
    asyncio.run(main())
