"""Replay speed on saved histories (by default the checked-in tests/histories/*.json), without a
server: `confide audit replay`'s path (audit.replay.replay) against one `replay_workflow` call per
history and one batch (`workflow_replay_iterator`) over them all, each with the replayer the audit
command builds. The histories are only read as data (nothing is imported from tests/).

    python -m bench.replay_files                    # 5 rounds over tests/histories
    python -m bench.replay_files --rounds 10 --dir some/exported/histories
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

if __package__ in (None, ""):  # `python bench/replay_files.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import WorkflowHistory  # noqa: E402
from temporalio.worker import Replayer  # noqa: E402

from audit.replay import Recorded, from_files, replay, replayer  # noqa: E402
from harness import ROOT  # noqa: E402


def case_of(workflow_id: str) -> str:
    """The case a workflow belongs to: a concern `<clinic>.<case>.c1-...` is its case's."""
    return ".".join(workflow_id.split(".")[:2])


async def one_by_one(r: Replayer, recorded: list[Recorded]) -> None:
    for rec in recorded:
        await r.replay_workflow(rec.history, raise_on_replay_failure=False)


async def batch(r: Replayer, recorded: list[Recorded]) -> None:
    async def source() -> AsyncIterator[WorkflowHistory]:
        for rec in recorded:
            yield rec.history

    async with r.workflow_replay_iterator(source()) as results:
        async for _ in results:
            pass


async def audit_path(r: Replayer, recorded: list[Recorded]) -> None:
    outcomes = await replay(recorded, r)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise SystemExit(f"replay failed: {failed[0].workflow_id}: {failed[0].error}")


async def main(args: argparse.Namespace) -> None:
    paths = sorted(Path(args.dir).glob("*.json"))
    if not paths:
        raise SystemExit(f"no *.json histories in {args.dir}")
    recorded = from_files(paths)
    cases = len({case_of(r.workflow_id) for r in recorded})
    events = sum(len(r.history.events) for r in recorded)
    print(f"{len(recorded)} histories, {cases} cases, {events} events from {args.dir}")
    r = replayer()
    modes: dict[str, Callable[[Replayer, list[Recorded]], Awaitable[None]]] = {
        "audit.replay.replay": audit_path,
        "one replay_workflow per history": one_by_one,
        "one workflow_replay_iterator": batch,
    }
    t0 = time.perf_counter()
    await batch(r, recorded)  # the first round imports the workflows into the sandbox
    print(f"first (cold) batch round: {time.perf_counter() - t0:.2f} s")
    for name, run in modes.items():
        if args.only and args.only not in name:
            continue
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            await run(r, recorded)
            times.append(time.perf_counter() - t0)
        best, median = min(times), statistics.median(times)
        print(
            f"{name:34} median {median:6.3f} s  best {best:6.3f} s  "
            f"{cases / median:6.1f} cases/s  {len(recorded) / median:6.1f} histories/s"
        )


if __name__ == "__main__":
    p = argparse.ArgumentParser(
        prog="bench/replay_files.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dir", default=str(ROOT / "tests" / "histories"), help="*.json histories")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per mode (%(default)s)")
    p.add_argument(
        "--only", help="time only the modes whose name contains this (e.g. iterator, audit)"
    )
    p.add_argument(
        "--keyring",
        default=str(ROOT / "tests" / "keyring.test.json"),
        help="the keyring the histories were encrypted with (default: the suite's test keyring; "
        "CONFIDE_KEYRING_FILE if set wins)",
    )
    args = p.parse_args()
    os.environ.setdefault("CONFIDE_KEYRING_FILE", args.keyring)
    asyncio.run(main(args))
