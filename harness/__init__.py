"""Helpers the test suite and the benchmark share: a real SMTP sink, polling without sleeps, the
demo clinic and a sample flag, free ports, and the production worker wiring for a test server.

Nothing here imports from `tests/`: `bench/` uses it without the suite, and `tests/support.py`
and `tests/conftest.py` re-export it so existing imports keep working.
"""

from harness.codes import code_for, with_code
from harness.mail import MailSink, start_smtp
from harness.runtime import BIN, ROOT, eventually, free_port, make_worker
from harness.samples import demo_clinic, flag_body

__all__ = [
    "BIN",
    "ROOT",
    "MailSink",
    "code_for",
    "demo_clinic",
    "eventually",
    "flag_body",
    "free_port",
    "make_worker",
    "start_smtp",
    "with_code",
]
