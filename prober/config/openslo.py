"""OpenSLO v1 files -> native SLOConfig objects, for `slos: [{openslo: [path, ...]}]`.

One prober SLO is one OpenSLO Service: an availability SLO, at most one latency SLO
(both over prober's metrics, see openslo_queries), and the burn-rate AlertPolicies both
share, one AlertCondition each. docs/openslo.md has the whole mapping. Everything a
document says is either mapped or refused with a one-line error naming the feature:
nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .fields import ConfigError, printable
from .openslo_annotations import (
    BURN_WINDOW,
    SHORT_WINDOW,
    SLO_MAPPED,
    WINDOW_MAPPED,
    field_at,
    key,
    unflatten,
)
from .openslo_queries import AvailabilityQueries, LatencyQueries, read_ratio
from .openslo_spec import (
    ANNOTATION_PREFIX,
    API_VERSION,
    DOCUMENT_MODELS,
    AlertConditionSpec,
    AlertPolicySpec,
    ConditionRef,
    InlineAlertCondition,
    InlineSLI,
    Metadata,
    PolicyRef,
    SLISpec,
    TargetRef,
)
from .slos import BurnWindow, SLOConfig
from .units import format_duration, parse_duration
from .yaml_loader import YAMLFileError, load_yaml_file

OPENSLO_KEY = "openslo"  # an item of `slos:` that names OpenSLO files
DEFAULT_PERIOD = SLOConfig.model_fields["period"].default
SHORT_WINDOW_DIVISOR = 12  # the SRE workbook's pairs: 1h/5m, 6h/30m, 24h/2h, 3d/6h
_MESSAGES = {"extra_forbidden": "unknown field", "missing": "missing required field"}
_TAGS = {"ref", "inline"}
# A burn window's fields -> where its value came from, for prober's own checks' errors.
_WINDOW_FIELDS = {
    "name": f"metadata.annotations.{BURN_WINDOW}",
    "budget_percent": "spec.condition.threshold",
    "long_window": "spec.condition.lookbackWindow",
    "short_window": f"metadata.annotations.{SHORT_WINDOW}",
    "severity": "spec.severity",
    "action": "spec.notificationTargets[0]",
}


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _shown(seconds: float) -> str:
    """A period or window as OpenSLO writes it: 30d rather than 4w2d."""
    return f"{round(seconds // 86400)}d" if seconds % 86400 == 0 else format_duration(seconds)


class _Errors(list[str]):
    def at(self, where: str, path: str, message: str) -> None:
        line = f"{where}: {path}: {printable(message)}" if path else f"{where}: {message}"
        if line not in self:  # a policy both SLOs share is read twice
            self.append(line)


@dataclass
class _Doc:
    """One validated document (or an inline object inside one) and where it came from."""

    kind: str
    where: str  # `file: document N (Kind name)`, or that and the path of an inline object
    meta: Metadata
    spec: Any
    used: bool = False


def _loc(loc: tuple[str | int, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item not in _TAGS and not item.startswith("function-"):
            parts.append(f".{item}" if parts else item)
    return "".join(parts)


def pydantic_errors(errors: _Errors, where: str, exc: ValidationError) -> None:
    for e in exc.errors():
        message = _MESSAGES.get(e["type"]) or str(e["msg"]).removeprefix("Value error, ")
        errors.at(where, _loc(e["loc"]), message)


def read_documents(path: Path, shown: str, errors: _Errors) -> list[_Doc]:
    """The file's documents, validated one by one; problems go to `errors`."""
    try:  # the same bounds as probes.yaml: size, depth, aliases, duplicate keys
        raw = load_yaml_file(path, all_documents=True)
    except YAMLFileError as exc:
        errors.append(f"{shown}: {exc.reason}")
        return []
    docs: list[_Doc] = []
    before = len(errors)
    for i, item in enumerate(raw, 1):
        if item is None:  # an empty document, e.g. after a trailing `---`
            continue
        doc = _validate(item, f"{shown}: document {i}", errors)
        if doc is not None:
            docs.append(doc)
    if not docs and len(errors) == before:
        errors.append(f"{shown}: no OpenSLO documents")
    return docs


