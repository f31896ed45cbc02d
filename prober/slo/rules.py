"""The pure steps from one SLO's config to its rule groups (as Sloth does it).

sli_rules: per-region run rates and error ratios for every window the alerts
read, their cross-region aggregate, and p95/p99. budget_rules: the period
ratio and the error budget left. alert_rules: burn rates, p99, budget policy,
week-over-week traffic. All three make one group per SLO; health_group: the
per-region dead-man's switch.

Series are selected by `slo="<name>"`, never by probe name, so adding a probe
to an SLO needs no new rules.
"""

from __future__ import annotations

from dataclasses import replace

from prometheus_client.utils import floatToGoString

from .. import conventions as c
from ..config import SLOConfig
from . import names as n
from .model import Group, Rule
from .names import SLI
from .windows import (
    ABSENT_LOOKBACK,
    COVERAGE_STEP_RANGE,
    QUANTILE_WINDOW,
    QUANTILES,
    TRAFFIC_GAP,
    TRAFFIC_OFFSET,
    Scale,
    base_window,
    burns,
    duration,
    error_budget,
    number,
    sli_windows,
)

_PER_PROBE = ", ".join(n.PER_PROBE_LABELS)
_PER_BUCKET = ", ".join(sorted((*n.PER_PROBE_LABELS, c.L_LE)))


def _selector(metric: str, *matchers: str) -> str:
    return f"{metric}{{{','.join(matchers)}}}"


def _eq(label: str, value: str) -> str:
    return f'{label}="{value}"'


def le_matcher(threshold: float) -> str:
    """The `le` of the bucket bound at `threshold`, as prometheus_client writes it ("0.2").

    Integral bounds also match Prometheus 3's normalised form ("1" besides "1.0").
    """
    le: str = floatToGoString(threshold)  # type: ignore[no-untyped-call]  # untyped upstream
    if le.endswith(".0"):
        return f'{c.L_LE}=~"{le[:-2]}|{le.replace(".", "[.]")}"'
    return _eq(c.L_LE, le)


def _ann(slo: SLOConfig, summary: str, description: str) -> dict[str, str]:
    out = {"summary": summary, "description": description}
    if slo.alerting.runbook_url:
        out["runbook_url"] = slo.alerting.runbook_url
    if slo.alerting.dashboard_url:
        out["dashboard_url"] = slo.alerting.dashboard_url
    return out


def _owned(slo: SLOConfig, rules: list[Rule]) -> tuple[Rule, ...]:
    """Label every rule with its SLO. The series carry it already; on the rule it keeps the
    same record and alert names of different SLOs apart for `promtool check rules`' lint."""
    return tuple(replace(r, labels={c.L_SLO: slo.name, **r.labels}) for r in rules)


def _percent(ratio: float) -> str:
    return f"{number(ratio * 100)}%"


def _where(global_: bool) -> str:
    return "across all regions" if global_ else "in {{ $labels.region }}"


# --- SLI recording rules ------------------------------------------------------
_BAD_COMMENT = """\
A failure mode's series (outcome, code) appears with its first failure: until then the
bad rate is 0, not absent, so an error ratio exists wherever runs do."""


