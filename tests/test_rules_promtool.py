"""The generated rules and the example Alertmanager config, checked by Prometheus' own tools.

`promtool check rules` validates every generated file; `promtool test rules`
runs the hand-written suites in tests/rules/ (worked out from the SLO math,
not generated) against the committed rules; `amtool` validates and routes
deploy/alertmanager.yml. Skipped only when a binary is missing: CI installs
the Debian packages prometheus and prometheus-alertmanager.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from prober.slo import names as n

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules" / n.RULES_FILE
SUITES = sorted((REPO / "tests" / "rules").glob("*.test.yml"))
GENERATED = [RULES, *sorted((REPO / "tests" / "rules" / "testdata").glob("*.rules.yml"))]
OPERATOR = [
    REPO / "rules" / n.OPERATOR_FILE,
    *sorted((REPO / "tests" / "rules" / "testdata").glob("*.prometheusrule.yaml")),
]
ALERTMANAGER = REPO / "deploy" / "alertmanager.yml"

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package prometheus)"
)
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool not installed (Debian package prometheus-alertmanager)"
)
pytestmark = pytest.mark.promtool


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def alert_rules(path: Path = RULES) -> list[dict[str, Any]]:
    groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


# --- promtool check rules -------------------------------------------------------------
@needs_promtool
@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.name)
def test_promtool_accepts_every_generated_rule_file(path: Path) -> None:
    result = run(str(PROMTOOL), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
@pytest.mark.parametrize("path", OPERATOR, ids=lambda p: p.name)
def test_promtool_accepts_the_groups_of_every_generated_prometheusrule(
    path: Path, tmp_path: Path
) -> None:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))["spec"]
    plain = tmp_path / "spec.yml"
    plain.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = run(str(PROMTOOL), "check", "rules", str(plain))
    assert result.returncode == 0, result.stdout + result.stderr


# --- promtool test rules ----------------------------------------------------------------
@pytest.fixture(scope="module")
def suite_runs() -> Iterator[dict[Path, subprocess.Popen[str]]]:
    """Start every suite at once: they take tens of seconds each, and there are cores."""
    assert PROMTOOL is not None
    procs = {
        suite: subprocess.Popen(
            [PROMTOOL, "test", "rules", suite.name],
            cwd=suite.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for suite in SUITES
    }
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@needs_promtool
@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.name)
def test_the_hand_written_promtool_suite_passes(
    suite: Path, suite_runs: dict[Path, subprocess.Popen[str]]
) -> None:
    output, _ = suite_runs[suite].communicate(timeout=110)
    assert suite_runs[suite].returncode == 0, output
    assert "SUCCESS" in output


def test_the_suites_test_the_committed_rule_file() -> None:
    for suite in SUITES:
        files = yaml.safe_load(suite.read_text(encoding="utf-8"))["rule_files"]
        assert [(suite.parent / f).resolve() for f in files] == [RULES], suite.name


def test_every_generated_alert_is_shown_both_firing_and_silent_by_some_suite() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for suite in SUITES:
        for group in yaml.safe_load(suite.read_text(encoding="utf-8"))["tests"]:
            for check in group.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    defined = {r["alert"] for r in alert_rules()}
    assert defined - fired == set(), "never shown firing"
    assert defined - silent - {n.ALL_ABSENT_ALERT} == set(), "never shown silent"
    assert n.ALL_ABSENT_ALERT in silent | fired


# --- Alertmanager -----------------------------------------------------------------------
@needs_amtool
def test_amtool_accepts_the_example_alertmanager_config() -> None:
    result = run(str(AMTOOL), "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def expected_receiver(labels: dict[str, str]) -> str:
    """The seed's actions: critical pages, the budget policy goes to releases, the rest tickets."""
    if labels["severity"] == "critical":
        return "pagerduty-oncall"
    if labels.get("action") == "freeze-feature-releases":
        return "slack-release-freeze"
    return "slack-tickets"


@needs_amtool
@pytest.mark.parametrize(
    "rule",
    alert_rules(),
    ids=lambda r: f"{r['alert']}-{r['labels'].get('burn_window') or r['labels'].get('sli', '')}",
)
def test_each_generated_alert_routes_to_the_receiver_of_its_severity_and_action(
    rule: dict[str, Any],
) -> None:
    labels = {"alertname": rule["alert"], "region": "eu", **rule["labels"]}
    args = [f"{k}={v}" for k, v in sorted(labels.items())]
    result = run(str(AMTOOL), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected_receiver(rule["labels"])


def test_a_page_inhibits_the_ticket_for_the_same_slo_region_and_sli() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))
    (rule,) = config["inhibit_rules"]
    assert rule["source_matchers"] == ['severity="critical"', 'action="page"']
    assert rule["target_matchers"] == ['severity="warning"', 'action="ticket"']
    assert rule["equal"] == ["slo", "region", "sli"]
    # Every burn-rate ticket has a page of the same SLI and scope that can silence it.
    rules = alert_rules()
    pages = {
        (r["labels"]["sli"], r["alert"].endswith("Global"))
        for r in rules
        if r["labels"].get("action") == "page" and "sli" in r["labels"]
    }
    tickets = {
        (r["labels"]["sli"], r["alert"].endswith("Global"))
        for r in rules
        if r["labels"].get("action") == "ticket" and "sli" in r["labels"]
    }
    assert tickets
    assert tickets <= pages


def test_the_alertmanager_example_reads_every_secret_from_a_file() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))
    for receiver in config["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            assert "routing_key" not in pd
            assert "service_key" not in pd
            assert pd["routing_key_file"].startswith("/etc/alertmanager/secrets/")
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack
            assert slack["api_url_file"].startswith("/etc/alertmanager/secrets/")
    assert "slack_api_url" not in config["global"]