def _validate(item: object, where: str, errors: _Errors) -> _Doc | None:
    if not isinstance(item, dict):
        errors.at(where, "", "expected a mapping with apiVersion, kind, metadata and spec")
        return None
    kind, meta = item.get("kind"), item.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    label = f"{printable(str(kind))[:40]} {printable(name)[:80]}" if isinstance(name, str) else kind
    where = f"{where} ({label})" if isinstance(kind, str) else where
    if item.get("apiVersion") != API_VERSION:
        got = printable(repr(item.get("apiVersion")))
        errors.at(where, "apiVersion", f"expected {API_VERSION!r}, got {got}")
        return None
    model = DOCUMENT_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        if kind == "DataSource":
            errors.at(
                where,
                "kind",
                "not supported: DataSource: prober's rules run in the Prometheus that loads "
                "them (give metricSource type: prometheus and spec.query)",
            )
        else:
            known = ", ".join(DOCUMENT_MODELS)
            errors.at(where, "kind", f"unknown kind {printable(repr(kind))} (known: {known})")
        return None
    try:
        doc = model.model_validate(item)
    except ValidationError as exc:
        pydantic_errors(errors, where, exc)
        return None
    return _Doc(str(kind), where, doc.metadata, doc.spec)  # type: ignore[attr-defined]


@dataclass
class _Namespace:
    """Every document of one `openslo:` item by kind and name: references resolve here."""

    by_kind: dict[str, dict[str, _Doc]] = field(default_factory=dict)

    def add(self, kind: str, doc: _Doc, errors: _Errors) -> None:
        names = self.by_kind.setdefault(kind, {})
        first = names.get(doc.meta.name)
        if first is not None:
            errors.at(doc.where, "metadata.name", f"duplicate {kind} name, first in {first.where}")
            return
        names[doc.meta.name] = doc

    def get(self, kind: str, name: str) -> _Doc | None:
        doc = self.by_kind.get(kind, {}).get(name)
        if doc is not None:
            doc.used = True
        return doc


@dataclass
class _Objective:
    """One SLO document, read: what it measures and how it alerts."""

    doc: _Doc
    queries: AvailabilityQueries | LatencyQueries
    percent: float
    period: float
    windows: list[dict[str, Any]]


def _own_annotations(doc: _Doc, errors: _Errors, allowed: str) -> None:
    for k in doc.meta.annotations:
        if k.startswith(ANNOTATION_PREFIX):
            errors.at(
                doc.where,
                f"metadata.annotations.{k}",
                f"prober reads {ANNOTATION_PREFIX} annotations on {allowed} only",
            )


def _indicator(slo: _Doc, ns: _Namespace, errors: _Errors) -> tuple[_Doc, str] | None:
    spec = slo.spec
    if isinstance(spec.indicator, InlineSLI):
        inline = _Doc("SLI", slo.where, spec.indicator.metadata, spec.indicator.spec, used=True)
        return inline, "spec.indicator.spec."
    sli = ns.get("SLI", spec.indicatorRef)
    if sli is None:
        errors.at(slo.where, "spec.indicatorRef", f"unknown SLI {spec.indicatorRef!r}")
        return None
    return sli, "spec."


def _read_indicator(
    slo: _Doc, ns: _Namespace, errors: _Errors
) -> AvailabilityQueries | LatencyQueries | None:
    found = _indicator(slo, ns, errors)
    if found is None:
        return None
    sli, path = found
    _own_annotations(sli, errors, "Service and AlertCondition")
    spec: SLISpec = sli.spec
    ratio = spec.ratioMetric
    assert ratio is not None
    q = {
        part: m.metricSource.spec.query if m is not None else None
        for part, m in (("good", ratio.good), ("bad", ratio.bad), ("total", ratio.total))
    }
    assert q["total"] is not None
    queries, problem = read_ratio(q["good"], q["bad"], q["total"])
    if problem is not None:
        part, message = problem
        errors.at(sli.where, f"{path}ratioMetric.{part}.metricSource.spec.query", message)
    return queries


