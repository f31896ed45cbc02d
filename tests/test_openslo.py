"""OpenSLO v1 in and out: the export against the spec, the example against the native config,
round trips that lose nothing, and one clear line for every document prober cannot use."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families as parse_text
from pydantic import BaseModel

from prober import conventions as c
from prober.cli.main import main
from prober.config import Config, ConfigError, SLOConfig, load_config
from prober.config.openslo import read_openslo
from prober.dashboards import render_dashboards
from prober.model import ProbeResult
from prober.slo.generate import render_files
from prober.slo.openslo_export import export_documents, render_openslo
from prober.telemetry.exposition import render
from prober.telemetry.metrics import ProbeMetrics

from .conftest import REPO

EXAMPLE = REPO / "examples" / "openslo" / "user-metadata.yaml"
SCHEMA = json.loads(
    (REPO / "tests" / "testdata" / "openslo" / "openslo-v1.schema.json").read_text("utf-8")
)
RFC1123 = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
PROBE = {"name": "get", "url": "http://127.0.0.1:8089/"}


def exit_code(argv: list[str]) -> int | str | None:
    """`prober ARGV`'s exit status, whether the command returns it or exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def bundled() -> Config:
    return load_config(REPO / "probes.yaml", env={})


def with_openslo(tmp_path: Path, openslo: Any, text: str | None = None) -> Path:
    """The bundled probes.yaml in tmp_path, its `slos:` replaced by `[{openslo: ...}]`."""
    raw = (REPO / "probes.yaml").read_text("utf-8")
    head, rest = raw.split("\nslos:\n", 1)
    probes = rest[rest.index("\nprobes:\n") :]
    slos = yaml.safe_dump([{"openslo": openslo}], default_flow_style=True).strip()
    path = tmp_path / "probes.yaml"
    path.write_text(f"{head}\nslos: {slos}\n{probes}", encoding="utf-8")
    if text is not None:
        (tmp_path / "slo.yaml").write_text(text, encoding="utf-8")
    return path


def validate_against_spec(docs: list[dict[str, Any]]) -> None:
    """Every document against the spec's schema; every reference names a document."""
    names: dict[str, set[str]] = {}
    for doc in docs:
        jsonschema.validate(doc, SCHEMA)
        assert RFC1123.match(doc["metadata"]["name"]), doc["metadata"]["name"]
        names.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
    for doc in docs:
        spec = doc["spec"]
        if doc["kind"] == "SLO":
            assert spec["service"] in names["Service"]
            assert spec["indicatorRef"] in names["SLI"]
            for ref in spec.get("alertPolicies", []):
                assert ref["alertPolicyRef"] in names["AlertPolicy"]
        if doc["kind"] == "AlertPolicy":
            assert spec["conditions"][0]["conditionRef"] in names["AlertCondition"]
            for ref in spec["notificationTargets"]:
                assert ref["targetRef"] in names["AlertNotificationTarget"]


# --- export ---------------------------------------------------------------------------------
def test_the_export_of_the_bundled_config_follows_the_openslo_v1_field_rules() -> None:
    docs = export_documents(bundled())
    validate_against_spec(docs)
    kinds = [d["kind"] for d in docs]
    for kind in ("Service", "SLI", "SLO", "AlertPolicy", "AlertCondition"):
        assert kind in kinds
    assert kinds.count("AlertNotificationTarget") == 2  # page, ticket


def test_the_schema_refuses_what_the_spec_forbids() -> None:
    """The oracle itself can fail: a bad name, a missing budgetingMethod, an unknown field."""
    slo = next(d for d in export_documents(bundled()) if d["kind"] == "SLO")
    mutations: list[Callable[[dict[str, Any]], object]] = [
        lambda d: d["metadata"].update(name="User_Metadata"),
        lambda d: d["spec"].pop("budgetingMethod"),
        lambda d: d["spec"].update(budget="Occurrences"),
        lambda d: d["spec"]["objectives"][0].update(target=0.5),
        lambda d: d["spec"]["timeWindow"][0].update(duration="30 days"),
    ]
    for mutate in mutations:
        doc = copy.deepcopy(slo)
        mutate(doc)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, SCHEMA)


def test_the_export_describes_the_slis_over_probers_own_metrics() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in export_documents(bundled())}
    avail = docs["SLI", "user-metadata-availability"]["spec"]["ratioMetric"]
    assert avail["counter"] is True
    bad = avail["bad"]["metricSource"]
    assert bad["type"] == "prometheus"
    assert bad["spec"]["query"].startswith('prober_probe_runs_total{slo="user-metadata",outcome=~"')
    assert "success" not in bad["spec"]["query"]
    latency = docs["SLI", "user-metadata-latency"]["spec"]["ratioMetric"]
    assert latency["good"]["metricSource"]["spec"]["query"] == (
        'prober_probe_duration_seconds_bucket{slo="user-metadata",outcome="success",le="0.2"}'
    )
    slo = docs["SLO", "user-metadata-availability"]["spec"]
    assert slo["timeWindow"] == [{"duration": "30d", "isRolling": True}]
    assert slo["budgetingMethod"] == "Occurrences"
    fast = docs["AlertCondition", "user-metadata-fast"]
    assert fast["spec"]["condition"] == {
        "kind": "burnrate",
        "op": "gt",
        "threshold": 14.4,
        "lookbackWindow": "1h",
        "alertAfter": "0m",
    }
    assert fast["metadata"]["annotations"]["prober.dev/short-window"] == "5m"


