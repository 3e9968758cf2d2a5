"""The codec endpoints the Web UI and `temporal --codec-endpoint` call."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest_asyncio
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from domain.clinic import ClinicDirectory
from domain.flags import Flag
from infra.settings import Settings
from infra.temporal import data_converter
from intake.app import create_app
from intake.cases import start_case
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
