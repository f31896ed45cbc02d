"""The report as JSON (for scripts) and as a rich table (for people at a terminal)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..slo.windows import duration
from .budget import Verdict, error_budget
from .collect import Alert, BurnRate, Report, Scope, SLIReport, SLOReport


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _alert(a: Alert) -> dict[str, Any]:
    return {"alertname": a.name, "severity": a.severity, "labels": dict(sorted(a.labels.items()))}


def _burn(b: BurnRate) -> dict[str, Any]:
    return {
        "window": b.window,
        "severity": b.severity,
        "long_window_seconds": b.long_window,
        "short_window_seconds": b.short_window,
        "threshold": b.threshold,
        "long": b.long_rate,
        "short": b.short_rate,
        "over": b.over,
    }


def _scope(s: Scope) -> dict[str, Any]:
    return {
        "region": s.region,
        "error_ratio": s.error_ratio,
        "sli": s.sli,
        "budget_spent": s.budget_spent,
        "budget_remaining": s.budget_remaining,
        "coverage": s.coverage,
        "over_policy": s.over_policy,
        "burn_rates": [_burn(b) for b in s.burn_rates],
        "current_burn_rate": s.current_burn,
        "time_to_exhaustion_seconds": s.time_to_exhaustion,
    }


def to_data(report: Report) -> dict[str, Any]:
    """The JSON document of `--output json`; `null` where there was no data (or, for the
    exhaustion time, where nothing burns)."""
    return {
        "prometheus": report.prometheus,
        "at": report.at,
        "at_iso": iso(report.at),
        "time_scale": report.scale,
        "exit_code": report.exit_code,
        "slos": [
            {
                "slo": slo.name,
                "verdict": str(slo.verdict),
                "period_seconds": slo.period,
                "window_seconds": slo.window,
                "policy_spent_percent": slo.policy_spent_percent,
                "current_burn_window_seconds": slo.current_window,
                "slis": [
                    {
                        "sli": str(sli.sli),
                        "objective_percent": sli.objective,
                        "error_budget": error_budget(sli.objective),
                        "scopes": [_scope(s) for s in sli.scopes],
                    }
                    for sli in slo.slis
                ],
                "alerts": [_alert(a) for a in slo.alerts],
            }
            for slo in report.slos
        ],
        "agent_alerts": [_alert(a) for a in report.agent_alerts],
    }


def to_json(report: Report) -> str:
    return json.dumps(to_data(report), indent=2, sort_keys=False) + "\n"


# --- text ---------------------------------------------------------------------------------
DASH = "-"
BURN_COLUMN = 7  # the burn-rate cells of scope_row start here


def scope_row(sli: SLIReport, scope: Scope) -> list[str]:
    """One row of the SLO table (terminal and HTML): SLI, region, objective, actual,
    budget spent and left, share of the window with data, long / short burn rate per
    window, time to exhaustion."""
    return [
        str(sli.sli),
        "all regions" if scope.region is None else scope.region,
        f"{sli.objective:g}%",
        sli_percent(scope.sli, sli.objective),
        percent(scope.budget_spent),
        percent(scope.budget_remaining),
        percent(scope.coverage),
        *(f"{times(b.long_rate)} / {times(b.short_rate)}" for b in scope.burn_rates),
        span(scope.time_to_exhaustion) if scope.sli is not None else DASH,
    ]


def percent(value: float | None, decimals: int = 1) -> str:
    return DASH if value is None else f"{value * 100:.{decimals}f}%"


def sli_percent(value: float | None, objective: float) -> str:
    """As many decimals as the objective needs, and one more: 99.95% against 99.9%."""
    text = f"{objective:g}"
    decimals = len(text.partition(".")[2]) + 1
    return percent(value, decimals)


def times(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def span(seconds: float | None) -> str:
    """Time until exhaustion: `never` when nothing burns, `now` when spent."""
    if seconds is None:
        return "never"
    if seconds <= 0:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            whole = seconds / size
            return f"{whole:.1f}{unit}" if whole < 10 else f"{whole:.0f}{unit}"
    return f"{seconds:.0f}s"


def alert_text(a: Alert) -> str:
    """`ProberSLOErrorBudgetPolicy (warning, latency, all regions)`."""
    where = [a.severity, a.labels.get("sli", ""), a.labels.get("region", "all regions")]
    return f"{a.name} ({', '.join(w for w in where if w)})"


def coverage_text(slo: SLOReport) -> str:
    """What the `data` column means, with the all-regions figure."""
    cover = slo.slis[0].all_regions.coverage
    if cover is None:
        return f"data: no recorded runs in the {duration(slo.window)} window"
    return (
        f"data: Prometheus holds {percent(cover)} of the {duration(slo.window)} window; the "
        "budget counts time without data as unspent (bad runs / runs expected over the window)"
    )


def verdict_text(slo: SLOReport) -> Text:
    v = slo.verdict
    policy = f"{slo.policy_spent_percent:g}%"
    if v is Verdict.FREEZE:
        over = [s.sli for s in slo.slis if s.all_regions.over_policy]
        return Text(
            f"FREEZE feature releases: over {policy} of the {', '.join(over)} error budget spent",
            style="bold red",
        )
    if v is Verdict.NO_DATA:
        return Text("NO DATA: no probe runs recorded for this SLO in the window", style="yellow")
    return Text(f"OK: every error budget under the {policy} policy line", style="green")


def slo_table(slo: SLOReport) -> Table:
    burns = slo.slis[0].all_regions.burn_rates
    table = Table(
        title=f"SLO {slo.name}: {duration(slo.window)} window; exhausted in: at the "
        f"{duration(slo.current_window)} burn rate",
        title_justify="left",
        expand=False,
    )
    for header, justify in (
        ("SLI", "left"),
        ("region", "left"),
        ("objective", "right"),
        ("actual", "right"),
        ("budget\nspent", "right"),
        ("budget\nleft", "right"),
        ("data", "right"),
        *(
            (f"burn {b.window}\n{duration(b.long_window)} / {duration(b.short_window)}", "right")
            for b in burns
        ),
        ("exhausted\nin", "right"),
    ):
        # Numbers are never cut; the label columns wrap on a narrow terminal.
        wrap = justify == "left"
        table.add_column(
            header,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=not wrap,
            overflow="fold" if wrap else "ellipsis",
        )
    for sli in slo.slis:
        for scope in sli.scopes:
            style = "red" if scope.over_policy else ""
            cells: list[str | Text] = list(scope_row(sli, scope))
            for i, b in enumerate(scope.burn_rates, BURN_COLUMN):  # a burn over its threshold
                cells[i] = Text(str(cells[i]), style="bold red" if b.over else "")
            table.add_row(*cells, style=style)
    return table


def print_table(report: Report, console: Console) -> None:
    console.print(
        f"prober report from {report.prometheus} at {iso(report.at)}"
        + (f" (rules time-scaled 1/{report.scale:g})" if report.scale != 1 else "")
    )
    for slo in report.slos:
        parts: list[Any] = [Text(), slo_table(slo), Text(coverage_text(slo)), verdict_text(slo)]
        for a in slo.alerts:
            parts.append(Text(f"  firing: {alert_text(a)}", style="red"))
        if not slo.alerts:
            parts.append(Text("  no alert firing"))
        console.print(Group(*parts))
    for a in report.agent_alerts:
        console.print(Text(f"firing: {alert_text(a)}", style="red"))