def test_the_example_follows_the_openslo_v1_field_rules() -> None:
    validate_against_spec([d for d in yaml.safe_load_all(EXAMPLE.read_text("utf-8")) if d])


# --- import ---------------------------------------------------------------------------------
def test_the_example_generates_rules_byte_identical_to_the_bundled_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "native").mkdir()
    (tmp_path / "openslo").mkdir()
    native = tmp_path / "native" / "probes.yaml"
    native.write_bytes((REPO / "probes.yaml").read_bytes())
    imported = with_openslo(tmp_path / "openslo", str(EXAMPLE))
    for config in (native, imported):
        assert main(["rules", "-c", str(config), "-o", str(config.parent / "rules")]) == 0
    capsys.readouterr()
    for name in ("prober-rules.yml", "prober-prometheusrule.yaml"):
        want = (tmp_path / "native" / "rules" / name).read_bytes()
        assert (tmp_path / "openslo" / "rules" / name).read_bytes() == want
    # And against the committed rules, which the other tests check with promtool.
    assert (tmp_path / "openslo" / "rules" / "prober-rules.yml").read_bytes() == (
        REPO / "rules" / "prober-rules.yml"
    ).read_bytes()


def test_the_example_gives_the_native_slo_and_the_same_dashboards(tmp_path: Path) -> None:
    imported = load_config(with_openslo(tmp_path, str(EXAMPLE)), env={})
    assert imported.slos == bundled().slos
    assert render_dashboards(imported) == render_dashboards(bundled())


def test_check_accepts_a_config_that_names_openslo_files_as_a_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "slos").mkdir()
    (tmp_path / "slos" / "ums.yaml").write_bytes(EXAMPLE.read_bytes())
    config = with_openslo(tmp_path, ["slos/ums.yaml"])
    assert main(["check", "-c", str(config)]) == 0
    assert "1 SLO" in capsys.readouterr().out


def test_native_and_openslo_slos_mix_in_one_config(tmp_path: Path) -> None:
    (tmp_path / "slo.yaml").write_bytes(EXAMPLE.read_bytes())
    (tmp_path / "probes.yaml").write_text(
        yaml.safe_dump(
            {
                "slos": [{"name": "healthz", "latency": None}, {"openslo": "slo.yaml"}],
                "probes": [PROBE | {"slo": "user-metadata"}],
            }
        ),
        encoding="utf-8",
    )
    config = load_config(tmp_path / "probes.yaml", env={})
    assert [s.name for s in config.slos] == ["healthz", "user-metadata"]


# --- round trips ----------------------------------------------------------------------------
NON_DEFAULT_SLOS: list[dict[str, Any]] = [
    {
        "name": "User_Metadata.v2",
        "description": "Writes and reads, from every region: the second generation",
        "period": "28d",
        "availability": {"objective": 99.5, "bad_outcomes": ["http_status", "timeout"]},
        "latency": {"objective": 99, "threshold": "350ms"},
        "alerting": {
            "burn_windows": [
                {
                    "name": "Fast_Page",
                    "budget_percent": 1.5,
                    "long_window": "2h",
                    "short_window": "7m",
                    "severity": "critical",
                    "action": "page",
                },
                {
                    "name": "drift",
                    "budget_percent": 10,
                    "long_window": "3d",
                    "short_window": "6h",
                    "severity": "info",
                },
            ],
            "p99_threshold": "750ms",
            "p99_for": "10m",
            "p99_window": "2m",
            "budget_policy_spent_percent": 70,
            "traffic": {
                "expr": 'sum(rate(http_requests_total{job="ums"}[5m]))',
                "window": "2h",
                "drop_ratio": 0.3,
                "spike_ratio": 4,
                "min_rate": 2.5,
            },
            "absent_for": "10m",
            "runbook_url": "https://runbooks.example.com/ums-v2",
            "dashboard_url": "https://grafana.example.com/d/ums-v2",
        },
    },
    {"name": "healthz", "availability": {"objective": 99}, "latency": None},
    {"name": "quiet", "alerting": {"burn_windows": []}},
]


