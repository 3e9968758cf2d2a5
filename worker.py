"""The Confide worker: every workflow and activity, on one task queue."""

from __future__ import annotations

import asyncio
import functools
import importlib
import signal
from collections.abc import Callable
from datetime import timedelta
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import CodeType

from temporalio.client import Client
from temporalio.worker import Worker

from activities.accounting import AccountingActivities
from activities.approvals import ApprovalActivities
from activities.archive import ArchiveActivities
from activities.fhir_intake import FhirIntakeActivities
from activities.fhir_write_back import FhirWriteBackActivities
from activities.ledger import LedgerActivities
from activities.notify import NoticeActivities, SentLog
from activities.records import RecordsActivities
from domain.clinic import ClinicDirectory, StaffLinks
from infra.archive_db import ArchiveStore
from infra.fhir_ehr import Ehrs
from infra.fhir_records import FhirRecordsSource
from infra.fhir_sources import FhirSources
from infra.ledger_db import Ledger
from infra.log_context import LogContextInterceptor
from infra.logging import configure as configure_logging
from infra.records_db import RecordsStore
from infra.settings import Settings
from infra.temporal import connect, metrics_runtime
from infra.versioning import deployment_config
from infra.worker_health import health_port, serve_probes
from workflows import search_attributes
from workflows.abuse_report import AbuseReportWorkflow
from workflows.accounting import AccountingWorkflow
from workflows.archive import ArchiveWorkflow
from workflows.authorization import AuthorizationWorkflow
from workflows.case import CaseWorkflow
from workflows.duty_to_warn import DutyToWarnWorkflow
from workflows.fhir_feed import FhirFeedWorkflow
from workflows.fhir_write_back import FhirWriteBackWorkflow
from workflows.legal_request import LegalRequestWorkflow

# Workflows kept in memory between their workflow tasks (temporalio's default is 1,000). A cached
# workflow with its sandbox costs about 0.3-0.4 MB; with 250 the worker stays near 210 MB with
# 2,000 open cases where 1,000 took it to 370 MB, and cases/s, CPU per case and a new flag's
# latency did not change (bench/PROFILE.md). A case evicted between tasks is replayed on its
# next one, which costs CPU only when more than 125 cases are active at once.
MAX_CACHED_WORKFLOWS = 250

# On SIGTERM the worker stops polling and gives activities already running this long to finish
# (an SMTP send takes seconds; a packet build, tens) before cancelling them; Temporal retries
# whatever was cut short. The systemd unit's TimeoutStopSec (60 s) leaves room for it.
GRACEFUL_SHUTDOWN = timedelta(seconds=45)

WORKFLOWS = [
    CaseWorkflow,
    DutyToWarnWorkflow,
    AbuseReportWorkflow,
    LegalRequestWorkflow,
    AuthorizationWorkflow,
    AccountingWorkflow,
    ArchiveWorkflow,
    FhirFeedWorkflow,
    FhirWriteBackWorkflow,
]


def reuse_compiled_code() -> None:
    """Compile once per process what the workflow sandbox compiles again and again.

    - Modules. The sandbox imports a workflow's own modules (workflows/*.py) anew for every
      workflow run it starts and every history it replays. Where no bytecode is written
      (PYTHONDONTWRITEBYTECODE, set on the development machines and common in containers, or a
      tree the worker cannot write) each of those imports compiled the source again: the
      largest single cost in the worker's profile. The code object is kept under the file's
      path and its exact bytes, so a changed file still compiles anew; nothing is written.
    - Snippets. The sandbox enters a workflow through `exec` of a two-line string, for every
      activation and for every payload it encodes (to ask the workflow for its serialization
      context), and `exec` compiles the string each time. The handful of distinct strings are
      compiled once. temporalio is pinned to 1.35.x; if its sandbox stops calling `exec` this
      way, the sandbox runs exactly as before.

    bench/PROFILE.md has the profile and the measured effect.
    """
    _compile_modules_once()
    _compile_sandbox_snippets_once()


# Only this project's modules (the ones the sandbox imports again and again) are kept compiled;
# anything else the process imports compiles as it always did, and is not held in memory.
COMPILE_ONCE_UNDER: tuple[str, ...] = (str(Path(__file__).resolve().parent) + "/",)


