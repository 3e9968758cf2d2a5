"""The failure converter: an expected refusal reaches the person who caused it as one sentence.

A `complete_task` that breaks a rule (wrong role, a form that does not fit, a wrong approval
code) is refused by the Update's validator with a plain message saying what is wrong and what
to do. Temporal sends that refusal back as a failure, and by default a failure carries the
Python stack trace, which the Web UI's Update dialog shows under the message: twenty lines of
file paths a supervisor cannot act on. A refusal is not a fault, so it goes without one; every
other failure keeps its trace for the engineer who needs it.
"""

from __future__ import annotations

from temporalio.api.failure.v1 import Failure
from temporalio.converter import DefaultFailureConverter, PayloadConverter


class FailureConverter(DefaultFailureConverter):
    """Temporal's default, without the stack trace of an expected refusal (an exception whose
    class sets `refusal = True`, e.g. domain.tasks.TaskRejected)."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        if getattr(type(exception), "refusal", False):
            failure.stack_trace = ""
            failure.ClearField("cause")
