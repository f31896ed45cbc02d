"""Build `promtool test rules` files for the SLO rules from a timeline, not by hand.

A scenario is a list of phases (minutes of a given behaviour) per region. From it this module
writes the raw series a prober agent would expose (one probe, one run per 15 s per region):
`prober_probe_runs_total` by outcome, `prober_probe_duration_seconds_{bucket,count,sum}` of the
successful runs, and `prober_build_info`. The service's own request counter for the traffic
alerts is written the same way from phases of requests per second.

Assertions are about alerts only, never about recording-rule names, so the suite holds for any
correct implementation: each check is `count(ALERTS{alertname=..., alertstate="firing", ...})`
at one evaluation time, expected to be a number of series or nothing. The expected times are
computed by the callers from the SLO formulas (see tests/test_spec_rules.py).

Time model: sample k of every probe series is at k x 15 s. Sample 0 is the counter's starting
value 0; the run of sample k >= 1 belongs to the phase that contains k x 15 s, so an outage
phase that starts at T makes the runs at T, T+15 s, ... fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STEP = 15  # seconds between two runs of the probe in one region (the probe's interval)
FAST_SECONDS = 0.05  # duration of a healthy run
BUCKETS = ("0.05", "0.1", "0.2", "0.25", "0.3", "0.5", "1", "2.5", "5", "+Inf")
PROBE_LABELS = {
    "job": "prober",
    "probe": "get-canary-metadata",
    "target": "ums.example:8080",
    "step": "",
}
PROMTOOL = shutil.which("promtool")


def minutes(m: float) -> int:
    """Seconds in m minutes (for readable eval times)."""
    return round(m * 60)


@dataclass(frozen=True)
class Phase:
    """`minutes` of probe runs: a fraction `bad` fail (timeout), a fraction `slow` of the
    successful ones take `slow_seconds`, the rest take 50 ms."""

    minutes: float
    bad: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 0.75


@dataclass(frozen=True)
class Rate:
    """`minutes` of service traffic at `per_second` requests per second (None: no series)."""

    minutes: float
    per_second: float | None


def _fmt(x: float) -> str:
    return f"{x:.12g}"


def _samples(phases: Sequence[Phase | Rate], step: int) -> list[int]:
    """Samples per phase; sample 0 (the counter's start, no run) is the first of phase 0."""
    counts = []
    for i, p in enumerate(phases):
        n = p.minutes * 60 / step
        if n != int(n) or n < 1:
            raise ValueError(f"phase {i}: {p.minutes} min is not a whole number of {step}s steps")
        counts.append(int(n))
    return counts


def _counter(incs: Sequence[float | None], counts: Sequence[int]) -> str:
    """Series notation of a counter that grows by incs[i] per sample during phase i.

    None means the series does not exist during the phase. A series that appears later starts
    with its first increment (as a client library creates it on first use); sample 0 of a
    series that exists from the start is 0.
    """
    parts: list[str] = []
    value: float | None = None
    for i, (inc, n) in enumerate(zip(incs, counts, strict=True)):
        if inc is None:
            parts.append(f"_x{n}")
            value = None
            continue
        if value is None and i == 0:
            value = 0.0
            parts.append(f"0+{_fmt(inc)}x{n - 1}")
            value = inc * (n - 1)
            continue
        first = (value or 0.0) + inc
        parts.append(f"{_fmt(first)}+{_fmt(inc)}x{n - 1}")
        value = first + inc * (n - 1)
    return " ".join(parts)


def _labels(d: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in d.items()) + "}"


def prober_series(
    slo: str,
    region: str,
    phases: Sequence[Phase],
    *,
    bad_series_from_start: bool = True,
) -> list[dict[str, str]]:
    """The series one prober agent in `region` exposes for one probe feeding `slo`.

    bad_series_from_start: the timeout series exists (at 0) from the start, so every failed
    run is counted by rate(); otherwise it appears with the first failure, as in a fresh agent.
    """
    counts = _samples(phases, STEP)
    base = {**PROBE_LABELS, "instance": f"prober-{region}:9477", "region": region, "slo": slo}
    ok = [1.0 - p.bad for p in phases]
    out: list[dict[str, str]] = []

    def add(name: str, extra: dict[str, str], incs: Sequence[float | None]) -> None:
        out.append({"series": name + _labels({**base, **extra}), "values": _counter(incs, counts)})

    first_bad = next((i for i, p in enumerate(phases) if p.bad > 0), None)
    bad: list[float | None] = [p.bad for p in phases]
    if not bad_series_from_start:
        bad = [None if first_bad is None or i < first_bad else b for i, b in enumerate(bad)]
    add("prober_probe_runs_total", {"outcome": "success", "code": "200"}, ok)
    if first_bad is not None or bad_series_from_start:
        add("prober_probe_runs_total", {"outcome": "timeout", "code": ""}, bad)
    for le in BUCKETS:
        bound = float("inf") if le == "+Inf" else float(le)
        incs: list[float | None] = []
        for p, good in zip(phases, ok, strict=True):
            fast = good * (1 - p.slow) if bound >= FAST_SECONDS else 0.0
            slow = good * p.slow if p.slow_seconds <= bound else 0.0
            incs.append(fast + slow)
        add("prober_probe_duration_seconds_bucket", {"outcome": "success", "le": le}, incs)
    add("prober_probe_duration_seconds_count", {"outcome": "success"}, ok)
    sums = [
        g * ((1 - p.slow) * FAST_SECONDS + p.slow * p.slow_seconds)
        for p, g in zip(phases, ok, strict=True)
    ]
    add("prober_probe_duration_seconds_sum", {"outcome": "success"}, sums)
    build = {"instance": base["instance"], "job": "prober", "region": region, "version": "0.1.0"}
    out.append({"series": "prober_build_info" + _labels(build), "values": f"1+0x{sum(counts) - 1}"})
    return out


def service_series(
    labels: dict[str, str], phases: Sequence[Rate], *, step: int
) -> list[dict[str, str]]:
    """A service's request counter, scraped every `step` seconds, at the phases' rates."""
    counts = _samples(phases, step)
    incs = [None if p.per_second is None else p.per_second * step for p in phases]
    return [{"series": "http_requests_total" + _labels(labels), "values": _counter(incs, counts)}]


@dataclass(frozen=True)
class Check:
    """At `at` seconds, `alert` (with labels `match`) has `firing` series firing (0: none)."""

    at: int
    alert: str
    firing: int
    match: dict[str, str] = field(default_factory=dict)
    why: str = ""

    def selector(self) -> str:
        return "ALERTS" + _labels({"alertname": self.alert, "alertstate": "firing", **self.match})


@dataclass
class Scenario:
    """One promtool test group: input series, evaluation interval and checks."""

    name: str
    series: list[dict[str, str]]
    checks: list[Check]
    interval: int = STEP
    evaluation_interval: int = 60

    def end(self) -> int:
        return max(c.at for c in self.checks)


def promtool_doc(rule_file: Path, scenario: Scenario) -> dict[str, Any]:
    """The promtool test document for one scenario."""
    tests = [
        {
            "expr": f"count({c.selector()})",
            "eval_time": f"{c.at}s",
            "exp_samples": [{"labels": "{}", "value": c.firing}] if c.firing else [],
        }
        for c in scenario.checks
    ]
    return {
        "rule_files": [str(rule_file)],
        "evaluation_interval": f"{scenario.evaluation_interval}s",
        "tests": [
            {
                "name": scenario.name,
                "interval": f"{scenario.interval}s",
                "input_series": scenario.series,
                "promql_expr_test": tests,
            }
        ],
    }


def _observe_file(rule_file: Path, scenario: Scenario) -> tuple[dict[str, Any], list[str]]:
    """Queries whose (deliberately unexpected) answers say when each alert fired."""
    selectors = sorted({c.selector() for c in scenario.checks})
    end, ev = scenario.end(), scenario.evaluation_interval
    tests = []
    for i, sel in enumerate(selectors):
        ts = f"timestamp(count({sel}))[{end}s:{ev}s]"
        for kind, fn in (("first", "min_over_time"), ("last", "max_over_time")):
            tests.append(
                {
                    "expr": f'label_replace({fn}({ts}), "obs", "{i}:{kind}", "", "")',
                    "eval_time": f"{end}s",
                    "exp_samples": [],
                }
            )
        tests.append(
            {
                "expr": f'label_replace(count_over_time({ts}), "obs", "{i}:evals", "", "")',
                "eval_time": f"{end}s",
                "exp_samples": [],
            }
        )
    doc = promtool_doc(rule_file, scenario)
    doc["tests"][0]["promql_expr_test"] = tests
    return doc, selectors


def observe(rule_file: Path, scenario: Scenario, workdir: Path) -> str:
    """When each checked alert was firing, as read back from promtool: for failure messages."""
    assert PROMTOOL is not None
    doc, selectors = _observe_file(rule_file, scenario)
    path = workdir / f"{scenario.name}.observe.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    res = subprocess.run(
        [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    found: dict[str, float] = {}
    for m in re.finditer(r'got: \{obs="(\d+):(\w+)"\} (\S+)', res.stdout + res.stderr):
        found[f"{m.group(1)}:{m.group(2)}"] = float(m.group(3))
    lines = []
    for i, sel in enumerate(selectors):
        if f"{i}:evals" not in found:
            lines.append(f"  {sel}: never firing up to {scenario.end() / 60:g} min")
            continue
        first, last = found[f"{i}:first"] / 60, found[f"{i}:last"] / 60
        evals = int(found[f"{i}:evals"])
        lines.append(f"  {sel}: firing from {first:g} to {last:g} min ({evals} evaluations)")
    return "\n".join(lines)


def _duration(seconds: int) -> str:
    """promtool's (Go's model.Duration) spelling of an evaluation time: 1d23h15m, 46m, 0s."""
    if seconds == 0:
        return "0s"
    out = ""
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out


def run(rule_file: Path, scenario: Scenario, workdir: Path) -> tuple[bool, str]:
    """Run promtool on the scenario; (passed, report with the observed firing times)."""
    assert PROMTOOL is not None
    path = workdir / f"{scenario.name}.test.yml"
    path.write_text(yaml.safe_dump(promtool_doc(rule_file, scenario), sort_keys=False))
    res = subprocess.run(
        [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    if res.returncode == 0:
        return True, ""
    failed = {m.group(1) for m in re.finditer(r", time: (\S+),\n", res.stdout + res.stderr)}
    why = "\n".join(
        f"  at {c.at / 60:g} min: {c.alert}{c.match or ''} expected "
        f"{c.firing or 'not'} firing: {c.why}"
        for c in scenario.checks
        if _duration(c.at) in failed
    )
    output = (res.stdout + res.stderr)[:3000]
    seen = observe(rule_file, scenario, workdir)
    return False, f"checks:\n{why}\nobserved:\n{seen}\npromtool:\n{output}"
