"""The codec endpoints the Web UI and `temporal --codec-endpoint` call."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from domain.clinic import ClinicDirectory
from domain.flags import Flag
from infra.codec import EncryptionCodec
from infra.keyring import Keyring
from infra.settings import Settings
from infra.temporal import data_converter
from intake.app import create_app
from intake.cases import start_case
from tests.people import Issuer, JwksServer
from tests.support import demo_clinic, flag_body

TOKEN = "codec-" + uuid.uuid4().hex
UI = "http://ui.test:8233"


@pytest_asyncio.fixture
async def codec_http(dev_env, monkeypatch, task_queue, ledger):
    monkeypatch.setenv("CONFIDE_CODEC_TOKENS", TOKEN)
    settings = Settings.from_env().model_copy(update={"ui_origins": [UI], "task_queue": task_queue})
    app = create_app(
        settings, ClinicDirectory(clinics=[demo_clinic()]), dev_env.client, ledger=ledger
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake"
    ) as http:
        yield http


def body(*payloads: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=list(payloads)))


def plain(value) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


async def test_decode_of_a_real_case_payload_returns_the_plaintext_json(
    codec_http, dev_env, task_queue
):
    flag = Flag.model_validate(flag_body(flag_id=f"CODEC-{uuid.uuid4().hex[:6]}"))
    started = await start_case(dev_env.client, task_queue, flag, demo_clinic())
    history = await started.handle.fetch_history()
    stored = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert b"Jordan" not in stored.SerializeToString()

    r = await codec_http.post(
        f"/codec/{TOKEN}/decode?preserveStorageRefs=true",
        content=body(stored),
        headers={"content-type": "application/json", "x-namespace": "default", "origin": UI},
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == UI
    decoded = json_format.Parse(r.text, Payloads()).payloads[0]
    assert json.loads(decoded.data)["flag"]["patient"]["name"] == "Jordan Example"
    await started.handle.terminate("test done")


async def test_encode_then_decode_round_trips_with_a_bearer_header(codec_http):
    auth = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    r = await codec_http.post("/codec/encode", content=body(plain({"x": "Zebediah"})), headers=auth)
    assert r.status_code == 200
    encoded = json_format.Parse(r.text, Payloads())
    assert base64.b64decode(json.loads(r.text)["payloads"][0]["metadata"]["encoding"]) == (
        b"binary/encrypted"
    )
    assert b"Zebediah" not in encoded.SerializeToString()
    back = await codec_http.post("/codec/decode", content=r.text, headers=auth)
    assert json.loads(json_format.Parse(back.text, Payloads()).payloads[0].data) == {
        "x": "Zebediah"
    }


async def test_no_token_or_a_wrong_token_is_401_without_payload(codec_http):
    [encoded] = await data_converter().payload_codec.encode([plain({"name": "Zebediah"})])
    for path, headers in [
        ("/codec/decode", {}),
        ("/codec/decode", {"authorization": "Bearer wrong"}),
        ("/codec/wrong-token/decode", {}),
    ]:
        r = await codec_http.post(
            path, content=body(encoded), headers={**headers, "content-type": "application/json"}
        )
        assert r.status_code == 401, path
        assert "Zebediah" not in r.text and "payloads" not in r.text


async def test_preflight_answers_encode_and_decode_for_the_ui_origin_only(codec_http):
    for path in (
        "/codec/decode",
        "/codec/encode",
        f"/codec/{TOKEN}/decode",
        f"/codec/{TOKEN}/encode",
    ):
        r = await codec_http.options(
            f"{path}?preserveStorageRefs=true",
            headers={
                "origin": UI,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type,x-namespace",
            },
        )
        assert r.status_code == 204, path
        assert r.headers["access-control-allow-origin"] == UI
        assert "POST" in r.headers["access-control-allow-methods"]
        assert {"content-type", "x-namespace"} <= set(
            r.headers["access-control-allow-headers"].split(",")
        )
        other = await codec_http.options(
            path, headers={"origin": "http://evil.test", "access-control-request-method": "POST"}
        )
        assert "access-control-allow-origin" not in other.headers


async def test_a_body_that_is_not_payloads_is_400(codec_http):
    r = await codec_http.post(
        f"/codec/{TOKEN}/decode", content=b"not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "Payloads" in r.json()["error"]


# --- the Web UI's "pass the user access token": a per-user OIDC JWT, one clinic per namespace ---


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest_asyncio.fixture
async def sso_codec(issuer, ledger, tmp_path, monkeypatch):
    """Two clinics, each with its namespace and keyring; OIDC keys served over real HTTP.
    (http, the other clinic's codec)."""
    monkeypatch.setenv("CONFIDE_CODEC_TOKENS", TOKEN)
    other_keyring = tmp_path / "other-keyring.json"
    Keyring.generate().dump(other_keyring)
    demo = demo_clinic()
    other = demo_clinic().model_copy(update={"id": "other-clinic"})
    with JwksServer(issuer) as server:
        identity = issuer.settings(
            jwks_url=server.url,
            codec_namespaces={
                "demo-ns": {"clinic": "demo-clinic"},
                "other-ns": {"clinic": "other-clinic", "keyring": str(other_keyring)},
            },
        )
        settings = Settings.from_env().model_copy(update={"ui_origins": [UI]})
        app = create_app(
            settings, ClinicDirectory(clinics=[demo, other]), ledger=ledger, identity=identity
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake"
        ) as http:
            yield http, EncryptionCodec(Keyring.model_validate_json(other_keyring.read_text()))


def ui_headers(token: str, namespace: str) -> dict[str, str]:
    """What the Web UI sends with "Pass the user access token" on."""
    return {
        "authorization": f"Bearer {token}",
        "x-namespace": namespace,
        "content-type": "application/json",
        "origin": UI,
    }


async def test_the_ui_users_access_token_decodes_their_clinics_namespace(sso_codec, issuer):
    http, _ = sso_codec
    [encoded] = await data_converter().payload_codec.encode([plain({"name": "Zebediah"})])
    r = await http.post(
        "/codec/decode?preserveStorageRefs=true",
        content=body(encoded),
        headers=ui_headers(issuer.token("sup-kim"), "demo-ns"),
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == UI
    assert json.loads(json_format.Parse(r.text, Payloads()).payloads[0].data) == {
        "name": "Zebediah"
    }
    # The UI encodes an Update's input through the same endpoint.
    r = await http.post(
        "/codec/encode",
        content=body(plain({"x": 1})),
        headers=ui_headers(issuer.token(), "demo-ns"),
    )
    assert r.status_code == 200 and "Zebediah" not in r.text


async def test_bad_access_tokens_and_other_namespaces_are_refused(sso_codec, issuer):
    http, other_codec = sso_codec
    [encoded] = await data_converter().payload_codec.encode([plain({"name": "Zebediah"})])
    [other_encoded] = await other_codec.encode([plain({"name": "Ottoline"})])
    cases = [
        ("expired", issuer.token(expires_in=-300), "demo-ns", encoded, 401),
        (
            "wrong issuer",
            issuer.token(issuer="https://evil.test/realms/x"),
            "demo-ns",
            encoded,
            401,
        ),
        ("wrong audience", issuer.token(audience="temporal-ui-only"), "demo-ns", encoded, 401),
        ("signed by another key", Issuer().token(), "demo-ns", encoded, 401),
        ("no clinic claim", issuer.token(clinic=None), "demo-ns", encoded, 403),
        ("another clinic's person", issuer.token(clinic="other-clinic"), "demo-ns", encoded, 403),
        ("own clinic, other namespace", issuer.token(), "other-ns", other_encoded, 403),
        ("a namespace not served", issuer.token(), "staging", encoded, 404),
    ]
    for what, token, namespace, payload, status in cases:
        r = await http.post(
            "/codec/decode", content=body(payload), headers=ui_headers(token, namespace)
        )
        assert r.status_code == status, (what, r.text)
        assert "Zebediah" not in r.text and "Ottoline" not in r.text, what
        assert set(r.json()) == {"error"} and "Traceback" not in r.text, what
        if status == 401:
            assert r.headers["www-authenticate"] == "Bearer"
    # The other clinic's person reads their own namespace, with its own keyring ...
    r = await http.post(
        "/codec/decode",
        content=body(other_encoded),
        headers=ui_headers(issuer.token(clinic="other-clinic"), "other-ns"),
    )
    assert (
        r.status_code == 200
        and "Ottoline" in base64.b64decode(r.json()["payloads"][0]["data"]).decode()
    )
    # ... and a payload of demo-clinic's keyring does not decrypt under theirs.
    r = await http.post(
        "/codec/decode",
        content=body(encoded),
        headers=ui_headers(issuer.token(clinic="other-clinic"), "other-ns"),
    )
    assert r.status_code == 400 and "Zebediah" not in r.text


async def test_static_tokens_still_serve_the_dev_server_and_the_cli(sso_codec):
    http, other_codec = sso_codec
    [other_encoded] = await other_codec.encode([plain({"name": "Ottoline"})])
    # The operator's static token (the CLI's --codec-auth, the dev server's path) reads any
    # namespace served here.
    for path, headers in [
        ("/codec/decode", {"authorization": f"Bearer {TOKEN}"}),
        (f"/codec/{TOKEN}/decode", {}),
    ]:
        r = await http.post(
            path, content=body(other_encoded), headers={**headers, "x-namespace": "other-ns"}
        )
        assert r.status_code == 200, r.text


async def test_a_non_ascii_codec_token_is_401_not_500(codec_http):
    [encoded] = await data_converter().payload_codec.encode([plain({"name": "Zebediah"})])
    for path, headers in [
        ("/codec/t%C3%B6k%C3%A9n/decode", {}),
        ("/codec/decode", {"authorization": "Bearer t\u00f6k\u00e9n".encode("latin-1")}),
        ("/codec/decode", {"authorization": "Bearer токен".encode()}),
    ]:
        r = await codec_http.post(path, content=body(encoded), headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert "Zebediah" not in r.text


async def test_one_namespace_shared_by_clinics_is_decoded_by_no_person(issuer, ledger, monkeypatch):
    """With no namespace mapping and several clinics in the directory, one namespace holds
    them all: a person of any of them could otherwise read the others' payloads."""
    monkeypatch.setenv("CONFIDE_CODEC_TOKENS", TOKEN)
    clinics = [demo_clinic(), demo_clinic().model_copy(update={"id": "other-clinic"})]
    with JwksServer(issuer) as server:
        app = create_app(
            Settings.from_env(),
            ClinicDirectory(clinics=clinics),
            ledger=ledger,
            identity=issuer.settings(jwks_url=server.url),
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake"
        ) as http:
            [encoded] = await data_converter().payload_codec.encode([plain({"n": "Zebediah"})])
            r = await http.post(
                "/codec/decode",
                content=body(encoded),
                headers=ui_headers(issuer.token(), "default"),
            )
            assert r.status_code == 403 and "shared" in r.json()["error"]
            r = await http.post(
                f"/codec/{TOKEN}/decode", content=body(encoded), headers={"x-namespace": "default"}
            )
            assert r.status_code == 200
