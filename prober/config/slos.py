"""The `slos:` section: objectives, burn-rate windows and the other alerts' settings."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from .. import conventions as c
from .fields import Duration, Strict, check_name


class AvailabilitySLO(Strict):
    objective: float = Field(default=99.9, gt=0, lt=100, description="percent of good runs")
    bad_outcomes: tuple[c.Outcome, ...] = c.DEFAULT_BAD_OUTCOMES

    @field_validator("bad_outcomes")
    @classmethod
    def _no_success(cls, value: tuple[c.Outcome, ...]) -> tuple[c.Outcome, ...]:
        if c.Outcome.SUCCESS in value:
            raise ValueError("success cannot be a bad outcome")
        if not value:
            raise ValueError("list at least one bad outcome")
        return tuple(sorted(set(value), key=c.ALL_OUTCOMES.index))


class LatencySLO(Strict):
    objective: float = Field(default=95.0, gt=0, lt=100, description="percent of successful runs")
    threshold: Duration = 0.2


class BurnWindow(Strict):
    """One multi-window burn-rate alert: `budget_percent` of the budget spent in `long_window`."""

    name: str
    budget_percent: float = Field(gt=0, le=100)
    long_window: Duration
    short_window: Duration
    severity: str = Field(pattern=r"^[a-z]+$")
    action: str = ""

    @model_validator(mode="after")
    def _windows(self) -> BurnWindow:
        if self.short_window >= self.long_window:
            raise ValueError("short_window must be shorter than long_window")
        return self


# The seed's policy: 2% of the budget in 1 h pages, 5% in 24 h opens a ticket.
DEFAULT_BURN_WINDOWS = tuple(
    BurnWindow.model_validate(w)
    for w in (
        {
            "name": "fast",
            "budget_percent": 2,
            "long_window": "1h",
            "short_window": "5m",
            "severity": "critical",
            "action": "page",
        },
        {
            "name": "slow",
            "budget_percent": 5,
            "long_window": "24h",
            "short_window": "2h",
            "severity": "warning",
            "action": "ticket",
        },
    )
)


class TrafficAlert(Strict):
    """The service's request rate against the same window a week earlier.

    A black-box agent cannot see the service's traffic (its own probe volume is
    constant by design), so the user names the series: without `expr` no
    traffic alert is generated.
    """

    expr: str | None = Field(
        default=None,
        min_length=1,
        description="PromQL giving the service's request rate in requests/second",
    )
    window: Duration = 3600
    drop_ratio: float = Field(default=0.5, gt=0, lt=1)
    # The seed's "200% spike" read as an increase of 200%: now > 3x last week.
    spike_ratio: float = Field(default=3.0, gt=1)
    min_rate: float = Field(
        default=0.1, ge=0, description="req/s; a week-ago baseline below this never alerts"
    )

    @field_validator("expr")
    @classmethod
    def _expr(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("expr is empty")
        return None if value is None else value.strip()


class Alerting(Strict):
    burn_windows: tuple[BurnWindow, ...] = DEFAULT_BURN_WINDOWS
    p99_threshold: Duration = 0.5
    p99_for: Duration = 300
    # The p99's own rate window: short against p99_for, so one slow run cannot hold
    # the condition for the whole `for` (see rules/README.md).
    p99_window: Duration = 60
    budget_policy_spent_percent: float = Field(default=80, gt=0, le=100)
    traffic: TrafficAlert = TrafficAlert()
    absent_for: Duration = 300
    runbook_url: str = ""
    dashboard_url: str = ""

    @model_validator(mode="after")
    def _p99_window(self) -> Alerting:
        if self.p99_window >= self.p99_for:
            raise ValueError("p99_window must be shorter than p99_for")
        return self


class SLOConfig(Strict):
    name: str
    description: str = ""
    period: Duration = 30 * 86400
    availability: AvailabilitySLO = AvailabilitySLO()
    latency: LatencySLO | None = LatencySLO()
    alerting: Alerting = Alerting()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)
