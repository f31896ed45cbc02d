"""/metrics text, rendered straight from ProbeMetrics: Prometheus text 0.0.4 or OpenMetrics.

prometheus_client builds a Python object per sample on every scrape; with
thousands of probes that is most of a second per scrape. Here each series'
label text is built once and cached, bucket `le` text is shared by all histograms
with the same bounds, so a scrape is integer accumulation and string joins. Large
scrapes are rendered in pieces (render_chunks) between which the server yields to
the event loop, so a scrape never stalls probing for long. The format rules kept:
counters are `_total` samples of a family typed `counter` (OpenMetrics names the
family without the suffix), histograms are cumulative with `le="+Inf"` equal to
`_count`, exemplars (`# {trace_id="..."} value timestamp`) appear only in
OpenMetrics, which ends with `# EOF`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import cache
from itertools import accumulate
from time import perf_counter

from prometheus_client import CollectorRegistry
from prometheus_client import exposition as text_format
from prometheus_client.openmetrics import exposition as openmetrics_format

from .. import conventions as c
from .metrics import Histogram, ProbeMetrics, ProbeSeries, escape, le

# Work per piece of a streamed scrape before the event loop gets a turn: a due probe run
# waits at most about this long (rendering costs ~0.13 ms per populated probe).
PIECE_SECONDS = 0.001
_MIN_SHARE = 0.1  # a piece is at least this share of a turn: a scrape always progresses
_CLOCK_EVERY = 8  # probes written between looks at the clock (a look costs as much as a line)
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class _Writer:
    def __init__(self, openmetrics: bool) -> None:
        self.om = openmetrics
        self.out: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        """HELP and TYPE lines; `name` is the sample name (with `_total` for counters)."""
        family = name.removesuffix("_total") if (self.om and kind == "counter") else name
        self.out.append(f"# HELP {family} {help_text}\n# TYPE {family} {kind}\n")

    def sample(self, name: str, labels: str, value: float) -> None:
        self.out.append(
            f"{name}{{{labels}}} {_num(value)}\n" if labels else f"{name} {_num(value)}\n"
        )

    def histogram(self, name: str, labels: str, hist: Histogram) -> None:
        cumulative = list(accumulate(hist.counts))
        if self.om and hist.exemplars is not None:
            head = f"{name}_bucket{{{labels}," if labels else f"{name}_bucket{{"
            tails = _le_tails(hist.bounds)
            for tail, count, ex in zip(tails, cumulative, hist.exemplars, strict=True):
                if ex is None:
                    self.out.append(f"{head}{tail}{count}\n")
                else:
                    exemplar = (
                        f'{{trace_id="{ex.labels["trace_id"]}"}} {ex.value} {ex.timestamp:.3f}'
                    )
                    self.out.append(f"{head}{tail}{count} # {exemplar}\n")
            braces = f"{{{labels}}}" if labels else ""
            self.out.append(
                f"{name}_sum{braces} {_num(hist.sum)}\n{name}_count{braces} {cumulative[-1]}\n"
            )
        else:
            # One C-level `%` over a template shared by every histogram with this name and
            # these bounds, instead of a string per bucket line: at 10,000 probes the bucket
            # lines are most of a scrape.
            args: list[object] = [f"{labels}," if labels else ""] * (2 * len(cumulative))
            args[1::2] = cumulative
            braces = f"{{{labels}}}" if labels else ""
            args += (braces, _num(hist.sum), braces, cumulative[-1])
            self.out.append(_histogram_template(name, hist.bounds) % tuple(args))


@cache
def _le_tails(bounds: tuple[float, ...]) -> tuple[str, ...]:
    """`le="0.2"} ` for every bound and +Inf; shared by all histograms with these bounds."""
    return tuple(f'le="{x}"}} ' for x in (*map(le, bounds), "+Inf"))


@cache
def _histogram_template(name: str, bounds: tuple[float, ...]) -> str:
    """Every line of one histogram, `%s` for labels and `%d` for counts: each bucket line
    takes (labels + "," or "", cumulative count), then `_sum` and `_count` each take the
    braced labels (or ""), the one with the sum's text, the other with the count."""
    buckets = "".join(f"{name}_bucket{{%s{tail}%d\n" for tail in _le_tails(bounds))
    return f"{buckets}{name}_sum%s %s\n{name}_count%s %d\n"


def _num(value: float) -> str:
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(value)


