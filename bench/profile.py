"""Profile of the hot path (issue 10): the stack `make bench` starts (bench/stack.py: a Temporal dev
server, the SMTP sink, `confide worker` and the intake API, each in a process of its own), a few
warm-up cases, then N duty-to-warn cases driven through the HTTP API at a fixed concurrency
(bench/confide.py: flag, poll the case, complete the assessment, wait for both warnings) while
py-spy samples the worker and the intake API from outside, every thread.

Written to --out (default bench/profile/):

  worker.speedscope.json, api.speedscope.json
      the samples; open them at https://www.speedscope.app or `speedscope FILE`
  run.json
      what the level measured, and the CPU of each process's threads
  summary.txt
      what the level measured (cases/s, latencies, CPU per case of each process, CPU of each
      worker thread kind: Python versus the SDK core's Rust threads, which py-spy cannot see),
      then for each process: where its Python samples fall by part (payload codec, pydantic,
      logging, sandbox, workflow code, activities, SMTP, SQL, ...) and the top functions by
      self and by inclusive time

py-spy attaches by process id (it needs ptrace rights: root, or CAP_SYS_PTRACE in a container)
and samples with --nonblocking, so the processes run at full speed while sampled.

    python -m bench.profile                       # 200 cases at concurrency 20
    python -m bench.profile --cases 100 --native  # with native frames (cryptography, pydantic-core)
    python -m bench.profile --summarize bench/profile   # the summary again from saved samples
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # `python bench/profile.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import api  # noqa: E402
from bench.results import Level  # noqa: E402
from bench.stack import TICK, Stack  # noqa: E402
from harness import BIN, ROOT  # noqa: E402

# -- where a sample's time goes ----------------------------------------------------------------


def ours(file: str, folder: str) -> bool:
    """A frame in this repository's `folder` (wherever the checkout is), not an installed one."""
    return f"/{folder}/" in file and "site-packages" not in file and "/lib/python3" not in file


# A sample is charged to the first frame, from the leaf up, that belongs to one of these parts.
# Generic stdlib helpers (json, re, copy, typing, ...) are transparent: json under structlog is
# logging, json under the payload converter is the converter.
PARTS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("payload codec (AES-GCM, infra/codec.py)", lambda f, n: "/infra/codec.py" in f),
    ("cryptography", lambda f, n: "/cryptography/" in f),
    ("pydantic (validate / serialize)", lambda f, n: "/pydantic" in f),
    (
        "logging (structlog, stdlib logging)",
        lambda f, n: (
            "/structlog/" in f
            or "/logging/" in f
            or "/infra/logging.py" in f
            or "/infra/log_context.py" in f
        ),
    ),
    ("protobuf", lambda f, n: "/google/protobuf/" in f),
    (
        "payload converter (infra/payloads.py, temporalio.converter)",
        lambda f, n: "/infra/payloads.py" in f or "/temporalio/converter.py" in f,
    ),
    (
        "workflow sandbox (import, restrictions, instantiation)",
        lambda f, n: "/temporalio/worker/workflow_sandbox/" in f,
    ),
    ("workflow code (workflows/)", lambda f, n: ours(f, "workflows")),
    ("domain models and rules (domain/)", lambda f, n: ours(f, "domain")),
    ("SMTP (aiosmtplib, email)", lambda f, n: "/aiosmtplib/" in f or "/email/" in f),
    (
        "SQL (sqlalchemy, sqlite3, ledger)",
        lambda f, n: "/sqlalchemy/" in f or "/sqlite3/" in f or ours(f, "infra"),
    ),
    ("activities (activities/)", lambda f, n: ours(f, "activities")),
    ("intake API (intake/)", lambda f, n: ours(f, "intake")),
    (
        "HTTP server (uvicorn, starlette, fastapi, h11)",
        lambda f, n: any(x in f for x in ("/uvicorn/", "/starlette/", "/fastapi/", "/h11/")),
    ),
    ("temporalio client", lambda f, n: "/temporalio/client.py" in f),
    (
        "temporalio worker (activations, activities, bridge)",
        lambda f, n: "/temporalio/" in f,
    ),
    ("asyncio event loop", lambda f, n: "/asyncio/" in f),
    ("threads (executor)", lambda f, n: "/concurrent/" in f or "/threading.py" in f),
]
TRANSPARENT = (
    "/json/",
    "/re/",
    "/copy.py",
    "/typing.py",
    "/typing_extensions.py",
    "/enum.py",
    "/abc.py",
    "/dataclasses.py",
    "/functools.py",
    "/contextlib.py",
    "/collections/",
    "/inspect.py",
    "/weakref.py",
    "/datetime.py",
    "/zoneinfo/",
    "/uuid.py",
    "/base64.py",
    "/importlib/",
    "<frozen",
    "/annotated_types/",
)

