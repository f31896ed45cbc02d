"""The SLOs of a config as OpenSLO v1 documents (`prober openslo export`).

The inverse of config/openslo.py: each SLO becomes a Service (prober-only settings as
`prober.dev/` annotations), an availability SLI and SLO, a latency SLI and SLO, and per
burn window an AlertPolicy and AlertCondition; each action an AlertNotificationTarget.
Every document is validated with the same models the import reads, so an export always
imports back to the same SLOConfig.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..config import Config, ConfigError, SLOConfig
from ..config.openslo_annotations import (
    BURN_WINDOW,
    SHORT_WINDOW,
    SLO_MAPPED,
    WINDOW_MAPPED,
    flatten,
)
from ..config.openslo_queries import (
    availability_bad,
    availability_total,
    latency_good,
    latency_total,
)
from ..config.openslo_spec import API_VERSION, DOCUMENT_MODELS, RFC1123_RE
from ..config.units import format_duration
from .windows import burns, duration, number

_DAY, _HOUR, _MINUTE = 86400, 3600, 60


def rfc1123(text: str) -> str:
    """`User_Metadata` -> `user-metadata`: a name OpenSLO implementations must accept."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def shorthand(seconds: float) -> str | None:
    """30 days -> `30d`, 1 hour -> `1h`, 24 hours -> `24h`; None unless whole minutes."""
    if seconds >= 2 * _DAY and seconds % _DAY == 0:
        return f"{round(seconds // _DAY)}d"
    for size, unit in ((_HOUR, "h"), (_MINUTE, "m")):
        if seconds % size == 0:
            return f"{round(seconds // size)}{unit}"
    return None


def _doc(kind: str, name: str, spec: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


def _prom(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "prometheus", "spec": {"query": query}}}


