"""The arithmetic of multi-window, multi-burn-rate alerts, kept apart from rule text.

Windows and factors come from the config (`alerting.burn_windows`), so a policy
or period change is a config change. The formulas are the SRE Workbook's
("Alerting on SLOs"): burning `budget_percent` of the budget within
`long_window` means a burn rate of budget_percent/100 x period/long_window, and
the alert threshold on the error ratio is that burn rate x the error budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..config import BurnWindow, SLOConfig
from ..config.units import format_duration

_WEEK: Final = 7 * 86400

# Rate window behind the p95/p99 recording rules the dashboards read. The p99 alert
# reads its own, shorter window (`alerting.p99_window`).
QUANTILE_WINDOW: Final = 300.0
QUANTILES: Final = (0.95, 0.99)
# How long a region that stopped reporting is remembered by the dead-man's switch.
# After this the alert resolves on its own: a decommissioned region stops paging.
ABSENT_LOOKBACK: Final = 86400.0
# The traffic alerts compare against the same window this long ago.
TRAFFIC_OFFSET: Final = 7 * 86400.0
# Range of the idelta that measures the seconds between two evaluations with data (the
# coverage clock): longer than any sane evaluation interval, and the longest gap in the
# data that still counts as covered.
COVERAGE_STEP_RANGE: Final = 600.0
# How long the traffic series may be missing without restarting its "present since".
TRAFFIC_GAP: Final = 600.0


def duration(seconds: float) -> str:
    """A PromQL duration: whole weeks as weeks (`1w`), otherwise days down (`30d`, not `4w2d`)."""
    if seconds % _WEEK == 0:
        return f"{round(seconds // _WEEK)}w"
    days, rest = divmod(seconds, 86400)
    head = f"{round(days)}d" if days else ""
    return head + (format_duration(rest) if rest else "")


def error_budget(objective_percent: float) -> float:
    """99.9 -> 0.001: the fraction of events allowed to be bad."""
    return (100.0 - objective_percent) / 100.0


@dataclass(frozen=True)
class Burn:
    """One burn-rate tier of one SLO, with its derived numbers."""

    window: BurnWindow
    period: float

    @property
    def rate(self) -> float:
        """How many times faster than sustainable the budget burns: 14.4 for 2% in 1h of 30d."""
        return self.window.budget_percent / 100.0 * self.period / self.window.long_window

    def threshold(self, objective_percent: float) -> float:
        """The error ratio both windows must exceed: 14.4 x 0.001 = 0.0144."""
        return self.rate * error_budget(objective_percent)


def burns(slo: SLOConfig) -> tuple[Burn, ...]:
    return tuple(Burn(w, slo.period) for w in slo.alerting.burn_windows)


def sli_windows(slo: SLOConfig) -> tuple[float, ...]:
    """Every window some alert or the period ratio reads, shortest first.

    The shortest also feeds the period ratio (see `base_window`), the quantile
    window feeds the dashboards' p95/p99.
    """
    found = {QUANTILE_WINDOW}
    for w in slo.alerting.burn_windows:
        found.update((w.long_window, w.short_window))
    return tuple(sorted(found))


def base_window(slo: SLOConfig) -> float:
    """The window whose recorded rates are summed over the whole period."""
    return sli_windows(slo)[0]


def number(value: float) -> str:
    """A float as PromQL reads it, without binary noise: 0.0009999999999999432 -> 0.001."""
    return f"{value:.10g}"


@dataclass(frozen=True)
class Scale:
    """Divides every duration by `factor`: the same rules, fast enough for an end-to-end test.

    Rule names keep the nominal windows so the same queries work on both.
    """

    factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.factor >= 1:
            raise ValueError(f"scale factor must be >= 1, got {self.factor!r}")

    def range(self, seconds: float) -> str:
        """A PromQL range or `for` duration, scaled: 300 -> '5m' (or '5s' at factor 60)."""
        scaled = seconds / self.factor
        if round(scaled * 1000) < 1:
            raise ValueError(f"{duration(seconds)} scaled by {self.factor:g} is under 1ms")
        return duration(round(scaled * 1000) / 1000)
