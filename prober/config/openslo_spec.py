"""The OpenSLO v1 kinds prober reads, as strict pydantic models.

Field names and limits are the spec's (github.com/OpenSLO/OpenSLO, README, v1). Spec
features prober cannot turn into its rules are declared here too, as `Unsupported`
fields, so a document that uses one is refused with a message naming the feature
instead of failing as an "unknown field" or, worse, being read without it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .fields import Strict

API_VERSION = "openslo/v1"
KINDS = ("Service", "SLI", "SLO", "AlertPolicy", "AlertCondition", "AlertNotificationTarget")
ANNOTATION_PREFIX = "prober.dev/"

RFC1123_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ANNOTATION_NAME = r"[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
ANNOTATION_KEY_RE = re.compile(rf"^(({_DNS_SUBDOMAIN})/)?{_ANNOTATION_NAME}$")
_SHORTHAND = re.compile(r"^(\d+)([mhdwMQY])$")
SHORTHAND_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DESCRIPTION = 1050


def _name(value: str) -> str:
    if not RFC1123_RE.match(value):
        raise ValueError(
            f"invalid name {value!r}: RFC 1123, up to 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


Name = Annotated[str, AfterValidator(_name)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION)]


def parse_shorthand(value: object) -> float:
    """OpenSLO's duration-shorthand (`5m`, `30d`) -> seconds; months, quarters, years refused."""
    text = value if isinstance(value, str) else None
    m = _SHORTHAND.match(text) if text is not None else None
    if m is None:
        raise ValueError(
            f"invalid duration {value!r}: a whole number and one of m, h, d, w (e.g. '5m', '30d')"
        )
    if m.group(2) not in SHORTHAND_SECONDS:
        raise ValueError(
            f"duration {value!r}: months, quarters and years have no fixed length, "
            "and prober's windows are rolling: use days or weeks (e.g. '30d')"
        )
    return float(int(m.group(1)) * SHORTHAND_SECONDS[m.group(2)])


Shorthand = Annotated[float, BeforeValidator(parse_shorthand)]


class _Refusing(Strict):
    """A model whose `UNSUPPORTED` fields (spec features prober has no mapping for) are refused."""

    UNSUPPORTED: ClassVar[dict[str, str]] = {}

    @field_validator("*")
    @classmethod
    def _refuse(cls, value: Any, info: ValidationInfo) -> Any:
        feature = cls.UNSUPPORTED.get(info.field_name or "")
        if feature is not None and value is not None:
            raise ValueError(f"not supported: {feature}")
        return value


def _check_annotations(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not ANNOTATION_KEY_RE.match(key) or len(key.partition("/")[0]) > 253:
            raise ValueError(f"invalid annotation key {key!r}: [prefix/]name, name up to 63")
    return value


class Metadata(_Refusing):
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "labels": "metadata.labels are not carried into prober's alerts (use agent.labels in "
        "probes.yaml, and annotations for notes)",
    }

    name: Name
    displayName: str | None = None
    labels: object = None
    annotations: Annotated[dict[str, str], AfterValidator(_check_annotations)] = Field(
        default_factory=dict
    )


_RAW = "raw (precomputed) ratios: prober's SLIs are good or bad runs over all runs"


# --- SLI ----------------------------------------------------------------------------
class PrometheusQuery(Strict):
    query: str


class MetricSource(_Refusing):
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "metricSourceRef": "DataSource references: prober's rules run in the Prometheus that "
        "loads them (give type: prometheus and spec.query)",
    }

    metricSourceRef: object = None
    type: str
    spec: PrometheusQuery

    @field_validator("type")
    @classmethod
    def _prometheus(cls, value: str) -> str:
        if value.lower() != "prometheus":
            raise ValueError(
                f"not supported: metric source type {value!r}: prober's SLIs are PromQL over "
                "its own metrics (type: prometheus)"
            )
        return value


class Metric(Strict):
    metricSource: MetricSource


class RatioMetric(_Refusing):
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "rawType": _RAW,
        "raw": _RAW,
    }

    counter: bool
    good: Metric | None = None
    bad: Metric | None = None
    total: Metric | None = None
    rawType: object = None
    raw: object = None

    @field_validator("counter")
    @classmethod
    def _counter(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "not supported: counter: false: prober's runs and buckets are counters"
            )
        return value

    @model_validator(mode="after")
    def _shape(self) -> RatioMetric:
        if (self.good is None) == (self.bad is None):
            raise ValueError("give exactly one of good or bad")
        if self.total is None:
            raise ValueError("missing required field total")
        return self


