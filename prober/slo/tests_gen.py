"""`promtool test rules` files derived from a config's own SLO math, not copied from fixtures.

For every SLO the expected times come from its objectives, period, burn windows and
alert settings (the formulas of rules/README.md), so a config with other numbers gets
tests of its own numbers. Pure: a Config in, file name -> YAML text out, the same
bytes on every run.

Time model: one region, one probe; sample k of every series is at k x `step` seconds
and holds the runs since the previous sample; rules are evaluated every EVAL seconds.
Each check is `count(ALERTS{alertname=..., alertstate="firing", slo=...})` at one time
(a number, or nothing), or "never firing" over a span (count_over_time of the same).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml
from prometheus_client.utils import floatToGoString

from .. import conventions as c
from ..config import Config, SLOConfig
from . import names as n
from .names import SLI
from .windows import TRAFFIC_OFFSET, Burn, burns, duration, error_budget, number

EVAL: Final = 60  # seconds between rule evaluations, for scenarios of hours
SLOW_EVAL: Final = 300  # ... and for scenarios of days
SCRAPE: Final = 15  # sample interval of the short scenarios (a probe every 15 s)
COARSE: Final = 60  # sample interval of the day-long scenarios
REGION: Final = "eu"
PROBE: Final = "generated"
# The budget-policy scenarios run on a Prometheus that holds this much history.
YOUNG_PROMETHEUS: Final = 2 * 86400


def _fmt(x: float) -> str:
    return f"{x:.12g}"


def _when(seconds: float) -> str:
    """A time for people: 51.84s, 43.2m, 1d12h."""
    if seconds < 120:
        return f"{number(round(seconds, 2))}s"
    if seconds < 7200:
        return f"{number(round(seconds / 60, 2))}m"
    return duration(round(seconds / 60) * 60)


def _floor(ev: int, t: float) -> int:
    """The last evaluation (every ev seconds) at or before t."""
    return math.floor(t / ev + 1e-9) * ev


def _ceil(ev: int, t: float) -> int:
    """The first evaluation (every ev seconds) at or after t."""
    return math.ceil(t / ev - 1e-9) * ev


def eval_for(window: float) -> int:
    """Evaluation interval of a scenario whose longest window is `window`: 1m, or 5m for
    day-long windows (the file stays fast; 5m is also Prometheus' lookback, the worst case
    the coverage and presence rules must survive)."""
    return EVAL if window <= 3 * 3600 else SLOW_EVAL


# --- input series -----------------------------------------------------------------------
@dataclass(frozen=True)
class Phase:
    """`samples` samples, each adding `inc` to a counter (None: the series is absent)."""

    samples: int
    inc: float | None


def counter(phases: Sequence[Phase]) -> str:
    """promtool's expanding notation for a counter that starts at 0 at sample 0."""
    parts: list[str] = []
    value: float | None = None
    for i, p in enumerate(phases):
        count = p.samples + (1 if i == 0 else 0)
        if count <= 0:
            continue
        if p.inc is None:
            parts.append(f"_x{count}")
            value = None
        elif value is None:
            parts.append(f"0+{_fmt(p.inc)}x{count - 1}")
            value = p.inc * (count - 1)
        else:
            first = value + p.inc
            parts.append(f"{_fmt(first)}+{_fmt(p.inc)}x{count - 1}")
            value = first + p.inc * (count - 1)
    return " ".join(parts)


def _labels(d: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in d.items()) + "}"


@dataclass(frozen=True)
class Runs:
    """Per sample: `runs` probe runs, of which `bad` fail and `slow` succeed slowly."""

    samples: int
    runs: float = 1.0
    bad: float = 0.0
    slow: float = 0.0


