"""`confide dev` (what `make run` runs): starts everything, takes a flag, stops on Ctrl-C,
resumes its cases on the next start, and names the variable to change when a port is taken."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import time

import httpx

from tests.support import BIN, ROOT, flag_body, free_port


def stack_env(tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CONFIDE_VAR_DIR": str(tmp_path / "var"),
            "TEMPORAL_PORT": str(free_port()),
            "TEMPORAL_UI_PORT": str(free_port()),
            "CONFIDE_API_PORT": str(free_port()),
            "CONFIDE_SMTP_PORT": str(free_port()),
            "CONFIDE_EHR_PORT": str(free_port()),
            "CONFIDE_DEV_API_KEY": "dev-stack-test-key",
        }
    )
    env.pop("CONFIDE_LEDGER_URL", None)
    return env


def start(env) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "confide"), "dev"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_banner(proc: subprocess.Popen, timeout: float = 60) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return "".join(seen)
    proc.kill()
    raise AssertionError("the stack did not come up:\n" + "".join(seen))


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return out


def person_token(banner: str, roster_id: str) -> dict[str, str]:
    """The header that signs in as a demo-roster person, with the dev token the banner prints."""
    token = re.search(rf"^  {re.escape(roster_id)}\s+(dev-\S+)$", banner, re.M).group(1)
    return {"Authorization": f"Bearer {token}"}


def wait_until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("condition not met")


def started_input(history_json: str) -> str:
    """The case input of `temporal workflow show -o json`, as text (payload data is base64)."""
    first = json.loads(history_json)["events"][0]
    payload = first["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    return base64.b64decode(payload["data"]).decode("utf-8", "replace")


def test_dev_stack_runs_a_case_stops_cleanly_and_resumes(tmp_path):
    env = stack_env(tmp_path)
    api = f"http://127.0.0.1:{env['CONFIDE_API_PORT']}"
    auth = {"Authorization": "Bearer dev-stack-test-key"}
    flag_file = tmp_path / "flag.json"
    flag_file.write_text(json.dumps(flag_body(flag_id="DEV-1")))

    proc = start(env)
    banner = wait_for_banner(proc)
    assert f"Intake API        {api}" in banner and "API key: dev-stack-test-key" in banner
    try:
        sent = subprocess.run(
            [str(BIN / "confide"), "flag", str(flag_file)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        case = wait_until(
            lambda: (
                (r := httpx.get(f"{api}/v1/cases/demo-clinic.DEV-1", headers=auth)).status_code
                == 200
                and r.json()["tasks"]
                and r.json()
            )
        )
        task = case["tasks"][0]
        url = f"{api}/v1/cases/demo-clinic.DEV-1/tasks/{task['task_id']}"
        answer = {"data": {"serious_threat": True, "identifiable_victims": True, "imminent": True}}
        # The clinic's key opens cases; a task is answered by a person, with their own token.
        r = httpx.post(url, headers=auth, json=answer | {"actor": "dr-lee"})
        assert r.status_code == 403, r.text
        r = httpx.post(url, headers=person_token(banner, "dr-lee"), json=answer)
        assert r.status_code == 200, r.text
        assert r.json()["completed_by"] == "dr-lee"
        mail_dir = tmp_path / "var" / "mail"
        wait_until(lambda: len(list(mail_dir.glob("*.eml"))) >= 3)
        names = " ".join(p.name for p in mail_dir.glob("*.eml"))
        assert "casey@example.org" in names and "police@agency.test" in names

        # The README's court-order walk-through starts the same way: the sample file through
        # the CLI, against the demo patient's chart that `make run` seeded.
        order = subprocess.run(
            [
                str(BIN / "confide"),
                "legal-request",
                str(ROOT / "deploy/dev/sample-court-order.json"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert order.returncode == 0 and "demo-clinic.L-3002" in order.stdout, order.stderr
        tasks = wait_until(
            lambda: (
                httpx.get(f"{api}/v1/cases/demo-clinic.L-3002", headers=auth).json().get("tasks")
            )
        )
        assert tasks[0]["task_id"] == "l-classify"

        # The README's EHR walk-through: the banner's curl raises a Flag in the stand-in EHR,
        # which notifies Confide; the case opens under the Flag's id.
        ehr = re.search(r"curl -s -X POST (\S+) .*?Bearer (\S+)' .*?--data @(\S+)", banner, re.S)
        base, token, sample = ehr.group(1), ehr.group(2), ehr.group(3)
        raised = httpx.post(
            base,
            content=(ROOT / sample).read_bytes(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
        )
        assert raised.status_code == 200, raised.text
        from_ehr = wait_until(
            lambda: (
                (
                    r := httpx.get(f"{api}/v1/cases/demo-clinic.fhir-EHR-1001", headers=auth)
                ).status_code
                == 200
                and r.json()["tasks"]
                and r.json()
            )
        )
        assert from_ehr["tasks"][0]["kind"] == "risk_assessment"

        # Operators read a case decrypted through the codec endpoint the banner names;
        # without it they (and the database file) see ciphertext only.
        endpoint = re.search(r"Codec endpoint\s+(\S+)", banner).group(1)
        ui = httpx.get(f"http://127.0.0.1:{env['TEMPORAL_UI_PORT']}/api/v1/settings").json()
        assert ui["Codec"]["Endpoint"] == endpoint  # the Web UI decodes through it
        show = [
            str(BIN / "temporal"),
            "workflow",
            "show",
            "-w",
            "demo-clinic.DEV-1",
            "--address",
            f"127.0.0.1:{env['TEMPORAL_PORT']}",
            "-o",
            "json",
        ]
        decoded = subprocess.run(
            [*show, "--codec-endpoint", endpoint], capture_output=True, text=True, timeout=60
        )
        assert decoded.returncode == 0, decoded.stderr
        assert "Jordan Example" in started_input(decoded.stdout)
        raw = subprocess.run(show, capture_output=True, text=True, timeout=60)
        assert "Jordan" not in started_input(raw.stdout)
        stored = b"".join(p.read_bytes() for p in (tmp_path / "var").glob("temporal.db*"))
        assert b"Jordan" not in stored and b"Casey" not in stored
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out
    assert "stopped" in out

    # A second start resumes the same case from var/, and the people keep their tokens.
    proc = start(env)
    again_banner = wait_for_banner(proc)
    assert person_token(again_banner, "po-diaz") == person_token(banner, "po-diaz")
    try:
        again = httpx.get(f"{api}/v1/cases/demo-clinic.DEV-1", headers=auth).json()
        assert len(again["disclosures"]) == 2 and again["status"] == "open"
    finally:
        stop(proc)


def test_a_taken_port_is_one_line_naming_the_variable(tmp_path):
    env = stack_env(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(env["CONFIDE_API_PORT"])))
        busy.listen()
        result = subprocess.run(
            [str(BIN / "confide"), "dev"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"confide dev: port {env['CONFIDE_API_PORT']} is taken; set CONFIDE_API_PORT to a free port"
    )
    assert "Traceback" not in result.stderr
