"""Ask Prometheus where each SLO stands; the figures as plain data.

Every figure comes from the rate series the generated rules record (names from
prober.slo.names), summed per region (`sum by (region)`) and across regions here, and
divided here: the same sums the ratio rules divide, so the report agrees with the
dashboards and alerts. Over the report window (default: the SLO period) the ratio is
`sum_over_time` of the recorded base-window rates, as the period rule computes it;
burn rates read the rates the burn alerts read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .. import conventions as c
from ..config import Config, SLOConfig
from ..slo import names as n
from ..slo.generate import build_groups
from ..slo.names import SLI
from ..slo.windows import COVERAGE_STEP_RANGE, Scale, base_window, burns
from .budget import (
    Verdict,
    budget_spent,
    burn_rate,
    error_budget,
    ratio,
    time_to_exhaustion,
    verdict,
)
from .prometheus import Prometheus, Sample, Series

ALL_REGIONS = None  # the region of the cross-region figures

T = TypeVar("T")


async def gather(*coros: Awaitable[T]) -> list[T]:
    """All results in order; on the first failure the rest are cancelled and that
    failure is raised as itself (not as an ExceptionGroup)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_wrap(c)) for c in coros]
    except ExceptionGroup as eg:
        raise eg.exceptions[0] from None
    return [t.result() for t in tasks]


async def _wrap(awaitable: Awaitable[T]) -> T:
    return await awaitable


@dataclass(frozen=True)
class BurnRate:
    """One burn-rate alert window of an SLI, as it stands."""

    window: str  # the config's name: fast, slow
    severity: str
    long_window: float  # nominal seconds
    short_window: float
    threshold: float  # the alert fires when both rates are above this
    long_rate: float | None
    short_rate: float | None

    @property
    def over(self) -> bool:
        """Both windows above the threshold: the alert's condition."""
        return (
            self.long_rate is not None
            and self.short_rate is not None
            and self.long_rate > self.threshold
            and self.short_rate > self.threshold
        )


@dataclass(frozen=True)
class Scope:
    """One SLI of one SLO in one region, or across all regions (`region` None)."""

    region: str | None
    error_ratio: float | None  # over the report window
    sli: float | None
    budget_spent: float | None  # fraction of the error budget
    budget_remaining: float | None
    burn_rates: tuple[BurnRate, ...]
    current_burn: float | None  # the burn rate the exhaustion time assumes
    time_to_exhaustion: float | None  # seconds; None: not at this rate (or no data)
    over_policy: bool
    # Share of the window with recorded runs; the budget counts the rest as unspent.
    coverage: float | None = None


@dataclass(frozen=True)
class SLIReport:
    sli: SLI
    objective: float  # percent
    scopes: tuple[Scope, ...]  # all regions first, then each region

    @property
    def all_regions(self) -> Scope:
        return self.scopes[0]


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    labels: dict[str, str]


@dataclass(frozen=True)
class SLOReport:
    name: str
    period: float  # nominal seconds
    window: float  # nominal seconds the SLI and budget figures cover
    policy_spent_percent: float
    current_window: float  # the burn window behind the exhaustion time
    slis: tuple[SLIReport, ...]
    alerts: tuple[Alert, ...]

    @property
    def verdict(self) -> Verdict:
        """Freeze when any SLI's cross-region budget is over the policy line (as the
        budget policy alert reads it); no data when no SLI has any."""
        verdicts = [
            verdict(s.all_regions.budget_spent, self.policy_spent_percent) for s in self.slis
        ]
        if Verdict.FREEZE in verdicts:
            return Verdict.FREEZE
        if all(v is Verdict.NO_DATA for v in verdicts):
            return Verdict.NO_DATA
        return Verdict.OK


