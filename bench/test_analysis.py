"""Tests of the benchmark's arithmetic only: no clocks, no processes, no thresholds on timing.

Run with `python -m pytest bench/test_analysis.py` (the main suite collects tests/ only).
"""

from __future__ import annotations

import math
from typing import Any

import analysis as a
import pytest


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert a.percentile(values, 50) == 50.0
    assert a.percentile(values, 99) == 99.0
    assert a.percentile(values, 100) == 100.0
    assert a.percentile(values, 0) == 1.0


def test_percentile_any_order_and_small_samples() -> None:
    assert a.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert a.percentile([5.0], 99) == 5.0
    assert a.percentile([1.0, 2.0], 50) == 1.0  # rank ceil(1.0) = 1: never interpolated
    assert a.percentile([1.0, 2.0], 51) == 2.0


def test_percentile_empty_is_nan_and_bad_q_raises() -> None:
    assert math.isnan(a.percentile([], 50))
    with pytest.raises(ValueError, match="0-100"):
        a.percentile([1.0], 101)


def test_summarize_scales() -> None:
    s = a.summarize([0.001, 0.002, 0.003, 0.004], scale=1000)
    assert s["n"] == 4
    assert s["p50"] == pytest.approx(2.0)
    assert s["p99"] == pytest.approx(4.0)
    assert s["max"] == pytest.approx(4.0)
    empty = a.summarize([])
    assert empty["n"] == 0
    assert math.isnan(empty["max"])


def test_index_handled_sets_duplicates_apart() -> None:
    handled, dupes = a.index_handled([("a", 0.02), ("b", 0.03), ("a", 0.05), ("", 0.01)])
    assert handled == {"b": 0.03}
    assert dupes == {"a"}


def test_match_one_to_one() -> None:
    reported = {"r1": 0.025, "r2": 0.030, "lost": 0.5}
    handled = {"r1": 0.020, "r2": 0.021, "extra": 0.02}
    m = a.match(reported, handled, dupes=1)
    assert sorted(m.overheads) == pytest.approx([0.005, 0.009])
    assert m.unmatched_reported == 1
    assert m.unmatched_handled == 1
    assert m.duplicates == 1


def test_planned_runs_whole_intervals_exact() -> None:
    assert a.planned_runs(1000, 1.0, 30.0) == 30_000
    assert a.planned_runs(200, 2.0, 30.0) == 3000
    assert a.planned_runs(3, 1.0, 0.5) == 2  # 1.5 rounds to the nearest even integer
    with pytest.raises(ValueError, match="interval"):
        a.planned_runs(1, 0.0, 1.0)


def test_in_window_half_open() -> None:
    assert a.in_window([0.0, 0.5, 1.0, 1.5, 2.0], 0.5, 2.0) == 3


def test_fraction() -> None:
    assert a.fraction(99, 100) == pytest.approx(0.99)
    assert a.fraction(101, 100) == 1.0
    assert math.isnan(a.fraction(1, 0))


STAT = (
    "1234 (py thon (x)) S 1 1234 1234 0 -1 4194304 5000 0 0 0 "
    "250 75 0 0 20 0 3 0 100 200000000 5000 18446744073709551615"
)


def test_proc_cpu_ticks_with_odd_command_name() -> None:
    assert a.proc_cpu_ticks(STAT) == 325
    later = STAT.replace(" 250 75 ", " 300 100 ")
    assert a.cpu_seconds(STAT, later, clk_tck=100) == pytest.approx(0.75)


def test_proc_status_kb() -> None:
    status = "Name:\tprober\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\n"
    assert a.proc_status_kb(status, "VmHWM") == 81234
    assert a.proc_status_kb(status, "VmRSS") == 70000
    assert a.proc_status_kb(status, "VmSwap") is None


def test_per_thousand() -> None:
    assert a.per_thousand(0.5, 1000) == pytest.approx(0.5)
    assert a.per_thousand(2.0, 4000) == pytest.approx(0.5)
    assert math.isnan(a.per_thousand(1.0, 0))


def test_slope_and_per_hour() -> None:
    xs = [0.0, 60.0, 120.0, 180.0]
    ys = [100.0, 101.0, 102.0, 103.0]  # 1 per minute
    assert a.slope(xs, ys) == pytest.approx(1 / 60)
    assert a.per_hour(xs, ys) == pytest.approx(60.0)
    assert a.per_hour(xs, [5.0] * 4) == pytest.approx(0.0)
    assert math.isnan(a.slope([1.0], [1.0]))
    assert math.isnan(a.slope([1.0, 1.0], [1.0, 2.0]))
    with pytest.raises(ValueError, match="length"):
        a.slope([1.0, 2.0], [1.0])


METRICS = """\
# HELP prober_probe_runs_total Probe runs by outcome
# TYPE prober_probe_runs_total counter
prober_probe_runs_total{probe="p1",outcome="success",code="200",step=""} 10.0
prober_probe_runs_total{probe="p1",outcome="timeout",code="",step=""} 2.0
prober_probe_runs_total{probe="p2",outcome="success",code="200",step=""} 7.0
prober_probe_runs_total_created{probe="p2"} 1.7e9
prober_skipped_runs_total{probe="p1",region="local",reason="late"} 3.0
prober_inflight 4.0
probe_duration_seconds 0.021504
"""


