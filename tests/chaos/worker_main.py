"""`confide worker` as the fault tests run it: worker.main(), in a process the tests can SIGKILL.

worker.build_worker gives the notice activities the sent log (activities.notify.SentLog) in the
ledger database. CHAOS_SENT_LOG=0 runs the worker without it, to see what happens then (the
duplicates the worker-kill test counts).
    python -m tests.chaos.worker_main
"""

from __future__ import annotations

import asyncio
import os

import worker
from activities.notify import NoticeActivities, SentLog, SmtpSettings


class _WithoutSentLog(NoticeActivities):
    def __init__(self, smtp: SmtpSettings, sent: SentLog | None = None) -> None:
        super().__init__(smtp, None)


if __name__ == "__main__":
    if os.environ.get("CHAOS_SENT_LOG", "1") == "0":
        worker.NoticeActivities = _WithoutSentLog  # type: ignore[misc]
    asyncio.run(worker.main())
    os._exit(0)  # no interpreter teardown under a live Temporal client (sdk-python#300)
