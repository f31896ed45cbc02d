"""`prober rules --tests`: promtool suites derived from each config's own SLO math.

The generator is pure (prober.slo.tests_gen); here its output is run through
`promtool test rules` against the rules generated from the same config, for the
bundled config and for configs with other objectives, periods and thresholds: a
generator that only knew the seed's numbers would fail on the others.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from prober.cli.main import main
from prober.config import Config, load_config, parse_config
from prober.slo import names as n
from prober.slo.tests_gen import (
    YOUNG_PROMETHEUS,
    render_tests,
    service_selector,
    timings_table,
)
from prober.slo.windows import error_budget

REPO = Path(__file__).resolve().parent.parent
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package prometheus)"
)


def bundled_raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((REPO / "probes.yaml").read_text(encoding="utf-8"))
    return raw


def variant(**slo: Any) -> dict[str, Any]:
    """The bundled config with SLO overrides, without the traffic source (the traffic
    suite takes a week of evaluations; the bundled config runs it once)."""
    raw = copy.deepcopy(bundled_raw())
    target = raw["slos"][0]
    for key, value in slo.items():
        if isinstance(value, dict):
            target[key] = {**target.get(key, {}), **value}
        else:
            target[key] = value
    target["alerting"].pop("traffic", None)
    return raw


CONFIGS: dict[str, dict[str, Any]] = {
    "the bundled config (99.9%, 30d, latency 95% under 200ms, traffic)": bundled_raw(),
    "99.5% availability": variant(availability={"objective": 99.5}),
    "99.99% availability": variant(availability={"objective": 99.99}),
    "a 28-day period": variant(period="28d"),
    "latency 99% under 300ms": variant(latency={"objective": 99, "threshold": "300ms"}),
}


def load(raw: dict[str, Any]) -> Config:
    return parse_config(raw, "probes.yaml", {}, REPO)


# --- the math the generator computes -----------------------------------------------------
def test_the_full_outage_deadline_is_two_percent_of_each_configs_budget_plus_delays() -> None:
    for raw in CONFIGS.values():
        cfg = load(raw)
        slo = cfg.slos[0]
        q = error_budget(slo.availability.objective)
        table = timings_table(render_tests(cfg, "r.yml"))
        detect = 0.02 * q * slo.period  # seconds of full outage that spend 2% of the budget
        shown = f"{detect:.2f}".rstrip("0").rstrip(".") + "s" if detect < 120 else None
        row = next(
            line
            for line in table.splitlines()
            if "`ProberSLOAvailabilityFastBurn`" in line and "| full outage |" in line
        )
        if shown is not None:
            assert f"math: {shown})" in row, row
        else:
            assert f"math: {round(detect / 60, 2):g}m)" in row, row


def test_the_budget_policy_cases_straddle_the_policy_on_a_young_prometheus() -> None:
    cfg = load(bundled_raw())
    files = render_tests(cfg, "r.yml").files
    doc = yaml.safe_load(files["user-metadata.budget-eval5m.test.yml"])
    names = [t["name"] for t in doc["tests"]]
    # 30 min of a 43.2-minute budget is 69.4%, 35 min 81.0% (slo-math: ~43 min a month).
    assert any("30m full outage" in x and "(69.4% spent)" in x for x in names), names
    assert any("35m full outage" in x and "(81% spent)" in x for x in names), names
    for test in doc["tests"]:
        (check,) = test["promql_expr_test"]
        assert check["eval_time"] == f"{YOUNG_PROMETHEUS}s"


def test_the_output_is_deterministic_and_names_the_rule_file_given() -> None:
    cfg = load(bundled_raw())
    first, second = render_tests(cfg, "../rules/x.yml"), render_tests(cfg, "../rules/x.yml")
    assert first.files == second.files
    for text in first.files.values():
        assert yaml.safe_load(text)["rule_files"] == ["../rules/x.yml"]


def test_every_generated_alert_is_checked_firing_by_some_generated_case() -> None:
    cfg = load(bundled_raw())
    fired = set()
    for text in render_tests(cfg, "r.yml").files.values():
        for test in yaml.safe_load(text)["tests"]:
            for check in test["promql_expr_test"]:
                if check["exp_samples"]:
                    fired.add(check["expr"].split('alertname="')[1].split('"')[0])
    assert {
        n.burn_alert(n.SLI.AVAILABILITY, "fast"),
        n.burn_alert(n.SLI.AVAILABILITY, "slow", global_=True),
        n.burn_alert(n.SLI.LATENCY, "fast"),
        n.p99_alert(),
        n.p99_alert(global_=True),
        n.BUDGET_ALERT,
        n.TRAFFIC_DROP_ALERT,
        n.TRAFFIC_SPIKE_ALERT,
    } <= fired


def test_the_traffic_input_comes_from_the_expr_or_the_suite_is_skipped_with_a_note() -> None:
    assert service_selector('sum by (region) (rate(http_requests_total{job="a"}[5m]))') == (
        "http_requests_total",
        {"job": "a"},
        300,
    )
    assert service_selector('sum(rate(x{job=~"a|b"}[1m]))') is None
    raw = variant()
    raw["slos"][0]["alerting"]["traffic"] = {"expr": 'sum(rate(x{job=~"a|b"}[1m]))'}
    generated = render_tests(load(raw), "r.yml")
    assert not any("traffic" in name for name in generated.files)
    (note,) = generated.notes
    assert "traffic tests not generated" in note


def test_the_rules_readme_lists_the_expectations_generated_for_the_bundled_config() -> None:
    readme = REPO / "rules" / "README.md"
    text = readme.read_text(encoding="utf-8")
    table = timings_table(render_tests(load(bundled_raw()), "r.yml"))
    block = re.compile(
        r"(<!-- generated timings: begin -->\n).*?(<!-- generated timings: end -->)", re.S
    )
    wanted = block.sub(lambda m: m.group(1) + table + m.group(2), text)
    if os.environ.get("PROBER_UPDATE_GOLDEN") == "1":
        readme.write_text(wanted, encoding="utf-8")
    assert text == wanted, "rules/README.md is stale: PROBER_UPDATE_GOLDEN=1 pytest this file"


# --- the CLI -------------------------------------------------------------------------------
def test_prober_rules_tests_writes_suites_that_point_at_the_rule_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, tests = tmp_path / "rules", tmp_path / "suites"
    config = str(REPO / "probes.yaml")
    assert main(["rules", "-c", config, "-o", str(out), "--tests", str(tests)]) == 0
    written = sorted(p.name for p in tests.iterdir())
    assert "user-metadata.p99.test.yml" in written
    for name in written:
        rule_file = yaml.safe_load((tests / name).read_text())["rule_files"][0]
        assert (tests / rule_file).resolve() == (out / n.RULES_FILE).resolve()
    assert capsys.readouterr().err == ""


def test_prober_rules_says_on_one_stderr_line_that_there_is_no_traffic_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(variant()), encoding="utf-8")
    assert main(["rules", "-c", str(path), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "traffic.expr is not set: no traffic alerts" in err[0]


def test_prober_rules_tests_refuses_the_operator_format_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["rules", "-c", str(REPO / "probes.yaml"), "-o", str(tmp_path), "--format", "operator"]
    assert main([*args, "--tests", str(tmp_path / "t")]) == 2
    assert "--tests needs the plain rule file" in capsys.readouterr().err


# --- promtool runs the generated suites ----------------------------------------------------
@needs_promtool
@pytest.mark.promtool
@pytest.mark.parametrize("raw", CONFIGS.values(), ids=CONFIGS.keys())
def test_promtool_passes_the_suites_generated_for_the_configs_own_numbers(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    cfg = load_config(path, env={})
    assert main(["rules", "-c", str(path), "-o", str(tmp_path / "rules"),
                 "--tests", str(tmp_path / "tests")]) == 0  # fmt: skip
    suites = sorted((tmp_path / "tests").glob("*.test.yml"))
    assert len(suites) >= 4, suites
    assert PROMTOOL is not None
    procs = {
        s: subprocess.Popen(
            [PROMTOOL, "test", "rules", s.name],
            cwd=s.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for s in suites
    }
    failures = []
    for suite, proc in procs.items():
        output, _ = proc.communicate(timeout=600)
        if proc.returncode != 0 or "SUCCESS" not in output:
            failures.append(f"{suite.name}:\n{output[-3000:]}")
    assert not failures, "\n".join(failures)
    assert cfg.slos[0].name == "user-metadata"
