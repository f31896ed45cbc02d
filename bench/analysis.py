"""The benchmark's arithmetic, kept pure so it can be unit tested.

Nothing here reads a clock, starts a process or touches the network: the callers
in run.py and soak.py gather raw numbers, and these functions turn them into the
figures in the report (percentiles, one-to-one matching, rates, slopes, CPU).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CLK_TCK = 100  # os.sysconf("SC_CLK_TCK") on Linux; callers may pass the real value


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of `values` (any order); nan when empty.

    Nearest rank never interpolates: every reported figure is a value that was observed.
    """
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0-100, got {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(values: Sequence[float], scale: float = 1.0) -> dict[str, float | int]:
    """n, p50, p95, p99 and max of `values`, each multiplied by `scale` (e.g. 1000 for ms)."""
    ordered = sorted(values)
    out: dict[str, float | int] = {"n": len(ordered)}
    for name, q in (("p50", 50.0), ("p95", 95.0), ("p99", 99.0)):
        out[name] = percentile(ordered, q) * scale
    out["max"] = ordered[-1] * scale if ordered else math.nan
    return out


@dataclass(frozen=True)
class Matched:
    """Reported latency minus the service's own handling time, per id found in both."""

    overheads: list[float]  # seconds, one per matched id
    unmatched_reported: int  # ids the client reported that the service never logged
    unmatched_handled: int  # ids the service logged that the client never reported
    duplicates: int  # ids logged more than once by the service: ambiguous, left out


def index_handled(entries: Iterable[tuple[str, float]]) -> tuple[dict[str, float], set[str]]:
    """Service log entries (id, handling seconds) to a dict; ids seen twice are set apart."""
    handled: dict[str, float] = {}
    dupes: set[str] = set()
    for request_id, seconds in entries:
        if not request_id:
            continue
        if request_id in handled:
            dupes.add(request_id)
        handled[request_id] = seconds
    for request_id in dupes:
        del handled[request_id]
    return handled, dupes


def match(reported: Mapping[str, float], handled: Mapping[str, float], dupes: int = 0) -> Matched:
    """Pair each reported latency with the handling time logged under the same id."""
    overheads = [seconds - handled[rid] for rid, seconds in reported.items() if rid in handled]
    return Matched(
        overheads=overheads,
        unmatched_reported=len(reported) - len(overheads),
        unmatched_handled=sum(1 for rid in handled if rid not in reported),
        duplicates=dupes,
    )


def planned_runs(probes: int, interval: float, window: float) -> int:
    """Runs planned in a window by `probes` fixed-rate probes sharing `interval`.

    Exact when the window is a whole number of intervals (each probe has exactly
    window / interval slots in any such window, whatever its phase); otherwise the
    expected count rounded to the nearest run.
    """
    if interval <= 0 or window < 0:
        raise ValueError("interval must be positive and window non-negative")
    return round(probes * window / interval)


def in_window(times: Iterable[float], start: float, end: float) -> int:
    """How many of `times` fall in the half-open window [start, end)."""
    return sum(1 for t in times if start <= t < end)


def fraction(part: int, whole: int) -> float:
    """part / whole, nan when whole is 0; capped at 1 (a run counted twice is not a bonus)."""
    if whole <= 0:
        return math.nan
    return min(1.0, part / whole)


def cpu_seconds(stat_before: str, stat_after: str, clk_tck: int = CLK_TCK) -> float:
    """CPU (user + system) a process used between two readings of /proc/PID/stat."""
    return (proc_cpu_ticks(stat_after) - proc_cpu_ticks(stat_before)) / clk_tck


def proc_cpu_ticks(stat: str) -> int:
    """utime + stime, in clock ticks, from the text of /proc/PID/stat.

    The command name (field 2) is in parentheses and may itself hold spaces or
    parentheses, so fields are counted from the last ')'.
    """
    rest = stat[stat.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(rest[11]) + int(rest[12])


def system_busy_ticks(proc_stat: str) -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs from the first line of /proc/stat.

    Busy is everything but idle and iowait; steal counts as busy (the CPU was not ours).
    """
    fields = proc_stat.splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError("not the text of /proc/stat")
    values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    total = sum(values)
    return total - values[3] - values[4], total


def busy_fraction(before: str, after: str) -> float:
    """Share of all CPUs' time that was busy between two readings of /proc/stat."""
    b0, t0 = system_busy_ticks(before)
    b1, t1 = system_busy_ticks(after)
    return (b1 - b0) / (t1 - t0) if t1 > t0 else math.nan


def proc_status_kb(status: str, key: str) -> int | None:
    """A `Key:   N kB` figure from /proc/PID/status (VmRSS, VmHWM, ...), in kB."""
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def per_thousand(cpu: float, runs: int) -> float:
    """CPU seconds per 1,000 runs; nan when nothing ran."""
    return cpu / runs * 1000 if runs > 0 else math.nan


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs; nan with fewer than two distinct xs."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in length")
    n = len(xs)
    if n < 2:
        return math.nan
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return math.nan
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx


def per_hour(xs_seconds: Sequence[float], ys: Sequence[float]) -> float:
    """Slope of ys per hour, xs being seconds."""
    return slope(xs_seconds, ys) * 3600


_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)"
)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Samples of metric `name` (exact sample name) from the Prometheus text format."""
    out: list[tuple[dict[str, str], float]] = []
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None or m.group("name") != name:
            continue
        labels = dict(_LABEL.findall(m.group("labels") or ""))
        out.append((labels, float(m.group("value"))))
    return out


def metric_sum(text: str, name: str, **match_labels: str) -> float:
    """Sum of the samples of `name` whose labels include `match_labels`; 0 when none."""
    return sum(
        value
        for labels, value in metric_samples(text, name)
        if all(labels.get(k) == v for k, v in match_labels.items())
    )


def rate(count: int, seconds: float) -> float:
    """Events per second; nan for an empty window."""
    return count / seconds if seconds > 0 else math.nan


def counters_consistent(
    runs: float, skipped: float, inflight: float, planned: float, tolerance: float
) -> bool:
    """runs + skipped (+ the runs still in flight) within `tolerance` runs of the plan."""
    return abs(runs + skipped + inflight - planned) <= tolerance


def median_spread(values: Iterable[float]) -> tuple[float, float, float]:
    """(median, min, max) of the repeats of one figure; nan values (a repeat with no data) are
    left out, and all three are nan when nothing is left. An even count's median is the mean
    of the middle two."""
    kept = sorted(v for v in values if not math.isnan(v))
    if not kept:
        return math.nan, math.nan, math.nan
    return statistics.median(kept), kept[0], kept[-1]


SUMMED = frozenset({"planned", "started", "ok", "unmatched", "duplicates", "skipped_total"})
LISTED = frozenset({"exit_code", "pinned"})
CONCATENATED = frozenset({"scrape_ms"})
IDENTITY = frozenset({"tool", "rate", "repeat"})


def combine_repeats(phases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The repeats of one tool at one rate as one row: counts summed, every other figure the
    median of the repeats, with its (min, max) under "spread" (same keys, nested alike)."""
    if not phases:
        raise ValueError("no repeats to combine")
    first = phases[0]
    out: dict[str, Any] = {"tool": first["tool"], "rate": first["rate"], "repeats": len(phases)}
    spread: dict[str, Any] = {}
    for key, value in first.items():
        if key in IDENTITY:
            continue
        values = [ph[key] for ph in phases if key in ph]
        if key in SUMMED:
            out[key] = sum(values)
        elif key in LISTED:
            out[key] = values
        elif key in CONCATENATED:
            out[key] = [x for v in values for x in v]
        elif isinstance(value, Mapping):
            out[key], spread[key] = {}, {}
            for sub in value:
                subs = [v[sub] for v in values if sub in v]
                if sub == "n":
                    out[key][sub] = sum(subs)
                else:
                    med, lo, hi = median_spread(subs)
                    out[key][sub], spread[key][sub] = med, (lo, hi)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            med, lo, hi = median_spread(float(v) for v in values)
            out[key], spread[key] = med, (lo, hi)
        else:
            out[key] = values[-1]
    out["spread"] = spread
    return out