class SLISpec(_Refusing):
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "thresholdMetric": "thresholdMetric SLIs: prober's SLIs are ratios of runs (use "
        "ratioMetric)",
    }

    description: Description = ""
    thresholdMetric: object = None
    ratioMetric: RatioMetric | None = None

    @model_validator(mode="after")
    def _ratio(self) -> SLISpec:
        if self.ratioMetric is None:
            raise ValueError("missing required field ratioMetric")
        return self


class InlineSLI(Strict):
    metadata: Metadata
    spec: SLISpec


# --- alerting ------------------------------------------------------------------------
class BurnRateCondition(Strict):
    kind: str = "burnrate"
    op: str
    threshold: float = Field(gt=0)
    lookbackWindow: Shorthand
    alertAfter: str = "0m"

    @field_validator("kind")
    @classmethod
    def _burnrate(cls, value: str) -> str:
        if value != "burnrate":
            raise ValueError(f"not supported: condition kind {value!r}: prober alerts on burnrate")
        return value

    @field_validator("op")
    @classmethod
    def _gt(cls, value: str) -> str:
        if value != "gt":
            raise ValueError(
                f"not supported: op {value!r}: prober alerts when the burn rate exceeds the "
                "threshold (op: gt)"
            )
        return value

    @field_validator("alertAfter")
    @classmethod
    def _now(cls, value: str) -> str:
        m = _SHORTHAND.match(value)
        if m is None or int(m.group(1)) != 0:
            raise ValueError(
                f"not supported: alertAfter {value!r}: prober's burn-rate alerts confirm on the "
                "short window instead of waiting (alertAfter: 0m; see prober.dev/short-window)"
            )
        return value


class AlertConditionSpec(Strict):
    description: Description = ""
    severity: str
    condition: BurnRateCondition


class InlineAlertCondition(Strict):
    kind: Literal["AlertCondition"]
    metadata: Metadata
    spec: AlertConditionSpec


class ConditionRef(Strict):
    conditionRef: Name


class AlertNotificationTargetSpec(Strict):
    description: Description = ""
    target: str


class InlineNotificationTarget(Strict):
    kind: Literal["AlertNotificationTarget"]
    metadata: Metadata
    spec: AlertNotificationTargetSpec


class TargetRef(Strict):
    targetRef: Name


def _ref_or_inline(key: str) -> Discriminator:
    def pick(value: Any) -> str:
        return "ref" if isinstance(value, dict) and key in value else "inline"

    return Discriminator(pick)


AnyCondition = Annotated[
    Annotated[ConditionRef, Tag("ref")] | Annotated[InlineAlertCondition, Tag("inline")],
    _ref_or_inline("conditionRef"),
]
AnyTarget = Annotated[
    Annotated[TargetRef, Tag("ref")] | Annotated[InlineNotificationTarget, Tag("inline")],
    _ref_or_inline("targetRef"),
]


class AlertPolicySpec(Strict):
    description: Description = ""
    alertWhenNoData: bool = False
    alertWhenResolved: bool = False
    alertWhenBreaching: bool = True
    conditions: tuple[AnyCondition, ...]
    # Required by the spec; empty for an alert without an action label.
    notificationTargets: tuple[AnyTarget, ...]

    @field_validator("conditions")
    @classmethod
    def _one_condition(cls, value: tuple[AnyCondition, ...]) -> tuple[AnyCondition, ...]:
        if len(value) != 1:
            raise ValueError(f"OpenSLO v1 has exactly one condition per policy, got {len(value)}")
        return value

    @field_validator("notificationTargets")
    @classmethod
    def _one_target(cls, value: tuple[AnyTarget, ...]) -> tuple[AnyTarget, ...]:
        if len(value) > 1:
            raise ValueError(
                f"not supported: {len(value)} notification targets: prober labels an alert "
                "with one action (the target's `target`)"
            )
        return value

    @field_validator("alertWhenNoData")
    @classmethod
    def _no_data(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "not supported: alertWhenNoData: true: prober alerts on missing data once per "
                "region (ProberRegionAbsent, ProberAbsent), not per policy"
            )
        return value

    @field_validator("alertWhenResolved")
    @classmethod
    def _resolved(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "not supported: alertWhenResolved: true: resolved notifications are "
                "Alertmanager's receiver setting (send_resolved)"
            )
        return value

    @field_validator("alertWhenBreaching")
    @classmethod
    def _breaching(cls, value: bool) -> bool:
        if not value:
            raise ValueError("alertWhenBreaching: false makes a policy that never alerts")
        return value


class InlineAlertPolicy(Strict):
    kind: Literal["AlertPolicy"]
    metadata: Metadata
    spec: AlertPolicySpec


class PolicyRef(Strict):
    alertPolicyRef: Name


AnyPolicy = Annotated[
    Annotated[PolicyRef, Tag("ref")] | Annotated[InlineAlertPolicy, Tag("inline")],
    _ref_or_inline("alertPolicyRef"),
]