def _runs(w: _Writer, base: str, s: ProbeSeries) -> None:
    for (outcome, code, step), count in s.runs.items():
        labels = f'{base},outcome="{outcome}",code="{code}",step="{escape(step)}"'
        w.sample(c.RUNS_TOTAL, labels, count)


def _durations(w: _Writer, base: str, s: ProbeSeries) -> None:
    for outcome, hist in s.durations.items():
        w.histogram(c.DURATION, f'{base},outcome="{outcome}"', hist)


def _phases(w: _Writer, base: str, s: ProbeSeries) -> None:
    for phase, hist in s.phases.items():
        w.histogram(c.PHASE, f'{base},phase="{phase}"', hist)


def _steps(w: _Writer, base: str, s: ProbeSeries) -> None:
    for step, hist in s.steps.items():
        w.histogram(c.STEP_DURATION, f'{base},step="{escape(step)}"', hist)


def _success(w: _Writer, base: str, s: ProbeSeries) -> None:
    if s.last_success is not None:
        w.sample(c.SUCCESS_GAUGE, base, s.last_success)


def _expiry(w: _Writer, base: str, s: ProbeSeries) -> None:
    if s.tls_expiry is not None:
        w.sample(c.TLS_EXPIRY, base, s.tls_expiry)


# (sample name, type, help, writer of one probe's samples), in exposition order.
_PROBE_FAMILIES: tuple[tuple[str, str, str, Callable[[_Writer, str, ProbeSeries], None]], ...] = (
    (c.RUNS_TOTAL, "counter", "Probe runs by outcome; every run that started is counted once.",
     _runs),
    (c.DURATION, "histogram", "Probe run duration, request start to last body byte.", _durations),
    (c.PHASE, "histogram", "Time spent in each phase of the request.", _phases),
    (c.STEP_DURATION, "histogram", "Duration of each step of scenario probes.", _steps),
    (c.SUCCESS_GAUGE, "gauge", "1 if the last run succeeded.", _success),
    (c.TLS_EXPIRY, "gauge", "When the peer's leaf certificate expires.", _expiry),
)  # fmt: skip


class Pace:
    """How long the next piece of a streamed scrape may render: the server sets it.

    A fixed piece is not enough: the loop runs one piece per turn, so with probes using
    a share `rho` of the loop a piece of P seconds stretches each turn to P / (1 - rho)
    and every due run waits that long. At 2,000 runs/s (rho ~0.65) 1 ms pieces made
    3 ms turns while a scrape lasted. After each turn the server says how long its own
    part took (render, join, write) and how long everything else took; the next piece
    gets what is left of `turn`, scaled down by the share of its own part that was not
    rendering. Turns stay near `turn` whatever the load; the scrape takes what the
    probes leave, and never less than a tenth of a turn per piece, so it always ends.
    """

    __slots__ = ("budget", "turn")

    def __init__(self, turn: float = PIECE_SECONDS) -> None:
        self.turn = turn
        self.budget = turn

    def after_turn(self, own: float, others: float) -> None:
        """This turn the scrape's piece took `own` seconds, everything else `others`."""
        rendering = min(1.0, self.budget / own) if own > 0 else 1.0
        self.budget = max(self.turn * _MIN_SHARE, (self.turn - others) * rendering)


def _probe_families(w: _Writer, m: ProbeMetrics, pace: Pace) -> Iterator[None]:
    """Writes the probe families, yielding whenever `pace.budget` seconds of work are
    done, so the caller can hand the event loop back to the probes during a large scrape."""
    series = [(s.label_text, s) for s in m.series.values()]
    every = _CLOCK_EVERY if pace.budget > 0 else 1  # no budget: a piece per probe
    due = perf_counter() + pace.budget
    for name, kind, help_text, write in _PROBE_FAMILIES:
        if m.lean and name == c.PHASE:
            continue
        w.family(name, kind, help_text)
        for i, (labels, s) in enumerate(series, 1):
            write(w, labels, s)
            if not i % every and perf_counter() >= due:
                yield
                due = perf_counter() + pace.budget


