"""The role links: the work waiting on a role, concern workflows only, overdue first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest_asyncio

from domain.clinic import ClinicDirectory, Role, hash_api_key
from domain.tasks import TaskKind, TaskView
from infra.settings import Settings
from intake.app import create_app
from intake.work_list import WorkItem, WorkList, by_urgency, render_page, visibility_query
from tests.conftest import make_worker
from tests.people import People
from tests.support import demo_clinic, eventually, flag_body

KEY = "work-key-" + uuid.uuid4().hex
PEOPLE = People()  # tasks are completed by people signed in as themselves
NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def _item(task_id: str, due_in_hours: float, overdue: bool = False) -> WorkItem:
    task = TaskView(
        task_id=task_id,
        kind=TaskKind.release_decision,
        role=Role.supervisor,
        allowed_roles=[Role.supervisor],
        created_at=NOW,
        due_at=NOW + timedelta(hours=due_in_hours),
        overdue=overdue,
        title="Release decision",
        instructions="Decide.",
        example={},
    )
    wid = f"demo-clinic.F-{task_id}.c1-threat_to_others"
    return WorkItem(
        case_id=f"demo-clinic.F-{task_id}",
        workflow_id=wid,
        path="threat_to_others",
        task=task,
        web_ui=f"http://ui/namespaces/default/workflows/{wid}/run/user-metadata",
    )


def test_overdue_work_comes_first_then_the_soonest_due():
    items = [_item("late", -1, overdue=True), _item("soon", 1), _item("later", 5)]
    items += [_item("latest-overdue", -0.5, overdue=True)]
    ordered = by_urgency(list(reversed(items)))
    assert [i.task.task_id for i in ordered] == ["late", "latest-overdue", "soon", "later"]


def test_the_page_reads_in_clinic_time_and_links_each_task_to_its_workflow_page():
    clinic = demo_clinic()  # America/Los_Angeles
    items = by_urgency([_item("soon", 1), _item("late", -1, overdue=True)])
    page = render_page(clinic, Role.supervisor, WorkList(items=items), "http://ui/list", NOW)
    assert "2 open tasks waiting on supervisors, 1 overdue." in page
    # 17:00 UTC is 9:00 AM PST: the reader's clock, never UTC.
    assert "Fri, Dec 4, 2026, 9:00 AM PST" in page and "UTC" not in page
    assert page.index("F-late") < page.index("F-soon")
    assert page.count("/user-metadata") == 2 and 'href="http://ui/list"' in page
    assert "threat to others" in page and "threat_to_others\n" not in page
    # Who may do it, by roster id: the people, not the role.
    assert "<td>sup-kim</td>" in page
    empty = render_page(clinic, Role.privacy_officer, WorkList(items=[]), "http://ui/list", NOW)
    assert "Nothing is waiting on the privacy officer." in empty and "<table>" not in empty


def test_a_locked_task_says_so_on_the_list():
    locked = _item("locked", 2)
    locked.task.locked = True
    page = render_page(
        demo_clinic(), Role.supervisor, WorkList(items=[locked, _item("open", 3)]), "u", NOW
    )
    assert page.count("<strong>LOCKED</strong>") == 1
    assert page.index("LOCKED") < page.index("F-open")


def test_a_workflow_whose_tasks_cannot_be_read_is_listed_never_hidden():
    """No worker answering (or a fault) must not read as no work waiting."""
    stuck = WorkList(items=[], unreadable={"demo-clinic.F-9.c1-threat_to_others": "http://ui/w"})
    page = render_page(demo_clinic(), Role.supervisor, stuck, "http://ui/list", NOW)
    assert "Nothing is waiting" not in page
    assert "Could not read the tasks of 1 workflow waiting on supervisors" in page
    assert '<a href="http://ui/w">demo-clinic.F-9.c1-threat_to_others</a>' in page


def test_the_visibility_query_lists_open_concern_workflows_of_one_clinic_and_role():
    query = visibility_query("demo-clinic", Role.supervisor, overdue_only=True)
    assert "ExecutionStatus = 'Running'" in query
    assert "ConfideClinic = 'demo-clinic'" in query
    assert "ConfideWaitingOn = 'supervisor'" in query
    # The case workflow is left out: its concerns carry the work (and old cases set it too).
    assert "ConfidePath != 'case'" in query and query.endswith("ConfideOverdue = true")


@pytest_asyncio.fixture
async def work(dev_env, smtp, ledger, task_queue):
    """The intake app for a clinic of the test's own (the dev server is shared)."""
    clinic = PEOPLE.sign(
        demo_clinic().model_copy(
            update={"id": f"wl-{uuid.uuid4().hex[:8]}", "api_key_sha256": [hash_api_key(KEY)]}
        )
    )
    settings = Settings.from_env().model_copy(update={"task_queue": task_queue})
    app = create_app(settings, ClinicDirectory(clinics=[clinic]), dev_env.client, ledger=ledger)
    async with make_worker(dev_env.client, task_queue, smtp[0].port, ledger):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://intake",
            headers={"Authorization": f"Bearer {KEY}"},
        ) as http:
            yield http, clinic.id