@dataclass(frozen=True)
class Report:
    prometheus: str  # the URL, without credentials
    at: float  # unix seconds the figures are for
    scale: float
    slos: tuple[SLOReport, ...]
    agent_alerts: tuple[Alert, ...] = field(default=())  # firing alerts of no SLO

    @property
    def exit_code(self) -> int:
        return 1 if any(s.verdict is Verdict.FREEZE for s in self.slos) else 0


def slis(slo: SLOConfig) -> list[SLI]:
    return [SLI.AVAILABILITY] + ([SLI.LATENCY] if slo.latency is not None else [])


def objective(slo: SLOConfig, sli: SLI) -> float:
    if sli is SLI.LATENCY:
        assert slo.latency is not None
        return slo.latency.objective
    return slo.availability.objective


def rate_series(sli: SLI, window: float) -> tuple[str, str]:
    """(bad, all) recorded rates of an SLI: the ratio rule's numerator and denominator."""
    if sli is SLI.AVAILABILITY:
        return n.bad_runs(window), n.runs(window)
    return n.slow_runs(window), n.success_runs(window)


def _selector(metric: str, slo: SLOConfig) -> str:
    return f'{metric}{{{c.L_SLO}="{slo.name}"}}'


def window_sum(metric: str, slo: SLOConfig, window: str) -> str:
    """Sum per region of a recorded rate over a window: `window` is a PromQL range."""
    return f"sum by ({c.L_REGION}) (sum_over_time({_selector(metric, slo)}[{window}]))"


def current(metric: str, slo: SLOConfig) -> str:
    return f"sum by ({c.L_REGION}) ({_selector(metric, slo)})"


def current_window(slo: SLOConfig) -> float:
    """The burn window the exhaustion time assumes: the shortest long window (1h)."""
    return min(w.long_window for w in slo.alerting.burn_windows)


def coverage_seconds(slo: SLOConfig, window: str) -> str:
    """Seconds with recorded runs per region over a window, as the coverage rule sums them."""
    step = _selector(n.data_step(COVERAGE_STEP_RANGE), slo)
    return f"sum by ({c.L_REGION}) (sum_over_time({step}[{window}]))"


def coverages(samples: Sequence[Sample], length: float) -> dict[str | None, float]:
    """Share of a window of `length` seconds with data per region, and across regions the
    largest (time with data in any region), as prober{,_global}:slo_period_coverage:ratio."""
    out: dict[str | None, float] = {
        s.labels.get(c.L_REGION, ""): min(s.value / length, 1.0) for s in samples
    }
    if out:
        out[ALL_REGIONS] = max(out.values())
    return out


def _by_region(samples: Sequence[Sample]) -> dict[str | None, float]:
    out: dict[str | None, float] = {}
    for s in samples:
        region = s.labels.get(c.L_REGION, "")
        out[region] = out.get(region, 0.0) + s.value
    if samples:
        out[ALL_REGIONS] = sum(s.value for s in samples)
    return out


