"""Every name the generated rules define: recording rules, alerts, groups, labels.

Dashboards, the Helm chart and the promtool suites query these names, so they
live in one place. Recording rules follow the `level:metric:operations` scheme
(as Sloth and Pyrra do): level `prober` keeps the `region` label, level
`prober_global` has been summed across regions; the operation names the
nominal window (`rate5m`, `rate30d`), which a time-scaled render keeps.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from .. import conventions as c
from .windows import duration

REGION_LEVEL: Final = c.METRIC_PREFIX
GLOBAL_LEVEL: Final = f"{c.METRIC_PREFIX}_global"

# Scrape-time labels: aggregated away with the per-probe labels.
L_JOB: Final = "job"
L_INSTANCE: Final = "instance"
# Labels the generated rules add.
L_SLI: Final = "sli"
L_SEVERITY: Final = "severity"
L_ACTION: Final = "action"
L_BURN_WINDOW: Final = "burn_window"

# Summed away to go from raw probe series to one series per SLO and region.
# `sum without` (not `sum by`) so static agent labels such as `team` survive for routing.
PER_PROBE_LABELS: Final = (
    c.L_CODE, L_INSTANCE, L_JOB, c.L_OUTCOME, c.L_PROBE, c.L_STEP, c.L_TARGET,
)  # fmt: skip


class SLI(StrEnum):
    """The two indicators of an SLO; the value of the `sli` label."""

    AVAILABILITY = "availability"
    LATENCY = "latency"


# Actions: what a receiver is expected to do. Routing keys on these, not on alert names.
ACTION_INVESTIGATE: Final = "investigate"
ACTION_FREEZE: Final = "freeze-feature-releases"
ACTION_SCALING_CHECK: Final = "scaling-check"
ACTION_TICKET: Final = "ticket"
ACTION_PAGE: Final = "page"


def _window(seconds: float) -> str:
    return duration(seconds)


def rec(metric: str, op: str, *, global_: bool = False) -> str:
    """`prober:<metric>:<op>`, or `prober_global:...` for the cross-region aggregate."""
    return f"{GLOBAL_LEVEL if global_ else REGION_LEVEL}:{metric}:{op}"


def runs(window: float) -> str:
    """Rate of every run of an SLO's probes (the availability denominator)."""
    return rec("slo_runs", f"rate{_window(window)}")


def bad_runs(window: float) -> str:
    """Rate of runs whose outcome the SLO counts as bad."""
    return rec("slo_bad_runs", f"rate{_window(window)}")


def success_runs(window: float) -> str:
    """Rate of successful runs (the latency denominator)."""
    return rec("slo_success_runs", f"rate{_window(window)}")


def slow_runs(window: float) -> str:
    """Rate of successful runs slower than the latency threshold."""
    return rec("slo_slow_runs", f"rate{_window(window)}")


def error_ratio(sli: SLI, window: float, *, global_: bool = False) -> str:
    """Bad / all for availability, slow / successful for latency."""
    return rec(f"slo_{sli}_error_ratio", f"rate{_window(window)}", global_=global_)


def budget_remaining(sli: SLI, period: float, *, global_: bool = False) -> str:
    """1 - error ratio over the SLO period / error budget: 1 untouched, 0 spent, < 0 overspent."""
    return rec(f"slo_{sli}_error_budget_remaining", f"rate{_window(period)}", global_=global_)


def period_coverage(*, global_: bool = False) -> str:
    """Seconds of the SLO period with recorded runs / the period: 1 once Prometheus holds it all."""
    return rec("slo_period_coverage", "ratio", global_=global_)


def data_timestamp() -> str:
    """The evaluation time, recorded at every evaluation where the SLO has runs (the coverage
    clock's ticks)."""
    return rec("slo_data", "timestamp")


def data_step(range_: float) -> str:
    """Seconds since the previous tick: the evaluation interval while data flows."""
    return rec("slo_data_seconds", f"idelta{_window(range_)}")


def requests() -> str:
    """The service's request rate (req/s), as the SLO's `alerting.traffic.expr` gives it."""
    return rec("slo_requests", "rate")


def requests_filled() -> str:
    """The request rate, or 0 for a series that existed a week ago and is gone now."""
    return rec("slo_requests_filled", "rate")


def requests_avg(window: float) -> str:
    """The request rate averaged over the traffic window."""
    return rec("slo_requests", f"avg_rate{_window(window)}")


def requests_since() -> str:
    """Since when (unix seconds) the request-rate series has been recorded without a gap."""
    return rec("slo_requests_since", "timestamp")


def objective() -> str:
    """The objective as a ratio (0.999), labelled slo and sli, for dashboards."""
    return rec("slo_objective", "ratio")


def duration_buckets(window: float) -> str:
    """Bucket rates of successful runs' durations, `le` kept for histogram_quantile."""
    return rec("slo_duration_seconds_bucket", f"rate{_window(window)}")


def duration_quantile(quantile: float, window: float, *, global_: bool = False) -> str:
    """`prober:slo_duration_seconds:p99_rate5m` (dashboards), `...:p99_rate1m` (the p99 alert)."""
    return rec(
        "slo_duration_seconds", f"p{round(quantile * 100)}_rate{_window(window)}", global_=global_
    )


# --- alerts -------------------------------------------------------------------
def camel(name: str) -> str:
    """`fast`, `fast-page` -> `Fast`, `FastPage`: a burn window's name inside an alert name."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name))


def burn_alert(sli: SLI, window: str, *, global_: bool = False) -> str:
    """`ProberSLOAvailabilityFastBurn`: one name per SLI, burn window and scope, so a page and
    a ticket for the same SLO are told apart by name as well as by `severity`."""
    return f"ProberSLO{sli.capitalize()}{camel(window)}Burn{'Global' if global_ else ''}"


def p99_alert(*, global_: bool = False) -> str:
    return f"ProberSLOLatencyP99High{'Global' if global_ else ''}"


BUDGET_ALERT: Final = "ProberSLOErrorBudgetPolicy"
TRAFFIC_DROP_ALERT: Final = "ProberSLOTrafficDrop"
TRAFFIC_SPIKE_ALERT: Final = "ProberSLOTrafficSpike"
REGION_ABSENT_ALERT: Final = "ProberRegionAbsent"
ALL_ABSENT_ALERT: Final = "ProberAbsent"


# --- groups -------------------------------------------------------------------
def slo_group(slo: str) -> str:
    return f"prober-slo-{slo}"


HEALTH_GROUP: Final = "prober-health"

RULES_FILE: Final = "prober-rules.yml"
OPERATOR_FILE: Final = "prober-prometheusrule.yaml"
