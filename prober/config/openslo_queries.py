"""The PromQL of prober's SLIs as OpenSLO ratio metrics: written by export, read back by import.

Both directions live here so they cannot drift: the export writes exactly what the
import reads. Queries are plain selectors over prober's own counters (OpenSLO's
`counter: true`: the consumer takes the rates), one shape per SLI:

- availability: bad = runs_total{slo, outcome=~"<bad outcomes>"}, total = runs_total{slo};
  good = runs_total{slo, outcome="success"} is read too (every other outcome is bad);
- latency: good = duration_seconds_bucket{slo, outcome="success", le="<threshold>"},
  total = duration_seconds_count{slo, outcome="success"}.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from .. import conventions as c
from .fields import printable

BUCKET = f"{c.DURATION}_bucket"
COUNT = f"{c.DURATION}_count"
_SELECTOR = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*\{(.*)\}\s*$", re.S)
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_SHOWN = 120  # characters of a query quoted in an error


def _selector(metric: str, *matchers: tuple[str, str, str]) -> str:
    """`metric{label<op>"value",...}` from (label, op, value) triples."""
    inner = ",".join(f'{label}{op}"{value}"' for label, op, value in matchers)
    return f"{metric}{{{inner}}}"


_SUCCESS = (c.L_OUTCOME, "=", str(c.Outcome.SUCCESS))


def _slo(name: str) -> tuple[str, str, str]:
    return (c.L_SLO, "=", name)


_INTEGRAL_LE = re.compile(r"^(\d+)\|\1\[\.\]0$")


def le_matcher(threshold: float) -> tuple[str, str, str]:
    """The bucket bound as prometheus_client writes it in `le` (`le="0.2"`).

    An integral bound also matches Prometheus 3's normalised form, as the rules do:
    `le=~"1|1[.]0"`.
    """
    le = str(floatToGoString(threshold))  # type: ignore[no-untyped-call]  # untyped upstream
    if le.endswith(".0"):
        return (c.L_LE, "=~", f"{le[:-2]}|{le[:-2]}[.]0")
    return (c.L_LE, "=", le)


def _le_seconds(op: str, value: str) -> float | None:
    """The threshold an `le` matcher selects: `="0.2"` or the integral `=~"1|1[.]0"`."""
    if op == "=~":
        m = _INTEGRAL_LE.match(value)
        value = m.group(1) if m else ""
    elif op != "=":
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def availability_bad(slo: str, bad_outcomes: tuple[str, ...]) -> str:
    return _selector(c.RUNS_TOTAL, _slo(slo), (c.L_OUTCOME, "=~", "|".join(bad_outcomes)))


def availability_total(slo: str) -> str:
    return _selector(c.RUNS_TOTAL, _slo(slo))


def latency_good(slo: str, threshold: float) -> str:
    return _selector(BUCKET, _slo(slo), _SUCCESS, le_matcher(threshold))


def latency_total(slo: str) -> str:
    return _selector(COUNT, _slo(slo), _SUCCESS)


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: dict[str, tuple[str, str]]  # label -> (operator, value)

    def only(self, *labels: str) -> bool:
        return set(self.matchers) == set(labels)

    def equals(self, label: str) -> str | None:
        op, value = self.matchers.get(label, ("", ""))
        return value if op == "=" else None


def shown(query: str) -> str:
    text = printable(query.strip())
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def parse_selector(query: str) -> Selector | None:
    """`metric{a="x",b=~"y"}` -> Selector; None for anything else (functions, operators)."""
    m = _SELECTOR.match(query)
    if m is None:
        return None
    matchers: dict[str, tuple[str, str]] = {}
    body, pos = m.group(2), 0
    while pos < len(body.rstrip()):
        mm = _MATCHER.match(body, pos)
        if mm is None or mm.group(1) in matchers:
            return None
        matchers[mm.group(1)] = (mm.group(2), mm.group(3))
        pos = mm.end()
    return Selector(m.group(1), matchers)


@dataclass(frozen=True)
class AvailabilityQueries:
    slo: str
    bad_outcomes: tuple[str, ...] | None  # None: every outcome but success (a good query)


@dataclass(frozen=True)
class LatencyQueries:
    slo: str
    threshold: float


def _expected(kind: str) -> str:
    shapes = {
        "total": f"{availability_total('<slo>')} (availability) or "
        f"{latency_total('<slo>')} (latency)",
        "availability bad": availability_bad("<slo>", ("<outcome>", "...")),
        "availability good": _selector(c.RUNS_TOTAL, _slo("<slo>"), _SUCCESS),
        "latency good": latency_good("<slo>", 0.2).replace('"0.2"', '"<threshold seconds>"'),
    }
    return f"expected a selector over prober's metrics: {shapes[kind]}"


def read_ratio(
    good: str | None, bad: str | None, total: str
) -> tuple[AvailabilityQueries | LatencyQueries, None] | tuple[None, tuple[str, str]]:
    """The SLI the queries describe, or (which query, what is wrong)."""
    t = parse_selector(total)
    if t is None or not (
        (t.metric == c.RUNS_TOTAL and t.only(c.L_SLO))
        or (
            t.metric == COUNT
            and t.only(c.L_SLO, c.L_OUTCOME)
            and t.equals(c.L_OUTCOME) == "success"
        )
    ):
        return None, ("total", f"{_expected('total')}, got {shown(total)}")
    slo = t.equals(c.L_SLO)
    if slo is None:
        return None, ("total", f"slo must be matched with =, got {shown(total)}")
    if t.metric == c.RUNS_TOTAL:
        if bad is not None:
            return _read_bad(slo, bad)
        assert good is not None
        g = parse_selector(good)
        if (
            g is None
            or g.metric != c.RUNS_TOTAL
            or not g.only(c.L_SLO, c.L_OUTCOME)
            or g.equals(c.L_OUTCOME) != c.Outcome.SUCCESS
        ):
            return None, ("good", f"{_expected('availability good')}, got {shown(good)}")
        if g.equals(c.L_SLO) != slo:
            return None, ("good", f"slo must be {slo!r} as in total, got {shown(good)}")
        return AvailabilityQueries(slo, None), None
    if good is None:
        return None, ("bad", "a latency SLI is good/total: successful runs under the threshold")
    return _read_latency(slo, good)


def _read_bad(
    slo: str, bad: str
) -> tuple[AvailabilityQueries, None] | tuple[None, tuple[str, str]]:
    b = parse_selector(bad)
    if b is None or b.metric != c.RUNS_TOTAL or not b.only(c.L_SLO, c.L_OUTCOME):
        return None, ("bad", f"{_expected('availability bad')}, got {shown(bad)}")
    if b.equals(c.L_SLO) != slo:
        return None, ("bad", f"slo must be {slo!r} as in total, got {shown(bad)}")
    op, value = b.matchers[c.L_OUTCOME]
    if op not in ("=", "=~"):
        return None, ("bad", f'list the bad outcomes with outcome=~"a|b", got {shown(bad)}')
    outcomes = tuple(value.split("|"))
    unknown = [o for o in outcomes if o not in c.ALL_OUTCOMES]
    if unknown:
        known = ", ".join(c.ALL_OUTCOMES)
        return None, ("bad", f"unknown outcome {unknown[0]!r} (known: {known})")
    return AvailabilityQueries(slo, outcomes), None


def _read_latency(
    slo: str, good: str
) -> tuple[LatencyQueries, None] | tuple[None, tuple[str, str]]:
    g = parse_selector(good)
    if (
        g is None
        or g.metric != BUCKET
        or not g.only(c.L_SLO, c.L_OUTCOME, c.L_LE)
        or g.equals(c.L_OUTCOME) != c.Outcome.SUCCESS
    ):
        return None, ("good", f"{_expected('latency good')}, got {shown(good)}")
    if g.equals(c.L_SLO) != slo:
        return None, ("good", f"slo must be {slo!r} as in total, got {shown(good)}")
    threshold = _le_seconds(*g.matchers[c.L_LE])
    if threshold is None:
        le = g.matchers[c.L_LE][1]
        return None, ("good", f'le must be a positive number of seconds ("0.2"), got {le!r}')
    return LatencyQueries(slo, threshold), None
