"""Tests of how run.py turns phases into issue 20's goals: pure, no processes, no clocks.

Run with `python -m pytest bench/` (the main suite collects tests/ only).
"""

from __future__ import annotations

from typing import Any

import run


def phase(
    tool: str,
    rate: int,
    *,
    ok: float = 1.0,
    overhead: tuple[float, float] = (1.0, 1.0),
    lag: tuple[float, float] = (0.5, 0.5),
    cpu: float = 0.3,
    started_extra: int = 0,
) -> dict[str, Any]:
    """A combined phase: `overhead` and `lag` are (median p99, worst repeat's p99) in ms."""
    planned = rate * 30
    return {
        "tool": tool,
        "rate": rate,
        "planned": planned,
        "started": planned + started_extra,
        "ok": round(planned * ok),
        "success": ok,
        "skipped_total": 0,
        "overhead_ms": {"p99": overhead[0]},
        "lag_ms": {"p99": lag[0]},
        "spread": {"overhead_ms": {"p99": (0.0, overhead[1])}, "lag_ms": {"p99": (0.0, lag[1])}},
        "cpu_s_per_1000": {"tool": cpu, "service": 0.1},
        "box_busy": 0.5,
    }


def by_goal(goals: list[dict[str, Any]], start: str) -> dict[str, Any]:
    return next(g for g in goals if g["goal"].startswith(start))


def test_a_rate_holds_only_if_every_repeat_holds() -> None:
    floor = phase("floor", 1000, overhead=(0.5, 0.6))
    good = phase("prober", 1000, overhead=(0.9, 1.0))
    one_bad_repeat = phase("prober", 1000, overhead=(0.9, 1.2))  # median fine, worst not
    assert run.misses(good, floor) == []
    assert run.misses(one_bad_repeat, floor) == ["overhead p99 1.20 ms vs floor 0.50 ms"]
    assert run.misses(phase("prober", 1000, lag=(1.5, 2.5)), floor) == ["lag p99 2.50 ms"]


def test_a_run_counted_twice_at_the_window_edge_is_not_a_miss_but_a_missing_one_is() -> None:
    floor = phase("floor", 500)
    assert run.misses(phase("prober", 500, started_extra=1), floor) == []
    missing = phase("prober", 500, started_extra=-3)
    assert run.misses(missing, floor) == ["3 run(s) not started"]


def test_the_ceiling_is_the_last_rate_before_the_first_miss_and_is_compared_to_blackbox() -> None:
    phases = [
        phase("prober", 100), phase("floor", 100), phase("blackbox", 100, cpu=1.5),
        phase("prober", 1000), phase("floor", 1000), phase("blackbox", 1000, cpu=0.9),
        phase("prober", 2000, lag=(1.0, 3.0)), phase("floor", 2000),
        phase("blackbox", 2000, ok=0.0),
        phase("prober", 3000), phase("floor", 3000),  # after a miss: not the ceiling
    ]  # fmt: skip
    goals = run.goals(phases, None)
    ceiling = by_goal(goals, "prober's ceiling")
    assert ceiling["measured"].startswith("prober 1000/s (first missed at 2000/s: lag p99 3.00")
    assert "answered every probe up to 1000/s, 0.0% at 2000/s" in ceiling["measured"]
    assert ceiling["met"] is False  # 1000 is not twice 1000
    doubled = [ph for ph in phases if not (ph["tool"] == "prober" and ph["rate"] == 2000)]
    doubled.append(phase("prober", 2000))
    assert by_goal(run.goals(doubled, None), "prober's ceiling")["met"] is True


def test_cpu_is_compared_only_where_blackbox_did_its_work() -> None:
    phases = [
        phase("prober", 100, cpu=0.51), phase("blackbox", 100, cpu=1.5),
        phase("prober", 2000, cpu=0.3), phase("blackbox", 2000, ok=0.2, cpu=0.05),
    ]  # fmt: skip
    cpu = [g for g in run.goals(phases, None) if g["goal"].startswith("CPU/probe")]
    assert [g["goal"] for g in cpu] == ["CPU/probe <= 1/3 of blackbox's at 100/s"]
    assert cpu[0]["met"] is False  # 0.51 / 1.5 is a hair over a third
    assert cpu[0]["measured"].startswith("ratio 0.34")


def test_a_helper_near_a_full_core_is_named_as_a_possible_limit() -> None:
    busy = phase("prober", 3000)
    busy["cpu_s_per_1000"]["service"] = 0.3  # 0.9 of a core at 3,000/s
    assert run.limits(busy) == " (the service used 90% of its core)"
    assert run.limits(phase("prober", 100)) == ""
