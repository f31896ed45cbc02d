"""The Helm chart in helm/prober, rendered offline by Helm's own engine.

helm-python-sdk binds Helm's Go SDK as a library: rendering, schema validation
and `helm lint` run here without a helm binary or a cluster. Every rendered
built-in object is validated by kubernetes-validate in strict mode (unknown
fields rejected) against the oldest Kubernetes the chart declares and the newest
the package knows. The Prometheus Operator objects have no schema there; they
are checked against the subset of their CRD schemas that the chart can render.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from prober.cli import build_parser
from prober.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "prober"
VALUES_DIR = Path(__file__).parent / "helm_values"
RULES_FILE = ROOT / "rules" / "prober-rules.yml"
CHART_RULES_FILE = CHART / "files" / "prober-rules.yml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
NAMESPACE = "prober"
REFRESH_RULES = (
    "refresh the chart's copy: prober rules -c probes.yaml -o rules/ && "
    "cp rules/prober-rules.yml helm/prober/files/prober-rules.yml"
)
# Env the default config needs (it has no ${VAR:-default} for the target or the token).
CONFIG_ENV = {"UMS_URL": "https://ums.example.com", "UMS_TOKEN": "not-a-real-token"}
CREDENTIAL_NAME = re.compile(r"(?i)(TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|CREDENTIAL)")

Manifest = dict[str, Any]


# --- rendering ------------------------------------------------------------------------------------
def value_sets() -> list[str]:
    return sorted(p.stem for p in VALUES_DIR.glob("*.yaml"))


REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def load_values(name: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((VALUES_DIR / f"{name}.yaml").read_text())
    return values


def release_for(values: dict[str, Any]) -> str:
    return f"prober-{values['region']}"


@cache
def chart() -> helm.Chart:
    return helm.Chart.load(CHART)


class Rendered:
    """One `helm template`: the manifests as parsed YAML, and NOTES.txt as text."""

    def __init__(
        self, values: dict[str, Any], release: str | None = None, chart_: helm.Chart | None = None
    ) -> None:
        self.values = values
        self.release = release or release_for(values)
        out = (chart_ or chart()).render(
            values, name=self.release, namespace=NAMESPACE, is_install=True
        )
        self.notes = ""
        self.manifests: list[Manifest] = []
        for path, text in sorted(out.items()):
            if path.endswith("NOTES.txt"):
                self.notes = text
                continue
            self.manifests += [doc for doc in yaml.safe_load_all(text) if doc is not None]

    def kinds(self) -> list[str]:
        return sorted(m["kind"] for m in self.manifests)

    def all(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m["kind"] == kind]

    def one(self, kind: str) -> Manifest:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
        return found[0]

    def workloads(self) -> list[Manifest]:
        """The Deployment, or one StatefulSet per shard when sharded (never both)."""
        found = self.all("Deployment") + self.all("StatefulSet")
        assert found, "no workload rendered"
        return found

    @property
    def pod(self) -> Manifest:
        """The first workload's pod template (the shards' differ only in the shard)."""
        spec: Manifest = self.workloads()[0]["spec"]["template"]
        return spec

    @property
    def container(self) -> Manifest:
        containers: list[Manifest] = self.pod["spec"]["containers"]
        assert [c["name"] for c in containers] == ["prober"]
        return containers[0]

    def env(self) -> dict[str, Manifest]:
        return {e["name"]: e for e in self.container.get("env", [])}


@cache
def rendered(name: str) -> Rendered:
    return Rendered(load_values(name))


def render_error(values: dict[str, Any]) -> str:
    with pytest.raises(helm.HelmError) as caught:
        Rendered(values, release="prober-test")
    return str(caught.value)


def with_region(**overrides: Any) -> dict[str, Any]:
    return {"region": "us-east-1", **overrides}


# --- lint and Kubernetes schemas ------------------------------------------------------------------
def min_kubernetes_version() -> str:
    declared = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    match = re.fullmatch(r">=\s*(\d+\.\d+\.\d+)(-0)?", declared)
    assert match, f"Chart.yaml kubeVersion {declared!r} is not a plain lower bound"
    return match.group(1)


KUBERNETES_VERSIONS = (min_kubernetes_version(), kubernetes_validate.latest_version())


@pytest.mark.parametrize("name", value_sets())
def test_chart_passes_helm_lint_in_strict_mode(name: str) -> None:
    report = helm.lint(
        CHART,
        load_values(name),
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{KUBERNETES_VERSIONS[-1]}",
    )
    findings = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["total_charts_linted"] == 1
    assert findings == []
    assert report["errors"] == []


def test_helm_lint_reports_a_missing_region_so_lint_really_checks_values() -> None:
    report = helm.lint(CHART, {}, strict=True)
    assert any("missing property 'region'" in e for e in report["errors"]), report


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", value_sets())
def test_every_builtin_manifest_is_valid_kubernetes_in_strict_mode(name: str, version: str) -> None:
    builtin = [m for m in rendered(name).manifests if not m["apiVersion"].startswith(MONITORING)]
    assert builtin, "nothing to validate"
    for manifest in builtin:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_strict_kubernetes_validation_rejects_an_unknown_field() -> None:
    deployment = copy.deepcopy(rendered("minimal").one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessProbes"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


# The part of the monitoring.coreos.com/v1 CRD schemas (prometheus-operator) that the chart
# can render, with the CRDs' own `additionalProperties: false`, so a misspelt field fails here
# as it would be pruned or rejected by the API server.
MONITORING = "monitoring.coreos.com/"
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?"
    r"(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
    "additionalProperties": False,
}


def _crd(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        "additionalProperties": False,
    }


_SELECTOR = {
    "type": "object",
    "properties": {"matchLabels": _STRING_MAP, "matchExpressions": {"type": "array"}},
    "additionalProperties": False,
}
_RELABELING = {
    "type": "object",
    "properties": {
        "action": {
            "enum": [
                "replace",
                "keep",
                "drop",
                "hashmod",
                "labelmap",
                "labeldrop",
                "labelkeep",
                "lowercase",
                "uppercase",
                "keepequal",
                "dropequal",
            ]
        },
        "regex": {"type": "string"},
        "replacement": {"type": "string"},
        "separator": {"type": "string"},
        "targetLabel": {"type": "string"},
        "modulus": {"type": "integer"},
        "sourceLabels": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
        },
    },
    "additionalProperties": False,
}
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": _crd(
        "ServiceMonitor",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": _SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array", "items": _RELABELING},
                            "metricRelabelings": {"type": "array", "items": _RELABELING},
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    ),
    "PrometheusRule": _crd(
        "PrometheusRule",
        {
            "type": "object",
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "limit": {"type": "integer"},
                            "query_offset": _DURATION,
                            "labels": _STRING_MAP,
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
                                    "properties": {
                                        "record": {"type": "string"},
                                        "alert": {"type": "string"},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": _DURATION,
                                        "keep_firing_for": _DURATION,
                                        "labels": _STRING_MAP,
                                        "annotations": _STRING_MAP,
                                    },
                                    "additionalProperties": False,
                                },
                            },
                        },
                        "additionalProperties": False,
                    },
                }
            },
            "additionalProperties": False,
        },
    ),
}


@pytest.mark.parametrize("name", value_sets())
def test_every_prometheus_operator_object_matches_its_crd_schema(name: str) -> None:
    for manifest in rendered(name).manifests:
        if manifest["apiVersion"].startswith(MONITORING):
            jsonschema.validate(manifest, CRD_SCHEMAS[manifest["kind"]])


def test_the_crd_schemas_reject_a_misspelt_endpoint_field() -> None:
    monitor = copy.deepcopy(rendered("operator").one("ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["scrapeTimout"] = "10s"
    with pytest.raises(jsonschema.ValidationError, match="scrapeTimout"):
        jsonschema.validate(monitor, CRD_SCHEMAS["ServiceMonitor"])


# --- what each value set renders ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("minimal", ["ConfigMap", "Deployment", "Service", "ServiceAccount"]),
        (
            "operator",
            [
                "ConfigMap",
                "Deployment",
                "PrometheusRule",
                "Service",
                "ServiceAccount",
                "ServiceMonitor",
            ],
        ),
        ("existing-configmap", ["Deployment", "Service", "ServiceAccount"]),
        ("existing-secret", ["ConfigMap", "Deployment", "Service", "ServiceAccount"]),
    ],
    ids=[
        "defaults render a config map, a deployment, a service and a service account",
        "the operator set adds a service monitor and a prometheus rule",
        "an existing config map replaces the chart's",
        "an existing secret adds no object",
    ],
)
def test_value_set_renders_exactly_these_kinds(name: str, kinds: list[str]) -> None:
    assert rendered(name).kinds() == kinds


@pytest.mark.parametrize("name", value_sets())
def test_every_object_is_named_after_the_release_and_carries_the_standard_labels(name: str) -> None:
    r = rendered(name)
    expected_name = r.values.get("fullnameOverride", r.release)
    for manifest in r.manifests:
        meta = manifest["metadata"]
        assert meta["name"].startswith(expected_name)
        assert meta["labels"]["app.kubernetes.io/name"] == "prober"
        assert meta["labels"]["app.kubernetes.io/instance"] == r.release
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert meta["labels"]["helm.sh/chart"] == "prober-0.1.0"
        for key, value in r.values.get("extraLabels", {}).items():
            assert meta["labels"][key] == value


def test_extra_labels_reach_the_pods_but_never_the_immutable_selector() -> None:
    r = rendered("everything")
    selector = r.one("Deployment")["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "prober", "app.kubernetes.io/instance": r.release}
    assert r.pod["metadata"]["labels"]["cost-center"] == "sre-1234"
    assert r.one("Service")["spec"]["selector"] == selector


@pytest.mark.parametrize("name", value_sets())
def test_pod_and_container_are_locked_down(name: str) -> None:
    r = rendered(name)
    pod = r.pod["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = r.container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("name", value_sets())
def test_only_tmp_is_writable_and_it_is_an_empty_dir(name: str) -> None:
    r = rendered(name)
    volumes = {v["name"]: v for v in r.pod["spec"]["volumes"]}
    writable = [m for m in r.container["volumeMounts"] if not m.get("readOnly")]
    assert [m["mountPath"] for m in writable] == ["/tmp"]
    assert "emptyDir" in volumes[writable[0]["name"]]


@pytest.mark.parametrize("name", value_sets())
def test_liveness_is_healthz_and_readiness_is_ready_on_the_metrics_port(name: str) -> None:
    c = rendered(name).container
    assert c["ports"] == [{"name": "http-metrics", "containerPort": 9477, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http-metrics"}


def argument(container: Manifest, flag: str) -> str:
    args: list[str] = container["args"]
    assert args.count(flag) == 1, f"{flag} appears {args.count(flag)} times in {args}"
    return args[args.index(flag) + 1]


def mounted_config_path(r: Rendered) -> str:
    """Where the config volume puts probes.yaml inside the container."""
    volume = next(v for v in r.pod["spec"]["volumes"] if v["name"] == "config")
    mount = next(m for m in r.container["volumeMounts"] if m["name"] == "config")
    [item] = volume["configMap"]["items"]
    return f"{mount['mountPath']}/{item['path']}"


@pytest.mark.parametrize("name", value_sets())
def test_prober_reads_the_config_where_the_config_map_is_mounted(name: str) -> None:
    r = rendered(name)
    assert argument(r.container, "-c") == mounted_config_path(r) == "/etc/prober/probes.yaml"
    assert argument(r.container, "--listen") == "0.0.0.0:9477"


@pytest.mark.parametrize("name", value_sets())
def test_prober_accepts_the_arguments_the_chart_passes(name: str) -> None:
    r = rendered(name)
    # The image's ENTRYPOINT is `prober run`; the chart's args follow it.
    args = build_parser().parse_args(["run", *r.container["args"]])
    assert args.config == mounted_config_path(r)
    assert args.log_level == r.values.get("logLevel", "info")
    assert args.log_format == "json"


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_release_labels_its_series_with_its_region(region: str) -> None:
    r = rendered(f"region-{region}")
    assert r.release == f"prober-{region}"
    assert r.env()["PROBER_REGION"] == {"name": "PROBER_REGION", "value": region}
    assert r.pod["spec"]["nodeSelector"] == {"topology.kubernetes.io/region": region}
    assert f"prober-{region}.{NAMESPACE}.svc:9477/metrics" in r.notes


def test_the_three_region_releases_are_identical_but_for_the_region() -> None:
    def generic(region: str) -> str:
        r = rendered(f"region-{region}")
        return json.dumps(r.manifests, sort_keys=True).replace(region, "<region>")

    first, *others = REGIONS
    assert rendered(f"region-{first}").env()["PROBER_REGION"]["value"] == first
    for region in others:
        assert generic(region) == generic(first)


# --- config and its checksum ----------------------------------------------------------------------
def probes_yaml(r: Rendered) -> str:
    text: str = r.one("ConfigMap")["data"]["probes.yaml"]
    return text


def checksum(r: Rendered) -> str:
    value: str = r.pod["metadata"]["annotations"]["checksum/config"]
    return value


def test_the_checksum_annotation_is_the_sha256_of_the_mounted_config() -> None:
    import hashlib  # noqa: PLC0415 - only this test hashes

    r = rendered("minimal")
    assert checksum(r) == hashlib.sha256(probes_yaml(r).rstrip("\n").encode()).hexdigest()


def test_changing_the_config_changes_the_checksum_so_the_pods_roll() -> None:
    config = copy.deepcopy(chart().values["config"])
    config["defaults"]["interval"] = "30s"
    before, after = rendered("minimal"), Rendered(with_region(config=config))
    assert "interval: 30s" in probes_yaml(after)
    assert checksum(after) != checksum(before)


def test_changing_anything_but_the_config_keeps_the_checksum() -> None:
    before = rendered("minimal")
    after = Rendered(with_region(replicas=3, logLevel="debug", extraLabels={"team": "sre"}))
    assert after.one("Deployment")["spec"]["replicas"] == 3
    assert checksum(after) == checksum(before)


def test_an_existing_config_map_is_mounted_by_name_and_key_without_a_checksum() -> None:
    r = rendered("existing-configmap")
    volume = next(v for v in r.pod["spec"]["volumes"] if v["name"] == "config")
    assert volume["configMap"] == {
        "name": "ums-probes",
        "items": [{"key": "ums-probes.yaml", "path": "probes.yaml"}],
    }
    assert "checksum/config" not in r.pod["metadata"].get("annotations", {})
    assert "kill -HUP 1" in r.notes


@pytest.mark.parametrize("name", ["minimal", *(f"region-{region}" for region in REGIONS)])
def test_the_rendered_config_is_one_prober_accepts(name: str, tmp_path: Path) -> None:
    r = rendered(name)
    path = tmp_path / "probes.yaml"
    path.write_text(probes_yaml(r))
    env = {**CONFIG_ENV, "PROBER_REGION": r.env()["PROBER_REGION"]["value"]}
    config = load_config(path, env=env)
    assert config.region == r.values["region"]
    assert config.agent.listen == argument(r.container, "--listen")
    repo = yaml.safe_load((ROOT / "probes.yaml").read_text())
    assert [p.name for p in config.probes] == [p["name"] for p in repo["probes"]]


def test_the_default_config_declares_the_slos_of_the_repository_probes_yaml() -> None:
    repo = yaml.safe_load((ROOT / "probes.yaml").read_text())
    default = chart().values["config"]
    assert default["slos"] == repo["slos"]
    assert {p["name"]: p.get("slo") for p in default["probes"]} == {
        p["name"]: p.get("slo") for p in repo["probes"]
    }


def test_an_empty_config_without_an_existing_config_map_fails_with_a_clear_message() -> None:
    message = render_error(with_region(config=None))
    assert "config is empty" in message
    assert "existingConfigMap" in message


# --- secrets --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", value_sets())
def test_no_rendered_manifest_holds_a_secret(name: str) -> None:
    r = rendered(name)
    assert "Secret" not in r.kinds()
    for var in r.env().values():
        if CREDENTIAL_NAME.search(var["name"]):
            assert "value" not in var, var
            assert "secretKeyRef" in var["valueFrom"], var
    for config_map in r.all("ConfigMap"):
        if "probes.yaml" not in config_map["data"]:  # the dashboards
            continue
        for name_, value in header_values(yaml.safe_load(config_map["data"]["probes.yaml"])):
            assert re.search(r"\$\{[^}]+\}", value), f"literal value in header {name_}"


def header_values(node: object) -> Iterator[tuple[str, str]]:
    """Every HTTP header (name, value) anywhere in a probes config, scenario steps included."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "headers":
                yield from value.items()
            else:
                yield from header_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from header_values(item)


