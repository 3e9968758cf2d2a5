"""`confide worker` as the fault tests run it: worker.main(), with the notice activities given
the sent log (activities.notify.SentLog) in the ledger database.

worker.build_worker does not pass one yet (the one line it needs is in the chaos README text:
`NoticeActivities(settings.smtp, SentLog(ledger.engine))`); until it does, this wrapper adds
it, and once it does, the wrapper changes nothing. CHAOS_SENT_LOG=0 runs the worker exactly as
`confide worker` does, to see what happens without it.
    python -m tests.chaos.worker_main
"""

from __future__ import annotations

import asyncio
import os

import worker
from activities.notify import NoticeActivities, SentLog, SmtpSettings
from infra.ledger_db import Ledger
from infra.settings import Settings


class _WithSentLog(NoticeActivities):
    def __init__(self, smtp: SmtpSettings, sent: SentLog | None = None) -> None:
        if sent is None:
            sent = SentLog(Ledger(Settings.from_env().ledger_url).engine)
        super().__init__(smtp, sent)


if __name__ == "__main__":
    if os.environ.get("CHAOS_SENT_LOG", "1") != "0":
        worker.NoticeActivities = _WithSentLog  # type: ignore[misc]
    asyncio.run(worker.main())
    os._exit(0)  # no interpreter teardown under a live Temporal client (sdk-python#300)