# The same samples by stage: a sample counts for every stage one of its frames is in.
STAGES: list[tuple[str, Callable[[str, str], bool]]] = [
    (
        "a workflow activation (sandboxed workflow code and the SDK around it)",
        lambda f, n: (
            "/temporalio/worker/_workflow_instance.py" in f
            or "/temporalio/worker/workflow_sandbox/" in f
        ),
    ),
    (
        "the data converter: encode/decode of payloads (pydantic, JSON, AES-GCM)",
        lambda f, n: (
            "/temporalio/converter.py" in f or "/infra/payloads.py" in f or "/infra/codec.py" in f
        ),
    ),
    ("an activity", lambda f, n: ours(f, "activities")),
    (
        "a log call (structlog, stdlib logging)",
        lambda f, n: "/structlog/" in f or "/logging/__init__.py" in f,
    ),
    (
        "sandbox instantiation (importing the workflow's modules anew)",
        lambda f, n: "/workflow_sandbox/_importer.py" in f,
    ),
    (
        "the sandbox's restriction proxies",
        lambda f, n: "/workflow_sandbox/_restrictions.py" in f,
    ),
    ("an HTTP request (intake API)", lambda f, n: ours(f, "intake")),
]


@dataclass
class Profile:
    """py-spy's speedscope output, as (thread, stack root..leaf of (name, file)) samples."""

    process: str
    samples: list[tuple[str, tuple[tuple[str, str], ...], float]] = field(default_factory=list)

    @classmethod
    def read(cls, process: str, path: Path) -> Profile:
        doc = json.loads(path.read_text())
        frames = [(f["name"], f.get("file") or "") for f in doc["shared"]["frames"]]
        out = cls(process)
        for prof in doc["profiles"]:
            thread = _thread_kind(prof["name"])
            for stack, weight in zip(prof["samples"], prof["weights"], strict=True):
                out.samples.append((thread, tuple(frames[i] for i in stack), weight))
        return out

    @property
    def total(self) -> float:
        return sum(w for _, _, w in self.samples)


def _thread_kind(name: str) -> str:
    # 'Thread 123 "ThreadPoolExecutor-0_3"' -> ThreadPoolExecutor-0
    quoted = name.split('"')[1] if '"' in name else name
    return quoted.rsplit("_", 1)[0] if quoted.startswith("ThreadPoolExecutor") else quoted


def part_of(stack: tuple[tuple[str, str], ...]) -> str:
    for name, file in reversed(stack):
        if any(t in file for t in TRANSPARENT):
            continue
        for part, matches in PARTS:
            if matches(file, name):
                return part
    return "other"


REPO_FOLDERS = ("workflows", "domain", "activities", "intake", "infra", "cli", "audit", "bench")


def _short(file: str) -> str:
    for marker in ("site-packages/", "lib/python3."):
        if marker in file:
            rest = file.split(marker, 1)[1]
            return rest.split("/", 1)[1] if marker == "lib/python3." else rest
    for folder in REPO_FOLDERS:  # this checkout or another one (a clean export)
        if ours(file, folder):
            return folder + "/" + file.rsplit(f"/{folder}/", 1)[1]
    if file.endswith("/worker.py"):
        return "worker.py"
    return file.removeprefix(f"{ROOT}/")


def _most(d: dict) -> list:
    return sorted(d.items(), key=lambda kv: (-round(kv[1], 6), str(kv[0])))


def summarize(p: Profile, top: int, ms_per_case: float | None = None) -> list[str]:
    """The samples by thread, part, stage and function. With `ms_per_case` (the process's
    Python CPU per case) each part and stage also shows its share of it in ms per case."""
    total = p.total
    if not total:
        return [f"== {p.process}: no samples"]

    def pct(x: float) -> str:
        share = f"{100 * x / total:5.1f}%"
        return share + (f" {ms_per_case * x / total:5.1f} ms" if ms_per_case else "")

    lines = [f"== {p.process}: {total:.1f} s of samples"]
    if ms_per_case:
        lines.append(
            f"   ({ms_per_case:.1f} ms of Python CPU per case, shared out as the samples are)"
        )
    threads: dict[str, float] = defaultdict(float)
    parts: dict[str, float] = defaultdict(float)
    stages: dict[str, float] = defaultdict(float)
    self_t: dict[tuple[str, str], float] = defaultdict(float)
    incl: dict[tuple[str, str], float] = defaultdict(float)
    for thread, stack, w in p.samples:
        threads[thread] += w
        parts[part_of(stack)] += w
        for stage, matches in STAGES:
            if any(matches(f, n) for n, f in stack):
                stages[stage] += w
        if stack:
            self_t[stack[-1]] += w
        for frame in set(stack):
            incl[frame] += w

    def share(x: float) -> str:
        return f"{100 * x / total:5.1f}%"

    lines.append("-- by thread")
    lines += [f"  {share(w)}  {t or '(unnamed)'}" for t, w in _most(threads)]
    lines.append("-- by part (each sample once: the innermost frame that belongs to a part)")
    lines += [f"  {pct(w)}  {name}" for name, w in _most(parts)]
    lines.append("-- by stage (a sample counts for every stage on its stack)")
    lines += [f"  {pct(w)}  {name}" for name, w in _most(stages) if w]
    lines.append(f"-- top {top} functions by self time")
    lines += [f"  {share(w)}  {n}  ({_short(f)})" for (n, f), w in _most(self_t)[:top]]
    lines.append(f"-- top {top} functions by inclusive time (excluding thread and loop entry)")
    skip = ("/threading.py", "/concurrent/futures/thread.py", "/asyncio/", "<frozen runpy>")
    entry = [(k, w) for k, w in _most(incl) if not any(s in k[1] for s in skip)]
    lines += [f"  {share(w)}  {n}  ({_short(f)})" for (n, f), w in entry[:top]]
    return lines


