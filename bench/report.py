"""Issue 10's targets, the printed table, the Markdown tables, and the PNG chart."""

from __future__ import annotations

from pathlib import Path

from bench.results import Latency, Level, Results, Target


def targets(r: Results) -> list[Target]:
    out = []
    at20 = next((lv for lv in r.levels if lv.concurrency == 20), None)
    if at20 is not None and at20.ratio is not None:
        out.append(
            Target(
                name="throughput vs baseline at concurrency 20",
                target=">= 0.8 x baseline cases/s",
                measured=f"{at20.ratio:.2f} x ({at20.confide.cases_per_s if at20.confide else 0}"
                f" vs {at20.baseline.cases_per_s if at20.baseline else 0} cases/s)",
                met=at20.ratio >= 0.8,
            )
        )
    confide = [lv.confide for lv in r.levels if lv.confide and lv.confide.events_max]
    if confide:
        worst = max(c.events_max or 0 for c in confide)
        mean = max(c.events_per_case or 0 for c in confide)
        out.append(
            Target(
                name="history events, CA case to both warnings and ledger rows",
                target="<= 60 (case + concern)",
                measured=f"{mean:g} per case (max {worst})",
                met=worst <= 60,
            )
        )
    s = r.sustained
    if s is not None:
        p99 = s.first_email.p99_ms if s.first_email else None
        out.append(
            Target(
                name=f"flag -> first e-mail p99 at {s.rate_per_s:g} flags/s sustained",
                target="< 1 s",
                measured=f"{p99:.0f} ms ({s.completed} of {s.sent} delivered)"
                if p99 is not None
                else "nothing delivered",
                met=p99 is not None and p99 < 1000 and s.completed == s.sent,
            )
        )
        if s.intake:
            out.append(
                Target(
                    name=f"intake p99 at {s.rate_per_s:g} flags/s sustained",
                    target="< 100 ms",
                    measured=f"{s.intake.p99_ms:.0f} ms",
                    met=s.intake.p99_ms < 100,
                )
            )
    intakes = [(lv.concurrency, lv.confide.intake) for lv in r.levels if lv.confide]
    intakes = [(c, i) for c, i in intakes if i is not None]
    if intakes:
        c, worst_i = max(intakes, key=lambda x: x[1].p99_ms)
        out.append(
            Target(
                name="intake p99, worst concurrency level",
                target="< 100 ms",
                measured=f"{worst_i.p99_ms:.0f} ms at concurrency {c}",
                met=worst_i.p99_ms < 100,
            )
        )
    o = r.open_cases
    if o is not None:
        out.append(
            Target(
                name=f"worker RSS with {o.opened} open cases",
                target="< 300 MB",
                measured=f"{o.worker_rss_mb:.0f} MB (before: {o.worker_rss_idle_mb:.0f} MB, "
                f"peak {o.worker_rss_peak_mb:.0f} MB)",
                met=o.worker_rss_peak_mb < 300,
            )
        )
        if o.ratio_p50 is not None and o.idle and o.loaded:
            out.append(
                Target(
                    name=f"new flag's latency with {o.opened} open cases vs idle",
                    target="<= 1.5 x idle",
                    measured=f"p50 {o.ratio_p50:.2f} x ({o.loaded.p50_ms:.0f} vs "
                    f"{o.idle.p50_ms:.0f} ms), p95 {o.ratio_p95:.2f} x",
                    met=o.ratio_p50 <= 1.5,
                )
            )
    if r.replay is not None:
        out.append(
            Target(
                name="replay",
                target=">= 50 cases/s",
                measured=f"{r.replay.cases_per_s:g} cases/s ({r.replay.cases} cases, "
                f"{r.replay.failures} failures)",
                met=r.replay.cases_per_s >= 50 and r.replay.failures == 0,
            )
        )
    return out


def _l(lat: Latency | None) -> str:
    return f"{lat.p50_ms:.0f} / {lat.p95_ms:.0f} / {lat.p99_ms:.0f}" if lat else "-"


def _cpu_per_case(level: Level) -> str:
    if not level.completed:
        return "-"
    c = level.cpu
    per = 1000 / level.completed
    parts = [f"server {c.temporal_server * per:.0f}", f"worker {c.worker * per:.0f}"]
    if level.system == "confide":
        parts.append(f"api {c.api * per:.0f}")
    parts.append(f"driver {c.driver * per:.0f}")
    return ", ".join(parts)