class _Export:
    def __init__(self, config: Config) -> None:
        self.source = config.source
        self.docs: list[dict[str, Any]] = []
        self.targets: dict[str, dict[str, Any]] = {}  # name -> document
        self.errors: list[str] = []
        self.seen: set[tuple[str, str]] = set()

    def _minutes(self, where: str, seconds: float) -> str:
        text = shorthand(seconds)
        if text is None:
            self.errors.append(
                f"{self.source}: {where}: OpenSLO durations are whole minutes, hours or days; "
                f"{format_duration(seconds)} is not"
            )
            return "0m"
        return text

    def slo(self, i: int, slo: SLOConfig) -> None:
        at = f"slos[{i}] ({slo.name})"
        start = len(self.docs)
        service = rfc1123(slo.name)
        period = self._minutes(f"{at}.period", slo.period)
        service_spec = {"description": slo.description} if slo.description else {}
        self.docs.append(_doc("Service", service, service_spec, flatten(slo, SLO_MAPPED)))
        alerting: list[dict[str, Any]] = []
        policies = [
            self._window(f"{at}.alerting.burn_windows[{j}]", service, slo, j, alerting)
            for j in range(len(slo.alerting.burn_windows))
        ]
        slis: list[tuple[str, str, dict[str, Any], float]] = [
            (
                "availability",
                f"Probe runs of SLO {slo.name} that ended in a bad outcome, over all its runs.",
                {
                    "counter": True,
                    "bad": _prom(availability_bad(slo.name, slo.availability.bad_outcomes)),
                    "total": _prom(availability_total(slo.name)),
                },
                slo.availability.objective,
            )
        ]
        if slo.latency is not None:
            slis.append(
                (
                    "latency",
                    f"Successful probe runs of SLO {slo.name} faster than "
                    f"{duration(slo.latency.threshold)}, over all its successful runs.",
                    {
                        "counter": True,
                        "good": _prom(latency_good(slo.name, slo.latency.threshold)),
                        "total": _prom(latency_total(slo.name)),
                    },
                    slo.latency.objective,
                )
            )
        for sli, description, ratio, objective in slis:
            name = f"{service}-{sli}"
            self.docs.append(
                _doc("SLI", name, {"description": description, "ratioMetric": ratio}, {})
            )
            spec: dict[str, Any] = {
                "description": f"{sli.capitalize()} of {slo.name}, measured by prober.",
                "service": service,
                "indicatorRef": name,
                "timeWindow": [{"duration": period, "isRolling": True}],
                "budgetingMethod": "Occurrences",
                "objectives": [{"displayName": sli, "targetPercent": objective}],
            }
            if policies:
                spec["alertPolicies"] = [{"alertPolicyRef": p} for p in policies]
            self.docs.append(_doc("SLO", name, spec, {}))
        self.docs += alerting
        self._check_names(at, service, start)

    def _window(
        self, at: str, service: str, slo: SLOConfig, j: int, out: list[dict[str, Any]]
    ) -> str:
        """Add burn window `j`'s AlertCondition and AlertPolicy to `out`; the policy's name."""
        burn = burns(slo)[j]
        w = burn.window
        name = f"{service}-{rfc1123(w.name)}"
        annotations = {SHORT_WINDOW: format_duration(w.short_window)}
        if name.removeprefix(f"{service}-") != w.name:
            annotations[BURN_WINDOW] = w.name
        annotations |= flatten(w, WINDOW_MAPPED)
        lookback = self._minutes(f"{at}.long_window", w.long_window)
        description = (
            f"{number(w.budget_percent)}% of the {duration(slo.period)} error budget "
            f"spent in {duration(w.long_window)} (confirmed over {duration(w.short_window)})"
        )
        condition = {
            "description": description,
            "severity": w.severity,
            "condition": {
                "kind": "burnrate",
                "op": "gt",
                "threshold": float(f"{burn.rate:.15g}"),
                "lookbackWindow": lookback,
                "alertAfter": "0m",
            },
        }
        out.append(_doc("AlertCondition", name, condition, annotations))
        targets = []
        if w.action:
            target = rfc1123(w.action)
            if not RFC1123_RE.match(target):
                self.errors.append(
                    f"{self.source}: {at}.action: {w.action!r} gives no RFC 1123 name for its "
                    "AlertNotificationTarget: use letters and digits"
                )
            targets.append({"targetRef": target})
            doc = _doc(
                "AlertNotificationTarget",
                target,
                {"description": f"Alerts labelled action={w.action}", "target": w.action},
                {},
            )
            if self.targets.setdefault(target, doc) != doc:
                self.errors.append(
                    f"{self.source}: {at}.action: {w.action!r} and another action both "
                    f"become the OpenSLO name {target!r}"
                )
        policy = {
            "description": f"{w.name} burn of {slo.name}: {description}",
            "alertWhenNoData": False,
            "alertWhenResolved": False,
            "alertWhenBreaching": True,
            "conditions": [{"conditionRef": name}],
            "notificationTargets": targets,
        }
        out.append(_doc("AlertPolicy", name, policy, {}))
        return name

    def _check_names(self, at: str, service: str, start: int) -> None:
        for doc in self.docs[start:]:
            key = (doc["kind"], doc["metadata"]["name"])
            if not RFC1123_RE.match(key[1]):
                self.errors.append(
                    f"{self.source}: {at}.name: OpenSLO name {key[1]!r} is not RFC 1123 "
                    "(up to 63 lowercase letters, digits and '-'): shorten the name"
                )
            elif key in self.seen:
                self.errors.append(
                    f"{self.source}: {at}.name: two SLOs become the OpenSLO {key[0]} "
                    f"{key[1]!r} (from {service!r})"
                )
            self.seen.add(key)


def export_documents(config: Config) -> list[dict[str, Any]]:
    """The OpenSLO documents of every SLO of the config, or ConfigError."""
    if not config.slos:
        raise ConfigError([f"{config.source}: slos: no SLOs defined, so nothing to export"])
    export = _Export(config)
    for i, slo in enumerate(config.slos):
        export.slo(i, slo)
    docs = export.docs + list(export.targets.values())
    for doc in docs:  # what prober writes, prober must read back (descriptions have a limit)
        try:
            DOCUMENT_MODELS[doc["kind"]].model_validate(doc)
        except ValidationError as exc:
            export.errors += [
                f"{config.source}: slos: cannot write the OpenSLO {doc['kind']} "
                f"{doc['metadata']['name']!r}: {'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            ]
    if export.errors:
        raise ConfigError(list(dict.fromkeys(export.errors)))
    return docs


def render_openslo(config: Config) -> str:
    """Multi-document YAML of export_documents, with a header naming the source."""
    head = (
        f"# OpenSLO v1, exported by prober from {Path(config.source).name}.\n"
        "# `slos: [{openslo: <this file>}]` in probes.yaml reads it back; see docs/openslo.md.\n"
    )
    body = yaml.safe_dump_all(
        export_documents(config), sort_keys=False, explicit_start=True, width=100
    )
    return head + body