def test_header_values_are_found_in_scenario_steps_too() -> None:
    headers = list(header_values(yaml.safe_load(probes_yaml(rendered("minimal")))))
    assert len(headers) == 5, "two probes and three scenario steps send a token"
    assert all(name == "Authorization" for name, _ in headers)


def test_an_existing_secret_is_referenced_as_env_and_as_mounted_files() -> None:
    r = rendered("existing-secret")
    assert r.env()["UMS_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "ums-probe-token", "key": "token"}
    }
    volume = next(v for v in r.pod["spec"]["volumes"] if v["name"] == "ums-admin-token")
    assert volume["secret"] == {
        "secretName": "ums-admin-token",
        "defaultMode": 0o440,
        "items": [{"key": "token", "path": "token"}],
    }
    mount = next(m for m in r.container["volumeMounts"] if m["name"] == "ums-admin-token")
    assert mount == {
        "name": "ums-admin-token",
        "mountPath": "/run/secrets/ums-admin",
        "readOnly": True,
    }
    assert "${file:/run/secrets/ums-admin/token}" in probes_yaml(r)


def test_env_from_secret_becomes_an_env_from_secret_ref() -> None:
    r = rendered("region-eu-west-1")
    assert r.container["envFrom"] == [{"secretRef": {"name": "ums-probe-token"}}]