def roundtrip(config: Config, tmp_path: Path) -> tuple[SLOConfig, ...]:
    path = tmp_path / "exported.yaml"
    path.write_text(render_openslo(config), encoding="utf-8")
    return read_openslo([path], [str(path)])


def native(slos: list[dict[str, Any]]) -> Config:
    probes = [PROBE | {"name": f"p{i}", "slo": s["name"]} for i, s in enumerate(slos)]
    return load_config_from({"slos": slos, "probes": probes})


def load_config_from(raw: dict[str, Any]) -> Config:
    from prober.config import parse_config  # noqa: PLC0415

    return parse_config(raw, "test.yaml", {}, Path("."))


def leaves(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, value, default) of every setting of a model, nested models walked."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value, field.get_default(call_default_factory=True)


def test_the_round_trip_config_sets_every_slo_setting_to_a_non_default_value() -> None:
    """So the round trip below covers every field prober has, including ones added later."""
    slo = native(NON_DEFAULT_SLOS).slos[0]
    defaults = [path for path, value, default in leaves(slo) if value == default]
    assert defaults == [], f"give these a non-default value in NON_DEFAULT_SLOS: {defaults}"
    for w in slo.alerting.burn_windows:
        assert [p for p, v, d in leaves(w) if v == d and p != "action"] == []


def test_native_to_openslo_to_native_loses_nothing(tmp_path: Path) -> None:
    config = native(NON_DEFAULT_SLOS)
    assert roundtrip(config, tmp_path) == config.slos


def test_the_round_trip_of_the_bundled_config_loses_nothing(tmp_path: Path) -> None:
    assert roundtrip(bundled(), tmp_path) == bundled().slos


def test_the_export_of_non_default_settings_follows_the_openslo_v1_field_rules() -> None:
    docs = export_documents(native(NON_DEFAULT_SLOS))
    validate_against_spec(docs)
    service = next(d for d in docs if d["kind"] == "Service")
    assert service["metadata"]["name"] == "user-metadata-v2"
    assert service["metadata"]["annotations"]["prober.dev/alerting.traffic.drop-ratio"] == "0.3"
    fast = next(d for d in docs if d["kind"] == "AlertCondition")
    assert fast["metadata"]["annotations"]["prober.dev/burn-window"] == "Fast_Page"