async def test_a_role_link_lists_the_task_waiting_on_that_role_and_only_there(work, dev_env):
    api, clinic_id = work
    flag = flag_body(flag_id="F-WL1", jurisdiction="US-TX", clinic_id=clinic_id)
    r = await api.post("/v1/flags", json=flag)
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    concern = f"{case_id}.c1-threat_to_others"

    page = await eventually(lambda: _listing(api, clinic_id, "clinician", concern))
    assert "Risk assessment" in page and "1 open task waiting on clinicians." in page
    link = f"/namespaces/default/workflows/{concern}/"
    assert link in page and "/user-metadata" in page
    # The case itself is not listed as well: one row per piece of work.
    assert page.count(f"<code>{case_id}</code>") == 1
    supervisor = (await api.get(f"/work/{clinic_id}/supervisor")).text
    assert "Nothing is waiting on supervisors." in supervisor

    # The Web UI list behind the page's link runs the same query on the server.
    ui_link = supervisor.split('<a href="')[-1].split('"')[0].replace("&amp;", "&")
    query = parse_qs(urlparse(ui_link).query)["query"][0]
    assert query == visibility_query(clinic_id, Role.supervisor)
    assert [wf.id async for wf in dev_env.client.list_workflows(query)] == []

    # Texas is permissive: the assessment opens a supervisor's decision, and the work moves.
    done = {
        "actor": "dr-lee",
        "outcome": "completed",
        "data": {"serious_threat": True, "identifiable_victims": True, "imminent": True},
    }
    r = await api.post(
        f"/v1/cases/{case_id}/tasks/c1-1-risk_assessment",
        json=done,
        headers=PEOPLE.as_("dr-lee", clinic_id),
    )
    assert r.status_code == 200, r.text
    page = await eventually(lambda: _listing(api, clinic_id, "supervisor", concern))
    assert "Release decision" in page
    await eventually(
        lambda: _gone(api, clinic_id, "clinician"),
    )


async def test_an_unknown_clinic_or_role_is_a_404_in_one_sentence(work):
    api, clinic_id = work
    r = await api.get("/work/no-such-clinic/supervisor")
    assert r.status_code == 404 and "no clinic no-such-clinic" in r.text
    r = await api.get(f"/work/{clinic_id}/janitor")
    assert r.status_code == 404 and "use one of clinician, supervisor" in r.text


async def _listing(api, clinic_id: str, role: str, workflow_id: str) -> str | None:
    page = (await api.get(f"/work/{clinic_id}/{role}")).text
    return page if workflow_id in page else None


async def _gone(api, clinic_id: str, role: str) -> bool:
    page = (await api.get(f"/work/{clinic_id}/{role}")).text
    return "Nothing is waiting on" in page


async def test_outside_dev_only_the_clinics_own_staff_see_its_work_lists(dev_env, ledger):
    """Production: the link in an e-mail opens behind the clinic's sign-in proxy, which
    forwards the person's token; no token, a system's key or another clinic's person: refused."""
    ours = PEOPLE.sign(
        demo_clinic().model_copy(
            update={"id": f"wl-{uuid.uuid4().hex[:8]}", "api_key_sha256": [hash_api_key(KEY)]}
        )
    )
    theirs = PEOPLE.sign(demo_clinic().model_copy(update={"id": f"wl-{uuid.uuid4().hex[:8]}"}))
    settings = Settings.from_env().model_copy(update={"env": "production"})
    app = create_app(
        settings, ClinicDirectory(clinics=[ours, theirs]), dev_env.client, ledger=ledger
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake"
    ) as http:
        page = f"/work/{ours.id}/supervisor"
        r = await http.get(page)
        assert r.status_code == 401
        assert r.json() == {
            "error": "sign in through the clinic's sign-in page, then open the link again"
        }
        r = await http.get(page, headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 403 and "only staff of" in r.text
        stranger = PEOPLE.as_("sup-kim", theirs.id)["Authorization"].removeprefix("Bearer ")
        r = await http.get(page, headers={"X-Forwarded-Access-Token": stranger})
        assert r.status_code == 403
        own = PEOPLE.as_("sup-kim", ours.id)["Authorization"].removeprefix("Bearer ")
        for header in ("X-Forwarded-Access-Token", "X-Auth-Request-Access-Token"):
            r = await http.get(page, headers={header: own})
            assert r.status_code == 200 and "waiting on supervisors" in r.text, r.text
        r = await http.get(page, headers=PEOPLE.as_("dr-lee", ours.id))
        assert r.status_code == 200