@pytest.mark.parametrize("variable", ["UMS_TOKEN", "db_password", "CLIENT_SECRET", "X_API_KEY"])
def test_a_credential_given_as_a_plain_value_is_refused_without_echoing_it(variable: str) -> None:
    message = render_error(with_region(extraEnv=[{"name": variable, "value": "s3cr3t-canary"}]))
    assert f"extraEnv {variable}" in message
    assert "secretKeyRef" in message
    assert "s3cr3t-canary" not in message


# --- values.schema.json ---------------------------------------------------------------------------
SCHEMA_ERROR = "values don't meet the specifications of the schema"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "missing property 'region'"),
        ({"region": "US_East"}, "at '/region': 'US_East' does not match pattern"),
        ({"region": ""}, "at '/region': minLength"),
        (with_region(replicas=0), "at '/replicas': minimum: got 0, want 1"),
        (with_region(replicas="2"), "at '/replicas': got string, want integer"),
        (with_region(replica=2), "additional properties 'replica' not allowed"),
        (with_region(shards=0), "at '/shards': minimum: got 0, want 1"),
        (with_region(replicasPerShard=0), "at '/replicasPerShard': minimum: got 0, want 1"),
        (
            with_region(serviceMonitor={"enable": True}),
            "additional properties 'enable' not allowed",
        ),
        (
            with_region(image={"pullPolicy": "Sometimes"}),
            "at '/image/pullPolicy': value must be one of",
        ),
        (with_region(image={"tag": 2}), "at '/image/tag': got number, want string"),
        (with_region(serviceMonitor={"interval": "15"}), "at '/serviceMonitor/interval'"),
        (with_region(service={"port": 70000}), "at '/service/port': maximum"),
        (with_region(logLevel="verbose"), "at '/logLevel': value must be one of"),
        (with_region(config={"probes": []}), "at '/config/probes': minItems"),
        (with_region(extraLabels={"app.kubernetes.io/name": "x"}), "'app.kubernetes.io/name'"),
        (with_region(podAnnotations={"a": 1}), "at '/podAnnotations/a': got number, want string"),
        (with_region(extraEnv=[{"name": "A", "value": "1", "valueFrom": {}}]), "at '/extraEnv/0'"),
        (
            with_region(
                secretMounts=[{"name": "t", "secretName": "t", "mountPath": "/etc/prober/t"}]
            ),
            "at '/secretMounts/0/mountPath'",
        ),
    ],
    ids=[
        "region is required",
        "region must be a DNS label",
        "region must not be empty",
        "replicas must be at least one",
        "replicas must be an integer",
        "an unknown top-level key is refused",
        "shards must be at least one",
        "replicas per shard must be at least one",
        "an unknown nested key is refused",
        "pull policy must be a Kubernetes one",
        "an image tag must be a string",
        "a scrape interval needs a unit",
        "a service port must be a TCP port",
        "log level must be one prober knows",
        "the config needs at least one probe",
        "extra labels must not override the chart's",
        "pod annotations must be strings",
        "an env var has a value or a valueFrom, not both",
        "a secret must not be mounted inside the config mount",
    ],
)
def test_wrong_values_are_rejected_by_the_schema_with_the_key_named(
    values: dict[str, Any], expected: str
) -> None:
    message = render_error(values)
    assert message.startswith(SCHEMA_ERROR)
    assert expected in message