# --- SLO -----------------------------------------------------------------------------
_TIMESLICES = (
    "Timeslices and RatioTimeslices budgeting: prober counts runs (budgetingMethod: Occurrences)"
)


class Objective(_Refusing):
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "op": "op and value (thresholdMetric objectives)",
        "value": "op and value (thresholdMetric objectives)",
        "timeSliceTarget": _TIMESLICES,
        "timeSliceWindow": _TIMESLICES,
        "indicator": "composite SLOs (an indicator per objective)",
        "indicatorRef": "composite SLOs (an indicator per objective)",
        "compositeWeight": "composite SLOs (compositeWeight)",
    }

    displayName: str | None = None
    op: object = None
    value: object = None
    target: float | None = Field(default=None, ge=0, lt=1)
    targetPercent: float | None = Field(default=None, ge=0, lt=100)
    timeSliceTarget: object = None
    timeSliceWindow: object = None
    indicator: object = None
    indicatorRef: object = None
    compositeWeight: object = None

    @model_validator(mode="after")
    def _one_target(self) -> Objective:
        if (self.target is None) == (self.targetPercent is None):
            raise ValueError("give exactly one of target or targetPercent")
        return self

    @property
    def percent(self) -> float:
        if self.targetPercent is not None:
            return self.targetPercent
        assert self.target is not None
        return float(f"{self.target * 100:.12g}")


class TimeWindow(_Refusing):
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "calendar": "calendar-aligned time windows: prober's budgets are rolling (isRolling: true)",
    }

    duration: Shorthand
    isRolling: bool | None = None
    calendar: object = None

    @model_validator(mode="after")
    def _rolling(self) -> TimeWindow:
        if self.isRolling is not True:
            raise ValueError(
                "not supported: calendar-aligned time windows (isRolling is not true): "
                "prober's budgets are rolling (isRolling: true)"
            )
        return self


class SLOSpec(Strict):
    description: Description = ""
    service: Name
    indicator: InlineSLI | None = None
    indicatorRef: Name | None = None
    timeWindow: tuple[TimeWindow, ...] = Field(default=(), max_length=1)
    budgetingMethod: str
    objectives: tuple[Objective, ...]
    alertPolicies: tuple[AnyPolicy, ...] = ()

    @field_validator("budgetingMethod")
    @classmethod
    def _occurrences(cls, value: str) -> str:
        if value in ("Timeslices", "RatioTimeslices"):
            raise ValueError(f"not supported: {value} budgeting: prober counts runs (Occurrences)")
        if value != "Occurrences":
            raise ValueError(f"unknown budgetingMethod {value!r}: use Occurrences")
        return value

    @field_validator("objectives")
    @classmethod
    def _one_objective(cls, value: tuple[Objective, ...]) -> tuple[Objective, ...]:
        if not value:
            raise ValueError("list one objective")
        if len(value) > 1:
            raise ValueError(
                f"not supported: {len(value)} objectives: prober maps one objective per SLO "
                "(write one SLO per objective)"
            )
        return value

    @model_validator(mode="after")
    def _indicator(self) -> SLOSpec:
        if (self.indicator is None) == (self.indicatorRef is None):
            raise ValueError("give exactly one of indicator or indicatorRef")
        return self


class ServiceSpec(Strict):
    description: Description = ""


# --- documents ----------------------------------------------------------------------
class _Document(Strict):
    apiVersion: Literal["openslo/v1"]
    metadata: Metadata


class ServiceDoc(_Document):
    kind: Literal["Service"]
    spec: ServiceSpec = ServiceSpec()


class SLIDoc(_Document):
    kind: Literal["SLI"]
    spec: SLISpec


class SLODoc(_Document):
    kind: Literal["SLO"]
    spec: SLOSpec


class AlertPolicyDoc(_Document):
    kind: Literal["AlertPolicy"]
    spec: AlertPolicySpec


class AlertConditionDoc(_Document):
    kind: Literal["AlertCondition"]
    spec: AlertConditionSpec


class AlertNotificationTargetDoc(_Document):
    kind: Literal["AlertNotificationTarget"]
    spec: AlertNotificationTargetSpec


Document = (
    ServiceDoc | SLIDoc | SLODoc | AlertPolicyDoc | AlertConditionDoc | AlertNotificationTargetDoc
)
DOCUMENT_MODELS: dict[str, type[_Document]] = {
    "Service": ServiceDoc,
    "SLI": SLIDoc,
    "SLO": SLODoc,
    "AlertPolicy": AlertPolicyDoc,
    "AlertCondition": AlertConditionDoc,
    "AlertNotificationTarget": AlertNotificationTargetDoc,
}