class Collector:
    """Builds a Report from one Prometheus at one instant."""

    def __init__(
        self, prometheus: Prometheus, config: Config, at: float, scale: float = 1.0
    ) -> None:
        build_groups(config)  # the same validation as `prober rules`: ConfigError otherwise
        self.prometheus = prometheus
        self.config = config
        self.at = at
        self.scale = Scale(scale)

    async def _coverage(self, slo: SLOConfig, rng: str, length: float) -> dict[str | None, float]:
        return coverages(await self.prometheus.query(coverage_seconds(slo, rng), self.at), length)

    async def _sums(self, expr: str) -> dict[str | None, float]:
        return _by_region(await self.prometheus.query(expr, self.at))

    async def _sli(self, slo: SLOConfig, sli: SLI, window: float) -> SLIReport:
        target = objective(slo, sli)
        bad, total = rate_series(sli, base_window(slo))
        rng = self.scale.range(window)
        windows = sorted(
            {x for w in slo.alerting.burn_windows for x in (w.long_window, w.short_window)}
        )
        queries = [window_sum(bad, slo, rng), window_sum(total, slo, rng)]
        for w in windows:
            queries += [current(m, slo) for m in rate_series(sli, w)]
        share, *answers = await gather(
            self._coverage(slo, rng, window / self.scale.factor),
            *(self._sums(q) for q in queries),
        )
        period_bad, period_total = answers[0], answers[1]
        rates = {w: (answers[2 + 2 * i], answers[3 + 2 * i]) for i, w in enumerate(windows)}
        regions = sorted(r for r in period_total if r is not None)
        scopes = []
        for region in (ALL_REGIONS, *regions):
            total_runs = period_total.get(region)
            err = ratio(period_bad.get(region, 0.0), total_runs)

            def burn_at(w: float, region: str | None = region) -> float | None:
                num, den = rates[w]
                r = ratio(num.get(region, 0.0 if region in den else None), den.get(region))
                return None if r is None else burn_rate(r, target)

            burn_rates = tuple(
                BurnRate(
                    b.window.name,
                    b.window.severity,
                    b.window.long_window,
                    b.window.short_window,
                    b.rate,
                    burn_at(b.window.long_window),
                    burn_at(b.window.short_window),
                )
                for b in burns(slo)
            )
            # Time without data counts as unspent: bad runs against the runs expected over
            # the whole window at the observed rate (see rules/README.md).
            cover = share.get(region)
            spent = None if err is None or cover is None else budget_spent(err, target) * cover
            remaining = None if spent is None else 1 - spent
            now = burn_at(current_window(slo))
            scopes.append(
                Scope(
                    region=region,
                    error_ratio=err,
                    sli=None if err is None else 1 - err,
                    budget_spent=spent,
                    budget_remaining=remaining,
                    burn_rates=burn_rates,
                    current_burn=now,
                    time_to_exhaustion=(
                        None
                        if remaining is None or now is None
                        else time_to_exhaustion(remaining, now, slo.period / self.scale.factor)
                    ),
                    over_policy=verdict(spent, slo.alerting.budget_policy_spent_percent)
                    is Verdict.FREEZE,
                    coverage=cover,
                )
            )
        if not regions:  # no data at all: one empty cross-region row
            scopes = scopes[:1]
        return SLIReport(sli, target, tuple(scopes))

    async def collect(self, window: float | None = None) -> Report:
        alert_names = sorted(
            {r.alert for g in build_groups(self.config) for r in g.rules if r.alert}
        )
        firing_expr = f'ALERTS{{alertstate="firing",alertname=~"{"|".join(alert_names)}"}}'
        firing = await self.prometheus.query(firing_expr, self.at)

        async def of(slo: SLOConfig) -> list[SLIReport]:
            return await gather(*(self._sli(slo, sli, window or slo.period) for sli in slis(slo)))

        results = await gather(*(of(slo) for slo in self.config.slos))
        alerts = sorted(
            (
                Alert(
                    s.labels["alertname"],
                    s.labels.get(n.L_SEVERITY, ""),
                    {k: v for k, v in s.labels.items() if k not in ("__name__", "alertstate")},
                )
                for s in firing
            ),
            key=lambda a: (a.name, sorted(a.labels.items())),
        )
        reports = tuple(
            SLOReport(
                name=slo.name,
                period=slo.period,
                window=window or slo.period,
                policy_spent_percent=slo.alerting.budget_policy_spent_percent,
                current_window=current_window(slo),
                slis=tuple(sli_reports),
                alerts=tuple(a for a in alerts if a.labels.get(c.L_SLO) == slo.name),
            )
            for slo, sli_reports in zip(self.config.slos, results, strict=True)
        )
        return Report(
            prometheus=self.prometheus.shown,
            at=self.at,
            scale=self.scale.factor,
            slos=reports,
            agent_alerts=tuple(a for a in alerts if c.L_SLO not in a.labels),
        )


# --- charts over the window ---------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    name: str
    points: tuple[tuple[float, float], ...]  # (unix seconds, value)