def test_the_schema_forbids_unknown_keys_in_every_object_it_defines() -> None:
    def open_objects(node: dict[str, Any], where: str) -> Iterator[str]:
        if node.get("type") == "object" and "properties" in node:
            if node.get("additionalProperties") is not False and where != "/config":
                yield where or "/"
            for key, sub in node["properties"].items():
                yield from open_objects(sub, f"{where}/{key}")
        if isinstance(node.get("items"), dict):
            yield from open_objects(node["items"], f"{where}[]")

    schema = json.loads((CHART / "values.schema.json").read_text())
    assert list(open_objects(schema, "")) == []


def test_the_chart_defaults_pass_the_schema_once_a_region_is_given() -> None:
    chart().validate_schema({"region": "eu-west-1"})


# --- Prometheus integration -----------------------------------------------------------------------
def test_scrape_annotations_point_at_the_metrics_port_by_default() -> None:
    r = rendered("minimal")
    annotations = r.pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(r.container["ports"][0]["containerPort"])


def test_scrape_annotations_can_be_switched_off() -> None:
    annotations = rendered("operator").pod["metadata"]["annotations"]
    assert not any(key.startswith("prometheus.io/") for key in annotations)


def test_the_service_monitor_selects_the_service_port_in_the_release_namespace() -> None:
    r = rendered("operator")
    monitor, service = r.one("ServiceMonitor"), r.one("Service")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"] == "http-metrics"
    assert (endpoint["path"], endpoint["interval"]) == ("/metrics", "30s")