def _window(
    policy_ref: Any, service: str, period: float, where: str, *, ns: _Namespace, errors: _Errors
) -> dict[str, Any] | None:
    """One AlertPolicy (and its condition and target) as a burn window's settings."""
    if isinstance(policy_ref, PolicyRef):
        policy = ns.get("AlertPolicy", policy_ref.alertPolicyRef)
        if policy is None:
            errors.at(where, "alertPolicyRef", f"unknown AlertPolicy {policy_ref.alertPolicyRef!r}")
            return None
    else:
        policy = _Doc("AlertPolicy", where, policy_ref.metadata, policy_ref.spec, used=True)
    _own_annotations(policy, errors, "Service and AlertCondition")
    pspec: AlertPolicySpec = policy.spec
    cref = pspec.conditions[0]
    if isinstance(cref, ConditionRef):
        condition = ns.get("AlertCondition", cref.conditionRef)
        if condition is None:
            errors.at(
                policy.where,
                "spec.conditions[0].conditionRef",
                f"unknown AlertCondition {cref.conditionRef!r}",
            )
            return None
    else:
        assert isinstance(cref, InlineAlertCondition)
        at = f"{policy.where}: spec.conditions[0]"
        condition = _Doc("AlertCondition", at, cref.metadata, cref.spec, used=True)
    action = ""
    if pspec.notificationTargets:
        tref = pspec.notificationTargets[0]
        if isinstance(tref, TargetRef):
            target = ns.get("AlertNotificationTarget", tref.targetRef)
            if target is None:
                errors.at(
                    policy.where,
                    "spec.notificationTargets[0].targetRef",
                    f"unknown AlertNotificationTarget {tref.targetRef!r}",
                )
                return None
            _own_annotations(target, errors, "Service and AlertCondition")
            action = target.spec.target
        else:
            inline = _Doc("AlertNotificationTarget", policy.where, tref.metadata, tref.spec)
            _own_annotations(inline, errors, "Service and AlertCondition")
            action = tref.spec.target
    cspec: AlertConditionSpec = condition.spec
    ann = condition.meta.annotations
    long_window = cspec.condition.lookbackWindow
    try:
        short = parse_duration(ann[SHORT_WINDOW]) if SHORT_WINDOW in ann else None
    except ValueError as exc:
        errors.at(condition.where, f"metadata.annotations.{SHORT_WINDOW}", str(exc))
        return None
    name = ann.get(BURN_WINDOW) or condition.meta.name.removeprefix(f"{service}-")
    budget = float(f"{cspec.condition.threshold * long_window / period * 100:.12g}")
    if budget > 100:
        errors.at(
            condition.where,
            "spec.condition.threshold",
            f"burn rate {cspec.condition.threshold:g} over {_shown(long_window)} spends "
            f"{budget:g}% of the {_shown(period)} error budget; at most 100%",
        )
        return None
    extra, problems = unflatten(ann, BurnWindow, WINDOW_MAPPED, {SHORT_WINDOW, BURN_WINDOW})
    for k, message in problems:
        errors.at(condition.where, f"metadata.annotations.{k}", message)
    return {
        **extra,
        "name": name,
        "budget_percent": budget,
        "long_window": format_duration(long_window),
        "short_window": format_duration(short or long_window / SHORT_WINDOW_DIVISOR),
        "severity": cspec.severity,
        "action": action,
        "_where": condition.where,
    }


def _read_slo(slo: _Doc, ns: _Namespace, errors: _Errors) -> _Objective | None:
    _own_annotations(slo, errors, "Service and AlertCondition")
    queries = _read_indicator(slo, ns, errors)
    spec = slo.spec
    period = spec.timeWindow[0].duration if spec.timeWindow else DEFAULT_PERIOD
    windows = []
    for i, policy in enumerate(spec.alertPolicies):
        at = f"{slo.where}: spec.alertPolicies[{i}]"
        w = _window(policy, spec.service, period, at, ns=ns, errors=errors)
        if w is not None:
            windows.append(w)
    if queries is None or len(windows) != len(spec.alertPolicies):
        return None
    return _Objective(slo, queries, spec.objectives[0].percent, period, windows)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k != "_where"} == {
        k: v for k, v in b.items() if k != "_where"
    }


