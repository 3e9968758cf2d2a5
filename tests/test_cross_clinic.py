"""Cross-clinic (issue 12): with another clinic's credentials (its API key, or a person on its
roster with the same roster id as clinic A's staff), every intake endpoint aimed at clinic A's
cases is a 403 or 404 that carries none of A's data, and changes nothing in A's cases."""

from __future__ import annotations

import pytest_asyncio

from tests.conftest import make_worker
from tests.intake_api import Api, intake_api, open_cases, record
from tests.support import authorization_body, eventually, flag_body, legal_request_body

# What clinic A's cases hold that no answer to clinic B may carry.
A_DATA = [
    "Jordan Example",  # the patient
    "Casey Rivera",  # a victim
    "casey@example.org",
    "A. Attorney",  # a legal request's requester
    "Superior Court",
    "P-301",
    "risk_assessment",
    '"tasks"',
    '"disclosures"',
]


@pytest_asyncio.fixture
async def api(dev_env, smtp, ledger, task_queue):
    async with make_worker(dev_env.client, task_queue, smtp[0].port, ledger):
        async with intake_api(dev_env.client, ledger, task_queue) as api:
            yield api


def credentials_of_b(api: Api) -> dict[str, dict[str, str]]:
    """Every kind of credential clinic B holds: its system key, and people on its roster whose
    roster ids are the same as A's staff (a roster id is not a clinic-wide identity)."""
    return {
        "B's API key": api.auth(api.key_b),
        "B's clinician dr-lee": api.auth(api.people_b["dr-lee"]),
        "B's supervisor sup-kim": api.auth(api.people_b["sup-kim"]),
        "B's privacy officer po-diaz": api.auth(api.people_b["po-diaz"]),
    }


async def open_tasks(api: Api, case_id: str) -> list[dict]:
    return (await api.http.get(f"/v1/cases/{case_id}")).json()["tasks"]


async def test_another_clinic_can_neither_read_nor_change_clinic_a_cases(api):
    flag, legal, authorization, accounting = await open_cases(api)
    task = (await eventually(lambda: open_tasks(api, flag)))[0]
    before = {c: (await api.http.get(f"/v1/cases/{c}")).json() for c in (flag, legal, accounting)}
    auth_before = (await api.http.get(f"/v1/cases/{authorization}")).json()
    now = "2026-12-04T12:00:00+00:00"
    requests = []
    for case_id in (flag, legal, authorization, accounting):
        requests += [
            ("GET", f"/v1/cases/{case_id}", None),
            ("POST", f"/v1/cases/{case_id}/packet-link", None),
            ("POST", f"/v1/cases/{case_id}/revoke", {"received_at": now, "received_by": "x"}),
            ("POST", f"/v1/cases/{case_id}/expiry-event", {"occurred_at": now, "recorded_by": "x"}),
            ("POST", f"/v1/cases/{case_id}/releases", {"requested_by": "Dr. Park"}),
        ]
    requests.append(
        (
            "POST",
            f"/v1/cases/{flag}/tasks/{task['task_id']}",
            {
                "outcome": None,
                "data": {"serious_threat": False, "identifiable_victims": False, "imminent": False},
            },
        )
    )
    # Opening cases, or suspending an accounting, in clinic A's name.
    requests += [
        ("POST", "/v1/flags", flag_body(flag_id="XC-1")),
        ("POST", "/v1/legal-requests", legal_request_body(request_id="XC-2")),
        ("POST", "/v1/authorizations", authorization_body(authorization_id="XC-3")),
        (
            "POST",
            "/v1/accounting-requests",
            {"clinic_id": "demo-clinic", "request_id": "XC-4", "patient": {"ref": "P-301"}},
        ),
        (
            "POST",
            "/v1/accounting-suspensions",
            {
                "clinic_id": "demo-clinic",
                "patient_ref": "P-301",
                "agency": "County Health Oversight",
                "official": "R. Official, Investigator",
                "statement": "oral",
                "received_at": now,
                "until": "2026-12-20T00:00:00+00:00",
            },
        ),
    ]
    attempts, statuses = 0, set()
    for who, headers in credentials_of_b(api).items():
        for method, path, body in requests:
            r = await api.http.request(method, path, json=body, headers=headers)
            attempts += 1
            statuses.add(r.status_code)
            assert r.status_code in (403, 404), (who, method, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/json")
            leaked = [d for d in A_DATA if d in r.text]
            assert not leaked, (who, method, path, leaked)
            assert "Traceback" not in r.text
    # Nothing changed in A's cases: the same open tasks, the authorization neither revoked nor
    # expired, no release, no packet link.
    for case_id, was in before.items():
        now_ = (await api.http.get(f"/v1/cases/{case_id}")).json()
        assert [t["task_id"] for t in now_["tasks"]] == [t["task_id"] for t in was["tasks"]]
        assert now_["disclosures"] == was["disclosures"]
    auth_now = (await api.http.get(f"/v1/cases/{authorization}")).json()
    assert auth_now["status"] == auth_before["status"]
    assert auth_now["status"] not in ("revoked", "expired")
    assert auth_now["disclosures"] == auth_before["disclosures"]
    # The same requests with A's own credentials get past the clinic check (the refusals above
    # are not some other failure): A's key reads A's case, A's clinician reaches A's task.
    assert (await api.http.get(f"/v1/cases/{flag}")).status_code == 200
    r = await api.http.post(
        f"/v1/cases/{flag}/tasks/{task['task_id']}",
        json={"data": {}},
        headers=api.auth(api.people_a["dr-lee"]),
    )
    assert r.status_code == 422 and "tasks" not in r.json()  # the form is incomplete
    record(
        "cross-clinic",
        fault="another clinic's credentials (its API key; its clinician, supervisor and "
        "privacy officer, who share roster ids with clinic A's) on every intake endpoint, "
        "aimed at clinic A's flag, legal request, authorization and accounting cases",
        times=attempts,
        checked="403 or 404 with a JSON error, none of A's patient, victim, requester or task "
        "data in the answer; A's tasks, disclosures and authorization unchanged",
        result=f"{attempts} of {attempts} refused ({', '.join(map(str, sorted(statuses)))}); "
        "0 leaks; 0 changes",
    )