def sli_rules(slo: SLOConfig, scale: Scale) -> list[Rule]:
    """Rates and ratios per SLO and region, then summed across regions.

    The global ratios divide sums of per-region rates, so a region that stops
    reporting simply drops out of both sides instead of breaking the ratio.
    """
    s = _eq(c.L_SLO, slo.name)
    bad = f'{c.L_OUTCOME}=~"{"|".join(slo.availability.bad_outcomes)}"'
    success = _eq(c.L_OUTCOME, c.Outcome.SUCCESS)
    rules: list[Rule] = []
    windows = sli_windows(slo)
    for w in windows:
        r = scale.range(w)
        runs = f"sum without ({_PER_PROBE}) (rate({_selector(c.RUNS_TOTAL, s)}[{r}]))"
        bad_rate = f"sum without ({_PER_PROBE}) (rate({_selector(c.RUNS_TOTAL, s, bad)}[{r}]))"
        rules += [
            Rule(record=n.runs(w), expr=runs),
            Rule(
                record=n.bad_runs(w),
                expr=f"{bad_rate}\nor\n0 * {_selector(n.runs(w), s)}",
                comment=_BAD_COMMENT if w == windows[0] else "",
            ),
            Rule(
                record=n.error_ratio(SLI.AVAILABILITY, w),
                expr=f"{_selector(n.bad_runs(w), s)} / {_selector(n.runs(w), s)}",
            ),
        ]
        if slo.latency is not None:
            count = _selector(f"{c.DURATION}_count", s, success)
            fast = _selector(f"{c.DURATION}_bucket", s, success, le_matcher(slo.latency.threshold))
            rules += [
                Rule(
                    record=n.success_runs(w),
                    expr=f"sum without ({_PER_PROBE}) (rate({count}[{r}]))",
                ),
                Rule(
                    record=n.slow_runs(w),
                    # count - bucket could dip below 0 by rate() extrapolation noise.
                    expr=(
                        f"clamp_min(\n  {_selector(n.success_runs(w), s)}\n"
                        f"  - sum without ({_PER_BUCKET}) (rate({fast}[{r}])),\n  0\n)"
                    ),
                ),
                Rule(
                    record=n.error_ratio(SLI.LATENCY, w),
                    expr=f"{_selector(n.slow_runs(w), s)} / {_selector(n.success_runs(w), s)}",
                ),
            ]
        pairs = [(SLI.AVAILABILITY, n.bad_runs(w), n.runs(w))]
        if slo.latency is not None:
            pairs.append((SLI.LATENCY, n.slow_runs(w), n.success_runs(w)))
        for sli, num, den in pairs:
            rules.append(
                Rule(
                    record=n.error_ratio(sli, w, global_=True),
                    expr=(
                        f"sum without ({c.L_REGION}) ({_selector(num, s)})\n"
                        f"/ sum without ({c.L_REGION}) ({_selector(den, s)})"
                    ),
                )
            )
    buckets = _selector(f"{c.DURATION}_bucket", s, success)
    p99_window = slo.alerting.p99_window
    quantile_sets: list[tuple[float, tuple[float, ...]]] = [(QUANTILE_WINDOW, QUANTILES)]
    if p99_window != QUANTILE_WINDOW:
        quantile_sets.append((p99_window, (0.99,)))
    for q, quantiles in quantile_sets:
        rules.append(
            Rule(
                record=n.duration_buckets(q),
                expr=f"sum without ({_PER_PROBE}) (rate({buckets}[{scale.range(q)}]))",
                comment=_QUANTILE_COMMENTS[q == QUANTILE_WINDOW],
            )
        )
        for global_ in (False, True):
            for quantile in quantiles:
                series = _selector(n.duration_buckets(q), s)
                if global_:
                    series = f"sum without ({c.L_REGION}) ({series})"
                rules.append(
                    Rule(
                        record=n.duration_quantile(quantile, q, global_=global_),
                        expr=f"histogram_quantile({number(quantile)}, {series})",
                    )
                )
    return rules


_QUANTILE_COMMENTS = {
    True: "Successful runs only, as the latency SLI: failures and timeouts are the\n"
    "availability SLI's business and would swamp the tail. p95/p99 for dashboards.",
    False: "The p99 alert's own short window (alerting.p99_window): a slow run leaves it\n"
    "soon, so only a slow tail that lasts the alert's `for` fires it.",
}


# --- period ratio and error budget --------------------------------------------
_PERIOD_COMMENT = """\
The period ratio is sum_over_time of the recorded {base} rates over {period}: the sum of
bad runs over the sum of all runs, weighted by run counts, so it stays right when the
probe rate changes (an average of {base} ratios would not). It reads one recorded series
per SLO and region ({period} / evaluation interval samples), not {period} of every raw
counter at scrape resolution, so it is cheap to evaluate every minute. Trade-off: it only
knows what these rules recorded: time before they were installed, or while rule
evaluation was down, is missing from both sides of the ratio (the ratio stays unbiased
but covers less than {period}). increase() over the raw counters would have no such gap,
at (series x {period} / scrape interval) samples per evaluation."""

_COVERAGE_COMMENT = """\
Coverage: how much of the {period} period has recorded runs. Each evaluation with runs
records its own time; idelta over {step} gives the seconds since the previous one (the
evaluation interval while data flows, a gap under {step} counts as covered), and their
sum over {period} / {period} is the share covered. Rule order does not matter: idelta
reads the last two ticks, whichever evaluation wrote them."""

_BUDGET_COMMENT = """\
Budget left = 1 - bad runs / (error budget x runs expected over {period}), where runs
expected = the observed run rate x {period}: time without data counts as unspent, so a new
install or a retention shorter than {period} does not shrink the budget. With ratio =
bad / recorded runs and coverage = recorded time / {period}, that is
1 - ratio x coverage / error budget."""


