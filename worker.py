"""The Confide worker: every workflow and activity, on one task queue."""

from __future__ import annotations

import asyncio
import signal

from temporalio.client import Client
from temporalio.worker import Worker

from activities.accounting import AccountingActivities
from activities.approvals import ApprovalActivities
from activities.archive import ArchiveActivities
from activities.ledger import LedgerActivities
from activities.notify import NoticeActivities
from activities.records import RecordsActivities
from infra.archive_db import ArchiveStore
from infra.ledger_db import Ledger
from infra.log_context import LogContextInterceptor
from infra.logging import configure as configure_logging
from infra.records_db import RecordsStore
from infra.settings import Settings
from infra.temporal import connect
from workflows.abuse_report import AbuseReportWorkflow
from workflows.accounting import AccountingWorkflow
from workflows.archive import ArchiveWorkflow
from workflows.authorization import AuthorizationWorkflow
from workflows.case import CaseWorkflow
from workflows.duty_to_warn import DutyToWarnWorkflow
from workflows.legal_request import LegalRequestWorkflow

WORKFLOWS = [
    CaseWorkflow,
    DutyToWarnWorkflow,
    AbuseReportWorkflow,
    LegalRequestWorkflow,
    AuthorizationWorkflow,
    AccountingWorkflow,
    ArchiveWorkflow,
]


def build_worker(
    client: Client,
    settings: Settings,
    ledger: Ledger,
    records: RecordsStore | None = None,
    **options,
) -> Worker:
    """A worker with its activities wired to their clients (SMTP, ledger, records store, code
    secret); the records store defaults to the one beside the ledger. `options` go to
    temporalio's Worker (tests use them to tune caching)."""
    if records is None:
        records = RecordsStore(ledger.url)
        records.migrate()
    notices = NoticeActivities(settings.smtp)
    approvals = ApprovalActivities(settings.code_secret(), notices)
    ledger_acts = LedgerActivities(ledger)
    records_acts = RecordsActivities(records, settings.smtp)
    accounting_acts = AccountingActivities(ledger, records)
    archive_acts = ArchiveActivities(client, ArchiveStore(ledger.engine))
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
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
        ],
        interceptors=[LogContextInterceptor()],
        **options,
    )


async def main() -> None:
    """Run the worker until SIGINT or SIGTERM."""
    configure_logging()
    settings = Settings.from_env()
    ledger = Ledger(settings.ledger_url)
    ledger.migrate()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build_worker(client, settings, ledger):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
