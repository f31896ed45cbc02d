"""The generated Grafana dashboards: in step with the config (golden files), built from the
rules' names, and every panel query answered by a real Prometheus that scraped real agents.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from prober.cli.dashboards import add_dashboards_parser, cmd_dashboards
from prober.config import Config, load_config
from prober.dashboards import (
    AGENTS_FILE,
    OVERVIEW_FILE,
    PanelQuery,
    panel_queries,
    render_dashboards,
)
from prober.dashboards import names as b
from prober.slo import names as n
from prober.slo.generate import build_groups

from .conftest import REPO, make_config
from .e2e_chain import REGIONS, Chain, needs_prometheus, running_chain

COMMITTED = REPO / "dashboards"
HELM_COPIES = REPO / "helm" / "prober" / "files" / "dashboards"
RECORDED = re.compile(r"\b(?:prober|prober_global):[a-z0-9_]+:[a-z0-9_]+\b")


def bundled() -> Config:
    return load_config(REPO / "probes.yaml", env={})


def boards(config: Config) -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in render_dashboards(config).items()}


def all_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_dashboards_parser(parser.add_subparsers(dest="command"))
    return cmd_dashboards(parser.parse_args(["dashboards", *argv]))


# --- golden files -------------------------------------------------------------------------
def test_the_committed_dashboards_are_what_the_bundled_config_generates() -> None:
    files = render_dashboards(bundled())
    assert sorted(files) == sorted(p.name for p in COMMITTED.glob("*.json"))
    for name, text in files.items():
        assert (COMMITTED / name).read_text(encoding="utf-8") == text, (
            f"dashboards/{name} is stale: run prober dashboards -c probes.yaml -o dashboards "
            "-o helm/prober/files/dashboards"
        )


def test_the_helm_chart_ships_byte_identical_copies() -> None:
    committed = {p.name: p.read_bytes() for p in COMMITTED.glob("*.json")}
    shipped = {p.name: p.read_bytes() for p in HELM_COPIES.glob("*.json")}
    assert committed
    assert shipped == committed


def test_the_same_config_gives_the_same_bytes_and_a_policy_change_shows(tmp_path: Path) -> None:
    assert render_dashboards(bundled()) == render_dashboards(bundled())
    raw = yaml.safe_load((REPO / "probes.yaml").read_text())
    raw["slos"][0]["alerting"]["budget_policy_spent_percent"] = 50
    (tmp_path / "probes.yaml").write_text(yaml.safe_dump(raw))
    changed = boards(load_config(tmp_path / "probes.yaml", env={}))[OVERVIEW_FILE]
    budget = next(p for p in all_panels(changed) if p["title"] == b.BUDGET_NOW)
    steps = budget["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.5]


def test_the_check_flag_passes_on_fresh_files_and_names_stale_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(REPO / "probes.yaml")
    assert cli("-c", config, "-o", str(tmp_path)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([OVERVIEW_FILE, AGENTS_FILE])
    assert cli("-c", config, "-o", str(tmp_path), "--check") == 0
    (tmp_path / AGENTS_FILE).write_text("{}\n")
    capsys.readouterr()
    assert cli("-c", config, "-o", str(tmp_path), "--check") == 1
    assert capsys.readouterr().out == (
        f"stale: {tmp_path / AGENTS_FILE} (run prober dashboards -c {config} -o {tmp_path})\n"
    )


def test_a_config_without_slos_is_a_one_line_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text("probes:\n  - name: a\n    url: http://127.0.0.1:1/\n")
    assert cli("-c", str(path), "-o", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "no SLOs defined" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


# --- structure ----------------------------------------------------------------------------
def test_every_recorded_series_a_panel_reads_is_a_rule_prober_rules_writes() -> None:
    config = bundled()
    recorded = {r.record for g in build_groups(config) for r in g.rules if r.record}
    used = {
        name
        for board in boards(config).values()
        for query in panel_queries(board)
        for name in RECORDED.findall(query.expr)
    }
    assert used - recorded == set()
    # The panels read the rules, not raw series, for every SLI figure the rules record.
    for sli in n.SLI:
        assert {n.error_ratio(sli, 30 * 86400), n.budget_remaining(sli, 30 * 86400)} <= used
        assert {n.error_ratio(sli, w, global_=True) for w in (300, 3600, 7200, 86400)} <= used
    assert {n.duration_quantile(0.99, 300), n.duration_quantile(0.95, 300), n.objective()} <= used
    # The share of the period with data beside the budget, and the p99 the alert reads.
    assert {n.period_coverage(global_=True), n.duration_quantile(0.99, 60)} <= used


def test_the_coverage_panel_shows_the_share_of_the_period_with_data_as_a_percentage() -> None:
    overview = boards(bundled())[b.OVERVIEW_FILE]
    (panel,) = [p for p in all_panels(overview) if p["title"] == b.COVERAGE]
    assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
    (target,) = panel["targets"]
    assert target["expr"].startswith(n.period_coverage(global_=True) + "{")
    assert "unspent" in panel["description"]


def test_panels_have_unique_ids_the_datasource_variable_and_no_overlap() -> None:
    for name, board in boards(bundled()).items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, panel["title"]
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not area & cells, f"{name}: {panel['title']} overlaps another panel"
            cells |= area
        for panel in all_panels(board):
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert set(variables) == {"datasource", "slo", "region"}
        assert variables["datasource"]["query"] == "prometheus"


def test_latency_panels_send_exemplar_queries_on_the_raw_histogram() -> None:
    overview = boards(bundled())[OVERVIEW_FILE]
    exemplars = [q for q in panel_queries(overview) if q.exemplar]
    assert [q.panel for q in exemplars] == [b.LATENCY]
    assert "prober_probe_duration_seconds_bucket" in exemplars[0].expr


def test_slos_with_different_settings_get_their_own_lines_and_matchers() -> None:
    fast = {"name": "fast", "budget_percent": 2, "long_window": "1h", "short_window": "5m",
            "severity": "critical", "action": "page"}  # fmt: skip
    config = make_config(
        [
            {"name": "a", "url": "http://127.0.0.1:1/", "slo": "api"},
            {"name": "b", "url": "http://127.0.0.1:1/", "slo": "web.v2"},
        ],
        slos=[
            {"name": "api", "alerting": {"budget_policy_spent_percent": 80}},
            {
                "name": "web.v2",
                "latency": None,
                "alerting": {"budget_policy_spent_percent": 50, "burn_windows": [fast]},
            },
        ],
    )
    overview = boards(config)[OVERVIEW_FILE]
    budget = {p["title"]: p for p in all_panels(overview) if p["title"].startswith(b.BUDGET_NOW)}
    assert set(budget) == {f"{b.BUDGET_NOW} (api)", f"{b.BUDGET_NOW} (web.v2)"}
    web = budget[f"{b.BUDGET_NOW} (web.v2)"]
    assert [s["value"] for s in web["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [
        None,
        0.5,
    ]
    # Only the availability SLI: web.v2 has no latency objective.
    assert [t["expr"] for t in web["targets"]] == [
        'prober_global:slo_availability_error_budget_remaining:rate30d{slo=~"$slo",'
        'slo=~"web\\\\.v2"}'
    ]
    burn = [p["title"] for p in all_panels(overview) if " burn rate: " in p["title"]]
    # Both SLOs share the fast window; only api has the slow one; only api has latency.
    assert burn == [
        "Availability burn rate: fast alert (1h and 5m windows)",
        "Availability burn rate: slow alert (1d and 2h windows) (api)",
        "Latency burn rate: fast alert (1h and 5m windows)",
        "Latency burn rate: slow alert (1d and 2h windows)",
    ]


# --- against a real Prometheus ------------------------------------------------------------
RATE_INTERVAL = "4s"  # Grafana's $__rate_interval at a 1 s scrape: 4 x scrape interval
MAY_BE_EMPTY = {
    b.TLS_EXPIRY: "the bundled probes use plain http",
    b.SKIPPED: "skips happen only when an agent falls behind",
    b.DROPPED: "tracing is off in the bundled config and nothing is dropped",
}
# Single queries that may be empty in the time-scaled chain, by the recorded series they read.
MAY_BE_EMPTY_SERIES = {
    "prober:slo_duration_seconds:p99_rate1m": "scaled 1/60 the p99 alert's 1m window is 1s, "
    "one scrape: rate() needs two",
}
KEY_PANELS = (
    b.AVAILABILITY_SLI,
    b.LATENCY_SLI,
    b.BUDGET_NOW,
    b.BUDGET_OVER_TIME.format(sli="Availability"),
    "Availability burn rate: fast alert (1h and 5m windows)",
    "Availability burn rate: slow alert (1d and 2h windows)",
    b.LATENCY,
    b.OUTCOMES,
    b.FAILURES,
    b.FIRING,
    b.SCHEDULE_LAG,
)


def substitute(expr: str, region: str = ".*", slo: str = ".*") -> str:
    """What Grafana sends with the variables' defaults ("All" is `.*`)."""
    out = (
        expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$region", region)
        .replace("$slo", slo)
    )
    assert "$" not in out, f"a variable the test does not know: {out}"
    return out


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with running_chain(tmp_path_factory.mktemp("dashboards")) as running:
        yield running