def probe_series(
    slo: SLOConfig, phases: Sequence[Runs], *, buckets: Sequence[float] = (), slow_at: float = 0
) -> list[dict[str, str]]:
    """The series one agent exposes for one probe of `slo`: runs by outcome and, when
    `buckets` are given, the duration histogram of successful runs (fast runs at the
    first bucket bound, slow ones at `slow_at`)."""
    base = {"job": "prober", "instance": "gen:9477", c.L_PROBE: PROBE, c.L_REGION: REGION}
    base[c.L_SLO] = slo.name

    def series(name: str, extra: dict[str, str], incs: list[float]) -> dict[str, str]:
        values = counter([Phase(p.samples, inc) for p, inc in zip(phases, incs, strict=True)])
        return {"series": name + _labels({**base, **extra}), "values": values}

    out = [
        series(
            c.RUNS_TOTAL,
            {c.L_OUTCOME: c.Outcome.SUCCESS, c.L_CODE: "200"},
            [p.runs - p.bad for p in phases],
        ),
        series(c.RUNS_TOTAL, {c.L_OUTCOME: "timeout", c.L_CODE: ""}, [p.bad for p in phases]),
    ]
    if buckets:
        fast_at = buckets[0]
        for le in (*buckets, math.inf):
            incs = [
                (p.runs - p.bad - p.slow) * (fast_at <= le) + p.slow * (slow_at <= le)
                for p in phases
            ]
            le_text: str = floatToGoString(le)  # type: ignore[no-untyped-call]  # untyped
            extra = {c.L_OUTCOME: c.Outcome.SUCCESS, c.L_LE: le_text}
            out.append(series(f"{c.DURATION}_bucket", extra, incs))
        out.append(
            series(
                f"{c.DURATION}_count",
                {c.L_OUTCOME: c.Outcome.SUCCESS},
                [p.runs - p.bad for p in phases],
            )
        )
    return out


# --- checks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """At `at`: `alert` firing (True) or not; with `span`, never firing in (at-span, at]."""

    at: int
    alert: str
    firing: bool
    why: str
    match: dict[str, str] = field(default_factory=dict)
    span: int = 0

    def test(self, slo: str) -> dict[str, Any]:
        sel = "ALERTS" + _labels(
            {"alertname": self.alert, "alertstate": "firing", c.L_SLO: slo, **self.match}
        )
        if self.span:
            expr = f"count_over_time({sel}[{self.span}s])"
            return {"expr": expr, "eval_time": f"{self.at}s", "exp_samples": []}
        samples = [{"labels": "{}", "value": 1}] if self.firing else []
        return {"expr": f"count({sel})", "eval_time": f"{self.at}s", "exp_samples": samples}


@dataclass(frozen=True)
class Timing:
    """One computed expectation, for rules/README.md."""

    alert: str
    scenario: str
    result: str


@dataclass
class Case:
    name: str
    step: int  # seconds between samples
    series: list[dict[str, str]]
    checks: list[Check]
    timings: list[Timing]
    ev: int = EVAL  # seconds between rule evaluations
    start: int = 0  # when the scenario's change begins (for measured times)

    def doc(self, slo: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "interval": f"{self.step}s",
            "input_series": self.series,
            "promql_expr_test": [ch.test(slo) for ch in self.checks],
        }


def _both(alert: str, global_alert: str, at: int, firing: bool, why: str) -> list[Check]:
    """The per-region alert (in REGION) and its Global twin: one region, the same timing."""
    return [
        Check(at, alert, firing, why, {c.L_REGION: REGION}),
        Check(at, global_alert, firing, why),
    ]


def _never(alerts: Sequence[str], at: int, span: int, why: str) -> list[Check]:
    return [Check(at, a, False, why, span=span) for a in alerts]


# --- burn rates ------------------------------------------------------------------------------
def _burn_names(sli: SLI, burn: Burn) -> tuple[str, str]:
    return (
        n.burn_alert(sli, burn.window.name),
        n.burn_alert(sli, burn.window.name, global_=True),
    )


def _all_burn_alerts(slo: SLOConfig, sli: SLI) -> list[str]:
    return [name for b in burns(slo) for name in _burn_names(sli, b)]


def _samples(seconds: float, step: int) -> int:
    return max(1, math.ceil(seconds / step - 1e-9))