def budget_rules(slo: SLOConfig, scale: Scale) -> list[Rule]:
    """Error ratio over the whole period, budget remaining, objectives (for dashboards)."""
    s = _eq(c.L_SLO, slo.name)
    base, period = base_window(slo), slo.period
    r = scale.range(period)
    pairs = [(SLI.AVAILABILITY, n.bad_runs(base), n.runs(base), slo.availability.objective)]
    if slo.latency is not None:
        pairs.append((SLI.LATENCY, n.slow_runs(base), n.success_runs(base), slo.latency.objective))
    rules = _coverage_rules(slo, scale)
    for sli, num, den, objective in pairs:
        sums = (
            f"sum_over_time({_selector(num, s)}[{r}])",
            f"sum_over_time({_selector(den, s)}[{r}])",
        )
        rules += [
            Rule(
                record=n.error_ratio(sli, period),
                expr=f"{sums[0]}\n/ {sums[1]}",
                comment=""
                if sli is not SLI.AVAILABILITY
                else _PERIOD_COMMENT.format(base=duration(base), period=duration(period)),
            ),
            Rule(
                record=n.error_ratio(sli, period, global_=True),
                expr=(
                    f"sum without ({c.L_REGION}) ({sums[0]})\n"
                    f"/ sum without ({c.L_REGION}) ({sums[1]})"
                ),
            ),
        ]
        for global_ in (False, True):
            ratio = _selector(n.error_ratio(sli, period, global_=global_), s)
            coverage = _selector(n.period_coverage(global_=global_), s)
            rules.append(
                Rule(
                    record=n.budget_remaining(sli, period, global_=global_),
                    expr=f"1 - {ratio} * {coverage} / {number(error_budget(objective))}",
                    comment=""
                    if sli is not SLI.AVAILABILITY or global_
                    else _BUDGET_COMMENT.format(period=duration(period)),
                )
            )
        rules.append(
            Rule(
                record=n.objective(),
                expr=f"vector({number(objective / 100)})",
                labels={n.L_SLI: str(sli)},
            )
        )
    return rules


def _coverage_rules(slo: SLOConfig, scale: Scale) -> list[Rule]:
    """The coverage clock and the share of the period with data, per region and global."""
    s = _eq(c.L_SLO, slo.name)
    period = slo.period
    step = COVERAGE_STEP_RANGE
    seconds = number(period / scale.factor)
    return [
        Rule(
            record=n.data_timestamp(),
            expr=f"time() + 0 * {_selector(n.runs(base_window(slo)), s)}",
            comment=_COVERAGE_COMMENT.format(period=duration(period), step=duration(step)),
        ),
        Rule(
            record=n.data_step(step),
            expr=f"idelta({_selector(n.data_timestamp(), s)}[{scale.range(step)}])",
        ),
        Rule(
            record=n.period_coverage(),
            expr=(
                f"clamp_max(\n  sum_over_time({_selector(n.data_step(step), s)}"
                f"[{scale.range(period)}]) / {seconds},\n  1\n)"
            ),
        ),
        Rule(
            record=n.period_coverage(global_=True),
            expr=f"max without ({c.L_REGION}) ({_selector(n.period_coverage(), s)})",
        ),
    ]


# --- alerts -------------------------------------------------------------------
def _burn_alerts(slo: SLOConfig, sli: SLI, global_: bool) -> list[Rule]:
    s = _eq(c.L_SLO, slo.name)
    if sli is SLI.AVAILABILITY:
        objective = slo.availability.objective
        what = "of probe runs failed"
    else:
        assert slo.latency is not None
        objective = slo.latency.objective
        what = f"of successful probe runs took longer than {duration(slo.latency.threshold)}"
    budget = error_budget(objective)
    rules = []
    for burn in burns(slo):
        w = burn.window
        cond = f"> ({number(burn.rate)} * {number(budget)})"
        long_, short = (
            _selector(n.error_ratio(sli, x, global_=global_), s)
            for x in (w.long_window, w.short_window)
        )
        labels = {n.L_SLI: str(sli), n.L_BURN_WINDOW: w.name, n.L_SEVERITY: w.severity}
        if w.action:
            labels[n.L_ACTION] = w.action
        lw, sw = duration(w.long_window), duration(w.short_window)
        rules.append(
            Rule(
                alert=n.burn_alert(sli, w.name, global_=global_),
                expr=f"{long_} {cond}\nand\n{short} {cond}",
                labels=labels,
                annotations=_ann(
                    slo,
                    f"{{{{ $labels.slo }}}}: {sli} error budget, {w.name} burn {_where(global_)}",
                    f"{{{{ $value | humanizePercentage }}}} {what} in the last {lw} (and in the "
                    f"last {sw}): above {_percent(burn.threshold(objective))}, a burn rate of "
                    f"{number(burn.rate)} that spends {number(w.budget_percent)}% of the "
                    f"{duration(slo.period)} error budget in {lw}.",
                ),
            )
        )
    return rules


