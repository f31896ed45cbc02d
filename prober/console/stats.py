"""Per-probe summaries of runs, and the verdict against each probe's SLO.

Used by `prober once`, the end of a bounded `prober run`, and the demo's live
table. The verdict uses the same definitions as the generated rules: a run is
bad for availability when its outcome is in the SLO's bad_outcomes, and slow
when it succeeded but took longer than the threshold (le, like the histogram).
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..config import Config, SLOConfig
from ..conventions import Outcome
from ..model import ProbeResult

# Distinct failure reasons kept per probe, so a long-running live view stays bounded.
MAX_DISTINCT_ERRORS = 200
# Run-time values inside an error: quoted strings (a nonce that did not read back) and long
# hex tokens. Errors that differ only in these are one reason, counted together.
_RUN_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\b[0-9a-f]{12,}\b")


def error_reason(error: str) -> str:
    """The reason of an error, its run-time values blanked: what failures are grouped by."""
    return _RUN_VALUES.sub("…", error)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values; nan when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class TopError:
    """A probe's most frequent failure reason: its latest (redacted) error, the failing
    step, and how many failed runs had that reason (the same error up to run-time values)."""

    error: str
    step: str
    count: int


@dataclass
class StepStats:
    """One scenario step across runs: how often it ran, how it ended, how long it took."""

    runs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)

    def add(self, outcome: str, duration: float) -> None:
        self.runs += 1
        self.outcomes[outcome] += 1
        self.durations.append(duration)


@dataclass
class ProbeStats:
    probe: str
    slo: SLOConfig | None = None
    window: int | None = None  # keep only the last N runs for percentiles (live views)
    runs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    durations: deque[float] = field(default_factory=deque)
    success_durations: deque[float] = field(default_factory=deque)
    last: ProbeResult | None = None
    steps: dict[str, StepStats] = field(default_factory=dict)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)  # (reason, step)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)  # latest error of each

    def __post_init__(self) -> None:
        self.durations = deque(maxlen=self.window)
        self.success_durations = deque(maxlen=self.window)

    def add(self, result: ProbeResult) -> None:
        self.runs += 1
        self.outcomes[result.outcome.value] += 1
        self.durations.append(result.duration)
        if result.success:
            self.success_durations.append(result.duration)
        else:
            error = result.error or result.outcome.value
            key = (error_reason(error), result.step)
            if key in self.errors or len(self.errors) < MAX_DISTINCT_ERRORS:
                self.errors[key] += 1
                self.examples[key] = error
        self.last = result
        for step in result.steps:
            self.steps.setdefault(step.name, StepStats()).add(step.outcome.value, step.duration)

    @property
    def top_error(self) -> TopError | None:
        """The most frequent failure reason (first seen wins a tie), or None."""
        if not self.errors:
            return None
        key, count = self.errors.most_common(1)[0]
        return TopError(self.examples[key], key[1], count)

    @property
    def failing_step(self) -> str | None:
        """The scenario step that failed most often, or None."""
        steps: Counter[str] = Counter()
        for (_, step), count in self.errors.items():
            if step:
                steps[step] += count
        return steps.most_common(1)[0][0] if steps else None

    @property
    def success_ratio(self) -> float:
        return self.outcomes[Outcome.SUCCESS.value] / self.runs if self.runs else math.nan

    def latency(self, q: float) -> float:
        return percentile(sorted(self.success_durations or self.durations), q)

    @property
    def max_latency(self) -> float:
        values = self.success_durations or self.durations
        return max(values) if values else math.nan

    def availability(self) -> float:
        """Good runs / all runs, by the SLO's definition of bad (all but success by default)."""
        if not self.runs:
            return math.nan
        bad_set = {o.value for o in self.slo.availability.bad_outcomes} if self.slo else None
        bad = sum(
            n for o, n in self.outcomes.items() if (o in bad_set if bad_set else o != "success")
        )
        return 1 - bad / self.runs

    def fast_ratio(self) -> float:
        """Successful runs within the latency threshold / successful runs."""
        if not self.slo or not self.slo.latency or not self.success_durations:
            return math.nan
        threshold = self.slo.latency.threshold
        return sum(1 for d in self.success_durations if d <= threshold) / len(
            self.success_durations
        )

    def verdict(self) -> list[str]:
        """Violated objectives, as short phrases; empty when every objective holds."""
        if not self.runs:
            return []
        if not self.slo:  # no objective given: every run must succeed
            failed = self.runs - self.outcomes[Outcome.SUCCESS.value]
            return [f"{failed} of {self.runs} runs failed"] if failed else []
        problems = []
        avail = self.availability()
        if avail < self.slo.availability.objective / 100:
            problems.append(f"availability {avail:.2%} < {self.slo.availability.objective:g}%")
        if self.slo.latency:
            fast = self.fast_ratio()
            threshold_ms = self.slo.latency.threshold * 1000
            if not math.isnan(fast) and fast < self.slo.latency.objective / 100:
                problems.append(
                    f"{fast:.1%} under {threshold_ms:g}ms < {self.slo.latency.objective:g}%"
                )
        return problems


class StatsSink:
    """Collects ProbeStats for every probe of a config."""

    def __init__(self, config: Config, window: int | None = None) -> None:
        self.window = window
        self.by_probe: dict[str, ProbeStats] = {}
        self.update(config)

    def update(self, config: Config) -> None:
        self.by_probe = {
            p.name: self.by_probe.get(p.name) or ProbeStats(p.name, config.slo(p.slo), self.window)
            for p in config.probes
        }

    def record(self, result: ProbeResult, region: str) -> None:
        stats = self.by_probe.get(result.probe)
        if stats is not None:
            stats.add(result)

    @property
    def violated(self) -> bool:
        return any(s.verdict() for s in self.by_probe.values())

    @property
    def top_errors_any(self) -> bool:
        """Did any probe fail at all (so there is a top error to show)?"""
        return any(s.errors for s in self.by_probe.values())

    @property
    def no_data(self) -> list[str]:
        """Probes that completed no run: nothing to judge them on."""
        return [name for name, s in self.by_probe.items() if not s.runs]

    @property
    def verdict(self) -> str:
        """`violated` beats `no_data` (a violation is a verdict), which beats `ok`."""
        return "violated" if self.violated else ("no_data" if self.no_data else "ok")
