"""What people read: the per-probe summary as a rich table, or as JSON for scripts."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..conventions import Outcome
from .stats import ProbeStats, StatsSink, percentile

_OUTCOME_STYLE = {Outcome.SUCCESS.value: "green"}


def console(stderr: bool = False) -> Console:
    """A console that doesn't squeeze tables to 80 columns when output is piped."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=160)


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def _pct(ratio: float) -> str:
    return "-" if math.isnan(ratio) else f"{ratio:.2%}"


def outcomes_text(stats: ProbeStats) -> Text:
    text = Text()
    for i, (outcome, count) in enumerate(stats.outcomes.most_common()):
        if i:
            text.append(" ")
        text.append(f"{outcome}={count}", style=_OUTCOME_STYLE.get(outcome, "red"))
    return text


def summary_table(sink: StatsSink, title: str = "", latest: bool = False) -> Table:
    table = Table(title=title or None, title_justify="left", expand=False)
    table.add_column("probe", style="bold", overflow="fold")
    table.add_column("runs", justify="right")
    table.add_column("success", justify="right")
    for q in ("p50", "p95", "p99", "max"):
        table.add_column(f"{q} ms", justify="right")
    table.add_column("outcomes")
    if latest:
        table.add_column("last")
    table.add_column("verdict")
    for stats in sink.by_probe.values():
        problems = stats.verdict()
        verdict = (
            Text("—", style="dim")
            if not stats.runs
            else (
                Text("violated: " + "; ".join(problems), style="bold red")
                if problems
                else Text("ok" + (f" ({stats.slo.name})" if stats.slo else ""), style="green")
            )
        )
        row: list[Any] = [
            stats.probe,
            str(stats.runs),
            _pct(stats.success_ratio),
            _ms(stats.latency(50)),
            _ms(stats.latency(95)),
            _ms(stats.latency(99)),
            _ms(stats.max_latency),
            outcomes_text(stats),
        ]
        if latest:
            last = stats.last
            row.append(
                Text(
                    f"{last.outcome.value} {_ms(last.duration)}ms",
                    style=_OUTCOME_STYLE.get(last.outcome.value, "red"),
                )
                if last
                else "-"
            )
        row.append(verdict)
        table.add_row(*row)
    return table


def steps_table(stats: ProbeStats) -> Table:
    """Per-step breakdown of a scenario probe."""
    table = Table(title=f"{stats.probe}: steps", title_justify="left")
    table.add_column("step", style="bold")
    table.add_column("ran", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    table.add_column("max ms", justify="right")
    table.add_column("outcomes")
    failing = stats.outcomes.total() - stats.outcomes["success"]
    for name, step in stats.steps.items():
        ordered = sorted(step.durations)
        text = Text()
        for i, (outcome, count) in enumerate(step.outcomes.most_common()):
            text.append(
                (" " if i else "") + f"{outcome}={count}", style=_OUTCOME_STYLE.get(outcome, "red")
            )
        table.add_row(
            name,
            f"{step.runs}/{stats.runs}",
            _ms(percentile(ordered, 50)),
            _ms(percentile(ordered, 95)),
            _ms(ordered[-1] if ordered else math.nan),
            text,
        )
    table.caption = f"{failing} failed run(s); a step that did not run was skipped after a failure"
    return table


def summary_json(sink: StatsSink) -> dict[str, Any]:
    def num(x: float) -> float | None:
        return None if math.isnan(x) else round(x, 6)

    probes = []
    for s in sink.by_probe.values():
        entry: dict[str, Any] = {
            "probe": s.probe,
            "slo": s.slo.name if s.slo else None,
            "runs": s.runs,
            "success_ratio": num(s.success_ratio),
            "availability": num(s.availability()),
            "latency_seconds": {
                "p50": num(s.latency(50)),
                "p95": num(s.latency(95)),
                "p99": num(s.latency(99)),
                "max": num(s.max_latency),
            },
            "outcomes": dict(s.outcomes),
            "violations": s.verdict(),
        }
        if s.steps:
            entry["steps"] = {
                name: {
                    "runs": st.runs,
                    "outcomes": dict(st.outcomes),
                    "p50_seconds": num(percentile(sorted(st.durations), 50)),
                    "p95_seconds": num(percentile(sorted(st.durations), 95)),
                }
                for name, st in s.steps.items()
            }
        if s.slo:
            entry["objectives"] = {
                "availability": s.slo.availability.objective / 100,
                "latency": None
                if not s.slo.latency
                else {
                    "objective": s.slo.latency.objective / 100,
                    "threshold_seconds": s.slo.latency.threshold,
                    "actual": num(s.fast_ratio()),
                },
            }
        probes.append(entry)
    return {"ok": not sink.violated, "probes": probes}