def _agent_families(
    w: _Writer, m: ProbeMetrics, inflight: int, state: Mapping[str, float], version: str
) -> None:
    region = f'region="{escape(m.region)}"'
    w.family(
        c.SKIPPED_RUNS,
        "counter",
        "Scheduled runs that did not start: the previous run was "
        "still going (overlap) or the agent fell behind (late).",
    )
    for (probe, reason), count in m.skipped.items():
        w.sample(c.SKIPPED_RUNS, f'probe="{escape(probe)}",{region},reason="{reason}"', count)
    w.family(c.SCHEDULE_LAG, "histogram", "Actual start minus planned start of runs.")
    w.histogram(c.SCHEDULE_LAG, region, m.lag)
    w.family(
        c.ERROR_BOUND,
        "histogram",
        "Upper bound of each run's measurement error: how late the agent's event loop ran "
        "while the run was in flight.",
    )
    w.histogram(c.ERROR_BOUND, region, m.error_bound)
    w.family(c.INFLIGHT, "gauge", "Probe runs in progress.")
    w.sample(c.INFLIGHT, "", inflight)
    w.family(
        c.RESULTS_DROPPED,
        "counter",
        "Results not written to the results file because its queue was full.",
    )
    w.sample(c.RESULTS_DROPPED, "", m.results_dropped)
    w.family(c.PROBES_CONFIGURED, "gauge", "Probes in the running config.")
    w.sample(c.PROBES_CONFIGURED, "", len(m.series))
    w.family(c.CONFIG_RELOAD_SUCCESS, "gauge", "1 if the last config load succeeded.")
    w.sample(c.CONFIG_RELOAD_SUCCESS, "", state.get("reload_success", 1.0))
    w.family(c.CONFIG_RELOAD_TIMESTAMP, "gauge", "When the config was last loaded successfully.")
    w.sample(c.CONFIG_RELOAD_TIMESTAMP, "", state.get("reload_timestamp", 0.0))
    w.family(c.CONFIG_RELOADS_TOTAL, "counter", "Config reloads attempted.")
    w.sample(c.CONFIG_RELOADS_TOTAL, 'result="success"', state.get("reloads_success", 0.0))
    w.sample(c.CONFIG_RELOADS_TOTAL, 'result="failure"', state.get("reloads_failure", 0.0))
    w.family(
        c.LOOP_LAG,
        "gauge",
        "Event loop lag, last measured: how late a timer fired. "
        "Runs measured under high lag read slow.",
    )
    w.sample(c.LOOP_LAG, "", state.get("loop_lag", 0.0))
    for key, name, help_text in (
        ("spans_exported", c.TRACE_SPANS_EXPORTED, "Spans the collector accepted."),
        ("spans_dropped", c.TRACE_SPANS_DROPPED, "Spans dropped: the export queue was full."),
        ("spans_failed", c.TRACE_SPANS_FAILED, "Spans the collector did not accept."),
    ):
        if key in state:
            w.family(name, "counter", help_text)
            w.sample(name, "", state[key])
    w.family(c.BUILD_INFO, "gauge", "prober build; always 1.")
    shard = f',{c.L_SHARD}="{m.shard.index}",{c.L_SHARDS}="{m.shard.total}"' if m.shard else ""
    w.sample(c.BUILD_INFO, f'version="{escape(version)}",{region}{shard}', 1)


def render_chunks(
    m: ProbeMetrics,
    *,
    inflight: int,
    state: Mapping[str, float],
    version: str,
    process: CollectorRegistry | None = None,
    openmetrics: bool = False,
    budget: float | Pace = PIECE_SECONDS,
) -> Iterator[bytes]:
    """The /metrics body in pieces of about `budget` seconds of rendering each (a Pace:
    as long as it says when each piece starts)."""
    w = _Writer(openmetrics)
    for _ in _probe_families(w, m, budget if isinstance(budget, Pace) else Pace(budget)):
        yield "".join(w.out).encode()
        w.out.clear()
    _agent_families(w, m, inflight, state, version)
    yield "".join(w.out).encode()
    if process is not None:  # process_*, python_gc_*, python_info: few series, library-rendered
        if openmetrics:
            extra = openmetrics_format.generate_latest(process)  # type: ignore[no-untyped-call]
            yield bytes(extra).removesuffix(b"# EOF\n")
        else:
            yield text_format.generate_latest(process)
    if openmetrics:
        yield b"# EOF\n"


def render(
    m: ProbeMetrics,
    *,
    inflight: int,
    state: Mapping[str, float],
    version: str,
    process: CollectorRegistry | None = None,
    openmetrics: bool = False,
) -> bytes:
    """The whole /metrics body at once (tests, small configs)."""
    chunks = render_chunks(
        m, inflight=inflight, state=state, version=version, process=process,
        openmetrics=openmetrics, budget=float("inf"),
    )  # fmt: skip
    return b"".join(chunks)