@dataclass(frozen=True)
class Chart:
    title: str
    lines: tuple[Line, ...]
    references: tuple[tuple[str, float], ...]  # horizontal lines: (label, value)
    percent: bool = True


POINTS = 120


def chart_step(window: float, scale: float) -> float:
    """Seconds between chart points: the window in POINTS steps, whole milliseconds."""
    return max(round(window / scale / POINTS, 3), 0.001)


async def charts(
    prometheus: Prometheus, config: Config, report: Report, window: float | None = None
) -> list[Chart]:
    """Per SLO and SLI: the budget burn-down over the window (all regions) and the SLI
    per step (per region and all regions), from query_range of the same recorded rates.

    Steps tile the window exactly: the last burn-down point is the report's remaining
    budget. Burn-down: 1 - (bad runs so far / (budget x all runs in the window)).
    """
    out: list[Chart] = []
    for slo in config.slos:
        length = window or slo.period
        step = chart_step(length, report.scale)
        end = report.at
        start = end - length / report.scale + step
        rng = Scale(1).range(step)
        mine = next(s for s in report.slos if s.name == slo.name)
        for sli_report in mine.slis:
            sli = sli_report.sli
            bad, total = rate_series(sli, base_window(slo))
            num, den = await gather(
                prometheus.query_range(window_sum(bad, slo, rng), start, end, step),
                prometheus.query_range(window_sum(total, slo, rng), start, end, step),
            )
            cover = sli_report.all_regions.coverage
            out += _sli_charts(slo, sli, num, den, 1.0 if cover is None else cover)
    return out


def _per_time(series: Sequence[Series]) -> dict[str | None, dict[float, float]]:
    out: dict[str | None, dict[float, float]] = {ALL_REGIONS: {}}
    for s in series:
        region = s.labels.get(c.L_REGION, "")
        mine = out.setdefault(region, {})
        for t, v in s.points:
            mine[t] = mine.get(t, 0.0) + v
            out[ALL_REGIONS][t] = out[ALL_REGIONS].get(t, 0.0) + v
    return out


def burn_down(
    bad: dict[float, float],
    total: dict[float, float],
    objective_percent: float,
    coverage: float = 1.0,
) -> list[tuple[float, float]]:
    """Budget remaining after each step: 1 - cumulative bad / (budget x runs expected), where
    runs expected = all recorded runs / the share of the window with data."""
    runs = sum(total.values())
    if runs <= 0 or coverage <= 0:
        return []
    allowed = error_budget(objective_percent) * runs / coverage
    points, spent = [], 0.0
    for t in sorted(total):
        spent += bad.get(t, 0.0)
        points.append((t, 1 - spent / allowed))
    return points


def sli_points(bad: dict[float, float], total: dict[float, float]) -> list[tuple[float, float]]:
    return [
        (t, 1 - r) for t in sorted(total) if (r := ratio(bad.get(t, 0.0), total[t])) is not None
    ]


def _sli_charts(
    slo: SLOConfig, sli: SLI, num: Sequence[Series], den: Sequence[Series], coverage: float
) -> list[Chart]:
    bad, total = _per_time(num), _per_time(den)
    target = objective(slo, sli)
    line = 1 - slo.alerting.budget_policy_spent_percent / 100
    regions = sorted(r for r in total if r is not None)
    name = f"{slo.name}: {sli}"
    return [
        Chart(
            f"{name} error budget remaining",
            (
                Line(
                    "all regions",
                    tuple(burn_down(bad[ALL_REGIONS], total[ALL_REGIONS], target, coverage)),
                ),
            ),
            (("policy line", line), ("exhausted", 0.0)),
        ),
        Chart(
            f"{name} SLI",
            tuple(
                Line(
                    "all regions" if region is None else region,
                    tuple(sli_points(bad.get(region, {}), total[region])),
                )
                for region in (ALL_REGIONS, *regions)
            ),
            (("objective", round(target / 100, 12)),),
        ),
    ]