def ask(chain: Chain, query: PanelQuery, region: str = ".*") -> list[dict[str, Any]]:
    """Send one panel query as Grafana would: the result, or fail with Prometheus' error."""
    if query.panel.startswith("$"):  # label_values(metric, label): Grafana asks the series API
        found = re.fullmatch(r"label_values\((.+), (\w+)\)", query.expr)
        assert found is not None, query.expr
        metric, label = found.groups()
        answer = chain.api(f"label/{label}/values", **{"match[]": metric, "end": chain.at})
        assert answer["status"] == "success", f"{query.expr}: {answer}"
        return [{"value": v} for v in answer["data"]]
    expr = substitute(query.expr, region=region)
    if query.instant:
        answer = chain.api("query", query=expr, time=chain.at)
    else:
        answer = chain.api("query_range", query=expr, start=chain.at - 40, end=chain.at, step=1)
    assert answer["status"] == "success", f"{query.panel} {query.ref}: {expr}: {answer}"
    if query.exemplar:
        exemplars = chain.api("query_exemplars", query=expr, start=chain.at - 40, end=chain.at)
        assert exemplars["status"] == "success", f"exemplars of {expr}: {exemplars}"
    return [s for s in answer["data"]["result"] if _has_values(s)]


def _has_values(series: dict[str, Any]) -> bool:
    values = series.get("values") or [series["value"]]
    return any(v[1] not in ("NaN", "+Inf", "-Inf") for v in values)


