"""What people read: the per-probe summary as a rich table, or as JSON for scripts."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console, Group
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


NO_VERDICT = "no data: no runs completed, no verdict"


def significant(x: float, digits: int = 6) -> float | None:
    """A ratio or duration for JSON: None when absent, else rounded to `digits` significant
    digits, so 999/1000 prints as 0.999 and not 0.9990000000000001."""
    return None if math.isnan(x) else float(f"{x:.{digits}g}")


def top_error_text(stats: ProbeStats, width: int = 60) -> Text:
    top = stats.top_error
    if top is None:
        return Text("-", style="dim")
    error = top.error if len(top.error) <= width else top.error[: width - 1] + "…"
    return Text.assemble((error, "red"), (f" ×{top.count}", "dim"))


def verdict_text(stats: ProbeStats, live: bool = False) -> Text:
    if not stats.runs:
        return Text("waiting for its first run" if live else NO_VERDICT, style="yellow")
    problems = stats.verdict()
    if problems:
        return Text("violated: " + "; ".join(problems), style="bold red")
    return Text("ok" + (f" ({stats.slo.name})" if stats.slo else ""), style="green")


def verdict_line(sink: StatsSink) -> Text:
    """The last line under a summary table: what the exit code says, in words."""
    if sink.violated:
        return Text("an objective was violated", style="bold red")
    if sink.no_data:
        names = ", ".join(sink.no_data)
        return Text(f"no data, so no verdict: no run of {names} completed", style="bold yellow")
    return Text("every objective held", style="green")


# Narrower than this, the top error leaves the table for lines under it (`top_errors`).
WIDE = 120


def top_errors(sink: StatsSink) -> Text:
    """`probe: most frequent error`, its count, a line per failing probe (narrow consoles)."""
    text = Text()
    for stats in sink.by_probe.values():
        if stats.top_error is not None:
            text.append(f"{stats.probe}: ", style="bold")
            text.append_text(top_error_text(stats, width=200))
            text.append("\n")
    text.rstrip()
    return text


def summary_table(
    sink: StatsSink, title: str = "", latest: bool = False, errors: bool = True
) -> Table:
    """The per-probe table; `errors=False` leaves out the top-error column (print
    `top_errors` under the table instead when the console is narrow)."""
    table = Table(title=title or None, title_justify="left", expand=False)
    table.add_column("probe", style="bold", overflow="fold")
    table.add_column("runs", justify="right")
    table.add_column("success", justify="right")
    for q in ("p50", "p95", "p99", "max"):
        table.add_column(f"{q} ms", justify="right")
    table.add_column("outcomes")
    if latest:
        table.add_column("last")
    if errors:
        table.add_column("top error", overflow="fold")
    table.add_column("verdict")
    for stats in sink.by_probe.values():
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
        if errors:
            row.append(top_error_text(stats))
        row.append(verdict_text(stats, live=latest))
        table.add_row(*row)
    return table


def steps_table(stats: ProbeStats) -> Group:
    """Per-step breakdown of a scenario probe, with a one-line note under it."""
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
    runs = "run" if failing == 1 else "runs"
    note = Text(f"{failing} failed {runs}", style="dim")
    if any(step.runs < stats.runs for step in stats.steps.values()):
        note.append("; steps after a failing step are skipped unless always_run")
    return Group(table, note)


def summary_json(sink: StatsSink) -> dict[str, Any]:
    num = significant
    probes = []
    for s in sink.by_probe.values():
        top = s.top_error
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
            "top_error": None
            if top is None
            else {"error": top.error, "step": top.step or None, "count": top.count},
            "failing_step": s.failing_step,
            "violations": s.verdict(),
            "verdict": "no_data" if not s.runs else ("violated" if s.verdict() else "ok"),
        }
        if s.steps:
            entry["steps"] = {
                name: {
                    "runs": st.runs,
                    "outcomes": dict(st.outcomes),
                    "p50_seconds": num(percentile(sorted(st.durations), 50)),
                    "p95_seconds": num(percentile(sorted(st.durations), 95)),
                    "max_seconds": num(max(st.durations, default=math.nan)),
                }
                for name, st in s.steps.items()
            }
        if s.slo:
            entry["objectives"] = {
                "availability": num(s.slo.availability.objective / 100),
                "latency": None
                if not s.slo.latency
                else {
                    "objective": num(s.slo.latency.objective / 100),
                    "threshold_seconds": s.slo.latency.threshold,
                    "actual": num(s.fast_ratio()),
                },
            }
        probes.append(entry)
    return {"ok": not sink.violated and not sink.no_data, "verdict": sink.verdict, "probes": probes}


def print_summary(sink: StatsSink, title: str) -> Console:
    """The summary table, with the top errors under it when the terminal is too narrow to
    show them as a column; `run` and `once` both end this way. Returns the console used."""
    out = console()
    wide = out.width >= WIDE
    out.print(summary_table(sink, title=title, errors=wide))
    if not wide and sink.top_errors_any:
        out.print(top_errors(sink))
    return out