def test_metric_samples_and_sums() -> None:
    assert a.metric_sum(METRICS, "prober_probe_runs_total") == 19.0
    assert a.metric_sum(METRICS, "prober_probe_runs_total", outcome="success") == 17.0
    assert a.metric_sum(METRICS, "prober_probe_runs_total", probe="p1") == 12.0
    assert a.metric_sum(METRICS, "prober_skipped_runs_total") == 3.0
    assert a.metric_sum(METRICS, "prober_inflight") == 4.0
    assert a.metric_sum(METRICS, "probe_duration_seconds") == pytest.approx(0.021504)
    assert a.metric_sum(METRICS, "absent_metric") == 0.0
    samples = a.metric_samples(METRICS, "prober_probe_runs_total")
    assert samples[0][0] == {"probe": "p1", "outcome": "success", "code": "200", "step": ""}


def test_rate_and_counter_consistency() -> None:
    assert a.rate(3000, 30.0) == pytest.approx(100.0)
    assert math.isnan(a.rate(1, 0.0))
    assert a.counters_consistent(990, 5, 4, 1000, tolerance=2)
    assert not a.counters_consistent(900, 5, 4, 1000, tolerance=50)


def test_system_busy() -> None:
    before = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n"
    after = "cpu  200 0 100 900 50 0 0 0 0 0\ncpu0 1 2 3\n"
    assert a.system_busy_ticks(before) == (150, 1000)
    assert a.busy_fraction(before, after) == pytest.approx(0.6)  # 150 busy of 250
    with pytest.raises(ValueError, match="proc/stat"):
        a.system_busy_ticks("intr 1 2 3")


def test_median_spread_of_repeats_ignores_missing_figures() -> None:
    assert a.median_spread([13.4, 4.4, 21.6]) == (13.4, 4.4, 21.6)
    assert a.median_spread([2.0, 1.0, 4.0, 3.0]) == (2.5, 1.0, 4.0)  # even: mean of the middle
    assert a.median_spread([5.0, math.nan, 1.0]) == (3.0, 1.0, 5.0)
    assert all(math.isnan(x) for x in a.median_spread([math.nan]))
    assert all(math.isnan(x) for x in a.median_spread([]))


def _phase(
    p99: float, lag99: float, cpu: float, started: int, scrapes: list[float]
) -> dict[str, Any]:
    return {
        "tool": "prober",
        "rate": 1000,
        "repeat": 0,
        "planned": 1000,
        "started": started,
        "ok": started - 1,
        "success": (started - 1) / 1000,
        "overhead_ms": {"n": started - 1, "p50": 1.0, "p99": p99, "max": p99 * 2},
        "lag_ms": {"n": started, "p50": 0.2, "p99": lag99, "max": math.nan},
        "cpu_s_per_1000": {"tool": cpu},
        "scrape_ms": scrapes,
        "exit_code": 0,
        "saturated_note": "x",
    }


def test_combine_repeats_takes_medians_with_their_spread_and_sums_the_counts() -> None:
    row = a.combine_repeats(
        [
            _phase(13.4, 5.0, 0.5, 1000, [100.0]),
            _phase(4.4, 2.0, 0.4, 999, [120.0]),
            _phase(21.6, 9.0, 0.6, 1000, []),
        ]
    )
    assert (row["tool"], row["rate"], row["repeats"]) == ("prober", 1000, 3)
    assert row["planned"] == 3000
    assert row["started"] == 2999
    assert row["ok"] == 2996
    assert row["overhead_ms"]["p99"] == 13.4
    assert row["spread"]["overhead_ms"]["p99"] == (4.4, 21.6)
    assert row["overhead_ms"]["n"] == 2996  # counted, not a median
    assert row["lag_ms"]["p99"] == 5.0
    assert row["spread"]["lag_ms"]["p99"] == (2.0, 9.0)
    assert math.isnan(row["lag_ms"]["max"])
    assert row["cpu_s_per_1000"]["tool"] == 0.5
    assert row["spread"]["cpu_s_per_1000"]["tool"] == (0.4, 0.6)
    assert row["success"] == pytest.approx(0.999)  # median of 0.999, 0.998, 0.999
    assert row["scrape_ms"] == [100.0, 120.0]
    assert row["exit_code"] == [0, 0, 0]
    assert row["saturated_note"] == "x"


def test_combining_one_repeat_keeps_its_figures_and_none_is_refused() -> None:
    only = _phase(3.0, 1.0, 0.2, 500, [])
    row = a.combine_repeats([only])
    assert row["overhead_ms"]["p99"] == 3.0
    assert row["spread"]["overhead_ms"]["p99"] == (3.0, 3.0)
    with pytest.raises(ValueError, match="no repeats"):
        a.combine_repeats([])
