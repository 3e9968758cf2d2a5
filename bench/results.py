"""What one benchmark run measured: the pydantic model written to bench/results.json."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field


class Latency(BaseModel):
    """Percentiles of one latency, in milliseconds."""

    n: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency | None:
        if not seconds:
            return None
        ordered = sorted(seconds)

        def pct(p: float) -> float:
            # Nearest rank: the smallest value with at least p of the sample at or below it.
            rank = max(1, -(-len(ordered) * p // 100))
            return round(ordered[int(rank) - 1] * 1000, 1)

        return cls(
            n=len(ordered),
            p50_ms=pct(50),
            p95_ms=pct(95),
            p99_ms=pct(99),
            max_ms=round(ordered[-1] * 1000, 1),
        )


class CpuUse(BaseModel):
    """CPU seconds each process used during one measurement (user + system)."""

    temporal_server: float = 0.0
    worker: float = 0.0
    api: float = 0.0
    driver: float = 0.0
    wall_s: float = 0.0


class Level(BaseModel):
    """N cases at a fixed concurrency, to both warnings delivered and both ledger rows written."""

    system: str  # "confide" or "baseline"
    concurrency: int
    cases: int
    completed: int
    ledger_rows: int
    elapsed_s: float
    cases_per_s: float
    # Flag (or start) to the case's first e-mail at the sink.
    first_email: Latency | None
    # Flag (or start) to both warnings at the sink.
    warnings: Latency | None
    # POST /v1/flags (Confide) or the start_workflow call (baseline).
    intake: Latency | None
    # Confide only: flag to its assessment task visible in GET /v1/cases/{id}, the POST that
    # completes it, and the GETs a case took until then.
    task_visible: Latency | None = None
    complete_task: Latency | None = None
    polls_per_case: float | None = None
    retried_503: int = 0  # API calls answered 503 (workflow service too slow) and sent again
    # History events per case (Confide: case + concern, flag to warnings and ledger rows and the
    # follow-up timer; baseline: its one workflow), over a sample of the level's cases.
    events_per_case: float | None = None
    events_max: int | None = None
    workflow_tasks_per_case: float | None = None
    cpu: CpuUse = Field(default_factory=CpuUse)


class GetCost(BaseModel):
    """GET /v1/cases/{id} one after another on a case in follow-up: latency and the CPU each
    process spends per GET (ms)."""

    gets: int
    latency: Latency | None
    server_ms: float
    worker_ms: float
    api_ms: float
    driver_ms: float


class ApiLevel(BaseModel):
    """One concurrency: Confide, the baseline, and their ratio of cases/s."""

    concurrency: int
    confide: Level | None = None
    baseline: Level | None = None
    ratio: float | None = None


class Sustained(BaseModel):
    """Flags at a fixed rate (open loop) for a fixed time."""

    rate_per_s: float
    duration_s: float
    sent: int
    send_rate_per_s: float
    completed: int
    # Latencies from each flag's scheduled send time (no coordinated omission).
    first_email: Latency | None
    warnings: Latency | None
    intake: Latency | None
    task_visible: Latency | None = None
    max_in_flight: int = 0
    retried_503: int = 0
    failed: int = 0
    drain_s: float = 0.0
    cpu: CpuUse = Field(default_factory=CpuUse)


class OpenCases(BaseModel):
    """Many cases left waiting on their assessment timers."""

    cases: int
    opened: int
    fill_s: float
    fill_cases_per_s: float
    worker_rss_idle_mb: float  # just before the fill (after whatever parts ran first)
    worker_rss_mb: float
    worker_rss_peak_mb: float
    temporal_db_mb_before: float
    temporal_db_mb: float  # database + write-ahead log
    temporal_wal_mb: float = 0.0  # of which the write-ahead log
    # One open case's history (case + concern) as stored: events and encoded bytes.
    history_events_per_open_case: float | None = None
    history_kb_per_open_case: float | None = None
    idle: Latency | None  # flag to first e-mail before the fill
    loaded: Latency | None  # the same with the open cases waiting
    ratio_p50: float | None
    ratio_p95: float | None
    cpu: CpuUse = Field(default_factory=CpuUse)


class Replay(BaseModel):
    """Recorded Confide histories through today's code, with the SDK's batch replay."""

    cases: int
    histories: int
    events: int
    fetch_s: float
    replay_s: float
    cases_per_s: float
    histories_per_s: float
    failures: int
    # The same histories one replay_workflow call each on one Replayer (what
    # `confide audit replay` does today), for comparison.
    # Both on the first `compared` cases only.
    compared: int = 0
    one_by_one_cases_per_s: float | None = None
    # The same batch with the sandbox off (UnsandboxedWorkflowRunner): what the sandbox costs.
    unsandboxed_cases_per_s: float | None = None


class Target(BaseModel):
    """One of issue 10's targets and what this run reached."""

    name: str
    target: str
    measured: str
    met: bool | None


class Meta(BaseModel):
    started_at: datetime
    total_s: float = 0.0
    smoke: bool
    commit: str
    dirty: bool
    cpus: int
    cpu_model: str
    memory_gb: float
    python: str
    temporalio: str
    temporal_cli: str
    args: dict


class Results(BaseModel):
    """Everything one `bench/run.py` run measured (bench/results.json)."""

    meta: Meta
    # The Confide worker's resident memory once started and warmed up, before any part.
    worker_rss_start_mb: float | None = None
    levels: list[ApiLevel] = []
    get_case: GetCost | None = None
    sustained: Sustained | None = None
    open_cases: OpenCases | None = None
    replay: Replay | None = None
    targets: list[Target] = []

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> Results:
        return cls.model_validate_json(path.read_text())