def _service_slo(
    service: str, objectives: list[_Objective], doc: _Doc | None, errors: _Errors
) -> SLOConfig | None:
    """The native SLO of one Service: its availability and latency objectives combined."""
    avail = [o for o in objectives if isinstance(o.queries, AvailabilityQueries)]
    latency = [o for o in objectives if isinstance(o.queries, LatencyQueries)]
    first = objectives[0].doc.where
    if not avail:
        errors.at(
            first,
            "spec.service",
            f"Service {service!r} has no availability SLO "
            "(runs by outcome); every prober SLO has one",
        )
        return None
    for kind, found in (("availability", avail), ("latency", latency)):
        for extra in found[1:]:
            first_in = found[0].doc.where
            errors.at(
                extra.doc.where,
                "spec.service",
                f"a second {kind} SLO for Service {service!r}, first in {first_in}",
            )
    a = avail[0]
    ok = len(avail) == 1 and len(latency) <= 1
    for other in latency[:1]:
        if other.queries.slo != a.queries.slo:
            errors.at(
                other.doc.where,
                "spec.indicator",
                f"selects slo={other.queries.slo!r}, the availability SLO of Service "
                f"{service!r} selects slo={a.queries.slo!r}",
            )
            ok = False
        if other.period != a.period:
            errors.at(
                other.doc.where,
                "spec.timeWindow",
                f"{_shown(other.period)}, the availability SLO of Service "
                f"{service!r} has {_shown(a.period)}: one period per "
                "service",
            )
            ok = False
        elif len(other.windows) != len(a.windows) or not all(
            _same(x, y) for x, y in zip(other.windows, a.windows, strict=False)
        ):
            errors.at(
                other.doc.where,
                "spec.alertPolicies",
                f"differ from the availability SLO's of Service {service!r}: prober's "
                "burn-rate policies apply to both SLIs of a service",
            )
            ok = False
    if not ok:
        return None
    settings: dict[str, Any] = {}
    if doc is not None:
        settings, problems = unflatten(doc.meta.annotations, SLOConfig, SLO_MAPPED, set())
        for k, message in problems:
            errors.at(doc.where, f"metadata.annotations.{k}", message)
        if problems:
            return None
    assert isinstance(a.queries, AvailabilityQueries)
    availability: dict[str, Any] = {"objective": a.percent}
    if a.queries.bad_outcomes is not None:
        availability["bad_outcomes"] = list(a.queries.bad_outcomes)
    raw: dict[str, Any] = {
        **settings,
        "name": a.queries.slo,
        "description": doc.spec.description if doc is not None else "",
        "period": format_duration(a.period),
        "availability": {**settings.get("availability", {}), **availability},
        "latency": None,
        "alerting": {
            **settings.get("alerting", {}),
            "burn_windows": [{k: v for k, v in w.items() if k != "_where"} for w in a.windows],
        },
    }
    if latency:
        q = latency[0].queries
        assert isinstance(q, LatencyQueries)
        raw["latency"] = {
            **settings.get("latency", {}),
            "objective": latency[0].percent,
            "threshold": format_duration(q.threshold),
        }
    try:
        return SLOConfig.model_validate(raw)
    except ValidationError as exc:
        _native_errors(exc, a, latency[0] if latency else None, doc, errors)
        return None