def full_outage(
    config: Config, slo: SLOConfig, burn: Burn, sli: SLI = SLI.AVAILABILITY
) -> Case | None:
    """Every run fails (availability) or is slow (latency) from T: fires once the outage has
    spent budget_percent of the budget (threshold x long window of outage), plus a sample
    and an evaluation; resolves within the short window of recovery."""
    if sli is SLI.LATENCY:
        if slo.latency is None:
            return None
        objective = slo.latency.objective
        bounds = [b for b in config.duration_buckets if b >= slo.latency.threshold]
        if len(bounds) < 2:
            return None
    else:
        objective = slo.availability.objective
    theta = burn.threshold(objective)
    if theta >= 1:
        return None
    w = burn.window
    ev = eval_for(w.long_window)
    s = SCRAPE if ev == EVAL else COARSE
    detect = theta * w.long_window  # = budget_percent/100 x budget x period
    start = _ceil(ev, w.long_window)
    deadline = _floor(ev, start + detect + s + ev)
    recovery = deadline + 2 * ev
    resolved = _floor(ev, recovery + w.short_window + ev)
    end = resolved + ev
    bad = Runs((recovery - start) // s, bad=1.0)
    if sli is SLI.LATENCY:
        bad = Runs((recovery - start) // s, slow=1.0)
    phases = [Runs(start // s), bad, Runs((end - recovery) // s)]
    alert, glob = _burn_names(sli, burn)
    kind = "full outage" if sli is SLI.AVAILABILITY else "every run slow"
    spent = f"{number(w.budget_percent)}% of the budget ({_when(detect)} of {kind})"
    checks = [
        *_both(alert, glob, start, False, "no failure yet"),
        *_both(alert, glob, _floor(ev, start + 0.9 * detect), False, "under the budget share"),
        *_both(alert, glob, deadline, True, f"{spent} + a scrape and an evaluation"),
        *_both(alert, glob, recovery, True, "still failing"),
        *_both(alert, glob, resolved, False, "resolved within the short window"),
    ]
    timing = [
        Timing(alert, kind, f"fires by {_when(deadline - start)} (math: {_when(detect)})"),
        Timing(
            alert,
            f"recovery after {kind}",
            f"resolved by {_when(resolved - recovery)} ({duration(w.short_window)} window)",
        ),
    ]
    name = f"{slo.name}: {kind} fires {alert}"
    if sli is SLI.AVAILABILITY:
        return Case(name, s, probe_series(slo, phases), checks, timing, ev, start)
    series = probe_series(slo, phases, buckets=config.duration_buckets, slow_at=bounds[1])
    return Case(name, s, series, checks, timing, ev, start)


def _ratio_for(slo: SLOConfig, burn: Burn) -> float | None:
    """An error ratio that fires this tier but stays under every faster tier's threshold."""
    objective = slo.availability.objective
    theta = burn.threshold(objective)
    above = [b.threshold(objective) for b in burns(slo) if b.threshold(objective) > theta]
    k = min([2.0, *[(1 + a / theta) / 2 for a in above], (1 + 1 / theta) / 2])
    return None if k <= 1.05 else theta * k


def steady_burn(slo: SLOConfig, burn: Burn) -> Case | None:
    """A constant error ratio k x threshold from T after a clean long window: fires once the
    long window's ratio crosses the threshold, at long_window / k; faster tiers stay silent."""
    ratio = _ratio_for(slo, burn)
    if ratio is None:
        return None
    objective = slo.availability.objective
    theta = burn.threshold(objective)
    w, s = burn.window, COARSE
    ev = eval_for(w.long_window)
    k = ratio / theta
    fire = max(w.long_window, w.short_window) / k
    start = _ceil(ev, w.long_window)
    silent = _floor(ev, start + fire)
    if silent >= start + fire:  # exactly at the crossing the ratio equals the threshold
        silent -= ev
    firing = _floor(ev, start + fire + s + ev)
    end = firing + ev
    phases = [Runs(start // s), Runs((end - start) // s, bad=ratio)]
    alert, glob = _burn_names(SLI.AVAILABILITY, burn)
    faster = [
        name
        for b in burns(slo)
        if b.threshold(objective) > theta
        for name in _burn_names(SLI.AVAILABILITY, b)
    ]
    checks = [
        *_both(alert, glob, int(silent), False, "long-window ratio not yet over the threshold"),
        *_both(alert, glob, firing, True, f"{duration(w.long_window)} x threshold / ratio"),
        *_never(faster, end, end - start + ev, "under the faster tiers' thresholds"),
    ]
    burn_rate = number(round(ratio / error_budget(objective), 3))
    pct = f"{number(round(ratio * 100, 4))}% errors (burn rate {burn_rate})"
    timing = [Timing(alert, pct, f"fires at {_when(firing - start)} (math: {_when(fire)})")]
    name = f"{slo.name}: {pct} fires {alert} on time"
    return Case(name, s, probe_series(slo, phases), checks, timing, ev, start)


def at_budget(slo: SLOConfig) -> Case:
    """An error ratio exactly at the budget (burn rate 1) never fires a tier whose burn
    rate is above 1."""
    q = error_budget(slo.availability.objective)
    s = COARSE
    longest = max(max(b.window.long_window, b.window.short_window) for b in burns(slo))
    ev = eval_for(longest)
    end = _ceil(ev, longest + 2 * ev)
    phases = [Runs(end // s, bad=q)]
    names = [name for b in burns(slo) if b.rate > 1 for name in _burn_names(SLI.AVAILABILITY, b)]
    checks = _never(names, end, end, "burn rate 1 spends the budget exactly over the period")
    timing = [
        Timing(
            n.burn_alert(SLI.AVAILABILITY, b.window.name),
            f"{number(round(q * 100, 6))}% errors (exactly the budget)",
            "never fires",
        )
        for b in burns(slo)
        if b.rate > 1
    ]
    name = f"{slo.name}: an error ratio at the budget never fires"
    return Case(name, s, probe_series(slo, phases), checks, timing, ev)


def blip(slo: SLOConfig) -> Case:
    """A full outage that spends half of the smallest tier's budget share fires nothing."""
    objective = slo.availability.objective
    q = error_budget(objective)
    s = COARSE
    share = min(b.window.budget_percent for b in burns(slo)) / 100 / 2
    failed = share * q * slo.period  # seconds of full outage
    longest = max(b.window.long_window for b in burns(slo))
    longest_short = max(b.window.short_window for b in burns(slo))
    ev = eval_for(longest)
    start = _ceil(ev, longest)
    whole, part = divmod(failed / s, 1)
    phases = [Runs(start // s)]
    if whole:
        phases.append(Runs(int(whole), bad=1.0))
    phases.append(Runs(1, bad=part))
    after = _ceil(ev, longest_short + 2 * ev)
    used = sum(p.samples for p in phases) * s
    phases.append(Runs((start + after - used) // s + 1))
    end = start + after
    names = _all_burn_alerts(slo, SLI.AVAILABILITY)
    why = f"{number(share * 100)}% of the budget"
    checks = _never(names, end, after + ev, why)
    timing = [Timing("all burn alerts", f"a {_when(failed)} outage ({why})", "silent")]
    name = f"{slo.name}: a blip under the smallest budget share fires nothing"
    return Case(name, s, probe_series(slo, phases), checks, timing, ev, start)


# --- p99 ---------------------------------------------------------------------------------------
def _slow_duration(config: Config, slo: SLOConfig) -> float | None:
    """A duration whose bucket lies wholly above the p99 threshold."""
    threshold = slo.alerting.p99_threshold
    bounds = [b for b in config.duration_buckets if b >= threshold]
    return bounds[1] if len(bounds) > 1 else None


def p99_excursions(config: Config, slo: SLOConfig) -> list[Case]:
    """Every successful run slow for E: silent for E = p99_window and p99_for - 2 x window,
    fires for p99_for + window once the excursion has lasted p99_for, resolves within a
    window and an evaluation of its end."""
    a = slo.alerting
    slow = _slow_duration(config, slo)
    if slow is None:
        return []
    win, for_, s, ev = a.p99_window, a.p99_for, SCRAPE, EVAL
    alert, glob = n.p99_alert(), n.p99_alert(global_=True)
    lengths = [win, for_ - 2 * win, for_ + win]
    cases = []
    for e in dict.fromkeys(x for x in lengths if x > 0):
        start = _ceil(ev, max(10 * 60, 2 * win))
        stop = start + e
        end = _ceil(ev, stop + win + for_ + 2 * ev)
        phases = [
            Runs(start // s),
            Runs(_samples(e, s), slow=1.0),
            Runs(_samples(end - start - _samples(e, s) * s, s)),
        ]
        series = probe_series(slo, phases, buckets=config.duration_buckets, slow_at=slow)
        what = f"a {_when(e)} p99 excursion ({_when(slow)} runs)"
        if e <= for_:
            checks = _never([alert, glob], end, end - start + ev, "shorter than p99_for")
            timing = [Timing(alert, what, "silent")]
        else:
            firing = _floor(ev, start + for_ + s + ev)
            resolved = _floor(ev, stop + win + ev)
            checks = [
                *_both(alert, glob, _floor(ev, start + for_ - 1), False, "not yet p99_for long"),
                *_both(alert, glob, firing, True, "p99_for + a sample and an evaluation"),
                *_both(alert, glob, resolved, False, "the window has left the excursion"),
            ]
            timing = [
                Timing(
                    alert,
                    what,
                    f"fires by {_when(firing - start)}; resolved by "
                    f"{_when(resolved - stop)} after it ends",
                )
            ]
        cases.append(Case(f"{slo.name}: {what}", s, series, checks, timing, ev, start))
    return cases


# --- budget policy ----------------------------------------------------------------------------
def budget_policy(slo: SLOConfig) -> list[Case]:
    """On a Prometheus holding two days, a full outage spending (policy - 10) points of the
    period's budget stays silent and one spending (policy + 1) points fires: time without
    data counts as unspent."""
    if slo.period < YOUNG_PROMETHEUS:
        return []
    q = error_budget(slo.availability.objective)
    policy = slo.alerting.budget_policy_spent_percent
    budget_seconds = q * slo.period
    s = COARSE if budget_seconds >= 600 else SCRAPE
    cases = []
    above = policy + 1 if policy <= 98 else (policy + 100) / 2
    for target, fires in ((max(policy - 10, policy / 2), False), (above, True)):
        outage = max(s, round(target / 100 * budget_seconds / s) * s)
        spent = outage / budget_seconds * 100
        if (spent > policy) != fires or spent > 100 * YOUNG_PROMETHEUS / slo.period / q:
            continue
        ev = SLOW_EVAL
        start = YOUNG_PROMETHEUS // 2
        end = YOUNG_PROMETHEUS
        phases = [
            Runs(start // s),
            Runs(outage // s, bad=1.0),
            Runs((end - start - outage) // s),
        ]
        what = (
            f"a {_when(outage)} full outage on a 2-day-old Prometheus "
            f"({number(round(spent, 1))}% spent)"
        )
        checks = [
            Check(end, n.BUDGET_ALERT, fires, what, {n.L_SLI: str(SLI.AVAILABILITY)}),
        ]
        timing = [Timing(n.BUDGET_ALERT, what, "fires" if fires else "silent")]
        series = probe_series(slo, phases)
        cases.append(Case(f"{slo.name}: {what}", s, series, checks, timing, ev, start))
    return cases


# --- traffic ------------------------------------------------------------------------------------
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?\s*\[(\d+)([smhdw])\]")
_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*=\s*"([^"\\]*)"\s*')
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def service_selector(expr: str) -> tuple[str, dict[str, str], int] | None:
    """(metric, equality matchers, range seconds) of the one counter a traffic expr reads,
    or None when the generator cannot write its input (several selectors, regex matchers)."""
    found = _SELECTOR.findall(expr)
    if len({(m, sel) for m, sel, _, _ in found}) != 1:
        return None
    metric, sel, amount, unit = found[0]
    labels: dict[str, str] = {}
    for part in sel.strip("{}").split(",") if sel.strip("{} ") else []:
        m = _MATCHER.fullmatch(part)
        if m is None:
            return None
        labels[m.group(1)] = m.group(2)
    return metric, labels, int(amount) * _UNIT[unit]


def _keeps_region(expr: str) -> bool:
    """Whether the expr's result keeps a `region` label (so scenarios can share a group)."""
    by = re.findall(r"\bby\s*\(([^)]*)\)", expr)
    return bool(by) and all(c.L_REGION in [x.strip() for x in b.split(",")] for b in by)


def traffic(slo: SLOConfig) -> tuple[list[Case], str]:
    """Drop, spike, a baseline new a week ago, a tiny baseline; with a note when skipped.

    When the expr keeps `region`, the scenarios run as regions of one group (a week of
    evaluations once, not four times).
    """
    t = slo.alerting.traffic
    if t.expr is None:
        return [], ""
    parsed = service_selector(t.expr)
    if parsed is None:
        return [], (
            f"{slo.name}: traffic tests not generated: cannot derive the input series of "
            "alerting.traffic.expr (one counter, equality matchers only)"
        )
    metric, labels, rng = parsed
    s = max(1, min(COARSE, rng // 4))
    ev = SLOW_EVAL
    week, win = int(TRAFFIC_OFFSET), t.window
    base = max(10 * t.min_rate, 1.0)
    start = _ceil(ev, week + win + 2 * 3600)  # T: the change; last week's window whole
    lag = rng + s + ev  # the expr's own rate window, a sample, an evaluation
    merge = _keeps_region(t.expr)
    both = [n.TRAFFIC_DROP_ALERT, n.TRAFFIC_SPIKE_ALERT]

    def series(region: str, phases: list[tuple[float, float | None]]) -> dict[str, str]:
        out, used = [], 0
        for until, rate in phases:
            count = round((until - used) / s)
            out.append(Phase(count, None if rate is None else rate * s))
            used += count * s
        return {
            "series": metric + _labels({**labels, c.L_REGION: region}),
            "values": counter(out),
        }

    scenarios: list[tuple[str, dict[str, str], list[Check], Timing]] = []

    def add(  # noqa: PLR0917  # one call per scenario, read as a table
        region: str,
        what: str,
        phases: list[tuple[float, float | None]],
        checks: list[Check],
        result: str,
        alert: str,
    ) -> None:
        match = {c.L_REGION: region} if merge else {}
        checks = [Check(ch.at, ch.alert, ch.firing, ch.why, match, ch.span) for ch in checks]
        scenarios.append((what, series(region, phases), checks, Timing(alert, what, result)))

    low = base * t.drop_ratio / 2
    x_drop = win * (1 - t.drop_ratio) / (1 - t.drop_ratio / 2)
    fire = _floor(ev, start + x_drop + lag + ev)
    add("eu", f"requests fall to {number(round(t.drop_ratio / 2 * 100, 2))}% of last week",
        [(start, base), (fire + ev, low)],
        [Check(start, n.TRAFFIC_DROP_ALERT, False, "before the drop"),
         Check(fire, n.TRAFFIC_DROP_ALERT, True, "window average under drop_ratio x last week"),
         *_never([n.TRAFFIC_SPIKE_ALERT], fire, fire, "no spike")],
        f"fires by {_when(fire - start)} (math: {_when(x_drop)} + the expr's "
        f"{duration(rng)} rate window)", n.TRAFFIC_DROP_ALERT)  # fmt: skip
    k = t.spike_ratio * 2
    x_spike = win * (t.spike_ratio - 1) / (k - 1)
    fire = _floor(ev, start + x_spike + lag + ev)
    add("us", f"requests rise to {number(k)}x last week",
        [(start, base), (fire + ev, base * k)],
        [Check(start, n.TRAFFIC_SPIKE_ALERT, False, "before the spike"),
         Check(fire, n.TRAFFIC_SPIKE_ALERT, True, "window average over spike_ratio x last week"),
         *_never([n.TRAFFIC_DROP_ALERT], fire, fire, "no drop")],
        f"fires by {_when(fire - start)} (math: {_when(x_spike)} + the expr's "
        f"{duration(rng)} rate window)", n.TRAFFIC_SPIKE_ALERT)  # fmt: skip
    # Born mid-window a week before T: last week's window is whole only from T + window/2.
    whole = start + win / 2
    fire = _floor(ev, whole + lag + ev)
    add("ap", f"a series new a week ago, at {number(k)}x its first week",
        [(start - week - win / 2, None), (start - win, base), (fire + ev, base * k)],
        [*_never(both, _floor(ev, whole - 1), _floor(ev, whole - 1) - start + round(win),
                 "last week's window not whole"),
         Check(fire, n.TRAFFIC_SPIKE_ALERT, True, "last week's window whole, the spike real")],
        f"silent until last week's {duration(win)} is whole, then fires by "
        f"{_when(fire - start)}", n.TRAFFIC_SPIKE_ALERT)  # fmt: skip
    if t.min_rate > 0:
        tiny = t.min_rate / 2
        end = _floor(ev, start + win + lag + ev)
        add("sa", f"a {number(tiny)} req/s baseline (under min_rate) that stops",
            [(start, tiny), (end, 0.0)],
            _never(both, end, end - start + ev, "baseline under min_rate"),
            "silent", n.TRAFFIC_DROP_ALERT)  # fmt: skip
    if merge:
        series_all = [sc[1] for sc in scenarios]
        checks_all = [ch for sc in scenarios for ch in sc[2]]
        name = f"{slo.name}: traffic drop, spike, new series and tiny baseline, one region each"
        timings = [sc[3] for sc in scenarios]
        return [Case(name, s, series_all, checks_all, timings, ev, start)], ""
    cases = [
        Case(f"{slo.name}: {what}", s, [ser], checks, [timing], ev, start)
        for what, ser, checks, timing in scenarios
    ]
    return cases, ""


# --- files -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Generated:
    files: dict[str, str]
    timings: dict[str, list[Timing]]  # per SLO
    notes: list[str]
    cases: dict[str, list[Case]] = field(default_factory=dict)  # per file


def slo_cases(config: Config, slo: SLOConfig) -> tuple[dict[str, list[Case]], list[str]]:
    """The cases of one SLO, by file topic."""
    notes: list[str] = []
    burn: list[Case] = []
    for b in burns(slo):
        for case in (full_outage(config, slo, b), steady_burn(slo, b)):
            if case is None:
                notes.append(
                    f"{slo.name}: a burn test skipped for burn window {b.window.name}: its "
                    f"threshold {number(b.threshold(slo.availability.objective))} cannot be "
                    "reached by an error ratio"
                )
            else:
                burn.append(case)
    if slo.latency is not None:
        fastest = min(burns(slo), key=lambda b: b.window.long_window)
        case = full_outage(config, slo, fastest, SLI.LATENCY)
        if case is None:
            notes.append(f"{slo.name}: latency burn test skipped: its threshold is unreachable")
        else:
            burn.append(case)
    burn += [at_budget(slo), blip(slo)]
    p99 = p99_excursions(config, slo)
    if not p99:
        notes.append(f"{slo.name}: p99 tests skipped: no bucket above p99_threshold")
    tr, note = traffic(slo)
    if note:
        notes.append(note)
    topics = {"burn": burn, "p99": p99, "budget": budget_policy(slo), "traffic": tr}
    return {k: v for k, v in topics.items() if v}, notes


def render_tests(config: Config, rule_file: str) -> Generated:
    """File name -> `promtool test rules` YAML per SLO and topic, reading `rule_file`
    (a path relative to the test files)."""
    files: dict[str, str] = {}
    timings: dict[str, list[Timing]] = {}
    notes: list[str] = []
    by_file: dict[str, list[Case]] = {}
    for slo in config.slos:
        topics, more = slo_cases(config, slo)
        notes += more
        timings[slo.name] = [t for cases in topics.values() for case in cases for t in case.timings]
        for topic, cases in topics.items():
            for ev in sorted({case.ev for case in cases}):
                mine = [case for case in cases if case.ev == ev]
                doc = {
                    "rule_files": [rule_file],
                    "evaluation_interval": f"{ev}s",
                    "tests": [case.doc(slo.name) for case in mine],
                }
                header = (
                    f"# Generated by prober from the SLO math of {slo.name} ({topic}). "
                    "DO NOT EDIT.\n# Regenerate with `prober rules -c CONFIG --tests DIR`.\n"
                )
                text = yaml.safe_dump(doc, sort_keys=False, width=100)
                suffix = "" if ev == EVAL else f"-eval{duration(ev)}"
                name = f"{slo.name}.{topic}{suffix}.test.yml"
                files[name] = header + text
                by_file[name] = mine
    return Generated(files, timings, notes, by_file)


def timings_table(generated: Generated) -> str:
    """The computed expectations as a Markdown table (rules/README.md)."""
    lines = ["| SLO | alert | scenario | expected |", "|---|---|---|---|"]
    for slo, rows in generated.timings.items():
        for t in rows:
            lines.append(f"| {slo} | `{t.alert}` | {t.scenario} | {t.result} |")
    return "\n".join(lines) + "\n"
