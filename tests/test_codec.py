"""The payload codec: round trip, tamper detection, unknown keys, rotation across a live case."""

from __future__ import annotations

import json

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from domain.case import CaseStatus
from domain.flags import Flag
from infra.codec import ENCODING, KEY_ID, EncryptionCodec, PayloadTampered
from infra.keyring import Keyring, UnknownKeyId
from infra.temporal import data_converter
from intake.cases import start_case
from tests.conftest import make_worker
from tests.support import demo_clinic, flag_body
from tests.test_duty_to_warn_workflow import complete, open_task

PLAIN = Payload(
    metadata={"encoding": b"json/plain"}, data=json.dumps({"patient": "Zebediah Quux"}).encode()
)


async def test_round_trip_restores_the_payload_and_hides_the_plaintext():
    ring = Keyring.generate()
    codec = EncryptionCodec(ring)
    [encoded] = await codec.encode([PLAIN])
    assert encoded.metadata["encoding"] == ENCODING
    assert encoded.metadata[KEY_ID] == ring.current.encode()
    assert b"Zebediah" not in encoded.SerializeToString()
    assert await codec.decode([encoded]) == [PLAIN]


async def test_two_encodings_of_the_same_payload_differ():
    codec = EncryptionCodec(Keyring.generate())
    a, b = await codec.encode([PLAIN, PLAIN])
    assert a.data != b.data  # a fresh nonce per payload


@pytest.mark.parametrize("position", [0, 12, -1])
async def test_a_flipped_byte_fails_authentication(position):
    codec = EncryptionCodec(Keyring.generate())
    [encoded] = await codec.encode([PLAIN])
    data = bytearray(encoded.data)
    data[position] ^= 0x01
    encoded.data = bytes(data)
    with pytest.raises(PayloadTampered, match="failed authentication"):
        await codec.decode([encoded])


async def test_a_payload_relabelled_with_another_key_id_fails():
    ring = Keyring.generate().rotated()
    codec = EncryptionCodec(ring)
    [encoded] = await codec.encode([PLAIN])
    other = next(k for k in ring.keys if k != ring.current)
    encoded.metadata[KEY_ID] = other.encode()
    with pytest.raises(PayloadTampered):
        await codec.decode([encoded])


async def test_unknown_key_id_names_the_key():
    [encoded] = await EncryptionCodec(Keyring.generate()).encode([PLAIN])
    kid = encoded.metadata[KEY_ID].decode()
    with pytest.raises(UnknownKeyId) as err:
        await EncryptionCodec(Keyring.generate()).decode([encoded])
    assert kid in str(err.value) and "not in the keyring" in str(err.value)


async def test_unencrypted_payloads_pass_through_decode():
    assert await EncryptionCodec(Keyring.generate()).decode([PLAIN]) == [PLAIN]


def test_keyring_rejects_a_short_key_and_a_missing_current():
    with pytest.raises(ValueError, match="32 bytes"):
        Keyring(current="k", keys={"k": "c2hvcnQ="})
    with pytest.raises(ValueError, match="not in the keyring"):
        Keyring(current="k2", keys=Keyring.generate().keys)


def _client_with(env_client: Client, ring: Keyring) -> Client:
    config = env_client.config()
    config["data_converter"] = data_converter(ring)
    return Client(**config)


async def test_rotation_a_case_started_under_the_old_key_completes_under_the_new(
    ts_env, mail, smtp, ledger, task_queue
):
    old = Keyring.generate()
    new = old.rotated()
    before = _client_with(ts_env.client, old)
    after = _client_with(ts_env.client, new)
    flag = Flag.model_validate(flag_body(flag_id="ROTATE-1", jurisdiction="US-TX"))
    # No sticky cache: the next worker must pick the case up at once, as after a restart.
    async with make_worker(before, task_queue, smtp[0].port, ledger, max_cached_workflows=0):
        started = await start_case(before, task_queue, flag, demo_clinic())
        await open_task(started.handle, "risk_assessment")
    # Workers restart with the rotated keyring; the old key stays readable.
    async with make_worker(after, task_queue, smtp[0].port, ledger):
        handle = after.get_workflow_handle(started.case_id, result_type=CaseStatus)
        task = await open_task(handle, "risk_assessment")
        await complete(
            after,
            task,
            actor="dr-lee",
            data={"serious_threat": False, "identifiable_victims": False, "imminent": False},
        )
        result = await handle.result()
    assert result.status == "closed"
    history = await after.get_workflow_handle(task.workflow_id).fetch_history()
    kids = {
        p.metadata[KEY_ID].decode()
        for e in history.events
        for p in _payloads(e)
        if KEY_ID in p.metadata
    }
    assert kids == {old.current, new.current}
    # The old keyring alone cannot read what was written after the rotation.
    with pytest.raises(Exception, match=new.current):
        await _client_with(ts_env.client, old).get_workflow_handle(started.case_id).result()


def _payloads(event):
    attrs = event.workflow_execution_started_event_attributes
    if event.HasField("workflow_execution_started_event_attributes"):
        yield from attrs.input.payloads
    if event.HasField("workflow_execution_update_accepted_event_attributes"):
        accepted = event.workflow_execution_update_accepted_event_attributes
        yield from accepted.accepted_request.input.args.payloads
    if event.HasField("activity_task_scheduled_event_attributes"):
        yield from event.activity_task_scheduled_event_attributes.input.payloads


def test_a_refusal_reaches_temporal_as_one_sentence_without_a_stack_trace():
    # The Web UI's Update dialog shows a failure's stack trace under its message: an expected
    # refusal (domain.tasks.TaskRejected) goes without one; a fault keeps it.
    from temporalio.api.failure.v1 import Failure

    from domain.tasks import TaskRejected

    converter = data_converter(Keyring.generate())

    def as_failure(error: Exception) -> Failure:
        try:
            raise error
        except Exception as raised:  # noqa: BLE001 (a traceback to convert)
            failure = Failure()
            converter.failure_converter.to_failure(raised, converter.payload_converter, failure)
            return failure

    refused = as_failure(TaskRejected("task c1-1-risk_assessment needs the role clinician"))
    assert refused.message == "task c1-1-risk_assessment needs the role clinician"
    assert refused.stack_trace == "" and not refused.HasField("cause")
    assert refused.application_failure_info.type == "TaskRejected"
    fault = as_failure(ValueError("a bug"))
    assert 'File "' in fault.stack_trace