def aggregated_away() -> set[str]:
    """Labels that every `sum without (...)` in the SLO rules removes."""
    rules = yaml.safe_load(CHART_RULES_FILE.read_text())
    lists = [
        set(re.split(r"\s*,\s*", m.group(1).strip()))
        for group in rules["groups"]
        for rule in group["rules"]
        for m in re.finditer(r"without\s*\(([^)]*)\)", rule["expr"])
        if "region" not in m.group(1)
    ]
    assert lists, "no aggregation found in the rules"
    return set.intersection(*lists)


def test_target_labels_the_operator_adds_are_dropped_or_aggregated_by_the_rules() -> None:
    [endpoint] = rendered("operator").one("ServiceMonitor")["spec"]["endpoints"]
    dropped = [
        re.compile(r["regex"]) for r in endpoint["relabelings"] if r["action"] == "labeldrop"
    ]
    operator_labels = {"instance", "job", "namespace", "service", "pod", "container", "endpoint"}
    kept = {label for label in operator_labels if not any(p.fullmatch(label) for p in dropped)}
    assert kept <= aggregated_away(), f"{kept - aggregated_away()} would split the SLO series"
    assert not any(p.fullmatch(label) for p in dropped for label in ("region", "slo", "probe"))


def test_the_chart_copy_of_the_rules_equals_rules_prober_rules_yml() -> None:
    if not RULES_FILE.exists():
        pytest.skip(f"{RULES_FILE.relative_to(ROOT)} is not generated yet; {REFRESH_RULES}")
    assert CHART_RULES_FILE.read_bytes() == RULES_FILE.read_bytes(), REFRESH_RULES