# -- CPU of each thread, from /proc ---------------------------------------------------------


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """{thread id: (name, CPU seconds)} of a process."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    return out


def thread_cpu_since(before: dict[int, tuple[str, float]], pid: int) -> dict[str, float]:
    """CPU seconds since `before` by thread kind: the SDK core's Rust runtime (tokio) threads
    against the interpreter's threads (the event loop and the workflow/activity executors)."""
    kinds: dict[str, float] = defaultdict(float)
    for tid, (name, cpu) in thread_cpu(pid).items():
        spent = cpu - before.get(tid, (name, 0.0))[1]
        kind = "SDK core (Rust, tokio threads)" if name.startswith("tokio") else "Python threads"
        if tid == pid:
            kind = "Python threads"
        kinds[kind] += spent
    return dict(kinds)


# -- the run -------------------------------------------------------------------------------


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if not found:
        raise SystemExit("bench/profile: py-spy is not installed (pip install -e '.[test]')")
    return found


def start_sampling(
    pid: int, out: Path, rate: int, native: bool, gil: bool, log: Path
) -> subprocess.Popen:
    cmd = [py_spy(), "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking"]
    cmd += ["--format", "speedscope", "--output", str(out)]
    if native:
        cmd.append("--native")
    if gil:
        cmd.append("--gil")
    return subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def attached(proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Wait until py-spy has attached (it prints "Sampling process") or give up saying why."""
    deadline = time.monotonic() + timeout
    while "Sampling process" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"bench/profile: py-spy did not start sampling:\n{tail}")
        await asyncio.sleep(0.05)


def stop_sampling(proc: subprocess.Popen, out: Path, log: Path) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if not out.exists():
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"bench/profile: py-spy wrote no {out.name}:\n{tail}")


def _level_lines(level: Level, cpu_threads: dict[str, dict[str, float]]) -> list[str]:
    n = level.completed or 1
    cpu = level.cpu
    lines = [
        f"{level.completed} of {level.cases} cases at concurrency {level.concurrency}: "
        f"{level.cases_per_s} cases/s over {level.elapsed_s} s",
    ]
    for what, lat in (
        ("flag -> first e-mail", level.first_email),
        ("intake (POST /v1/flags)", level.intake),
        ("complete task (Update)", level.complete_task),
    ):
        if lat:
            lines.append(f"  {what:26} p50 {lat.p50_ms:7.0f} ms  p99 {lat.p99_ms:7.0f} ms")
    if cpu:
        lines.append(
            "CPU per case (ms): "
            + ", ".join(
                f"{name} {1000 * getattr(cpu, name) / n:.0f}"
                for name in ("temporal_server", "worker", "api", "driver")
            )
            + f"; wall {cpu.wall_s} s on {os.cpu_count()} cores"
        )
    for name, kinds in cpu_threads.items():
        total = sum(kinds.values()) or 1
        lines.append(
            f"{name} CPU by thread kind: "
            + ", ".join(
                f"{k} {v:.1f} s ({100 * v / total:.0f}%, {1000 * v / n:.1f} ms per case)"
                for k, v in sorted(kinds.items())
            )
        )
    return lines


async def run(args: argparse.Namespace) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="confide-profile-"))
    stack = Stack(tmp, baseline=False, confide=True, worker_cache=args.worker_cache)
    tag = uuid.uuid4().hex[:6]
    poll = args.poll_ms / 1000
    targets = {"worker": out / "worker.speedscope.json"}
    if not args.no_api:
        targets["api"] = out / "api.speedscope.json"
    print(f"profile: scratch directory {tmp}", flush=True)
    samplers: dict[str, subprocess.Popen] = {}
    try:
        await stack.start()
        await api.warm_up(stack, tag, args.warmup, poll, True, False)
        for name, path in targets.items():
            path.unlink(missing_ok=True)
            samplers[name] = start_sampling(
                stack.procs[name].pid,
                path,
                args.rate,
                args.native,
                not args.all_threads,
                tmp / f"py-spy-{name}.log",
            )
        # Measure only once every sampler says it is sampling: a fixed pause was too short
        # on a loaded machine, and the API's few milliseconds per case went unsampled.
        for name in targets:
            await attached(samplers[name], tmp / f"py-spy-{name}.log")
        before = {name: thread_cpu(stack.procs[name].pid) for name in targets}
        print(f"profile: {args.cases} cases at concurrency {args.concurrency}", flush=True)
        level, _ = await api.level_confide(stack, tag, args.concurrency, args.cases, 0, poll)
        threads = {name: thread_cpu_since(before[name], stack.procs[name].pid) for name in targets}
        for name, proc in samplers.items():
            stop_sampling(proc, targets[name], tmp / f"py-spy-{name}.log")
    finally:
        for proc in samplers.values():
            if proc.poll() is None:
                proc.kill()
        stack.stop()
        if args.keep:
            print(f"profile: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    command = (
        f"bench/profile.py --cases {args.cases} --concurrency {args.concurrency} "
        f"--rate {args.rate}{' --native' if args.native else ''}"
        f"{' --all-threads' if args.all_threads else ''}"
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    run_doc = {
        "command": command,
        "commit": commit or os.environ.get("BENCH_COMMIT", "unknown"),
        "level": level.model_dump(mode="json"),
        "threads": threads,
    }
    (out / "run.json").write_text(json.dumps(run_doc, indent=1) + "\n")
    write_summary(out, args.top)


def write_summary(out: Path, top: int) -> None:
    """summary.txt from run.json (what the level measured) and the speedscope files."""
    lines = []
    ms_per_case: dict[str, float] = {}
    run_file = out / "run.json"
    if run_file.exists():
        doc = json.loads(run_file.read_text())
        level = Level.model_validate(doc["level"])
        lines += [f"{doc['command']}   (commit {doc['commit']})"]
        lines += _level_lines(level, doc["threads"])
        n = level.completed or 1
        for name, kinds in doc["threads"].items():
            ms_per_case[name] = 1000 * kinds.get("Python threads", 0.0) / n
    lines += [
        "",
        "Samples are py-spy's, of the thread holding the GIL (unless --all-threads), in wall-clock",
        "time: on an oversubscribed machine a GIL holder the OS has descheduled still counts, so",
        "read shares, not seconds. The SDK core's Rust threads are not sampled (see above).",
        "",
    ]
    for name in ("worker", "api"):
        path = out / f"{name}.speedscope.json"
        if path.exists():
            profile = Profile.read(name, path)
            lines += [*summarize(profile, top, ms_per_case.get(name)), ""]
    text = "\n".join(lines)
    (out / "summary.txt").write_text(text)
    print(text)
    print(f"profile: wrote {out / 'summary.txt'} and the speedscope files beside it")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench/profile.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--cases", type=int, default=200, help="cases profiled (%(default)s)")
    p.add_argument("--concurrency", type=int, default=20, help="cases in flight (%(default)s)")
    p.add_argument("--warmup", type=int, default=5, help="cases before sampling (%(default)s)")
    p.add_argument("--rate", type=int, default=100, help="py-spy samples/s (%(default)s)")
    p.add_argument(
        "--native",
        action="store_true",
        help="also sample native frames (C and Rust extensions); slower to sample",
    )
    p.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread py-spy thinks is busy (wall clock), not only the one holding "
        "the GIL (the default: Python CPU, which is what a GIL-bound worker spends)",
    )
    p.add_argument("--no-api", action="store_true", help="profile the worker only")
    p.add_argument("--top", type=int, default=30, help="functions listed (%(default)s)")
    p.add_argument(
        "--poll-ms",
        type=float,
        default=50,
        help="how often a case's driver GETs the case until its task shows (%(default)s)",
    )
    p.add_argument(
        "--worker-cache",
        type=int,
        default=None,
        help="run the worker with this max_cached_workflows (default: `confide worker` as is)",
    )
    p.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "profile", help="where files go (%(default)s)"
    )
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (logs)")
    p.add_argument(
        "--summarize",
        type=Path,
        metavar="DIR",
        help="write DIR/summary.txt again from DIR's run.json and speedscope files, no run",
    )
    args = p.parse_args(argv)
    if args.summarize:
        write_summary(args.summarize, args.top)
        return 0
    t0 = time.perf_counter()
    asyncio.run(run(args))
    print(f"profile: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown under a live Temporal client (sdk-python#300)
