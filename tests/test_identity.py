"""Who did it is known: the intake API and the codec endpoint tell a clinic's system (its API
key) from a person on its roster (a personal token, or an OIDC token verified against the
configured issuer), and a task is completed only by a person, as themself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from domain.clinic import ClinicDirectory, hash_api_key
from domain.flags import Flag
from infra.settings import Settings
from infra.temporal import data_converter
from intake.app import create_app
from intake.cases import case_input
from intake.identity import Identities, IdentityError, IdentitySettings, Person, System
from tests.conftest import make_worker
from tests.people import AUDIENCE, ISSUER, Issuer, JwksServer, bearer, with_people
from tests.support import (
    ROOT,
    code_from_mail,
    demo_clinic,
    eventually,
    flag_body,
    legal_request_body,
)

KEY = "identity-key-" + uuid.uuid4().hex
OTHER_KEY = "identity-other-" + uuid.uuid4().hex
RESULTS = ROOT / "var" / "reliability"


def clinics() -> tuple[ClinicDirectory, dict[str, str], dict[str, str]]:
    """demo-clinic and other-clinic (same roster ids), each with its key and personal tokens."""
    demo, demo_tokens = with_people(demo_clinic())
    demo.api_key_sha256 = [hash_api_key(KEY)]
    other, other_tokens = with_people(demo_clinic().model_copy(update={"id": "other-clinic"}))
    other.api_key_sha256 = [hash_api_key(OTHER_KEY)]
    return ClinicDirectory(clinics=[demo, other]), demo_tokens, other_tokens


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def jwks_file(issuer, tmp_path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.jwks()))
    return path


# --- resolving a credential --------------------------------------------------------------


def test_clinic_key_is_a_system_and_a_personal_token_is_that_person(issuer, jwks_file):
    directory, demo_tokens, other_tokens = clinics()
    ids = Identities(directory, issuer.settings(jwks_file))
    system = ids.resolve(KEY)
    assert isinstance(system, System) and system.clinic.id == "demo-clinic"
    lee = ids.resolve(demo_tokens["dr-lee"])
    assert isinstance(lee, Person) and (lee.clinic.id, lee.id, lee.via) == (
        "demo-clinic",
        "dr-lee",
        "token",
    )
    elsewhere = ids.resolve(other_tokens["dr-lee"])
    assert isinstance(elsewhere, Person) and elsewhere.clinic.id == "other-clinic"
    for bad in (None, "", "not-a-token", demo_tokens["dr-lee"] + "x", "tökén-ünïcode"):
        with pytest.raises(IdentityError) as e:
            ids.resolve(bad)
        assert e.value.status == 401


def test_a_good_oidc_token_from_a_jwks_file_is_the_roster_person(issuer, jwks_file):
    directory, _, _ = clinics()
    ids = Identities(directory, issuer.settings(jwks_file))
    who = ids.resolve(issuer.token("po-diaz"))
    assert isinstance(who, Person)
    assert (who.clinic.id, who.id, who.via) == ("demo-clinic", "po-diaz", "oidc")


def test_a_good_oidc_token_verified_against_jwks_over_http(issuer):
    directory, _, _ = clinics()
    with JwksServer(issuer) as server:
        ids = Identities(directory, issuer.settings(jwks_url=server.url))
        for _ in range(3):
            who = ids.resolve(issuer.token("sup-kim"))
            assert isinstance(who, Person) and who.id == "sup-kim"
        assert server.fetches == 1  # the key set is cached, not fetched per request


def test_a_rotated_key_in_the_jwks_file_is_read_without_a_restart(issuer, jwks_file):
    directory, _, _ = clinics()
    ids = Identities(directory, issuer.settings(jwks_file))
    assert ids.resolve(issuer.token()).id == "dr-lee"
    rotated = Issuer()
    with pytest.raises(IdentityError) as e:
        ids.resolve(rotated.token())
    assert e.value.status == 401
    keys = issuer.jwks()["keys"] + rotated.jwks()["keys"]
    jwks_file.write_text(json.dumps({"keys": keys}))
    os.utime(jwks_file, (time.time() + 5, time.time() + 5))  # a new mtime, however fast
    assert ids.resolve(rotated.token("sup-kim")).id == "sup-kim"
    assert ids.resolve(issuer.token()).id == "dr-lee"


def test_an_unreachable_jwks_endpoint_is_503_not_a_trace(issuer):
    directory, _, _ = clinics()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    ids = Identities(directory, issuer.settings(jwks_url=f"http://127.0.0.1:{port}/certs"))
    with pytest.raises(IdentityError) as e:
        ids.resolve(issuer.token())
    assert e.value.status == 503 and "could not be fetched" in e.value.message


def refusals(issuer: Issuer, stranger: Issuer) -> list[tuple[str, str, int]]:
    """(what, token, status) for each bad OIDC token: forged, expired, wrong issuer, wrong
    audience, wrong or missing clinic, unknown person, downgraded algorithm."""
    public_pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now + 300,
        "preferred_username": "dr-lee",
        "confide_clinic": "demo-clinic",
    }
    unsigned = jwt.encode(claims, None, algorithm="none")
    forged_kid = jwt.encode(claims, stranger.key, algorithm="RS256", headers={"kid": issuer.kid})
    return [
        ("expired", issuer.token(expires_in=-120), 401),
        ("wrong issuer", issuer.token(issuer="https://evil.test/realms/confide"), 401),
        ("wrong audience", issuer.token(audience="another-app"), 401),
        ("signed by another key", stranger.token(), 401),
        ("another key under the issuer's kid", forged_kid, 401),
        ("alg none", unsigned, 401),
        ("HS256 keyed with the published public key", _hs256(claims, public_pem, issuer.kid), 401),
        (
            "no exp",
            jwt.encode(
                {k: v for k, v in claims.items() if k != "exp"},
                issuer.key,
                algorithm="RS256",
                headers={"kid": issuer.kid},
            ),
            401,
        ),
        ("tampered payload", _tamper(issuer.token("dr-lee"), "sup-kim"), 401),
        ("no clinic claim", issuer.token(clinic=None), 403),
        ("unknown clinic", issuer.token(clinic="nowhere-clinic"), 403),
        ("not on the roster", issuer.token("mallory"), 403),
    ]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256(claims: dict, key: bytes, kid: str) -> str:
    """The algorithm-confusion attack: an HMAC token keyed with the issuer's public key."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def _off_by_one(token: str) -> str:
    return token[:-1] + ("1" if token[-1] == "0" else "0")