def test_the_prometheus_rule_holds_exactly_the_groups_of_the_shipped_rule_file() -> None:
    rule = rendered("operator").one("PrometheusRule")
    assert rule["metadata"]["namespace"] == "monitoring"
    assert rule["metadata"]["labels"]["role"] == "slo-rules"
    assert rule["spec"] == yaml.safe_load(CHART_RULES_FILE.read_text())
    assert [g["name"] for g in rule["spec"]["groups"]], "no rule groups"


def test_the_shipped_rules_are_the_rules_prober_generates_for_the_default_config(
    tmp_path: Path,
) -> None:
    from prober.slo.generate import render_rule_files  # noqa: PLC0415 - only this test needs it

    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(chart().values["config"]))
    [generated] = render_rule_files(load_config(path, env=CONFIG_ENV)).values()
    assert yaml.safe_load(generated) == yaml.safe_load(CHART_RULES_FILE.read_text()), REFRESH_RULES


@pytest.mark.promtool
@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)"
)
def test_the_prometheus_rule_spec_passes_promtool_check_rules(tmp_path: Path) -> None:
    path = tmp_path / "spec.yml"
    path.write_text(yaml.safe_dump(rendered("operator").one("PrometheusRule")["spec"]))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_rule_file_given_in_values_replaces_the_shipped_one() -> None:
    rules = "groups:\n  - name: custom\n    rules:\n      - record: a:b\n        expr: up\n"
    rule = Rendered(with_region(prometheusRule={"enabled": True, "rules": rules})).one(
        "PrometheusRule"
    )
    assert rule["spec"] == yaml.safe_load(rules)


def test_a_rule_override_that_is_not_a_rule_file_fails_with_a_clear_message() -> None:
    message = render_error(with_region(prometheusRule={"enabled": True, "rules": "- up"}))
    assert "prometheusRule.rules: expected a Prometheus rule file with a top-level `groups:`" in (
        message
    )


