"""Benchmark Confide against the engine baseline (issue 10): `make bench`.

One run starts its own Temporal dev server (a SQLite file with the WAL pragmas `make run` uses),
an SMTP sink, the Confide worker (`confide worker`), the intake API and the baseline worker, each
in a process of its own, and measures in order:

  baseline   a minimal workflow with the same business steps (bench/baseline.py), and
  api        Confide through the HTTP API, level by level (baseline then Confide at each
             concurrency): cases/s, history events per case, flag -> first e-mail and intake
             p50/p95/p99, CPU per case of each process, the ratio to the baseline
  sustained  a steady rate of flags (open loop), timed from each flag's scheduled send
  replay     this run's Confide histories through today's code (batch replay)
  open       many cases left waiting on their timers: worker RSS, database size, and a new
             flag's latency against the same before they were opened

It prints a table, writes results.json (bench/results.py) and results.png to --out, and
asserts nothing. --smoke runs every part at tiny sizes (what `make test` runs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import api, confide, open_cases, replay, sustained  # noqa: E402
from bench.report import chart, markdown, targets  # noqa: E402
from bench.results import Meta, Results  # noqa: E402
from bench.stack import Stack, temporal_cli_version  # noqa: E402
from harness import ROOT  # noqa: E402

PARTS = ["baseline", "api", "sustained", "replay", "open"]
SMOKE = {
    "concurrency": "1,2",
    "cases": 3,
    "warmup": 1,
    "sample": 1,
    "rate": 2.0,
    "duration": 3.0,
    "open_cases": 50,
    "probes": 2,
    "fill_concurrency": 16,
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="every part at tiny sizes, for the test suite (sizes given explicitly still win)",
    )
    p.add_argument(
        "--only",
        default=",".join(PARTS),
        help="comma-separated parts to run, of: " + ",".join(PARTS) + " (default: all)",
    )
    p.add_argument(
        "--concurrency",
        default="1,10,20,50",
        help="levels for baseline and api (default: %(default)s)",
    )
    p.add_argument(
        "--cases",
        type=int,
        default=None,
        help="cases per level (default: 30 at concurrency 1, else 8 per slot up to 300)",
    )
    p.add_argument("--warmup", type=int, default=None, help="warm-up cases of each kind (5)")
    p.add_argument(
        "--sample",
        type=int,
        default=None,
        help="cases per level whose history events are counted (10)",
    )
    p.add_argument("--rate", type=float, default=None, help="sustained flags per second (10)")
    p.add_argument("--duration", type=float, default=None, help="sustained seconds (60)")
    p.add_argument(
        "--open-cases", type=int, default=None, help="open cases to leave waiting (10000)"
    )
    p.add_argument(
        "--probes",
        type=int,
        default=None,
        help="sequential flags timed before and after the fill (20)",
    )
    p.add_argument(
        "--fill-concurrency",
        type=int,
        default=None,
        help="case starts in flight while filling (64)",
    )
    p.add_argument(
        "--replay-cases",
        type=int,
        default=0,
        help="replay at most this many cases (0: all of the run's)",
    )
    p.add_argument(
        "--poll-ms",
        type=float,
        default=50,
        help="how often a case's driver GETs the case until its task shows (default: %(default)s)",
    )
    p.add_argument(
        "--out", type=Path, default=ROOT / "bench", help="where results.json and results.png go"
    )
    p.add_argument(
        "--worker-cache",
        type=int,
        default=None,
        help="run the worker with this max_cached_workflows (default: `confide worker` as is, "
        "temporalio's 1000)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the scratch directory (logs, databases)"
    )
    p.add_argument(
        "--report", type=Path, help="print the Markdown tables of a results.json and exit (no run)"
    )
    args = p.parse_args(argv)
    defaults = {
        "cases": 0,
        "warmup": 5,
        "sample": 10,
        "rate": 10.0,
        "duration": 60.0,
        "open_cases": 10000,
        "probes": 20,
        "fill_concurrency": 64,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, SMOKE[key] if args.smoke else value)
    if args.smoke and args.concurrency == p.get_default("concurrency"):
        args.concurrency = SMOKE["concurrency"]
    args.parts = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        p.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    args.levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    return args


def _git(*cmd: str) -> str:
    try:
        out = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except OSError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def meta(args: argparse.Namespace) -> Meta:
    import temporalio

    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    commit = _git("rev-parse", "HEAD") or os.environ.get("BENCH_COMMIT", "unknown")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) or bool(
        os.environ.get("BENCH_DIRTY")
    )
    return Meta(
        started_at=datetime.now(UTC),
        smoke=args.smoke,
        commit=commit,
        dirty=dirty,
        cpus=os.cpu_count() or 0,
        cpu_model=cpu_model,
        memory_gb=round(mem_kb / 2**20, 1),
        python=platform.python_version(),
        temporalio=temporalio.__version__,
        temporal_cli=temporal_cli_version(),
        args={k: str(v) for k, v in vars(args).items() if k not in ("parts", "levels")},
    )


async def bench(args: argparse.Namespace) -> Results:
    started = time.perf_counter()
    results = Results(meta=meta(args))
    parts = args.parts
    confide_on = any(p in parts for p in ("api", "sustained", "replay", "open"))
    base_on = "baseline" in parts
    tmp = Path(tempfile.mkdtemp(prefix="confide-bench-"))
    stack = Stack(tmp, baseline=base_on, confide=confide_on, worker_cache=args.worker_cache)
    run = uuid.uuid4().hex[:6]
    poll = args.poll_ms / 1000
    print(f"bench: scratch directory {tmp}; parts {', '.join(parts)}", flush=True)
    try:
        await stack.start()
        print(f"bench: stack up after {time.perf_counter() - started:.1f} s", flush=True)
        await api.warm_up(stack, run, args.warmup, poll, confide_on, base_on)
        if "worker" in stack.procs:
            results.worker_rss_start_mb = stack.procs["worker"].rss_mb()
        if "api" in parts or base_on:
            print("bench: baseline and api levels", flush=True)
            results.levels = await api.run_levels(
                stack,
                run,
                args.levels,
                args.cases,
                poll,
                args.sample,
                confide_on="api" in parts,
                base_on=base_on,
            )
        if "api" in parts and args.warmup > 0:
            # A warm-up case is in follow-up by now: its case and its concern both answer.
            results.get_case = await confide.get_case_cost(
                stack, confide.case_id(f"{run}W-0"), 20 if args.smoke else 200
            )
        if "sustained" in parts:
            print(f"bench: sustained {args.rate:g} flags/s for {args.duration:g} s", flush=True)
            results.sustained = await sustained.run_sustained(
                stack, run, args.rate, args.duration, poll
            )
        if "replay" in parts:
            prefixes = [f"{run}A", f"{run}S", f"{run}W"]
            if "api" not in parts and "sustained" not in parts:
                # Nothing recorded yet: record some cases to replay.
                n = args.replay_cases or (5 if args.smoke else 100)
                await api.level_confide(stack, f"{run}R", 10, n, 0, poll)
                prefixes = [f"{run}R"]
            print("bench: replay", flush=True)
            results.replay = await replay.run_replay(
                stack, prefixes, args.replay_cases, compare=10 if args.smoke else 100
            )
        if "open" in parts:
            print(f"bench: {args.open_cases} open cases", flush=True)
            results.open_cases = await open_cases.run_open(
                stack, run, args.open_cases, args.probes, args.fill_concurrency, poll
            )
    finally:
        stack.stop()
        if args.keep:
            print(f"bench: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results.targets = targets(results)
    results.meta.total_s = round(time.perf_counter() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.report:
        stored = Results.read(args.report)
        stored.targets = targets(stored)
        print(markdown(stored))
        return 0
    results = asyncio.run(bench(args))
    args.out.mkdir(parents=True, exist_ok=True)
    results.write(args.out / "results.json")
    chart(results, args.out / "results.png")
    print()
    print(markdown(results))
    print(f"bench: wrote {args.out / 'results.json'} and {args.out / 'results.png'}")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown under a live Temporal client (sdk-python#300)