def _tamper(token: str, user: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["preferred_username"] = user
    return f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"


def test_every_bad_oidc_token_is_refused_in_one_sentence(issuer, jwks_file):
    directory, _, _ = clinics()
    ids = Identities(directory, issuer.settings(jwks_file))
    for what, token, status in refusals(issuer, Issuer()):
        with pytest.raises(IdentityError) as e:
            ids.resolve(token)
        assert e.value.status == status, what
        assert e.value.message.count(".") == 0 and token not in e.value.message, what


def test_a_bound_oidc_subject_wins_and_its_username_cannot_be_borrowed(issuer, jwks_file):
    directory, _, _ = clinics()
    demo = directory.get("demo-clinic")
    demo.member("dr-lee").oidc_subject = "f81d4fae-7dec-11d0"
    ids = Identities(directory, issuer.settings(jwks_file))
    # Renamed at the identity provider: the subject still finds dr-lee.
    who = ids.resolve(issuer.token("lee.j", sub="f81d4fae-7dec-11d0"))
    assert isinstance(who, Person) and who.id == "dr-lee"
    # Someone else whose username says dr-lee is not dr-lee.
    with pytest.raises(IdentityError) as e:
        ids.resolve(issuer.token("dr-lee", sub="someone-else"))
    assert e.value.status == 403


def test_a_jwt_is_refused_when_oidc_is_not_configured(issuer):
    directory, _, _ = clinics()
    with pytest.raises(IdentityError) as e:
        Identities(directory, IdentitySettings()).resolve(issuer.token())
    assert e.value.status == 401 and "not configured" in e.value.message


def test_settings_from_env_fail_closed_when_half_configured(monkeypatch, tmp_path):
    for name in ("ISSUER", "AUDIENCE", "JWKS_URL", "JWKS_FILE", "ALGORITHMS"):
        monkeypatch.delenv(f"CONFIDE_OIDC_{name}", raising=False)
    monkeypatch.delenv("CONFIDE_CODEC_NAMESPACES", raising=False)
    assert not IdentitySettings.from_env().oidc
    monkeypatch.setenv("CONFIDE_OIDC_JWKS_URL", "https://id.clinic.test/certs")
    with pytest.raises(ValueError, match="without CONFIDE_OIDC_ISSUER"):
        IdentitySettings.from_env()
    monkeypatch.setenv("CONFIDE_OIDC_ISSUER", ISSUER)
    with pytest.raises(ValueError, match="AUDIENCE"):
        IdentitySettings.from_env()
    monkeypatch.setenv("CONFIDE_OIDC_AUDIENCE", "confide, confide-ui")
    s = IdentitySettings.from_env()
    assert s.oidc and s.audiences == ["confide", "confide-ui"]
    assert (s.user_claim, s.clinic_claim) == ("preferred_username", "confide_clinic")
    monkeypatch.setenv("CONFIDE_OIDC_JWKS_FILE", str(tmp_path / "jwks.json"))
    with pytest.raises(ValueError, match="exactly one"):
        IdentitySettings.from_env()
    monkeypatch.delenv("CONFIDE_OIDC_JWKS_FILE")
    monkeypatch.setenv("CONFIDE_OIDC_ALGORITHMS", "RS256,HS256")
    with pytest.raises(ValueError, match="ALGORITHMS"):
        IdentitySettings.from_env()
    monkeypatch.delenv("CONFIDE_OIDC_ALGORITHMS")
    monkeypatch.setenv("CONFIDE_CODEC_NAMESPACES", '{"clinic-a": {"clinic": "demo-clinic"}}')
    assert IdentitySettings.from_env().codec_namespaces["clinic-a"].clinic == "demo-clinic"
    monkeypatch.setenv("CONFIDE_CODEC_NAMESPACES", '["clinic-a"]')
    with pytest.raises(ValueError, match="JSON object"):
        IdentitySettings.from_env()


def test_sign_in_details_never_reach_a_case_snapshot():
    directory, tokens, _ = clinics()
    demo = directory.get("demo-clinic")
    demo.member("dr-lee").oidc_subject = "subject-of-lee"
    inp = case_input(Flag.model_validate(flag_body()), demo)
    [payload] = data_converter().payload_converter.to_payloads([inp])
    for secret in (hash_api_key(tokens["dr-lee"]), "subject-of-lee", "token_sha256", KEY):
        assert secret.encode() not in payload.data
    assert b'"dr-lee"' in payload.data


# --- the HTTP API and the codec, without a worker: every refusal happens before Temporal ------


@pytest_asyncio.fixture
async def offline(issuer, jwks_file, ledger, monkeypatch):
    """The app with OIDC from a JWKS file, no Temporal behind it; (http, demo tokens, other
    tokens, codec token)."""
    codec_token = "codec-" + uuid.uuid4().hex
    monkeypatch.setenv("CONFIDE_CODEC_TOKENS", codec_token)
    directory, demo_tokens, other_tokens = clinics()
    app = create_app(
        Settings.from_env(),
        directory,
        ledger=ledger,
        identity=issuer.settings(
            jwks_file,
            codec_namespaces={
                "demo-ns": {"clinic": "demo-clinic"},
                "other-ns": {"clinic": "other-clinic"},
            },
        ),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake"
    ) as http:
        yield http, demo_tokens, other_tokens, codec_token


def _payloads() -> str:
    return json_format.MessageToJson(
        Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    )


async def test_forged_expired_and_cross_clinic_credentials_are_all_refused(offline, issuer):
    """The attack matrix behind the README's reliability row (var/reliability/identity.json):
    each attempt at the API's task completion, case view, and the codec must be refused with a
    4xx one-sentence JSON error, never a 5xx or a trace."""
    http, demo_tokens, other_tokens, _ = offline
    stranger = Issuer()
    case = "demo-clinic.F-1001"
    task = f"/v1/cases/{case}/tasks/c1-1-risk_assessment"
    answer = {"data": {"serious_threat": False, "identifiable_victims": False, "imminent": False}}
    attempts: list[tuple[str, str, dict, int]] = []

    for what, token, status in refusals(issuer, stranger):
        attempts.append((f"API task, {what}", "task", bearer(token), status))
        attempts.append((f"API case view, {what}", "view", bearer(token), status))
        # The codec answers a bad sign-in the same way (a 403 of a clinic nobody owns too).
        attempts.append((f"codec, {what}", "codec", bearer(token), status))
    for what, headers, status in [
        ("no credential", {}, 401),
        ("a made-up token", bearer("guess-" + uuid.uuid4().hex), 401),
        ("a non-ASCII token", {"Authorization": "Bearer t\u00f6ken".encode("latin-1")}, 401),
        ("a personal token one character off", bearer(_off_by_one(demo_tokens["dr-lee"])), 401),
    ]:
        attempts.append((f"API task, {what}", "task", headers, status))
        attempts.append((f"codec, {what}", "codec", headers, status))
    # Valid credentials of the wrong kind or the wrong clinic.
    attempts += [
        ("API task, the clinic's own key", "task", bearer(KEY), 403),
        ("API task, another clinic's key", "task", bearer(OTHER_KEY), 403),
        ("API task, another clinic's person (token)", "task", bearer(other_tokens["dr-lee"]), 403),
        (
            "API task, another clinic's person (OIDC)",
            "task",
            bearer(issuer.token("dr-lee", "other-clinic")),
            403,
        ),
        (
            "API task, as dr-lee with sup-kim's token",
            "task-as-lee",
            bearer(demo_tokens["sup-kim"]),
            403,
        ),
        (
            "API task, as dr-lee with sup-kim's OIDC token",
            "task-as-lee",
            bearer(issuer.token("sup-kim")),
            403,
        ),
        ("API case view, another clinic's key", "view", bearer(OTHER_KEY), 403),
        ("API case view, another clinic's person", "view", bearer(other_tokens["po-diaz"]), 403),
        ("codec, the clinic's API key", "codec", bearer(KEY), 403),
        (
            "codec, another clinic's person for demo-ns (OIDC)",
            "codec",
            bearer(issuer.token("dr-lee", "other-clinic")),
            403,
        ),
        (
            "codec, another clinic's person for demo-ns (token)",
            "codec",
            bearer(other_tokens["dr-lee"]),
            403,
        ),
        (
            "codec, a person for a namespace not served",
            "codec-unknown-ns",
            bearer(issuer.token("dr-lee")),
            404,
        ),
        ("codec, a non-ASCII path token", "codec-path", {}, 401),
    ]

    results = []
    for what, target, headers, status in attempts:
        if target in ("task", "task-as-lee"):
            body = answer | ({"actor": "dr-lee"} if target == "task-as-lee" else {})
            r = await http.post(task, json=body, headers=headers)
        elif target == "view":
            r = await http.get(f"/v1/cases/{case}", headers=headers)
        elif target == "codec-path":
            r = await http.post(
                "/codec/t%C3%B6k%C3%A9n/decode",
                content=_payloads(),
                headers={"x-namespace": "demo-ns"},
            )
        else:
            ns = "nowhere-ns" if target == "codec-unknown-ns" else "demo-ns"
            r = await http.post(
                "/codec/decode",
                content=_payloads(),
                headers={**headers, "x-namespace": ns, "content-type": "application/json"},
            )
        error = r.json().get("error", "")
        results.append((what, r.status_code))
        assert r.status_code == status, (what, r.status_code, r.text)
        assert isinstance(error, str) and error and "Traceback" not in r.text, what
        assert '"payloads"' not in r.text, what

    # The same credentials, rightly used, work (so the refusals above are not a broken app).
    ok = await http.post(
        "/codec/decode",
        content=_payloads(),
        headers={**bearer(issuer.token("dr-lee")), "x-namespace": "demo-ns"},
    )
    assert ok.status_code == 200, ok.text
    ok = await http.post(
        "/codec/decode",
        content=_payloads(),
        headers={**bearer(other_tokens["dr-lee"]), "x-namespace": "other-ns"},
    )
    assert ok.status_code == 200, ok.text

    forged = sum("API" in w and "another clinic" not in w for w, _ in results)
    write_result(
        "identity",
        fault="forged, expired, mis-addressed and cross-clinic credentials "
        "(API task completion and case view, codec endpoint)",
        times=f"{len(results)} attempts ({sum(w.startswith('codec') for w, _ in results)} at "
        f"the codec, {forged} forged or wrong-person at the API)",
        checked=[
            "each refused with 401 (bad credential), 403 (wrong person, clinic or kind) or "
            "404 (namespace not served), a one-sentence JSON error",
            "no 5xx, no traceback, no payload in any answer",
            "the same issuer's good tokens and the right clinic's tokens are accepted",
        ],
        result=f"{len(results)} of {len(results)} refused as expected; 0 accepted",
        attempts=[{"attempt": w, "status": s} for w, s in results],
    )


def write_result(name: str, fault: str, times: str, checked: list[str], result: str, **extra):
    """var/reliability/<name>.json, a row of the README's reliability table (the same shape
    as the fault tests' rows: name, fault, times, checked, result, run_at)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    body = {
        "name": name,
        "fault": fault,
        "times": times,
        "checked": checked,
        "result": result,
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(body, indent=1) + "\n")


# --- end to end: completing tasks over HTTP on the dev server --------------------------------


@pytest_asyncio.fixture
async def people_api(dev_env, smtp, ledger, records, task_queue, issuer):
    """The app over ASGI with OIDC (JWKS over real HTTP) and a worker; (http, demo tokens)."""
    directory, demo_tokens, _ = clinics()
    settings = Settings.from_env().model_copy(update={"task_queue": task_queue})
    with JwksServer(issuer) as server:
        app = create_app(
            settings,
            directory,
            dev_env.client,
            ledger=ledger,
            records=records,
            identity=issuer.settings(jwks_url=server.url),
        )
        async with make_worker(dev_env.client, task_queue, smtp[0].port, ledger, records=records):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://intake"
            ) as http:
                yield http, demo_tokens


async def _open(http, case_id: str, kind: str) -> dict:
    async def find():
        view = (await http.get(f"/v1/cases/{case_id}", headers=bearer(KEY))).json()
        return next((t for t in view["tasks"] if t["kind"] == kind), None)

    return await eventually(find)


async def test_a_person_completes_a_release_approval_without_typing_a_code(
    people_api, issuer, mail
):
    http, tokens = people_api
    body = legal_request_body(request_id=f"L-{uuid.uuid4().hex[:8]}", instrument="court_order")
    r = await http.post("/v1/legal-requests", json=body, headers=bearer(KEY))
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]

    classify = await _open(http, case_id, "classify_request")
    url = f"/v1/cases/{case_id}/tasks/{classify['task_id']}"
    answer = {
        "outcome": "valid",
        "data": {
            "signed": True,
            "issuer_has_jurisdiction": True,
            "names_psychotherapy_notes": False,
            "part2_compliant_order": False,
            "instrument": "court_order",
        },
    }
    # The clinic's system cannot answer it, whatever actor it names.
    r = await http.post(url, json=answer | {"actor": "po-diaz"}, headers=bearer(KEY))
    assert r.status_code == 403
    assert r.json() == {"error": "a person must complete this task; use your own token"}
    # dr-lee signed in cannot answer as po-diaz ...
    r = await http.post(url, json=answer | {"actor": "po-diaz"}, headers=bearer(tokens["dr-lee"]))
    assert r.status_code == 403 and "signed in as dr-lee" in r.json()["error"]
    # ... and as himself the workflow refuses him the privacy officer's task.
    r = await http.post(url, json=answer, headers=bearer(tokens["dr-lee"]))
    assert r.status_code == 422 and "privacy_officer" in r.json()["reason"]
    # po-diaz with her personal token, no actor in the body: recorded as her.
    r = await http.post(url, json=answer, headers=bearer(tokens["po-diaz"]))
    assert r.status_code == 200, r.text
    assert r.json()["completed_by"] == "po-diaz"

    approval = await _open(http, case_id, "release_approval")
    assert approval["requires_code"]
    url = f"/v1/cases/{case_id}/tasks/{approval['task_id']}"
    decision = {
        "outcome": "approve",
        "data": approval["example"]["data"] | {"reason": "order of the court"},
    }
    # Another person's OIDC token cannot act as po-diaz, even with her e-mailed code.
    code = await code_from_mail(mail, "diaz@demo-clinic.test", approval["task_id"])
    r = await http.post(
        url,
        json=decision | {"actor": "po-diaz", "code": code},
        headers=bearer(issuer.token("sup-kim")),
    )
    assert r.status_code == 403 and "signed in as sup-kim" in r.json()["error"]
    # Her mistyped code is refused by the API and never reaches the workflow, where five
    # would lock the task: signed in, she needs no code at all.
    for _ in range(6):
        r = await http.post(
            url, json=decision | {"code": "AAAA-AAAA-AAAA"}, headers=bearer(issuer.token("po-diaz"))
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code", r.text
    assert not (await _open(http, case_id, "release_approval")).get("wrong_codes")
    # po-diaz signed in through OIDC approves without typing the code: the API fills in hers.
    r = await http.post(url, json=decision, headers=bearer(issuer.token("po-diaz")))
    assert r.status_code == 200, r.text
    assert r.json()["completed_by"] == "po-diaz" and r.json()["outcome"] == "approve"
    delivered = await eventually(lambda: mail.to("attorney@law.test"))
    assert delivered