# --- dashboards -----------------------------------------------------------------------------------
def test_dashboards_render_one_labelled_config_map_per_json_file(tmp_path: Path) -> None:
    copy_ = shutil.copytree(CHART, tmp_path / "prober")
    for shipped in (copy_ / "files" / "dashboards").glob("*.json"):
        shipped.unlink()
    boards = {
        "prober-slo.json": '{"title": "SLO {{ not a template }}"}',
        "Prober_Probes.json": '{"title": "Probes"}',
    }
    for file, text in boards.items():
        (copy_ / "files" / "dashboards" / file).write_text(text)
    values = with_region(dashboards={"enabled": True, "annotations": {"grafana_folder": "SLOs"}})
    with helm.Chart.load(copy_) as local:
        maps = [
            m
            for m in Rendered(values, chart_=local).all("ConfigMap")
            if "-dashboard-" in m["metadata"]["name"]
        ]
    assert {m["metadata"]["name"]: m["data"] for m in maps} == {
        "prober-us-east-1-dashboard-prober-slo": {"prober-slo.json": boards["prober-slo.json"]},
        "prober-us-east-1-dashboard-prober-probes": {
            "Prober_Probes.json": boards["Prober_Probes.json"]
        },
    }
    for m in maps:
        assert m["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert m["metadata"]["annotations"] == {"grafana_folder": "SLOs"}


def test_dashboards_are_off_by_default_and_the_chart_ships_the_generated_ones() -> None:
    assert chart().values["dashboards"]["enabled"] is False
    assert [m["metadata"]["name"] for m in rendered("minimal").all("ConfigMap")] == [
        "prober-us-east-1"
    ]
    maps = {m["metadata"]["name"]: m["data"] for m in rendered("everything").all("ConfigMap")}
    assert sorted(maps) == [
        "ums-prober",
        "ums-prober-dashboard-prober-agents",
        "ums-prober-dashboard-prober-slo-overview",
    ]
    shipped = CHART / "files" / "dashboards" / "prober-slo-overview.json"
    board = maps["ums-prober-dashboard-prober-slo-overview"]["prober-slo-overview.json"]
    assert board == shipped.read_text().rstrip("\n")


# --- NOTES.txt ------------------------------------------------------------------------------------
def test_notes_say_where_metrics_are_and_how_to_run_prober_once_in_the_pod() -> None:
    r = rendered("minimal")
    assert f"http://{r.release}.{NAMESPACE}.svc:9477/metrics" in r.notes
    once = f"kubectl -n {NAMESPACE} exec deploy/{r.release} -- prober once -c {{}} -n 5"
    assert once.format(mounted_config_path(r)) in r.notes
    assert f"port-forward svc/{r.release} 9477:9477" in r.notes


def test_notes_warn_when_both_scrape_methods_are_on() -> None:
    assert "WARNING: both are on" in rendered("everything").notes
    assert "WARNING" not in rendered("operator").notes


# --- the image the chart runs ---------------------------------------------------------------------
def test_the_image_defaults_to_the_chart_app_version_and_a_digest_wins() -> None:
    app_version = chart().metadata["appVersion"]
    assert rendered("minimal").container["image"] == f"registry.example.com/prober:{app_version}"
    digest = load_values("everything")["image"]["digest"]
    assert rendered("everything").container["image"] == f"registry.example.com/sre/prober@{digest}"


def test_the_chart_app_version_is_the_package_version() -> None:
    import tomllib  # noqa: PLC0415 - only this test reads pyproject

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart().metadata["appVersion"] == project["version"]


# --- the worked example in docs/deploy.md ---------------------------------------------------------
def doc_values() -> dict[str, dict[str, Any]]:
    """```yaml blocks of docs/deploy.md whose first line is `# values-<name>.yaml`."""
    blocks = re.findall(
        r"```yaml\n(# (values-[\w.-]+\.yaml)\n.*?)```", DEPLOY_DOC.read_text(), flags=re.S
    )
    return {name: yaml.safe_load(text) for text, name in blocks}


def test_the_deploy_doc_has_a_values_file_per_region() -> None:
    assert sorted(doc_values()) == sorted(f"values-{region}.yaml" for region in REGIONS)


@pytest.mark.parametrize("name", sorted(doc_values()))
def test_each_values_file_in_the_deploy_doc_renders_valid_manifests(name: str) -> None:
    values = doc_values()[name]
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
    r = Rendered(values)
    assert r.env()["PROBER_REGION"]["value"] == name.removeprefix("values-").removesuffix(".yaml")
    for manifest in r.manifests:
        if manifest["apiVersion"].startswith(MONITORING):
            jsonschema.validate(manifest, CRD_SCHEMAS[manifest["kind"]])
        else:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_single_region_helm_install_with_set_flags_in_the_deploy_doc_renders() -> None:
    command = re.search(
        r"^helm install (prober-[\w-]+) helm/prober .*?(?<!\\)$",
        DEPLOY_DOC.read_text().replace("\\\n", " "),
        flags=re.M,
    )
    assert command, "no `helm install ... --set` example in docs/deploy.md"
    words = shlex.split(command.group(0))
    sets = [words[i + 1] for i, word in enumerate(words) if word == "--set"]
    values = helm.parse_set_string(",".join(sets))
    r = Rendered(values, release=command.group(1))
    assert r.env()["PROBER_REGION"]["value"] == values["region"]
    assert r.env()["UMS_URL"]["value"].startswith("https://")
    assert r.container["envFrom"] == [{"secretRef": {"name": values["envFromSecret"]}}]


# --- scaling out: shards x replicas -----------------------------------------------------------
SHARD_LABEL = "prober/shard"


def test_the_sharded_set_renders_a_stateful_set_and_a_disruption_budget_per_shard() -> None:
    r = rendered("sharded")
    assert r.kinds() == sorted(
        ["ConfigMap", "Service", "ServiceAccount", "ServiceMonitor"]
        + ["StatefulSet", "PodDisruptionBudget"] * 3
    )
    assert [s["metadata"]["name"] for s in r.all("StatefulSet")] == [
        f"{r.release}-shard-{i}" for i in range(3)
    ]


def test_each_shard_runs_its_replicas_with_its_own_index_of_the_total() -> None:
    r = rendered("sharded")
    seen = []
    for index, sts in enumerate(r.all("StatefulSet")):
        pod = sts["spec"]["template"]
        [container] = pod["spec"]["containers"]
        args = build_parser().parse_args(["run", *container["args"]])
        assert (args.shard.index, args.shard.total) == (index, 3)
        assert sts["spec"]["replicas"] == 2
        assert pod["metadata"]["labels"][SHARD_LABEL] == str(index)
        assert sts["spec"]["selector"]["matchLabels"][SHARD_LABEL] == str(index)
        seen.append(args.shard.index)
    assert seen == [0, 1, 2]


def test_the_service_and_its_monitor_cover_the_pods_of_every_shard() -> None:
    r = rendered("sharded")
    service_selector = r.one("Service")["spec"]["selector"]
    monitor = r.one("ServiceMonitor")["spec"]["selector"]["matchLabels"]
    assert monitor.items() <= r.one("Service")["metadata"]["labels"].items()
    for sts in r.all("StatefulSet"):
        assert service_selector.items() <= sts["spec"]["template"]["metadata"]["labels"].items()
        assert sts["spec"]["serviceName"] == r.one("Service")["metadata"]["name"]


def test_each_disruption_budget_selects_exactly_its_shards_pods() -> None:
    r = rendered("sharded")
    for sts, pdb in zip(r.all("StatefulSet"), r.all("PodDisruptionBudget"), strict=True):
        assert pdb["spec"]["selector"] == sts["spec"]["selector"]
        assert pdb["spec"]["maxUnavailable"] == 1
    selectors = [
        json.dumps(p["spec"]["selector"], sort_keys=True) for p in r.all("PodDisruptionBudget")
    ]
    assert len(set(selectors)) == 3, "two shards share a budget"


def test_a_shards_replicas_spread_across_zones_unless_the_values_say_otherwise() -> None:
    r = rendered("sharded")
    for sts in r.all("StatefulSet"):
        spread = sts["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert [c["topologyKey"] for c in spread] == [
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        ]
        for constraint in spread:
            assert (
                constraint["labelSelector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]
            )
    own = [
        {
            "maxSkew": 2,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
        }
    ]
    custom = Rendered({**load_values("sharded"), "topologySpreadConstraints": own})
    for sts in custom.all("StatefulSet"):
        assert sts["spec"]["template"]["spec"]["topologySpreadConstraints"] == own


def test_one_shard_of_one_replica_is_the_unsharded_deployment() -> None:
    r = Rendered(with_region(shards=1, replicasPerShard=1))
    assert r.kinds() == rendered("minimal").kinds()
    assert r.one("Deployment") == rendered("minimal").one("Deployment")
    assert "--shard" not in r.container["args"]
    assert SHARD_LABEL not in r.pod["metadata"]["labels"]
    replicated = Rendered(with_region(shards=1, replicasPerShard=2))
    [sts] = replicated.all("StatefulSet")
    assert argument(replicated.container, "--shard") == "0/1"
    assert sts["spec"]["replicas"] == 2


def test_deployment_replicas_with_shards_fail_with_a_clear_message() -> None:
    message = render_error(with_region(shards=3, replicas=2))
    assert "replicas is the unsharded Deployment's" in message
    assert "replicasPerShard" in message
