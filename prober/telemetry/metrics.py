"""Prometheus metrics of probe runs: lean storage on the hot path, families on scrape.

Recording a run is a few dict lookups and integer additions on plain Python
objects (no locks, no label formatting: everything runs on the event loop).
Label strings and metric families are only built when /metrics is scraped.
Series belong to a probe: when a reload removes the probe, its series go too;
when it keeps the probe, its counters carry on (no reset for Prometheus to see).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from .. import conventions as c
from ..config.shard import Shard
from ..model import ProbeResult


class Histogram:
    """Non-cumulative bucket counts; cumulated when rendered."""

    __slots__ = ("bounds", "counts", "exemplars", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.exemplars: list[Exemplar | None] | None = None

    def observe(self, value: float, trace_id: str = "") -> None:
        i = bisect_left(self.bounds, value)
        self.counts[i] += 1
        self.sum += value
        if trace_id:
            if self.exemplars is None:
                self.exemplars = [None] * len(self.counts)
            self.exemplars[i] = Exemplar({"trace_id": trace_id}, value, time.time())

    def buckets(self) -> list[tuple[str, float] | tuple[str, float, Exemplar]]:
        out: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
        total = 0
        les = [*map(le, self.bounds), "+Inf"]
        for i, count in enumerate(self.counts):
            total += count
            ex = self.exemplars[i] if self.exemplars else None
            out.append((les[i], total, ex) if ex is not None else (les[i], total))
        return out


_NONE: Mapping[str, Histogram] = MappingProxyType({})


class ProbeSeries:
    """Every series of one probe."""

    __slots__ = (
        "durations",
        "label_text",
        "labels",
        "last_success",
        "phases",
        "runs",
        "steps",
        "tls_expiry",
    )  # fmt: skip

    def __init__(self, labels: tuple[str, ...], label_text: str) -> None:
        self.labels = labels
        # Built with the series, not on the first scrape: 10,000 at once took 6 ms of
        # the event loop in that scrape's first piece.
        self.label_text = label_text
        self.runs: dict[tuple[str, str, str], int] = {}  # (outcome, code, failing step)
        # Copied on write (a new key is rare): most probes have no steps, lean agents no
        # phases, and 10,000 probes need not hold 20,000 empty dicts.
        self.steps: Mapping[str, Histogram] = _NONE  # scenario step durations
        self.durations: dict[str, Histogram] = {}
        self.phases: Mapping[str, Histogram] = _NONE
        self.last_success: float | None = None
        self.tls_expiry: float | None = None


class ProbeMetrics:
    """The probe-run metrics, keyed by probe name."""

    def __init__(
        self,
        region: str,
        static_labels: dict[str, str],
        duration_buckets: Sequence[float],
        *,
        lean: bool = False,
    ) -> None:
        self.region = region
        self.static_names = tuple(sorted(static_labels))
        self.static_values = tuple(static_labels[k] for k in self.static_names)
        self.duration_buckets = tuple(duration_buckets)
        self.series: dict[str, ProbeSeries] = {}
        self.skipped: dict[tuple[str, str], int] = {}
        self.lag = Histogram(c.LAG_BUCKETS)
        self.error_bound = Histogram(c.ERROR_BOUND_BUCKETS)
        self.lean = lean  # agent.metrics: lean: no per-phase histograms
        self.results_dropped = 0
        self.shard: Shard | None = None  # labels prober_build_info only, not every series

    @property
    def label_names(self) -> tuple[str, ...]:
        return (*c.PROBE_LABELS, *self.static_names)

    def sync(self, probes: Iterable[tuple[str, str, str]]) -> None:
        """Keep series for (name, target, slo) that still exist; drop the rest."""
        self.install(self.region, self.plan(self.region, probes))

    def plan(self, region: str, probes: Iterable[tuple[str, str, str]]) -> dict[str, ProbeSeries]:
        """The series for (name, target, slo) in `region`, built without changing anything:
        a series whose labels stay is kept (its counters go on), any other starts anew."""
        wanted = {}
        for name, target, slo in probes:
            labels = (name, target, region, slo, *self.static_values)
            current = self.series.get(name)
            wanted[name] = (
                current
                if current is not None and current.labels == labels
                else ProbeSeries(labels, label_text(self.label_names, labels))
            )
        return wanted

    def install(self, region: str, series: dict[str, ProbeSeries]) -> None:
        """Make `series` (from `plan`) the ones exposed; one step, nothing can fail halfway."""
        self.region = region
        self.series = series
        self.skipped = {k: v for k, v in self.skipped.items() if k[0] in series}

    def record(self, result: ProbeResult, region: str = "") -> None:
        s = self.series.get(result.probe)
        if s is None:  # the probe was removed by a reload while this run was in flight
            return
        outcome = result.outcome.value
        key = (outcome, str(result.code) if result.code is not None else "", result.step)
        s.runs[key] = s.runs.get(key, 0) + 1
        hist = s.durations.get(outcome)
        if hist is None:
            hist = s.durations[outcome] = Histogram(self.duration_buckets)
        hist.observe(result.duration, result.trace_id)
        if not self.lean:
            for phase, seconds in result.phases.items():
                ph = s.phases.get(phase)
                if ph is None:
                    ph = Histogram(c.PHASE_BUCKETS)
                    s.phases = {**s.phases, phase: ph}
                ph.observe(seconds)
        for step in result.steps:
            sh = s.steps.get(step.name)
            if sh is None:
                sh = Histogram(self.duration_buckets)
                s.steps = {**s.steps, step.name: sh}
            sh.observe(step.duration)
        s.last_success = 1.0 if result.success else 0.0
        if result.tls_expiry is not None:
            s.tls_expiry = result.tls_expiry
        self.lag.observe(max(0.0, result.lag))
        self.error_bound.observe(result.error_bound)

    def set_lean(self, lean: bool) -> None:
        """Switch agent.metrics on a reload; going lean drops the phase histograms kept."""
        self.lean = lean
        if lean:
            for s in self.series.values():
                s.phases = _NONE

    def skip(self, probe: str, reason: str, count: int = 1) -> None:
        key = (probe, reason)
        self.skipped[key] = self.skipped.get(key, 0) + count


def escape(value: str) -> str:
    """A label value as the exposition formats write it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_text(names: Iterable[str], values: Iterable[str]) -> str:
    """`name="value",...`: the label part of every sample of one series."""
    return ",".join(f'{n}="{escape(v)}"' for n, v in zip(names, values, strict=True))


def le(value: float) -> str:
    """How a bucket bound is written in the `le` label (rules must match it exactly)."""
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]