def markdown(r: Results) -> str:
    """The results as Markdown tables (what the README shows)."""
    m = r.meta
    lines = [
        f"Run of {m.started_at:%Y-%m-%d %H:%M} UTC, commit `{m.commit[:10]}`"
        + (" (with uncommitted changes)" if m.dirty else "")
        + f", {m.cpus} cores ({m.cpu_model}), {m.memory_gb:.0f} GB, temporalio {m.temporalio}, "
        f"{m.temporal_cli}; the whole run took {m.total_s / 60:.1f} min"
        + (" (smoke mode)" if m.smoke else "")
        + ".",
        "",
    ]
    if r.levels:
        lines += [
            "| system | concurrency | cases | cases/s | ratio | events / workflow tasks per case "
            "| flag → first "
            "e-mail p50 / p95 / p99 ms | intake p50 / p95 / p99 ms | CPU ms per case |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for lv in r.levels:
            for level in (lv.baseline, lv.confide):
                if level is None:
                    continue
                ratio = f"{lv.ratio:.2f}" if level.system == "confide" and lv.ratio else ""
                lines.append(
                    f"| {level.system} | {level.concurrency} | {level.completed} | "
                    f"{level.cases_per_s:.1f} | {ratio} | {level.events_per_case or '-'} / "
                    f"{level.workflow_tasks_per_case or '-'} | "
                    f"{_l(level.first_email)} | {_l(level.intake)} | {_cpu_per_case(level)} |"
                )
        lines.append("")
    s = r.sustained
    if s is not None:
        lines += [
            f"Sustained {s.rate_per_s:g} flags/s for {s.duration_s:g} s: {s.completed} of "
            f"{s.sent} cases to both warnings, flag → first e-mail p50 / p95 / p99 "
            f"{_l(s.first_email)} ms, intake {_l(s.intake)} ms, up to {s.max_in_flight} cases "
            f"in flight, {s.drain_s:g} s to drain after the last flag, {s.retried_503} API calls "
            f"answered 503 and sent again, {s.failed} cases given up.",
            "",
        ]
    o = r.open_cases
    if o is not None:
        lines += [
            f"{o.opened} open cases (filled in {o.fill_s:.0f} s, {o.fill_cases_per_s:g} "
            f"cases/s): worker RSS {o.worker_rss_idle_mb:.0f} MB before the fill → "
            f"{o.worker_rss_mb:.0f} MB (peak {o.worker_rss_peak_mb:.0f} MB"
            + (
                f"; {r.worker_rss_start_mb:.0f} MB when the worker had just warmed up"
                if r.worker_rss_start_mb
                else ""
            )
            + "); dev-server "
            f"database {o.temporal_db_mb_before:.0f} → {o.temporal_db_mb:.0f} MB (of which "
            f"{o.temporal_wal_mb:.0f} MB write-ahead log; an open case's two histories hold "
            f"{o.history_events_per_open_case} events, {o.history_kb_per_open_case} KB); "
            f"a new flag's flag → first e-mail p50 / p95 {o.idle.p50_ms if o.idle else 0:.0f} / "
            f"{o.idle.p95_ms if o.idle else 0:.0f} ms idle, "
            f"{o.loaded.p50_ms if o.loaded else 0:.0f} / {o.loaded.p95_ms if o.loaded else 0:.0f}"
            f" ms with them waiting ({o.ratio_p50} x at p50).",
            "",
        ]
    p = r.replay
    if p is not None:
        lines += [
            f"Replay: {p.cases} cases ({p.histories} histories, {p.events} events) in "
            f"{p.replay_s:g} s with workflow_replay_iterator: {p.cases_per_s:g} cases/s, "
            f"{p.failures} failures (fetching them took {p.fetch_s:g} s). On the first "
            f"{p.compared} cases: one replay_workflow call per history "
            f"{p.one_by_one_cases_per_s} cases/s; the batch with the sandbox off "
            f"{p.unsandboxed_cases_per_s} cases/s.",
            "",
        ]
    g = r.get_case
    if g is not None and g.latency is not None:
        lines += [
            f"One GET /v1/cases/{{id}} (case and concern queried), {g.gets} one after another: "
            f"p50 {g.latency.p50_ms:g} ms, CPU per GET: server {g.server_ms:g} ms, worker "
            f"{g.worker_ms:g} ms, API {g.api_ms:g} ms, driver {g.driver_ms:g} ms.",
            "",
        ]
    if r.targets:
        lines += ["| target | goal | measured | met |", "|---|---|---|---|"]
        for t in r.targets:
            met = "yes" if t.met else ("no" if t.met is False else "-")
            lines.append(f"| {t.name} | {t.target} | {t.measured} | {met} |")
        lines.append("")
    return "\n".join(lines)


def chart(r: Results, path: Path) -> None:
    """cases/s and flag → first e-mail p95 across concurrency, Confide vs the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    if not r.levels:
        fig.text(0.5, 0.5, "no concurrency levels in this run", ha="center")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return
    xs = [lv.concurrency for lv in r.levels]
    pos = list(range(len(xs)))
    for system, colour in (("baseline", "#888888"), ("confide", "#1f77b4")):
        levels = [getattr(lv, system) for lv in r.levels]
        pts = [(i, lv) for i, lv in zip(pos, levels, strict=True) if lv is not None]
        if not pts:
            continue
        left.plot(
            [i for i, _ in pts],
            [lv.cases_per_s for _, lv in pts],
            marker="o",
            color=colour,
            label=system,
        )
        right.plot(
            [i for i, _ in pts],
            [lv.first_email.p95_ms if lv.first_email else float("nan") for _, lv in pts],
            marker="o",
            color=colour,
            label=f"{system}: flag → first e-mail p95",
        )
        if system == "confide":
            right.plot(
                [i for i, _ in pts],
                [lv.intake.p95_ms if lv.intake else float("nan") for _, lv in pts],
                marker="s",
                linestyle="--",
                color=colour,
                label="confide: POST /v1/flags p95",
            )
    for i, lv in zip(pos, r.levels, strict=True):
        if lv.ratio is not None and lv.confide is not None:
            left.annotate(
                f"{lv.ratio:.2f}×",
                (i, lv.confide.cases_per_s),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
            )
    for ax in (left, right):
        ax.set_xticks(pos, [str(x) for x in xs])
        ax.set_xlabel("concurrency (cases in flight)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_ylabel("cases/s (to both warnings and ledger rows)")
    left.set_title("throughput")
    right.set_ylabel("ms")
    right.set_yscale("log")
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    right.set_title("latency p95")
    m = r.meta
    fig.suptitle(
        f"Confide vs engine baseline · {m.started_at:%Y-%m-%d} · {m.commit[:8]} · "
        f"{m.cpus} cores" + (" · smoke" if m.smoke else ""),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