def _slis(slo: SLOConfig) -> list[SLI]:
    return [SLI.AVAILABILITY] + ([SLI.LATENCY] if slo.latency is not None else [])


def _budget_alerts(slo: SLOConfig) -> list[Rule]:
    """More than `budget_policy_spent_percent` of the budget spent: the release-freeze signal."""
    s = _eq(c.L_SLO, slo.name)
    a = slo.alerting
    rules = []
    left = 1 - a.budget_policy_spent_percent / 100
    for sli in _slis(slo):
        remaining = _selector(n.budget_remaining(sli, slo.period, global_=True), s)
        rules.append(
            Rule(
                alert=n.BUDGET_ALERT,
                expr=f"{remaining} < {number(left)}",
                labels={n.L_SLI: str(sli), n.L_SEVERITY: "warning", n.L_ACTION: n.ACTION_FREEZE},
                annotations=_ann(
                    slo,
                    f"{{{{ $labels.slo }}}}: over {number(a.budget_policy_spent_percent)}% of the "
                    f"{sli} error budget spent: freeze feature releases",
                    f"{{{{ $value | humanizePercentage }}}} of the "
                    f"{duration(slo.period)} {sli} error budget is left. Policy: halt "
                    "new feature releases and move engineering to reliability until it recovers.",
                ),
            )
        )
    return rules


def alert_rules(slo: SLOConfig, scale: Scale) -> list[Rule]:
    """Multi-window burn rates per region and global, p99, traffic."""
    s = _eq(c.L_SLO, slo.name)
    a = slo.alerting
    rules: list[Rule] = []
    for sli in _slis(slo):
        for global_ in (False, True):
            rules += _burn_alerts(slo, sli, global_)
    p99 = duration(a.p99_threshold)
    for global_ in (False, True):
        rules.append(
            Rule(
                alert=n.p99_alert(global_=global_),
                expr=f"{_selector(n.duration_quantile(0.99, a.p99_window, global_=global_), s)}"
                f" > {number(a.p99_threshold)}",
                for_=scale.range(a.p99_for),
                labels={
                    n.L_SLI: str(SLI.LATENCY),
                    n.L_SEVERITY: "warning",
                    n.L_ACTION: n.ACTION_INVESTIGATE,
                },
                annotations=_ann(
                    slo,
                    f"{{{{ $labels.slo }}}}: p99 latency above {p99} {_where(global_)}",
                    f"p99 of successful probe runs over {duration(a.p99_window)} is "
                    f"{{{{ $value | humanizeDuration }}}}, above {p99} for "
                    f"{duration(a.p99_for)}.",
                ),
            )
        )
    rules += _budget_alerts(slo)
    rules += _traffic_alerts(slo, scale)
    return rules


def slo_group(slo: SLOConfig, scale: Scale) -> Group:
    """One group per SLO, recordings before the alerts that read them.

    The rules of a group run in order at one timestamp, so every rule sees this
    evaluation's results; rules split over groups would lag by up to one interval,
    by an amount that depends on each group's schedule.
    """
    rules = [
        *sli_rules(slo, scale),
        *budget_rules(slo, scale),
        *traffic_rules(slo, scale),
        *alert_rules(slo, scale),
    ]
    return Group(
        n.slo_group(slo.name),
        _owned(slo, rules),
        comment=f"SLO {slo.name}: SLI rates and error ratios per region and across regions,\n"
        "the period ratio and budget left, then the alerts. Routing keys: severity, action.",
    )


_TRAFFIC_COMMENT = """\
The service's request rate (alerting.traffic.expr, req/s), for the week-over-week
traffic alerts. `filled` counts a series that existed a week ago and is gone now as 0, so
traffic that vanishes reads as a drop. `since` is when the series was last (re)created:
a gap over {gap} restarts it, so last week's window is trusted only if the series
existed for all of it (a new deployment does not read as a spike a week later)."""


