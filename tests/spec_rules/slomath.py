"""The SLO math of docs/slo-math.md, computed independently of the rule generator.

Burn-rate alerts (SRE Workbook, multi-window, multi-burn-rate):

    budget        = 1 - objective                      (0.001 for 99.9%)
    burn factor   = budget share x period / long window  (0.02 x 720h / 1h = 14.4)
    threshold     = burn factor x budget                (1.44% failed runs, 72% slow runs at 95%)
    fires when    ratio(long window) > threshold  and  ratio(short window) > threshold

`first_firing` replays a scenario's runs sample by sample (one run per 15 s per region) and
returns the first rule evaluation at which both windows are above the threshold. A window
(t - W, t] counts the runs of the samples in it, which is what rate() over a counter sampled
every 15 s sees (the extrapolation factors of rate() cancel in a ratio of two counters sampled
at the same times).

Error-budget policy with time without data counted as unspent:

    budget in runs   = budget x (period / 15 s) x regions   (0.001 x 172800 = 172.8 runs)
    spent            = bad runs in the period / budget in runs
    alert            when spent > 80%

A full outage of m minutes is 4 x m bad runs per region, so it spends
4m / (0.001 x 172800) = m / 43.2 of the seed's budget: 30 min = 69.4%, 35 min = 81.0%.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tests.spec_rules.promtest import STEP, Phase

FAST_SHARE, FAST_LONG_H, FAST_SHORT_H = 0.02, 1.0, 5 / 60
SLOW_SHARE, SLOW_LONG_H, SLOW_SHORT_H = 0.05, 24.0, 2.0
POLICY_SPENT = 0.8


@dataclass(frozen=True)
class Objectives:
    availability: float  # percent
    latency: float  # percent of successful runs under threshold_s
    threshold_s: float
    period_h: float

    def budget(self, sli: str) -> float:
        return 1 - (self.availability if sli == "availability" else self.latency) / 100

    def factor(self, share: float, long_h: float) -> float:
        return share * self.period_h / long_h

    def threshold(self, sli: str, share: float, long_h: float) -> float:
        return self.factor(share, long_h) * self.budget(sli)


@dataclass(frozen=True)
class Runs:
    """Per sample k >= 1 (time 15k s): runs, bad runs, successful runs, slow successful runs."""

    times: list[int]
    bad: list[float]
    ok: list[float]
    slow: list[float]

    @classmethod
    def of(cls, phases: Sequence[Phase], threshold_s: float) -> Runs:
        times: list[int] = []
        bad: list[float] = []
        ok: list[float] = []
        slow: list[float] = []
        start = 0
        for p in phases:
            end = start + round(p.minutes * 60)
            for t in range(start, end, STEP):
                if t == 0:
                    continue  # sample 0 is the counters' starting value
                times.append(t)
                bad.append(p.bad)
                ok.append(1 - p.bad)
                slow.append((1 - p.bad) * p.slow if p.slow_seconds > threshold_s else 0.0)
            start = end
        return cls(times, bad, ok, slow)

    def window(self, values: list[float], t: int, seconds: float) -> float:
        return sum(v for tk, v in zip(self.times, values, strict=True) if t - seconds < tk <= t)

    def ratio(self, sli: str, t: int, seconds: float) -> float:
        if sli == "availability":
            num, den = self.window(self.bad, t, seconds), float(len(self.window_runs(t, seconds)))
        else:
            num, den = self.window(self.slow, t, seconds), self.window(self.ok, t, seconds)
        return num / den if den else 0.0

    def window_runs(self, t: int, seconds: float) -> list[int]:
        return [tk for tk in self.times if t - seconds < tk <= t]


def burning(
    runs: Runs, obj: Objectives, sli: str, *, share: float, long_h: float, short_h: float
) -> Callable[[int], bool]:
    thr = obj.threshold(sli, share, long_h)

    def cond(t: int) -> bool:
        return runs.ratio(sli, t, long_h * 3600) > thr * (1 + 1e-9) and runs.ratio(
            sli, t, short_h * 3600
        ) > thr * (1 + 1e-9)

    return cond


def first(cond: Callable[[int], bool], start: int, end: int, every: int) -> int | None:
    """First evaluation time in [start, end] (multiples of `every`) where cond holds."""
    t = math.ceil(start / every) * every
    while t <= end:
        if cond(t):
            return t
        t += every
    return None


def spent(runs: Runs, obj: Objectives, sli: str, t: int, regions: int = 1) -> float:
    """Share of the period's error budget spent at t, time without data counted as unspent."""
    period = obj.period_h * 3600
    expected = period / STEP * regions
    bad = runs.window(runs.bad if sli == "availability" else runs.slow, t, period)
    return bad / (obj.budget(sli) * expected)
