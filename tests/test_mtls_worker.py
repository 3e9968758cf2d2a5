"""The same worker binary reaches Temporal over mutual TLS, configured only through the
environment (temporalio.envconfig's TEMPORAL_TLS_* variables): here through a TLS-terminating
proxy in front of the dev server that demands a client certificate from the test's CA, as a
self-hosted cluster's frontend would (issue 14)."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import uuid

import pytest
import trustme
from temporalio.client import Client
from temporalio.service import TLSConfig

from domain.flags import Flag
from intake.cases import start_case
from tests.support import ROOT, demo_clinic, eventually, flag_body, worker_identities
from tests.test_duty_to_warn_workflow import open_task
from tests.tls_proxy import tls_proxy


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual: no client certificate, no connection
    context.set_alpn_protocols(["h2"])  # gRPC is HTTP/2
    return context


async def test_the_worker_connects_with_mtls_configured_only_through_the_environment(
    dev_env, smtp, tmp_path
):
    ca = trustme.CA()
    client_cert = ca.issue_cert("confide-worker.clinic.example", common_name="confide-worker")
    paths = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.pem", "key": tmp_path / "k"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    client_cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    client_cert.private_key_pem.write_to_path(str(paths["key"]))
    queue = f"tq-{uuid.uuid4().hex}"
    upstream = dev_env.client.service_client.config.target_host
    async with tls_proxy(_server_context(ca), upstream) as (port, peers):
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "TEMPORAL_NAMESPACE": dev_env.client.namespace,
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(paths["cert"]),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(paths["key"]),
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(paths["ca"]),
            "CONFIDE_ENV": "dev",
            "CONFIDE_TASK_QUEUE": queue,
            "CONFIDE_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
            "CONFIDE_SMTP_PORT": str(smtp[0].port),
            "CONFIDE_SMTP_TLS": "none",
        }
        env.pop("TEMPORAL_PROFILE", None)
        env.pop("TEMPORAL_CONFIG_FILE", None)
        log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 (closed below)
        worker = subprocess.Popen(
            [sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            started = await start_case(
                dev_env.client,
                queue,
                Flag.model_validate(flag_body(flag_id="MTLS-1")),
                demo_clinic(),
            )
            # The case's workflow tasks were done by that worker, over the proxy.
            await open_task(started.handle, "risk_assessment")
            identities = await eventually(
                lambda: worker_identities(dev_env.client, started.case_id)
            )
            assert any(i.startswith(f"{worker.pid}@") for i in identities), identities
            names = [dict(x[0] for x in p["subject"]).get("commonName") for p in peers if p]
            assert "confide-worker" in names, names
            # Without a client certificate the frontend (here, the proxy) admits no one.
            with pytest.raises(RuntimeError):
                await Client.connect(
                    f"127.0.0.1:{port}", tls=TLSConfig(server_root_ca_cert=ca.cert_pem.bytes())
                )
        finally:
            # Its graceful shutdown is not what this test is about (test_several_workers).
            worker.kill()
            worker.wait()
            log.close()
    await started.handle.terminate("test over")