def traffic_rules(slo: SLOConfig, scale: Scale) -> list[Rule]:
    """The recorded request rate, its window average and its presence; none without expr."""
    t = slo.alerting.traffic
    if t.expr is None:
        return []
    s = _eq(c.L_SLO, slo.name)
    now = _selector(n.requests(), s)
    since = _selector(n.requests_since(), s)
    return [
        Rule(
            record=n.requests(),
            expr=t.expr,
            comment=_TRAFFIC_COMMENT.format(gap=duration(TRAFFIC_GAP)),
        ),
        Rule(
            record=n.requests_filled(),
            expr=f"{now}\nor\n0 * ({now} offset {scale.range(TRAFFIC_OFFSET)})",
        ),
        Rule(
            record=n.requests_avg(t.window),
            expr=f"avg_over_time({_selector(n.requests_filled(), s)}[{scale.range(t.window)}])",
        ),
        Rule(
            record=n.requests_since(),
            expr=(
                f"last_over_time({since}[{scale.range(TRAFFIC_GAP)}]) and {now}\n"
                f"or\ntime() + 0 * {now}"
            ),
        ),
    ]


def _traffic_alerts(slo: SLOConfig, scale: Scale) -> list[Rule]:
    """Request rate over the window against the same window a week earlier.

    Only where last week's window is trusted: the series existed for all of it
    (`since`) and its rate was at least `min_rate`. Needs `alerting.traffic.expr`.
    """
    t = slo.alerting.traffic
    if t.expr is None:
        return []
    s = _eq(c.L_SLO, slo.name)
    now = _selector(n.requests_avg(t.window), s)
    offset = scale.range(TRAFFIC_OFFSET)
    before = f"({now} offset {offset})"
    start = number((TRAFFIC_OFFSET + t.window) / scale.factor)
    guard = (
        f"{before} >= {number(t.min_rate)}\n"
        f"and\n({_selector(n.requests_since(), s)} offset {offset}) <= time() - {start}"
    )
    win = duration(t.window)
    common = {n.L_SEVERITY: "warning", n.L_ACTION: n.ACTION_SCALING_CHECK}
    return [
        Rule(
            alert=n.TRAFFIC_DROP_ALERT,
            expr=f"{now} / {before} < {number(t.drop_ratio)}\nand\n{guard}",
            labels=common,
            annotations=_ann(
                slo,
                "{{ $labels.slo }}: request volume dropped",
                f"Requests over the last {win} are {{{{ $value | humanizePercentage }}}} of the "
                f"same {win} a week ago (alert below {_percent(t.drop_ratio)}): check the "
                "service's clients, routing and load balancer.",
            ),
        ),
        Rule(
            alert=n.TRAFFIC_SPIKE_ALERT,
            expr=f"{now} / {before} > {number(t.spike_ratio)}\nand\n{guard}",
            labels=common,
            annotations=_ann(
                slo,
                "{{ $labels.slo }}: request volume spiked",
                f"Requests over the last {win} are {{{{ $value | humanizePercentage }}}} of the "
                f"same {win} a week ago (alert above {_percent(t.spike_ratio)}, an increase of "
                f"{number((t.spike_ratio - 1) * 100)}%): check that the service scales.",
            ),
        ),
    ]


# --- prober health ------------------------------------------------------------
def health_group(slos: tuple[SLOConfig, ...], scale: Scale) -> Group:
    """Dead-man's switches on the agents' own build_info series.

    A region that reported in the last day and reports nothing now: its probers
    stopped (or cannot be scraped), so its SLIs are blind. One group for all
    SLOs; it waits the shortest `absent_for` among them.
    """
    for_ = min(slo.alerting.absent_for for slo in slos)
    lookback = scale.range(ABSENT_LOOKBACK)
    info = c.BUILD_INFO
    return Group(
        n.HEALTH_GROUP,
        (
            Rule(
                alert=n.REGION_ABSENT_ALERT,
                expr=(
                    f"group by ({c.L_REGION}) (max_over_time({info}[{lookback}]))\n"
                    f"unless\ngroup by ({c.L_REGION}) ({info})"
                ),
                for_=scale.range(for_),
                labels={n.L_SEVERITY: "warning", n.L_ACTION: n.ACTION_TICKET},
                annotations={
                    "summary": "prober: no agent reporting in {{ $labels.region }}",
                    "description": f"{info} from {{{{ $labels.region }}}} was seen in the last "
                    f"{duration(ABSENT_LOOKBACK)} but not for {duration(for_)}: "
                    "the SLOs are blind there. Check the agents and their scrape.",
                },
            ),
            Rule(
                alert=n.ALL_ABSENT_ALERT,
                expr=f"absent({info})",
                for_=scale.range(for_),
                labels={n.L_SEVERITY: "critical", n.L_ACTION: n.ACTION_PAGE},
                annotations={
                    "summary": "prober: no agent reporting in any region",
                    "description": f"No {info} for {duration(for_)}: every SLO is "
                    "blind. Check the agents and Prometheus' scrape of them.",
                },
            ),
        ),
        comment="Prober health: dead-man's switches, one for all SLOs.",
    )
