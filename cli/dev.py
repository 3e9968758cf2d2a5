"""`confide dev` (what `make run` calls): the whole stack on embedded defaults, Ctrl-C stops it.

Temporal dev server (state in var/, SQLite with WAL) and Web UI, search attributes, a mail sink
writing var/mail/*.eml, the worker, and the intake API with the demo clinic configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import uvicorn
from temporalio.client import Client

from audit.archive import ensure_schedule
from audit.fhir_schedule import ensure_write_back_schedule
from cli.dev_ehr import DevEhr, start_dev_ehr
from domain.clinic import Clinic, ClinicDirectory, hash_api_key
from infra.fhir_sources import FhirSources
from infra.keyring import Keyring
from infra.ledger_db import Ledger
from infra.logging import configure as configure_logging
from infra.mail_sink import start_mail_sink
from infra.records_db import RecordsStore
from infra.secret_files import read_or_create
from infra.settings import Settings
from infra.temporal import connect
from intake.app import create_app
from worker import build_worker
from workflows import search_attributes as sa

DEMO_CLINIC = "demo-clinic"


class PortTaken(SystemExit):
    """A port the stack needs is in use."""


def check_ports(settings: Settings) -> None:
    """Fail fast, naming the variable to change, if a port is taken."""
    ports = [
        ("TEMPORAL_PORT", settings.temporal_port),
        ("TEMPORAL_UI_PORT", settings.ui_port),
        ("CONFIDE_API_PORT", settings.api_port),
        ("CONFIDE_SMTP_PORT", settings.smtp_port),
    ]
    if dev_ehr_wanted():
        ports.append(("CONFIDE_EHR_PORT", ehr_port()))
    for var, port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                raise PortTaken(
                    f"confide dev: port {port} is taken; set {var} to a free port"
                ) from None


def dev_ehr_wanted() -> bool:
    """The stand-in EHR starts unless CONFIDE_DEV_EHR=0 (or sekmet is not installed: it comes
    with the test extra, which `make run` installs)."""
    installed = (Path(sys.executable).parent / "sekmet").exists()
    return installed and os.environ.get("CONFIDE_DEV_EHR", "1") != "0"


def ehr_port() -> int:
    return int(os.environ.get("CONFIDE_EHR_PORT") or 8090)


def dev_api_key(var: Path, clinic_id: str = DEMO_CLINIC) -> str:
    """The demo clinic's key: CONFIDE_DEV_API_KEY, else the key generated on first start and
    kept in var/dev-api-key. Each other sample clinic gets its own, in var/dev-api-key-<id>."""
    if clinic_id != DEMO_CLINIC:
        return read_or_create(var / f"dev-api-key-{clinic_id}", lambda: secrets.token_urlsafe(24))
    if key := os.environ.get("CONFIDE_DEV_API_KEY"):
        return key
    return read_or_create(var / "dev-api-key", lambda: secrets.token_urlsafe(24))


def dev_person_tokens(var: Path, clinic: Clinic) -> dict[str, str]:
    """In dev only (CONFIDE_ENV=dev): a personal API token for each person on the demo roster,
    so tasks can be completed over HTTP as that person (intake/identity.py). Each is derived
    from one secret made on first start and kept in var/, so they stay the same across
    restarts and a person added to the roster gets one too."""
    if os.environ.get("CONFIDE_ENV") != "dev":
        return {}
    secret = read_or_create(var / "dev-person-tokens.secret", lambda: secrets.token_hex(32))
    return {
        m.id: f"dev-{m.id}-"
        + hmac.new(secret.encode(), m.id.encode(), hashlib.sha256).hexdigest()[:24]
        for m in clinic.staff
    }


def dev_keyring(var: Path) -> None:
    """Create var/keyring.json on first start unless a keyring is configured elsewhere."""
    if os.environ.get("CONFIDE_KEYRING") or os.environ.get("CONFIDE_KEYRING_FILE"):
        return
    path = var / "keyring.json"
    if not path.exists():
        Keyring.generate().dump(path)


def codec_endpoint(settings: Settings) -> str:
    """The URL the Web UI and the CLI decode through (token in the path: see codec_server)."""
    return f"http://localhost:{settings.api_port}/codec/{settings.codec_tokens()[0]}"


def temporal_command(settings: Settings) -> list[str]:
    """The dev server's command line: persistent SQLite with the pragmas that double its rate,
    and the Web UI pointed at our codec endpoint so it shows decrypted payloads."""
    binary = Path(sys.executable).parent / "temporal"
    cmd = [
        str(binary),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.ui_port),
        "--db-filename",
        str(settings.var_dir / "temporal.db"),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=1",
        "--ui-disable-news-fetch",
        "--ui-codec-endpoint",
        codec_endpoint(settings),
        "--log-level",
        "warn",
    ]
    for key, type_name in sa.TYPE_NAMES.items():
        cmd += ["--search-attribute", f"{key.name}={type_name}"]
    return cmd


async def wait_for_temporal(settings: Settings, proc: subprocess.Popen) -> Client:
    """Connect once the dev server answers (it starts in well under a second here)."""
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(
                f"confide dev: the Temporal dev server exited (code "
                f"{proc.returncode}); see {settings.var_dir / 'temporal.log'}"
            )
        try:
            return await connect(settings)
        except RuntimeError:
            await asyncio.sleep(0.1)
    raise SystemExit("confide dev: the Temporal dev server did not answer within 30 s")


class _Server(uvicorn.Server):
    # The stack owns Ctrl-C; uvicorn must not swallow it.
    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def run_dev() -> None:
    """Start everything, print where it is, and stop it all on Ctrl-C or SIGTERM."""
    # The dev stack, and only it, may generate its secrets and speak plain SMTP to its sink;
    # the worker and API it starts inherit this.
    os.environ["CONFIDE_ENV"] = "dev"
    settings = Settings.from_env()
    var = settings.var_dir
    configure_logging(os.environ.get("CONFIDE_LOG_LEVEL", "WARNING"))
    (var / "mail").mkdir(parents=True, exist_ok=True)
    check_ports(settings)
    key = dev_api_key(var)
    dev_keyring(var)
    directory = ClinicDirectory.load(settings.clinics_file)
    # Every clinic in the dev file gets a key and its people tokens: the demo clinic, and the
    # sample clinics in other jurisdictions (Ontario, England) the walk-throughs use.
    people: dict[str, str] = {}
    others: dict[str, str] = {}
    for clinic in directory.clinics:
        clinic_key = dev_api_key(var, clinic.id)
        clinic.api_key_sha256.append(hash_api_key(clinic_key))
        if clinic.id != DEMO_CLINIC:
            others[clinic.id] = clinic_key
        tokens = dev_person_tokens(var, clinic)
        for member in clinic.staff:
            if member.id in tokens:
                member.token_sha256.append(hash_api_key(tokens[member.id]))
        people.update(tokens)

    log = open(var / "temporal.log", "ab")  # noqa: SIM115 (lives as long as the process)
    proc = subprocess.Popen(
        temporal_command(settings), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    mail = None
    ehr: DevEhr | None = None
    try:
        print("confide dev: starting the Temporal dev server ...", flush=True)
        client = await wait_for_temporal(settings, proc)
        # --search-attribute registers only into a new database; an existing var/ from an
        # older version may lack attributes added since.
        await sa.register(client, settings.temporal_namespace)
        mail = start_mail_sink(var / "mail", settings.smtp_port)
        ledger = Ledger(settings.ledger_url)
        ledger.migrate()
        # The records store sits beside the ledger; the demo patient's chart makes the
        # court-order and subpoena walk-throughs work.
        records = RecordsStore(settings.ledger_url)
        records.migrate()
        records.seed_demo(DEMO_CLINIC, "P-301")
        # The demo clinic's stand-in EHR (cli/dev_ehr.py): Flags raised there open cases, and
        # disclosures go back into it. Without it, whatever CONFIDE_FHIR_SOURCES names.
        sources = FhirSources.from_env()
        if dev_ehr_wanted():
            ehr = start_dev_ehr(var, ehr_port(), DEMO_CLINIC)
            sources = ehr.sources
        app = create_app(
            settings, directory, client, ledger=ledger, records=records, fhir_sources=sources
        )
        server = _Server(
            uvicorn.Config(app, host="127.0.0.1", port=settings.api_port, log_level="warning")
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with build_worker(client, settings, ledger, records, fhir_sources=sources):
            # Closed cases' histories go to the archive in the ledger database every hour.
            await ensure_schedule(client, settings)
            if sources.sources:
                await ensure_write_back_schedule(client, settings)
            api = asyncio.create_task(server.serve())
            # The banner promises a listening API: wait until uvicorn has bound its port.
            while not server.started and not api.done():
                await asyncio.sleep(0.05)
            if ehr is not None:
                # The EHR's handshake needs the API listening.
                await asyncio.to_thread(
                    ehr.subscribe, f"http://127.0.0.1:{settings.api_port}", DEMO_CLINIC
                )
            print(banner(settings, key, people, others, ehr), flush=True)
            await stop.wait()
            print("\nconfide dev: stopping ...", flush=True)
            server.should_exit = True
            await api
    finally:
        if mail is not None:
            mail.stop()
        if ehr is not None:
            ehr.stop()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        print("confide dev: stopped. State is kept in var/; `make run` resumes it.", flush=True)


def role_links(settings: Settings, clinic_id: str) -> str:
    """One line per role: the page listing the work waiting on it (intake/work_list.py)."""
    from domain.clinic import ESCALATION_ORDER
    from intake.work_list import work_page_url

    return "\n".join(
        f"  {role.value:<17} {work_page_url(settings.api_url, clinic_id, role)}"
        for role in ESCALATION_ORDER
    )


def person_lines(people: dict[str, str]) -> str:
    """One line per person on the dev rosters: their dev token."""
    if not people:
        return ""
    lines = "\n".join(f"  {person:<17} {token}" for person, token in people.items())
    return (
        "\nPeople complete tasks as themselves, with their own token (the API key cannot):\n"
        "  POST /v1/cases/<case>/tasks/<task> with Authorization: Bearer <token>\n" + lines + "\n"
    )


def ehr_lines(ehr: DevEhr | None) -> str:
    """The stand-in EHR's lines of the banner: where it is, and how to raise a Flag in it."""
    if ehr is None:
        return ""
    return (
        f"  Stand-in EHR      {ehr.base}   (FHIR R4; demo-clinic subscribed to its Flags)\n"
        "    Raise a Flag in it as a clinician would in the EHR (case demo-clinic.fhir-EHR-1001):\n"
        f"    curl -s -X POST {ehr.base} -H 'Content-Type: application/fhir+json' \\\n"
        f"      -H 'Authorization: Bearer {ehr.admin_token}' \\\n"
        "      --data @deploy/dev/sample-ehr-flag.json\n"
    )