def committed_queries() -> list[PanelQuery]:
    return [
        query
        for path in sorted(COMMITTED.glob("*.json"))
        for query in panel_queries(json.loads(path.read_text()))
    ]


@needs_prometheus
@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_every_panel_query_is_valid_promql_and_returns_data_where_it_should(
    chain: Chain,
) -> None:
    queries = committed_queries()
    titles = {q.panel for q in queries}
    assert set(KEY_PANELS) <= titles
    assert set(MAY_BE_EMPTY) <= titles
    empty = []
    for query in queries:
        allowed = query.panel in MAY_BE_EMPTY or any(x in query.expr for x in MAY_BE_EMPTY_SERIES)
        if not ask(chain, query) and not allowed:
            empty.append(f"{query.panel} {query.ref}: {query.expr}")
    assert empty == [], "panel queries without data:\n" + "\n".join(empty)


@needs_prometheus
@pytest.mark.e2e
def test_the_key_panels_show_the_incident_in_each_region(chain: Chain) -> None:
    queries = {(q.panel, q.ref): q for q in committed_queries()}
    for region in REGIONS:
        per_region = ask(chain, queries[(b.AVAILABILITY_SLI, "B")], region=region)
        assert [s["metric"]["region"] for s in per_region] == [region]
        # Mid-incident: the SLI fell below the objective and the budget is overspent.
        assert float(per_region[0]["value"][1]) < 0.999
    burn = ask(chain, queries[("Availability burn rate: fast alert (1h and 5m windows)", "C")])
    assert max(float(v[1]) for s in burn for v in s["values"]) > 14.4
    outcomes = {s["metric"]["outcome"] for s in ask(chain, queries[(b.OUTCOMES, "A")])}
    assert {"success", "http_status"} <= outcomes
    failed = ask(chain, queries[(b.FAILURES, "A")])
    assert any(s["metric"].get("step") for s in failed), "no scenario step in the breakdown"
    firing = {s["metric"]["alertname"] for s in ask(chain, queries[(b.FIRING, "A")])}
    assert {n.burn_alert(n.SLI.AVAILABILITY, "fast"), n.BUDGET_ALERT} <= firing
    regions = {s["value"] for s in ask(chain, queries[("$region", "")])}
    assert regions == set(REGIONS)
