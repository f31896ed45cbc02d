"""Independent promtool tests of the generated SLO rules, written from the SLO math only.

Each test generates rules with `prober rules` for a config in tests/spec_rules/configs/, builds
input series from a timeline of probe runs (one probe, one run per 15 s per region), and checks
with `promtool test rules` which alerts fire at which evaluation times. The expected times are
computed here from the formulas (tests/spec_rules/slomath.py), not read from the generator.

Math used (budget b = 1 - objective, period P, one run per 15 s = 4 runs a minute):
- fast burn pages when the 1h and 5m ratios exceed 0.02 x P/1h x b (seed: 14.4 x 0.1% = 1.44%
  failed runs, 14.4 x 5% = 72% slow runs). A full outage after a healthy hour needs
  1.44% x 240 runs = 3.5 -> 4 bad runs (the one at T+45 s, 52 s of outage): fires at T+1m.
- slow burn tickets when the 1d and 2h ratios exceed 0.05 x P/24h x b (seed: 0.15%, 7.5%).
- the p99 > 500 ms alert must need the p99 itself above 500 ms for 5 minutes: a 1 m or 3 m
  excursion of slow runs stays silent; a 6 m one fires at T+5m (<= T+5m + one evaluation)
  and resolves within 2 minutes of its end.
- the error-budget policy fires when more than 80% of b x (P / 15 s) runs have failed, time
  without data counted as unspent (seed: 172.8 runs = 43.2 min of full outage).
- traffic alerts compare the service's request rate averaged over the window with the same
  window a week earlier: drop below 0.5x, spike above 3x.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.spec_rules.promtest import (
    PROMTOOL,
    Check,
    Phase,
    Rate,
    Scenario,
    minutes,
    prober_series,
    run,
    service_series,
)
from tests.spec_rules.slomath import (
    FAST_LONG_H,
    FAST_SHARE,
    FAST_SHORT_H,
    POLICY_SPENT,
    SLOW_LONG_H,
    SLOW_SHARE,
    SLOW_SHORT_H,
    Objectives,
    Runs,
    burning,
    first,
    spent,
)

pytestmark = [
    pytest.mark.promtool,
    pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: prometheus)"),
]

CONFIGS = Path(__file__).parent / "spec_rules" / "configs"
SLO = "user-metadata"
EU, US = "eu-west-1", "us-east-1"
HOUR = 3600
DAY = 24 * HOUR


_GENERATED: dict[str, Path] = {}


def generate(config: str, out: Path) -> Path:
    """`prober rules` for one of our configs (once per session); the plain rule file."""
    if config in _GENERATED:
        return _GENERATED[config]
    res = subprocess.run(
        [sys.executable, "-m", "prober.cli", "rules", "-c", str(CONFIGS / config), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, f"prober rules failed for {config}:\n{res.stderr}"
    _GENERATED[config] = out / "prober-rules.yml"
    return _GENERATED[config]


def objectives(config: str) -> Objectives:
    raw: dict[str, Any] = yaml.safe_load((CONFIGS / config).read_text())
    slo = raw["slos"][0]
    period = str(slo["period"])
    units = {"d": 24.0, "h": 1.0}
    return Objectives(
        availability=float(slo["availability"]["objective"]),
        latency=float(slo["latency"]["objective"]),
        threshold_s=float(str(slo["latency"]["threshold"]).removesuffix("ms")) / 1000,
        period_h=float(period[:-1]) * units[period[-1]],
    )


def group_interval(rules: Path, default: int) -> int:
    """The evaluation interval the generated SLO group declares, else `default` seconds."""
    doc: dict[str, Any] = yaml.safe_load(rules.read_text())
    for group in doc["groups"]:
        if group["name"].startswith("prober-slo") and "interval" in group:
            spec = str(group["interval"])
            return int(spec[:-1]) * {"s": 1, "m": 60}[spec[-1]]
    return default


def check(rules: Path, scenario: Scenario, tmp: Path) -> None:
    ok, report = run(rules, scenario, tmp)
    assert ok, f"{scenario.name}:\n{report}"


def phase_starts(phases: Sequence[Phase]) -> list[int]:
    """Start time (s) of each phase."""
    out, t = [], 0
    for p in phases:
        out.append(t)
        t += round(p.minutes * 60)
    return out


# --- 1. p99 > 500 ms for more than 5 minutes --------------------------------------------
# Timeline (both regions): healthy runs take 50 ms; slow runs take 750 ms (p99 interpolated
# between the 0.5 and 1 buckets, above 0.5). Excursions start at 20 m (1 m long), 40 m (3 m)
# and 60 m (6 m). A p99 over a window w stays above 500 ms from T to about end + w; with a
# window of about 1 m and `for: 5m`, only the 6 m excursion holds it for 5 minutes: pending
# at T = 60 m, firing at 65 m (we allow one evaluation more: 66 m), back to normal once the
# window holds no slow run (67 m; we allow 2 minutes: 68 m). With a 5 m window even the 1 m
# excursion keeps the p99 high from 20 m to 25 m and fires at 25 m: that is the bug.
P99 = [Phase(20), Phase(1, slow=1), Phase(19), Phase(3, slow=1), Phase(17), Phase(6, slow=1)]
P99 += [Phase(14)]
P99_ALERTS = [
    ("ProberSLOLatencyP99High", {"region": EU}),
    ("ProberSLOLatencyP99High", {"region": US}),
    ("ProberSLOLatencyP99HighGlobal", {}),
]


def p99_series() -> list[dict[str, str]]:
    return prober_series(SLO, EU, P99) + prober_series(SLO, US, P99)


def test_one_and_three_minute_p99_excursions_never_fire_the_p99_alert(tmp_path: Path) -> None:
    rules = generate("seed.yaml", tmp_path)
    checks = [
        Check(minutes(m), name, 0, match, "a 1 m / 3 m excursion is not 5 minutes above 500 ms")
        for m in range(20, 60)
        for name, match in P99_ALERTS
    ]
    check(rules, Scenario("p99-short", p99_series(), checks), tmp_path)


def test_a_six_minute_p99_excursion_fires_after_five_minutes_and_resolves(
    tmp_path: Path,
) -> None:
    rules = generate("seed.yaml", tmp_path)
    checks: list[Check] = []
    for name, match in P99_ALERTS:
        checks += [
            Check(minutes(64), name, 0, match, "only 4 of the 5 minutes are up"),
            Check(minutes(66), name, 1, match, "5 minutes up at 65 m, + one evaluation"),
            Check(minutes(68), name, 0, match, "excursion ended at 66 m: resolved within 2 m"),
        ]
    check(rules, Scenario("p99-six", p99_series(), checks), tmp_path)


# --- 2. error-budget policy on a Prometheus with 2 days of data ----------------------------
# Budget in runs = 0.001 x 30 d / 15 s = 172.8 runs = 43.2 min of full outage (4 runs/min).
# 30 min = 120 bad runs = 69.4% spent: silent. 35 min = 140 runs = 81.0%: fires. 5 min =
# 20 runs = 11.6%: silent. Today's rule divides by the runs Prometheus holds (11,520 in 2 days),
# so even 5 min reads as 0.17% failed = 174% of the budget spent.
# These 2-day scenarios are evaluated every 5 minutes (the spent budget moves slowly; a rule
# that does not declare its interval must not depend on Prometheus' evaluation interval),
# unless the generated group declares its own interval.


def budget_scenario(
    config: str, sli: str, outages: Sequence[float], tmp: Path, *, days: float = 2
) -> None:
    """Healthy days with `outages` (minutes of full outage or, for latency, of all-slow runs)
    spaced 2 h apart and ending 1 h before the end; checked 30 min after each and at the end."""
    rules = generate(config, tmp)
    obj = objectives(config)
    every = group_interval(rules, 300)

    def bad(m: float) -> Phase:
        return Phase(m, bad=1) if sli == "availability" else Phase(m, slow=1)

    total = days * 24 * 60
    lead = total - 60 - sum(outages) - 120 * (len(outages) - 1)
    phases = [Phase(lead)]
    for i, m in enumerate(outages):
        phases += [bad(m), Phase(120 if i < len(outages) - 1 else 60)]
    runs = Runs.of(phases, obj.threshold_s)
    starts = phase_starts(phases)
    checks = []
    for i in range(len(outages)):
        end = starts[2 * i + 2]
        at = (end + 1800) // every * every
        frac = spent(runs, obj, sli, at)
        assert abs(frac - POLICY_SPENT) > 0.01, "scenario too close to the 80% line"
        checks.append(
            Check(
                at,
                "ProberSLOErrorBudgetPolicy",
                int(frac > POLICY_SPENT),
                {"sli": sli},
                f"{frac:.1%} of the {obj.period_h / 24:g}d budget spent",
            )
        )
    frac = spent(runs, obj, sli, round(total * 60))
    checks.append(
        Check(
            round(total * 60),
            "ProberSLOErrorBudgetPolicy",
            int(frac > POLICY_SPENT),
            {"sli": sli},
            f"{frac:.1%} spent at the end",
        )
    )
    series = prober_series(SLO, EU, phases)
    check(rules, Scenario(f"budget-{config}-{sli}", series, checks, evaluation_interval=every), tmp)


def test_a_thirty_minute_outage_on_two_days_of_data_spends_69_percent_and_does_not_freeze(
    tmp_path: Path,
) -> None:
    budget_scenario("seed.yaml", "availability", [30], tmp_path)


def test_a_thirty_five_minute_outage_on_two_days_of_data_spends_81_percent_and_freezes(
    tmp_path: Path,
) -> None:
    budget_scenario("seed.yaml", "availability", [35], tmp_path)


def test_a_five_minute_outage_on_two_days_of_data_does_not_freeze_releases(
    tmp_path: Path,
) -> None:
    budget_scenario("seed.yaml", "availability", [5], tmp_path)


# --- 3. traffic anomalies on the service's own request rate --------------------------------
# The service counter is scraped every minute. Data exist in week 0 from 0 to 4 h and in
# week 1 from 7d-1h to 7d+4h (the evaluations in between see nothing, which keeps the test
# fast). At T = 7d+1h the rate of eu-west-1 changes from 100/s; us-east-1 stays at 100/s.
# The 1h average now is (100 (60 - x) + r x) / 60 after x minutes:
# - r = 40 (drop): below 0.5 x 100 once x > 50 min; the 5m rate inside the expression lags up
#   to 5 min: silent at T+45m, firing by T+60m.
# - r = 400 (spike): above 3 x 100 once x > 40 min: silent at T+35m, firing by T+50m.
# - r = 60 or 280 (0.6x, 2.8x): never.
# - a deployment that started 2 h into week 0 (no baseline for the first window a week later):
#   no alert in the hour after 7d+2h, even at 3.5x the partial baseline's rate.
# - a baseline of 0.5/s, under min_rate 1: no alert when it falls to 0 or rises 4x.
TRAFFIC_T = 7 * DAY + HOUR


def traffic_series(eu: Sequence[Rate], us_rate: float = 100) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for region, phases in ((EU, eu), (US, week_pair(us_rate, us_rate))):
        labels = {"job": "user-metadata", "instance": f"ums-{region}:8080", "region": region}
        out += service_series({**labels, "code": "200"}, phases, step=60)
    return out


def week_pair(before: float, after: float, *, baseline: float | None = None) -> list[Rate]:
    """Week 0: `baseline` (default `before`) for 4 h; week 1: `before` from 7d-1h, `after`
    from T = 7d+1h to 7d+4h."""
    base = before if baseline is None else baseline
    return [Rate(240, base), Rate(7 * 24 * 60 - 300, None), Rate(120, before), Rate(180, after)]


def traffic_checks(alert: str, silent_until: int, firing_at: int | None, why: str) -> list[Check]:
    checks = [Check(TRAFFIC_T + minutes(m), alert, 0, {"region": EU}, why) for m in (-5, 0)]
    checks.append(Check(TRAFFIC_T + silent_until, alert, 0, {"region": EU}, why))
    if firing_at is not None:
        checks.append(Check(TRAFFIC_T + firing_at, alert, 1, {"region": EU}, why))
    checks += [
        Check(TRAFFIC_T + minutes(m), a, 0, {"region": US}, "us-east-1 is steady")
        for m in (60, 120, 179)
        for a in ("ProberSLOTrafficDrop", "ProberSLOTrafficSpike")
    ]
    return checks


def traffic(tmp: Path, name: str, eu: Sequence[Rate], checks: list[Check]) -> None:
    """Evaluated every 5 minutes: a week of 1-minute evaluations of every generated rule
    took promtool two minutes a scenario, and the traffic alerts compare hour-long windows,
    so every expected time above holds at 5-minute resolution too."""
    rules = generate("traffic.yaml", tmp)
    scenario = Scenario(name, traffic_series(eu), checks, interval=60, evaluation_interval=300)
    check(rules, scenario, tmp)


def test_the_service_traffic_dropping_to_forty_percent_of_last_week_fires_the_drop_alert(
    tmp_path: Path,
) -> None:
    checks = traffic_checks("ProberSLOTrafficDrop", minutes(45), minutes(60), "0.4x from T")
    traffic(tmp_path, "traffic-drop", week_pair(100, 40), checks)


def test_the_service_traffic_quadrupling_against_last_week_fires_the_spike_alert(
    tmp_path: Path,
) -> None:
    checks = traffic_checks("ProberSLOTrafficSpike", minutes(35), minutes(50), "4x from T")
    traffic(tmp_path, "traffic-spike", week_pair(100, 400), checks)


# Two week-long promtool runs in one test: over the default 120s on a busy machine.
@pytest.mark.timeout(480)
def test_traffic_changes_inside_the_ratios_never_alert(tmp_path: Path) -> None:
    for after in (60.0, 280.0):
        checks = [
            Check(TRAFFIC_T + minutes(m), a, 0, {"region": EU}, f"{after / 100:g}x last week")
            for m in (30, 60, 90, 120, 179)
            for a in ("ProberSLOTrafficDrop", "ProberSLOTrafficSpike")
        ]
        traffic(tmp_path, f"traffic-within-{after:g}", week_pair(100, after), checks)


# Two week-long promtool runs in one test: over the default 120s on a busy machine.
@pytest.mark.timeout(480)
def test_a_new_deployment_does_not_raise_a_traffic_alert_one_week_later(tmp_path: Path) -> None:
    for now in (100.0, 350.0):
        # deployed 2 h into week 0 (T - 1w + 1 h): no data before
        eu = [Rate(120, None), Rate(120, 100), Rate(7 * 24 * 60 - 300, None)]
        eu += [Rate(120, now), Rate(180, now)]
        checks = [
            Check(TRAFFIC_T + HOUR + minutes(m), a, 0, {"region": EU}, "baseline partial")
            for m in (1, 5, 15, 30, 50)
            for a in ("ProberSLOTrafficDrop", "ProberSLOTrafficSpike")
        ]
        traffic(tmp_path, f"traffic-new-{now:g}", eu, checks)


def test_traffic_under_min_rate_never_alerts(tmp_path: Path) -> None:
    for after in (0.0, 2.0):
        checks = [
            Check(TRAFFIC_T + minutes(m), a, 0, {"region": EU}, "0.5/s baseline < min_rate 1")
            for m in (30, 60, 90, 120, 179)
            for a in ("ProberSLOTrafficDrop", "ProberSLOTrafficSpike")
        ]
        traffic(tmp_path, f"traffic-tiny-{after:g}", week_pair(0.5, after), checks)


def test_without_a_traffic_expression_no_traffic_alert_is_generated(tmp_path: Path) -> None:
    doc: dict[str, Any] = yaml.safe_load(generate("seed.yaml", tmp_path).read_text())
    alerts = [r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r]
    assert not [a for a in alerts if "Traffic" in a], "probe volume is not the service's traffic"


# --- 4 and 5. multi-window burn rates ------------------------------------------------------
# Expected times come from slomath.first(): the first evaluation (every minute) at which the
# long and short window ratios both exceed factor x budget, where factor = share x P / window.


def burn_checks(
    config: str,
    phases: Sequence[Phase],
    sli: str,
    kind: str,
    *,
    incident: int,
    recovery: int | None,
    end: int,
    every: int = 60,
) -> list[Check]:
    """Silent one evaluation before the computed firing time, firing at it, silent again at
    the computed resolution (which must be within the short window + one evaluation)."""
    obj = objectives(config)
    share, long_h, short_h = (
        (FAST_SHARE, FAST_LONG_H, FAST_SHORT_H)
        if kind == "fast"
        else (SLOW_SHARE, SLOW_LONG_H, SLOW_SHORT_H)
    )
    alert = f"ProberSLO{sli.capitalize()}{kind.capitalize()}Burn"
    runs = Runs.of(phases, obj.threshold_s)
    cond = burning(runs, obj, sli, share=share, long_h=long_h, short_h=short_h)
    fires = first(cond, incident, end, every)
    thr = obj.threshold(sli, share, long_h)
    if fires is None:
        return [
            Check(t, a, 0, {}, f"ratios stay under {thr:.4%}")
            for t in range(incident - every, end + 1, every)
            for a in (alert, alert + "Global")
        ]
    why = f"{share:.0%} of budget per {long_h:g}h: threshold {thr:.4%}, computed at {fires / 60:g}m"
    checks = []
    for a in (alert, alert + "Global"):
        checks += [Check(fires - every, a, 0, {}, why), Check(fires, a, 1, {}, why)]
    if recovery is not None:
        resolves = first(lambda t: not cond(t), recovery, end, every)
        assert resolves is not None
        assert resolves <= recovery + short_h * 3600 + every
        for a in (alert, alert + "Global"):
            checks.append(Check(resolves, a, 0, {}, f"recovery at {recovery / 60:g}m"))
    return checks


def burn_test(
    tmp: Path,
    config: str,
    phases: Sequence[Phase],
    sli: str,
    kinds: Sequence[str],
    *,
    recovery: bool = True,
) -> None:
    """Incident = phase 1; recovery = phase 2 (when `recovery`)."""
    rules = generate(config, tmp)
    starts = phase_starts(phases)
    end = starts[-1] + round(phases[-1].minutes * 60) - 60
    checks: list[Check] = []
    for kind in kinds:
        checks += burn_checks(
            config,
            phases,
            sli,
            kind,
            incident=starts[1],
            recovery=starts[2] if recovery and len(phases) > 2 else None,
            end=end,
        )
    name = f"burn-{config}-{sli}-{'-'.join(kinds)}"
    check(rules, Scenario(name, prober_series(SLO, EU, phases), checks), tmp)


def test_a_full_outage_pages_within_a_minute_and_resolves_within_five_after_recovery(
    tmp_path: Path,
) -> None:
    burn_test(
        tmp_path, "seed.yaml", [Phase(70), Phase(10, bad=1), Phase(20)], "availability", ["fast"]
    )


def test_a_forty_five_second_blip_under_two_percent_of_budget_does_not_page(
    tmp_path: Path,
) -> None:
    # 3 bad runs = 3/172.8 = 1.7% of the budget; 1h ratio 3/240 = 1.25% < 1.44%
    burn_test(
        tmp_path, "seed.yaml", [Phase(70), Phase(0.75, bad=1), Phase(30)], "availability", ["fast"]
    )


def test_all_runs_slower_than_200ms_page_after_43_minutes_and_resolve_after_recovery(
    tmp_path: Path,
) -> None:
    # 1h slow ratio = x / 60 > 72% once x > 43.2 min
    phases = [Phase(70), Phase(50, slow=1, slow_seconds=0.3), Phase(15)]
    burn_test(tmp_path, "seed.yaml", phases, "latency", ["fast"])


def test_thirty_minutes_of_slow_runs_do_not_page(tmp_path: Path) -> None:
    # 1h slow ratio peaks at 30/60 = 50% < 72%
    phases = [Phase(70), Phase(30, slow=1, slow_seconds=0.3), Phase(40)]
    burn_test(tmp_path, "seed.yaml", phases, "latency", ["fast"])


def test_errors_at_the_budget_never_alert_and_tickets_open_at_the_computed_time(
    tmp_path: Path,
) -> None:
    # 26 h at exactly the budget (0.1% failed, 5% slow): 1d ratios = budget < 1.5 x budget.
    # Then 1% failed and 50% slow: 1d ratio (0.1% (24h - x) + 1% x) / 24h > 0.15% once
    # x > 80 min (latency: (5% (24h - x) + 50% x) / 24h > 7.5%, also 80 min); 2h ratios are
    # above after 6.7 min; 1%/50% stay under the 1.44%/72% of a page.
    phases = [
        Phase(26 * 60, bad=0.001, slow=0.05, slow_seconds=0.3),
        Phase(100, bad=0.01, slow=0.5, slow_seconds=0.3),
    ]
    rules = generate("seed.yaml", tmp_path)
    starts = phase_starts(phases)
    end = starts[-1] + minutes(100)
    checks: list[Check] = []
    for sli in ("availability", "latency"):
        for a in ("Fast", "Slow"):
            name = f"ProberSLO{sli.capitalize()}{a}Burn"
            checks += [
                Check(t, name, 0, {}, "exactly at the budget: burn rate 1")
                for t in range(DAY, starts[1] + 1, HOUR // 2)
            ]
        checks += burn_checks(
            "seed.yaml", phases, sli, "slow", incident=starts[1], recovery=None, end=end
        )
        checks += burn_checks(
            "seed.yaml", phases, sli, "fast", incident=starts[1], recovery=None, end=end
        )
    check(rules, Scenario("at-budget-then-slow", prober_series(SLO, EU, phases), checks), tmp_path)


# Other users' objectives: the same tests with thresholds from their config.
# 99.5%: 14.4 x 0.5% = 7.2%: a full outage needs 18 bad runs of 240 (at T+4m15s): fires T+5m.
# 99.99%: 14.4 x 0.01% = 0.144%: the first bad run (0.42% of the hour) fires at T.
# 28 d: factor 0.02 x 672 = 13.44 (not 14.4): 1.4% failed runs fire once the 1h ratio
#   1.4% x x/60 > 1.344%, x > 57.6 min; with 14.4 they would never fire.
# 300 ms at 99%: 14.4 x 1% = 14.4% slow: all runs at 400 ms fire once x/60 > 14.4%,
#   x > 8.64 min; runs at 250 ms (over 200 ms, under 300 ms) are not slow and never fire.
@pytest.mark.parametrize(
    ("config", "sli", "incident"),
    [
        ("availability-99.5.yaml", "availability", Phase(10, bad=1)),
        ("availability-99.99.yaml", "availability", Phase(10, bad=1)),
        ("period-28d.yaml", "availability", Phase(70, bad=0.014)),
        ("latency-300ms-99.yaml", "latency", Phase(20, slow=1, slow_seconds=0.4)),
        ("latency-300ms-99.yaml", "latency", Phase(60, slow=1, slow_seconds=0.25)),
    ],
    ids=["99.5%", "99.99%", "28d at 1.4% errors", "300ms: 400ms runs", "300ms: 250ms runs"],
)
def test_other_objectives_page_at_the_time_their_own_math_gives(
    tmp_path: Path, config: str, sli: str, incident: Phase
) -> None:
    burn_test(tmp_path, config, [Phase(70), incident, Phase(20)], sli, ["fast"])


# Budget policy for other objectives, on 1 day of data: two incidents, checked 30 min after
# each: the first spends about 70% (silent), the second brings it over 80% (fires).
# 99.5%: budget 0.005 x 172800 = 864 runs (216 min): 151.25 min = 605 runs = 70.0%, + 43.25
#   min = 778 runs = 90.0%.
# 99.99%: 17.28 runs (4.32 min): 3 min = 12 runs = 69.4%, + 0.75 min = 15 runs = 86.8%.
# 28 d: 0.001 x 161280 = 161.28 runs (40.32 min): 28.25 min = 113 runs = 70.1%, + 5 min =
#   133 runs = 82.5% (with a 30-day budget, 77%: silent, so this tells the periods apart).
# 300 ms at 99%: 0.01 x 172800 = 1728 slow runs (432 min all slow): 302.5 min = 1210 = 70.0%,
#   + 86.5 min = 1556 = 90.0%.
@pytest.mark.parametrize(
    ("config", "sli", "outages"),
    [
        ("availability-99.5.yaml", "availability", [151.25, 43.25]),
        ("availability-99.99.yaml", "availability", [3, 0.75]),
        ("period-28d.yaml", "availability", [28.25, 5]),
        ("latency-300ms-99.yaml", "latency", [302.5, 86.5]),
    ],
    ids=["99.5%", "99.99%", "28d", "300ms at 99%"],
)
def test_other_objectives_freeze_releases_past_80_percent_of_their_own_budget(
    tmp_path: Path, config: str, sli: str, outages: list[float]
) -> None:
    budget_scenario(config, sli, outages, tmp_path, days=1)