def test_export_refuses_a_window_openslo_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    windows = [
        {
            "name": "odd",
            "budget_percent": 2,
            "long_window": "90s",
            "short_window": "10s",
            "severity": "critical",
        }
    ]
    (tmp_path / "probes.yaml").write_text(
        yaml.safe_dump(
            {
                "slos": [{"name": "odd", "alerting": {"burn_windows": windows}}],
                "probes": [PROBE | {"slo": "odd"}],
            }
        ),
        encoding="utf-8",
    )
    assert main(["openslo", "export", "-c", str(tmp_path / "probes.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {tmp_path / 'probes.yaml'}: slos[0] (odd).alerting.burn_windows[0].long_window: "
        "OpenSLO durations are whole minutes, hours or days; 1m30s is not"
    ]


def test_export_writes_stdout_or_the_output_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(REPO / "probes.yaml")
    assert main(["openslo", "export", "-c", config]) == 0
    stdout = capsys.readouterr().out
    assert main(["openslo", "export", "-c", config, "-o", str(tmp_path / "out.yaml")]) == 0
    assert (tmp_path / "out.yaml").read_text("utf-8") == stdout
    assert len([d for d in yaml.safe_load_all(stdout) if d]) == 11


# --- errors ---------------------------------------------------------------------------------
def example_docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(EXAMPLE.read_text("utf-8")) if d]


def doc(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    return next(
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    )


def _set(kind: str, path: str, value: Any, name: str | None = None) -> Callable[[list[Any]], None]:
    """A mutation: set `path` (dotted, [i] for list items) of the first `kind` document."""

    def mutate(docs: list[Any]) -> None:
        node: Any = doc(docs, kind, name)
        *parents, last = re.findall(r"[^.\[\]]+", path)
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


_DELETE = object()
AVAIL = "document 4 (SLO user-metadata-availability)"
AVAIL_SLI = "document 2 (SLI user-metadata-availability)"
FAST = "document 6 (AlertCondition user-metadata-fast)"
FAST_POLICY = "document 8 (AlertPolicy user-metadata-fast)"


def _drop_availability(docs: list[Any]) -> None:
    docs[:] = [d for d in docs if d["metadata"]["name"] != "user-metadata-availability"]


def _add(d: dict[str, Any]) -> Callable[[list[Any]], None]:
    return lambda docs: docs.append(d)


CASES: list[tuple[str, Callable[[list[Any]], None], str]] = [
    (
        "timeslices",
        _set("SLO", "spec.budgetingMethod", "Timeslices"),
        f"{AVAIL}: spec.budgetingMethod: not supported: Timeslices budgeting",
    ),
    (
        "ratio timeslices",
        _set("SLO", "spec.budgetingMethod", "RatioTimeslices"),
        f"{AVAIL}: spec.budgetingMethod: not supported: RatioTimeslices budgeting",
    ),
    (
        "calendar window",
        _set(
            "SLO",
            "spec.timeWindow",
            [
                {
                    "duration": "30d",
                    "isRolling": False,
                    "calendar": {"startTime": "2024-01-01 00:00:00", "timeZone": "UTC"},
                }
            ],
        ),
        f"{AVAIL}: spec.timeWindow[0].calendar: not supported: calendar-aligned time windows",
    ),
    (
        "a month",
        _set("SLO", "spec.timeWindow[0].duration", "1M"),
        f"{AVAIL}: spec.timeWindow[0].duration: duration '1M': months, quarters and years",
    ),
    (
        "not rolling",
        _set("SLO", "spec.timeWindow", [{"duration": "30d", "isRolling": False}]),
        f"{AVAIL}: spec.timeWindow[0]: not supported: calendar-aligned time windows",
    ),
    (
        "calendar given",
        _set(
            "SLO",
            "spec.timeWindow",
            [
                {
                    "duration": "30d",
                    "isRolling": True,
                    "calendar": {"startTime": "2024-01-01 00:00:00", "timeZone": "UTC"},
                }
            ],
        ),
        f"{AVAIL}: spec.timeWindow[0].calendar: not supported: calendar-aligned time windows",
    ),
    (
        "threshold metric",
        _set(
            "SLI",
            "spec",
            {"thresholdMetric": {"metricSource": {"type": "prometheus", "spec": {"query": "up"}}}},
        ),
        f"{AVAIL_SLI}: spec.thresholdMetric: not supported: thresholdMetric SLIs",
    ),
    (
        "another metric source",
        _set("SLI", "spec.ratioMetric.total.metricSource.type", "Datadog"),
        f"{AVAIL_SLI}: spec.ratioMetric.total.metricSource.type: not supported: metric source "
        "type 'Datadog'",
    ),
    (
        "a data source reference",
        _set("SLI", "spec.ratioMetric.total.metricSource.metricSourceRef", "prom"),
        f"{AVAIL_SLI}: spec.ratioMetric.total.metricSource.metricSourceRef: not supported: "
        "DataSource references",
    ),
    (
        "not prober's metrics",
        _set(
            "SLI",
            "spec.ratioMetric.total.metricSource.spec.query",
            'sum(rate(http_requests_total{job="ums"}[5m]))',
        ),
        f"{AVAIL_SLI}: spec.ratioMetric.total.metricSource.spec.query: expected a selector over "
        "prober's metrics",
    ),
    (
        "an unknown outcome",
        _set(
            "SLI",
            "spec.ratioMetric",
            {
                "counter": True,
                "bad": {
                    "metricSource": {
                        "type": "prometheus",
                        "spec": {
                            "query": 'prober_probe_runs_total{slo="user-metadata",'
                            'outcome=~"timeout|5xx"}'
                        },
                    }
                },
                "total": {
                    "metricSource": {
                        "type": "prometheus",
                        "spec": {"query": 'prober_probe_runs_total{slo="user-metadata"}'},
                    }
                },
            },
        ),
        f"{AVAIL_SLI}: spec.ratioMetric.bad.metricSource.spec.query: unknown outcome '5xx'",
    ),
    (
        "a raw ratio",
        _set(
            "SLI",
            "spec.ratioMetric.raw",
            {"metricSource": {"type": "prometheus", "spec": {"query": "x"}}},
        ),
        f"{AVAIL_SLI}: spec.ratioMetric.raw: not supported: raw (precomputed) ratios",
    ),
    (
        "two objectives",
        _set("SLO", "spec.objectives", [{"targetPercent": 99.9}, {"targetPercent": 99}]),
        f"{AVAIL}: spec.objectives: not supported: 2 objectives",
    ),
    (
        "a composite objective",
        _set("SLO", "spec.objectives[0].indicatorRef", "user-metadata-latency"),
        f"{AVAIL}: spec.objectives[0].indicatorRef: not supported: composite SLOs",
    ),
    (
        "a threshold objective",
        _set("SLO", "spec.objectives[0].op", "lte"),
        f"{AVAIL}: spec.objectives[0].op: not supported: op and value",
    ),
    (
        "an objective of 100%",
        _set("SLO", "spec.objectives[0].targetPercent", 100),
        f"{AVAIL}: spec.objectives[0].targetPercent: Input should be less than 100",
    ),
    (
        "an unknown field",
        _set("SLO", "spec.budget", "x"),
        f"{AVAIL}: spec.budget: unknown field",
    ),
    (
        "a missing field",
        _set("SLO", "spec.budgetingMethod", _DELETE),
        f"{AVAIL}: spec.budgetingMethod: missing required field",
    ),
    (
        "a name that is not RFC 1123",
        _set("Service", "metadata.name", "User_Metadata"),
        "document 1 (Service User_Metadata): metadata.name: invalid name 'User_Metadata': RFC 1123",
    ),
    (
        "labels",
        _set("Service", "metadata.labels", {"team": "identity"}),
        "document 1 (Service user-metadata): metadata.labels: not supported: metadata.labels",
    ),
    (
        "a data source",
        _add(
            {
                "apiVersion": "openslo/v1",
                "kind": "DataSource",
                "metadata": {"name": "prom"},
                "spec": {"type": "Prometheus", "connectionDetails": {}},
            }
        ),
        "document 12 (DataSource prom): kind: not supported: DataSource",
    ),
    (
        "another API version",
        _set("Service", "apiVersion", "openslo/v2alpha"),
        "document 1 (Service user-metadata): apiVersion: expected 'openslo/v1', got "
        "'openslo/v2alpha'",
    ),
    (
        "a condition below the threshold",
        _set("AlertCondition", "spec.condition.op", "lte"),
        f"{FAST}: spec.condition.op: not supported: op 'lte'",
    ),
    (
        "alert after",
        _set("AlertCondition", "spec.condition.alertAfter", "5m"),
        f"{FAST}: spec.condition.alertAfter: not supported: alertAfter '5m'",
    ),
    (
        "no-data alerts",
        _set("AlertPolicy", "spec.alertWhenNoData", True),
        f"{FAST_POLICY}: spec.alertWhenNoData: not supported: alertWhenNoData: true",
    ),
    (
        "two conditions",
        _set(
            "AlertPolicy",
            "spec.conditions",
            [{"conditionRef": "user-metadata-fast"}, {"conditionRef": "user-metadata-slow"}],
        ),
        f"{FAST_POLICY}: spec.conditions: OpenSLO v1 has exactly one condition per policy, got 2",
    ),
    (
        "two targets",
        _set(
            "AlertPolicy",
            "spec.notificationTargets",
            [{"targetRef": "page"}, {"targetRef": "ticket"}],
        ),
        f"{FAST_POLICY}: spec.notificationTargets: not supported: 2 notification targets",
    ),
    (
        "more than the whole budget",
        _set("AlertCondition", "spec.condition.threshold", 800),
        f"{FAST}: spec.condition.threshold: burn rate 800 over 1h spends 111.111% of the 30d "
        "error budget; at most 100%",
    ),
    (
        "a short window longer than the long",
        _set("AlertCondition", "metadata.annotations", {"prober.dev/short-window": "2h"}),
        f"{FAST}: metadata.annotations.prober.dev/short-window: short_window must be shorter "
        "than long_window",
    ),
    (
        "a severity prober cannot route on",
        _set("AlertCondition", "spec.severity", "Sev-1"),
        f"{FAST}: spec.severity: String should match pattern",
    ),
    (
        "an unknown prober annotation",
        _set("Service", "metadata.annotations", {"prober.dev/alerting.p99-treshold": "1s"}),
        "document 1 (Service user-metadata): metadata.annotations.prober.dev/alerting.p99-treshold"
        ": unknown prober annotation",
    ),
    (
        "a bad value in a prober annotation",
        _set("Service", "metadata.annotations", {"prober.dev/alerting.p99-for": "5 minutes"}),
        "document 1 (Service user-metadata): metadata.annotations.prober.dev/alerting.p99-for: "
        "invalid duration '5 minutes'",
    ),
    (
        "settings that contradict each other",
        _set("Service", "metadata.annotations", {"prober.dev/alerting.p99-window": "10m"}),
        "document 1 (Service user-metadata): metadata.annotations: alerting: p99_window must be "
        "shorter than p99_for",
    ),
    (
        "an unknown SLI",
        _set("SLO", "spec.indicatorRef", "nope"),
        f"{AVAIL}: spec.indicatorRef: unknown SLI 'nope'",
    ),
    (
        "a document nothing refers to",
        _add(
            {
                "apiVersion": "openslo/v1",
                "kind": "AlertNotificationTarget",
                "metadata": {"name": "email"},
                "spec": {"target": "email"},
            }
        ),
        "document 12 (AlertNotificationTarget email): no SLO refers to this "
        "AlertNotificationTarget; prober would ignore it",
    ),
    (
        "a duplicate name",
        _add(
            {
                "apiVersion": "openslo/v1",
                "kind": "AlertNotificationTarget",
                "metadata": {"name": "page"},
                "spec": {"target": "pager"},
            }
        ),
        "document 12 (AlertNotificationTarget page): metadata.name: duplicate "
        "AlertNotificationTarget name, first in",
    ),
    (
        "periods that differ",
        _set("SLO", "spec.timeWindow[0].duration", "7d", "user-metadata-latency"),
        "document 5 (SLO user-metadata-latency): spec.timeWindow: 7d, the availability SLO of "
        "Service 'user-metadata' has 30d: one period per service",
    ),
    (
        "policies that differ",
        _set(
            "SLO",
            "spec.alertPolicies",
            [{"alertPolicyRef": "user-metadata-fast"}],
            "user-metadata-latency",
        ),
        "document 5 (SLO user-metadata-latency): spec.alertPolicies: differ from the "
        "availability SLO's",
    ),
    (
        "latency without availability",
        _drop_availability,
        "document 3 (SLO user-metadata-latency): spec.service: Service 'user-metadata' has no "
        "availability SLO",
    ),
    (
        "not a mapping",
        lambda docs: docs.insert(0, ["a", "list"]),
        "document 1: expected a mapping with apiVersion, kind, metadata and spec",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_document_prober_cannot_use_gives_one_line_naming_what_is_wrong(
    tmp_path: Path, mutate: Callable[[list[Any]], None], expected: str
) -> None:
    docs = example_docs()
    mutate(docs)
    config = with_openslo(tmp_path, "slo.yaml", yaml.safe_dump_all(docs, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_config(config, env={})
    assert len(info.value.lines) == 1, info.value.lines
    line = info.value.lines[0]
    assert line.startswith(f"{tmp_path / 'slo.yaml'}: {expected}"), line
    assert "\n" not in line


def test_a_bad_openslo_file_exits_2_with_its_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text("utf-8").replace(
        "budgetingMethod: Occurrences", "budgetingMethod: Timeslices"
    )
    config = str(with_openslo(tmp_path, "slo.yaml", text))
    assert exit_code(["check", "-c", config]) == 2
    assert exit_code(["rules", "-c", config, "-o", str(tmp_path / "rules")]) == 2
    assert exit_code(["dashboards", "-c", config, "-o", str(tmp_path / "dashboards")]) == 2
    assert exit_code(["openslo", "export", "-c", config]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 * 2  # two SLO documents, four commands
    assert all(line.startswith(f"error: {tmp_path / 'slo.yaml'}: document ") for line in err)
    assert all("spec.budgetingMethod: not supported: Timeslices budgeting" in line for line in err)
    assert not (tmp_path / "rules").exists()


@pytest.mark.parametrize(
    ("openslo", "files", "expected"),
    [
        ("missing.yaml", {}, "{tmp}/missing.yaml: file not found"),
        (
            "slo.yaml",
            {"slo.yaml": "kind: [unclosed"},
            "{tmp}/slo.yaml: line 2 column 1: invalid YAML",
        ),
        (  # the loader's bounds hold for OpenSLO files as for probes.yaml: no alias bomb
            "slo.yaml",
            {
                "slo.yaml": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                + "".join(
                    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
                    for i in range(8)
                )
            },
            "{tmp}/slo.yaml: line ",
        ),
        ("slo.yaml", {"slo.yaml": "kind: SLO\nkind: SLO\n"}, "{tmp}/slo.yaml: line 2"),
        ("slo.yaml", {"slo.yaml": "---\n"}, "{tmp}/slo.yaml: no OpenSLO documents"),
        ([], {}, "{tmp}/probes.yaml: slos[0].openslo: expected a file path or a list of them"),
        (3, {}, "{tmp}/probes.yaml: slos[0].openslo: expected a file path or a list of them"),
    ],
)
def test_a_bad_openslo_reference_gives_one_line(
    tmp_path: Path, openslo: Any, files: dict[str, str], expected: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(with_openslo(tmp_path, openslo), env={})
    assert len(info.value.lines) == 1, info.value.lines
    assert info.value.lines[0].startswith(expected.format(tmp=tmp_path)), info.value.lines[0]


def test_rules_are_the_same_whichever_form_the_slis_and_policies_take(tmp_path: Path) -> None:
    """Inline indicator, policy, condition and target read as their referenced forms."""
    docs = example_docs()
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    slo = by["SLO", "user-metadata-availability"]
    sli = by.pop(("SLI", "user-metadata-availability"))
    slo["spec"].pop("indicatorRef")
    slo["spec"]["indicator"] = {"metadata": sli["metadata"], "spec": sli["spec"]}
    inline = []
    for ref in slo["spec"]["alertPolicies"]:
        policy = copy.deepcopy(by["AlertPolicy", ref["alertPolicyRef"]])
        cond = by["AlertCondition", policy["spec"]["conditions"][0]["conditionRef"]]
        target = by[
            "AlertNotificationTarget", policy["spec"]["notificationTargets"][0]["targetRef"]
        ]
        policy["spec"]["conditions"] = [{k: v for k, v in cond.items() if k != "apiVersion"}]
        policy["spec"]["notificationTargets"] = [
            {k: v for k, v in target.items() if k != "apiVersion"}
        ]
        inline.append({k: v for k, v in policy.items() if k != "apiVersion"})
    slo["spec"]["alertPolicies"] = inline
    config = with_openslo(tmp_path, "slo.yaml", yaml.safe_dump_all(list(by.values())))
    assert render_files(load_config(config, env={})) == render_files(bundled())


def test_export_refuses_a_description_longer_than_openslo_allows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = native([{"name": "long", "description": "x" * 1051}])
    with pytest.raises(ConfigError) as info:
        export_documents(config)
    assert info.value.lines == [
        "test.yaml: slos: cannot write the OpenSLO Service 'long': spec.description: "
        "String should have at most 1050 characters"
    ]


_MINUTES = st.integers(min_value=1, max_value=60 * 24 * 30)
_PERCENT = st.decimals(min_value="50", max_value="99.999", places=3).map(float)


@st.composite
def slo_settings(draw: st.DrawFn) -> dict[str, Any]:
    """Any SLO prober accepts, within what OpenSLO durations can say (whole minutes)."""
    period = draw(st.integers(min_value=7, max_value=90))
    windows = []
    for i in range(draw(st.integers(min_value=0, max_value=3))):
        long_minutes = draw(st.integers(min_value=2, max_value=60 * 24 * 3))
        windows.append(
            {
                "name": f"w{i}" + draw(st.sampled_from(["", "_Page", ".x"])),
                "budget_percent": draw(st.decimals("0.01", "100", places=2).map(float)),
                "long_window": f"{long_minutes}m",
                "short_window": f"{draw(st.integers(1, long_minutes - 1))}m",
                "severity": draw(st.sampled_from(["critical", "warning", "info"])),
                "action": draw(st.sampled_from(["", "page", "ticket", "Scale Check"])),
            }
        )
    outcomes = [o for o in c.ALL_OUTCOMES if o != c.Outcome.SUCCESS]
    latency = draw(
        st.none()
        | st.fixed_dictionaries(
            {"objective": _PERCENT, "threshold": st.integers(1, 30_000).map(lambda ms: f"{ms}ms")}
        )
    )
    p99_for = draw(st.integers(2, 3600))
    return {
        "name": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
        "description": draw(st.text(max_size=40)),
        "period": f"{period}d",
        "availability": {
            "objective": draw(_PERCENT),
            "bad_outcomes": draw(st.lists(st.sampled_from(outcomes), min_size=1, unique=True)),
        },
        "latency": latency,
        "alerting": {
            "burn_windows": windows,
            "p99_threshold": f"{draw(st.integers(1, 10_000))}ms",
            "p99_for": f"{p99_for}s",
            "p99_window": f"{draw(st.integers(1, p99_for - 1))}s",
            "budget_policy_spent_percent": draw(st.decimals("1", "100", places=1).map(float)),
            "traffic": {
                "expr": draw(st.none() | st.sampled_from(["sum(rate(requests_total[5m]))"])),
                "window": f"{draw(_MINUTES)}m",
                "drop_ratio": draw(st.decimals("0.01", "0.99", places=2).map(float)),
                "spike_ratio": draw(st.decimals("1.01", "20", places=2).map(float)),
                "min_rate": draw(st.decimals("0", "1000", places=3).map(float)),
            },
            "runbook_url": draw(st.sampled_from(["", "https://runbooks.example.com/x"])),
        },
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slo=slo_settings())
def test_any_slo_survives_the_round_trip(slo: dict[str, Any]) -> None:
    config = native([slo])
    assert read_back(render_openslo(config)) == config.slos


def read_back(text: str) -> tuple[SLOConfig, ...]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exported.yaml"
        path.write_text(text, encoding="utf-8")
        return read_openslo([path], [str(path)])


def test_a_whole_second_threshold_selects_both_forms_of_its_bucket_bound(tmp_path: Path) -> None:
    config = native([{"name": "slow-ok", "latency": {"objective": 90, "threshold": "2s"}}])
    sli = next(d for d in export_documents(config) if d["metadata"]["name"] == "slow-ok-latency")
    query = sli["spec"]["ratioMetric"]["good"]["metricSource"]["spec"]["query"]
    assert query.endswith(',le=~"2|2[.]0"}')
    assert roundtrip(config, tmp_path) == config.slos


def test_an_objective_given_as_a_fraction_reads_as_its_percent(tmp_path: Path) -> None:
    docs = example_docs()
    doc(docs, "SLO", "user-metadata-availability")["spec"]["objectives"] = [{"target": 0.999}]
    config = with_openslo(tmp_path, "slo.yaml", yaml.safe_dump_all(docs))
    assert load_config(config, env={}).slos == bundled().slos


def test_a_bad_bucket_bound_is_named(tmp_path: Path) -> None:
    docs = example_docs()
    good = doc(docs, "SLI", "user-metadata-latency")["spec"]["ratioMetric"]["good"]
    good["metricSource"]["spec"]["query"] = good["metricSource"]["spec"]["query"].replace(
        'le="0.2"', 'le="+Inf"'
    )
    with pytest.raises(ConfigError) as info:
        load_config(with_openslo(tmp_path, "slo.yaml", yaml.safe_dump_all(docs)), env={})
    assert info.value.lines == [
        f"{tmp_path / 'slo.yaml'}: document 3 (SLI user-metadata-latency): "
        "spec.ratioMetric.good.metricSource.spec.query: le must be a positive number of "
        "seconds (\"0.2\"), got '+Inf'"
    ]


def test_without_a_service_document_the_slo_takes_the_defaults(tmp_path: Path) -> None:
    docs = [d for d in example_docs() if d["kind"] != "Service"]
    config = with_openslo(tmp_path, "slo.yaml", yaml.safe_dump_all(docs))
    (slo,) = load_config(config, env={}).slos
    want = bundled().slos[0]
    assert slo.description == ""
    assert slo.alerting.runbook_url == ""
    assert slo.model_copy(update={"description": want.description}) == want.model_copy(
        update={"alerting": slo.alerting}
    )
    assert slo.alerting.burn_windows == want.alerting.burn_windows


# --- the queries against real series, in the real PromQL engine ------------------------------
PROMTOOL = shutil.which("promtool")


def exposed_series(config: Config) -> list[dict[str, str]]:
    """promtool input series from prober's own /metrics after known runs of SLO `ums`.

    Runs: 6 fast and 2 slow successes, 3 timeouts, 1 http_status, 4 assertion failures; a
    probe of no SLO runs too and must be selected by no query.
    """
    m = ProbeMetrics("eu", {}, config.duration_buckets)
    m.sync([("get", "ums:80", "ums"), ("other", "x:80", "")])
    Run = tuple[c.Outcome, float, int | None]
    fast: Run = (c.Outcome.SUCCESS, 0.05, 200)
    slow: Run = (c.Outcome.SUCCESS, 2.5, 200)
    timeout: Run = (c.Outcome.TIMEOUT, 5.0, None)
    status: Run = (c.Outcome.HTTP_STATUS, 0.1, 500)
    assertion: Run = (c.Outcome.ASSERTION_FAILED, 0.1, 200)
    runs = [fast] * 6 + [slow] * 2 + [timeout] * 3 + [status] + [assertion] * 4
    for outcome, seconds, code in runs:
        m.record(
            ProbeResult(probe="get", target="ums:80", outcome=outcome, duration=seconds, code=code)
        )
    for _ in range(5):
        m.record(ProbeResult(probe="other", target="x:80", outcome=c.Outcome.TIMEOUT, duration=5))
    text = render(m, inflight=0, state={}, version="test").decode()
    series = []
    for family in parse_text(text):
        for sample in family.samples:
            if sample.name in (c.RUNS_TOTAL, f"{c.DURATION}_bucket", f"{c.DURATION}_count"):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                series.append(
                    {"series": f"{sample.name}{{{labels}}}", "values": f"0 {sample.value:g}"}
                )
    return series


@pytest.mark.promtool
@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
@pytest.mark.parametrize("threshold", ["200ms", "1s"])
def test_the_exported_queries_select_probers_own_series_in_promql(
    tmp_path: Path, threshold: str
) -> None:
    """bad/total = 4 bad of 16 runs (assertion failures are not bad here); good/total = 6 of
    8 successful runs under the threshold."""
    config = native(
        [
            {
                "name": "ums",
                "availability": {"bad_outcomes": ["timeout", "http_status"]},
                "latency": {"objective": 95, "threshold": threshold},
            }
        ]
    )
    queries = {
        d["metadata"]["name"]: d["spec"]["ratioMetric"]
        for d in export_documents(config)
        if d["kind"] == "SLI"
    }

    def ratio(sli: str, part: str) -> str:
        q = {
            k: v["metricSource"]["spec"]["query"] for k, v in queries[sli].items() if k != "counter"
        }
        return f"sum(increase({q[part]}[2m])) / sum(increase({q['total']}[2m]))"

    (tmp_path / "empty.rules.yml").write_text("groups: []\n", encoding="utf-8")
    suite = {
        "rule_files": ["empty.rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": exposed_series(config),
                "promql_expr_test": [
                    {
                        "expr": ratio("ums-availability", "bad"),
                        "eval_time": "1m",
                        "exp_samples": [{"labels": "{}", "value": 0.25}],
                    },
                    {
                        "expr": ratio("ums-latency", "good"),
                        "eval_time": "1m",
                        "exp_samples": [{"labels": "{}", "value": 0.75}],
                    },
                ],
            }
        ],
    }
    (tmp_path / "suite.yml").write_text(yaml.safe_dump(suite), encoding="utf-8")
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "suite.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