def banner(
    settings: Settings,
    key: str,
    people: dict[str, str] | None = None,
    others: dict[str, str] | None = None,
    ehr: DevEhr | None = None,
) -> str:
    """What `make run` prints once everything is up."""
    api = f"http://127.0.0.1:{settings.api_port}"
    samples = "".join(
        f"  Sample clinic     {cid:<14} API key: {k}\n" for cid, k in (others or {}).items()
    )
    return f"""
Confide dev stack is up.
  Temporal Web UI   {settings.ui_url}
  Temporal gRPC     {settings.temporal_address}
  Intake API        {api}   (OpenAPI: {api}/openapi.json)
  SMTP (mail sink)  127.0.0.1:{settings.smtp_port} -> {settings.var_dir / "mail"}
  Ledger + records  {settings.ledger_url}   (demo patient P-301 has a chart)
  Codec endpoint    {codec_endpoint(settings)}
  Demo clinic       demo-clinic   API key: {key}
{samples}{ehr_lines(ehr)}
Work waiting on each role (overdue first; each task links to its page in the Web UI):
{role_links(settings, "demo-clinic")}
{person_lines(people or {})}
Try:  CONFIDE_API_KEY={key} .venv/bin/confide flag deploy/dev/sample-flag.json
      .venv/bin/temporal workflow show -w demo-clinic.F-1001 \\
          --address {settings.temporal_address} --codec-endpoint {codec_endpoint(settings)} \\
          --detailed
Ctrl-C stops everything.
"""