def _native_errors(
    exc: ValidationError, a: _Objective, lat: _Objective | None, doc: _Doc | None, errors: _Errors
) -> None:
    """prober's own rules (objective range, severity pattern...) at the document that broke them."""
    for e in exc.errors():
        loc = e["loc"]
        message = _MESSAGES.get(e["type"]) or str(e["msg"]).removeprefix("Value error, ")
        head = loc[0] if loc else ""
        if head == "name":
            errors.at(a.doc.where, "spec.indicator", f"slo label: {message}")
        elif head == "availability" and loc[1:2] == ("objective",):
            errors.at(a.doc.where, "spec.objectives[0]", message)
        elif head == "latency" and lat is not None and loc[1:2] == ("objective",):
            errors.at(lat.doc.where, "spec.objectives[0]", message)
        elif loc[:2] == ("alerting", "burn_windows") and len(loc) > 2:
            where = a.windows[int(loc[2])]["_where"]
            leaf = str(loc[3]) if len(loc) > 3 else "short_window"  # the only cross-field rule
            errors.at(where, _WINDOW_FIELDS.get(leaf, f"metadata.annotations.{key(leaf)}"), message)
        elif doc is not None:
            path = ".".join(str(x) for x in loc)
            field = field_at(SLOConfig, path.split("."))
            if field is not None and _is_model(field.annotation):  # a check across settings
                errors.at(doc.where, "metadata.annotations", f"{path}: {message}")
            else:
                errors.at(doc.where, f"metadata.annotations.{key(path)}", message)
        else:
            errors.at(a.doc.where, ".".join(str(x) for x in loc), message)


def read_openslo(paths: Sequence[Path], shown: Sequence[str]) -> tuple[SLOConfig, ...]:
    """The native SLOs the files describe, in order of their first SLO; or ConfigError."""
    errors = _Errors()
    ns = _Namespace()
    slo_docs: list[_Doc] = []
    for path, name in zip(paths, shown, strict=True):
        for doc in read_documents(path, name, errors):
            ns.add(doc.kind, doc, errors)
            if doc.kind == "SLO":
                slo_docs.append(doc)
    if errors:
        raise ConfigError(errors)
    by_service: dict[str, list[_Objective]] = {}
    broken: set[str] = set()  # services with an unreadable SLO: no follow-on errors for them
    for slo in slo_docs:
        objective = _read_slo(slo, ns, errors)
        by_service.setdefault(slo.spec.service, [])
        if objective is None:
            broken.add(slo.spec.service)
        else:
            by_service[slo.spec.service].append(objective)
    out: list[SLOConfig] = []
    for service, objectives in by_service.items():
        if service in broken:
            continue
        native = _service_slo(service, objectives, ns.get("Service", service), errors)
        if native is not None:
            out.append(native)
    for kind, docs in ns.by_kind.items():
        for doc in docs.values():
            if not doc.used and kind != "SLO" and not errors:  # else likely a consequence
                errors.at(doc.where, "", f"no SLO refers to this {kind}; prober would ignore it")
    if errors:
        raise ConfigError(errors)
    return tuple(out)


def expand_slos(tree: dict[str, Any], name: str, base_dir: Path) -> None:
    """Replace each `{openslo: path | [paths]}` item of `slos:` by the SLOs its files describe."""
    slos = tree.get("slos")
    if not isinstance(slos, list) or not any(
        isinstance(item, dict) and OPENSLO_KEY in item for item in slos
    ):
        return
    expanded: list[Any] = []
    errors: list[str] = []
    for i, item in enumerate(slos):
        if not (isinstance(item, dict) and OPENSLO_KEY in item):
            expanded.append(item)
            continue
        where = f"{name}: slos[{i}]"
        files = item[OPENSLO_KEY]
        files = [files] if isinstance(files, str) else files
        if len(item) != 1 or not (
            isinstance(files, list) and files and all(isinstance(f, str) and f for f in files)
        ):
            errors.append(
                f"{where}.{OPENSLO_KEY}: expected a file path or a list of them "
                "(relative to this config), and no other key"
            )
            continue
        try:
            expanded.extend(
                read_openslo([base_dir / f for f in files], [str(base_dir / f) for f in files])
            )
        except ConfigError as exc:
            errors.extend(exc.lines)
    if errors:
        raise ConfigError(errors)
    tree["slos"] = expanded