def _compile_modules_once() -> None:
    if getattr(SourceFileLoader.source_to_code, "_confide_cached", False):
        return
    compile_source = SourceFileLoader.source_to_code
    compiled: dict[tuple, object] = {}

    def source_to_code(self, data, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not isinstance(data, bytes | str) or not str(path).startswith(COMPILE_ONCE_UNDER):
            return compile_source(self, data, path, *args, **kwargs)
        key = (str(path), data, args, tuple(sorted(kwargs.items())))
        code = compiled.get(key)
        if code is None:
            code = compiled[key] = compile_source(self, data, path, *args, **kwargs)
        return code

    source_to_code._confide_cached = True  # type: ignore[attr-defined]
    SourceFileLoader.source_to_code = source_to_code  # type: ignore[method-assign]


def _compile_sandbox_snippets_once() -> None:
    try:  # a private module of temporalio (pinned to 1.35.x): if it moves, change nothing
        sandbox_runner = importlib.import_module("temporalio.worker.workflow_sandbox._runner")
    except ImportError:
        return
    if "exec" in vars(sandbox_runner):
        return
    snippets: dict[str, CodeType] = {}

    def exec_compiled(source, globals_=None, locals_=None, /):  # type: ignore[no-untyped-def]
        if isinstance(source, str):
            code = snippets.get(source)
            if code is None:
                code = snippets[source] = compile(source, "<string>", "exec", dont_inherit=True)
            source = code
        exec(source, globals_, locals_)

    sandbox_runner.exec = exec_compiled  # type: ignore[attr-defined]


def build_worker(
    client: Client,
    settings: Settings,
    ledger: Ledger,
    records: RecordsStore | None = None,
    fhir_sources: FhirSources | None = None,
    clinics: ClinicDirectory | None = None,
    **options,
) -> Worker:
    """A worker with its activities wired to their clients (SMTP, ledger, records store, code
    secret); the records store defaults to the one beside the ledger. `options` go to
    temporalio's Worker (tests use them to tune caching)."""
    reuse_compiled_code()
    options.setdefault("max_cached_workflows", MAX_CACHED_WORKFLOWS)
    # A test may run another build's workflows (tests/test_worker_versioning.py).
    options.setdefault("workflows", WORKFLOWS)
    options.setdefault("graceful_shutdown_timeout", GRACEFUL_SHUTDOWN)
    if records is None:
        records = RecordsStore(ledger.url)
        records.migrate()
    # The sent log in the ledger database: a retry never re-sends what the server accepted.
    sent = SentLog(ledger.engine)
    notices = NoticeActivities(settings.smtp, sent)
    approvals = ApprovalActivities(settings.code_secret(), notices)
    ledger_acts = LedgerActivities(ledger)
    # Each clinic's EHR, when it has a FHIR source (issue 15): flags come from it, records
    # are read from it; a clinic without one keeps the built-in records store.
    ehrs = Ehrs((fhir_sources or FhirSources.from_env()).sources)
    records_acts = RecordsActivities(
        records, settings.smtp, source=FhirRecordsSource(ehrs, records), sent=sent
    )
    accounting_acts = AccountingActivities(ledger, records)
    archive_acts = ArchiveActivities(client, ArchiveStore(ledger.engine))
    # The clinics file, read when a FHIR Flag first arrives (a test passes its own).
    directory: Callable[[], ClinicDirectory] = (
        (lambda: clinics)
        if clinics
        else functools.cache(lambda: ClinicDirectory.load(settings.clinics_file))
    )
    write_back = FhirWriteBackActivities(ledger, ehrs, directory)
    fhir_acts = FhirIntakeActivities(
        client,
        settings.task_queue,
        ledger,
        ehrs,
        directory,
        notices,
        StaffLinks(
            work=settings.api_url, ui=settings.ui_url, namespace=settings.temporal_namespace
        ),
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        activities=[
            notices.send_notice,
            notices.send_staff_notice,
            approvals.issue_approval_codes,
            ledger_acts.record_disclosure,
            records_acts.list_documents,
            records_acts.build_packet,
            records_acts.send_packet,
            accounting_acts.prepare_accounting,
            archive_acts.archive_closed_runs,
            fhir_acts.open_cases_from_fhir,
            fhir_acts.alert_unread_fhir,
            write_back.write_back_to_ehr,
        ],
        interceptors=[LogContextInterceptor()],
        **options,
    )


async def main() -> None:
    """Run the worker until SIGINT or SIGTERM."""
    configure_logging()
    settings = Settings.from_env()
    # Refuse to start rather than fail later: a missing secret outside dev, or a namespace
    # without Confide's search attributes (every case's first workflow task would fail).
    settings.check_service()
    ledger = Ledger(settings.ledger_url)
    ledger.migrate()
    # Read before connecting, so a bad value stops the process with its sentence at once.
    versioning = deployment_config()
    probes = health_port()
    client = await connect(settings, runtime=metrics_runtime())
    await search_attributes.check_registered(client, settings.temporal_namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    polling = False
    async with serve_probes(client, lambda: polling, probes):
        async with build_worker(client, settings, ledger, deployment_config=versioning):
            polling = True
            await stop.wait()
            # Draining from here: not ready, so no new traffic is routed to this pod.
            polling = False


if __name__ == "__main__":
    asyncio.run(main())
