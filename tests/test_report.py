"""`prober report`: the budget arithmetic (hand-computed from the SLO math), the outputs and
errors, and, against a real Prometheus fed by real agents through an incident, figures that
agree with what PromQL computes directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from prober import conventions as c
from prober.cli.report import add_report_parser, cmd_report
from prober.report import Verdict, budget_spent, burn_rate, make_report, time_to_exhaustion, verdict
from prober.report.collect import (
    BurnRate,
    Chart,
    Line,
    Report,
    Scope,
    SLIReport,
    SLOReport,
    burn_down,
    coverages,
    sli_points,
)
from prober.report.html import nice_ticks, render_html, svg_chart
from prober.report.prometheus import PrometheusError, Sample
from prober.report.render import coverage_text, span, to_data
from prober.slo import names as n
from prober.slo.names import SLI

from .conftest import REPO, ServerFactory
from .e2e_chain import REGIONS, SCALE, Chain, needs_prometheus, running_chain

HOUR, DAY = 3600.0, 86400.0
PERIOD = 30 * DAY


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers(dest="command"))
    return cmd_report(parser.parse_args(["report", *argv]))


# --- arithmetic: the figures of shared/docs/slo-math.md -------------------------------------
@pytest.mark.parametrize(
    ("error_ratio", "objective", "spent"),
    [
        (0.0005, 99.9, 0.5),  # half the 0.1% budget
        (0.001, 99.9, 1.0),  # all of it
        (0.0375, 95.0, 0.75),  # latency: 3.75% slow of a 5% budget
        (1.0, 99.9, 1000.0),  # a full outage over the whole period
    ],
    ids=["half", "all", "latency three quarters", "outage"],
)
def test_budget_spent_is_the_error_ratio_over_the_budget(
    error_ratio: float, objective: float, spent: float
) -> None:
    assert budget_spent(error_ratio, objective) == pytest.approx(spent)


@pytest.mark.parametrize(
    ("error_ratio", "objective", "rate"),
    [
        (0.0144, 99.9, 14.4),  # fast-burn availability threshold: 2% of 30d in 1h
        (0.0015, 99.9, 1.5),  # slow-burn availability threshold: 5% in 24h
        (0.72, 95.0, 14.4),  # fast-burn latency threshold
        (0.075, 95.0, 1.5),  # slow-burn latency threshold
    ],
    ids=["fast availability", "slow availability", "fast latency", "slow latency"],
)
def test_burn_rates_at_the_alert_thresholds_are_the_workbook_factors(
    error_ratio: float, objective: float, rate: float
) -> None:
    assert burn_rate(error_ratio, objective) == pytest.approx(rate)


@pytest.mark.parametrize(
    ("remaining", "burn", "seconds"),
    [
        (1.0, 14.4, 50 * HOUR),  # 720 h / 14.4
        (1.0, 1.0, PERIOD),  # sustainable: lasts the period
        (1.0, 1000.0, 0.72 * HOUR),  # full outage at 99.9%: 43.2 minutes
        (0.2, 14.4, 10 * HOUR),  # at the policy line, paging burn
        (0.0, 14.4, 0.0),  # spent: now
        (-3.0, 2.0, 0.0),  # overspent: now
        (0.5, 0.0, None),  # nothing burns: never
    ],
    ids=["fast", "sustainable", "outage", "policy line", "spent", "overspent", "no burn"],
)
def test_time_to_exhaustion_is_what_is_left_at_the_current_burn(
    remaining: float, burn: float, seconds: float | None
) -> None:
    result = time_to_exhaustion(remaining, burn, PERIOD)
    if seconds is None:
        assert result is None
    else:
        assert result == pytest.approx(seconds)


def test_the_policy_freezes_releases_only_past_80_percent_spent() -> None:
    assert verdict(0.79, 80) is Verdict.OK
    assert verdict(0.80, 80) is Verdict.OK  # the alert fires on remaining < 20%
    assert verdict(0.8001, 80) is Verdict.FREEZE
    assert verdict(5.0, 80) is Verdict.FREEZE
    assert verdict(None, 80) is Verdict.NO_DATA


def test_the_burn_down_spends_the_window_budget_step_by_step() -> None:
    # 2000 runs at 99.9%: 2 bad runs allowed. One bad in step 2, three in step 4.
    bad = {1.0: 0.0, 2.0: 1.0, 3.0: 0.0, 4.0: 3.0}
    total = {1.0: 500.0, 2.0: 500.0, 3.0: 500.0, 4.0: 500.0}
    assert burn_down(bad, total, 99.9) == [(1.0, 1.0), (2.0, 0.5), (3.0, 0.5), (4.0, -1.0)]
    assert sli_points(bad, total) == [(1.0, 1.0), (2.0, 0.998), (3.0, 1.0), (4.0, 0.994)]
    assert burn_down({}, {}, 99.9) == []


def test_time_without_data_counts_as_unspent_in_the_burn_down() -> None:
    # Data for half the window: the 2000 recorded runs stand for 4000 expected, so 4 bad
    # runs are allowed at 99.9% and the 3 bad ones spend 75%.
    bad = {1.0: 0.0, 2.0: 3.0}
    total = {1.0: 1000.0, 2.0: 1000.0}
    points = burn_down(bad, total, 99.9, coverage=0.5)
    assert [t for t, _ in points] == [1.0, 2.0]
    assert [v for _, v in points] == pytest.approx([1.0, 0.25])
    assert burn_down(bad, total, 99.9, coverage=0.0) == []


def test_coverage_is_seconds_with_data_over_the_window_and_the_best_region_across() -> None:
    got = coverages(
        [Sample({"region": "eu"}, 172800.0), Sample({"region": "us"}, 3_000_000.0)], PERIOD
    )
    assert got == {"eu": pytest.approx(2 / 30), "us": 1.0, None: 1.0}
    assert coverages([], PERIOD) == {}


def test_the_report_says_how_much_of_the_window_has_data() -> None:
    scope = _scope(None, 0.5, False)
    report = _report(Scope(**{**scope.__dict__, "coverage": 0.0667}))
    assert to_data(report)["slos"][0]["slis"][0]["scopes"][0]["coverage"] == 0.0667
    text = coverage_text(report.slos[0])
    assert "data coverage: 2.0d of the 30d window (6.7%)" in text
    assert "unspent" in text
    assert "6.7%" in render_html(report, [])


def test_exhaustion_times_read_in_the_largest_unit() -> None:
    assert [span(s) for s in (None, 0.0, 45.0, 2592.0, 50 * HOUR, PERIOD)] == [
        "never",
        "now",
        "45s",
        "43m",
        "2.1d",
        "30d",
    ]


def test_chart_ticks_are_round_numbers() -> None:
    assert nice_ticks(0.0, 1.0) == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert nice_ticks(-4.7, 1.0) == pytest.approx([-4.0, -2.0, 0.0])
    assert nice_ticks(0.9, 0.9) == [0.9]


def _scope(region: str | None, spent: float, over: bool) -> Scope:
    burn = BurnRate("fast", "critical", HOUR, 300.0, 14.4, 20.0, 30.0)
    return Scope(region, spent / 1000, 1 - spent / 1000, spent, 1 - spent, (burn,), 20.0, 0.0, over)


def _report(*scopes: Scope) -> Report:
    sli = SLIReport(SLI.AVAILABILITY, 99.9, scopes)
    slo = SLOReport("api", PERIOD, PERIOD, 80, HOUR, (sli,), ())
    return Report("http://127.0.0.1:9090", 1.7e9, 1.0, (slo,))


def test_the_verdict_follows_the_all_regions_budget_like_the_policy_alert() -> None:
    # One region over the line, all regions under it: informational, no freeze (the budget
    # policy alert reads the cross-region budget too).
    calm = _report(_scope(None, 0.5, False), _scope("eu-1", 0.9, True))
    assert calm.slos[0].verdict is Verdict.OK
    assert calm.exit_code == 0
    hot = _report(_scope(None, 0.85, True), _scope("eu-1", 0.85, True))
    assert hot.slos[0].verdict is Verdict.FREEZE
    assert hot.exit_code == 1
    data = to_data(hot)
    assert data["exit_code"] == 1
    assert data["slos"][0]["verdict"] == "freeze"
    scope = data["slos"][0]["slis"][0]["scopes"][0]
    assert scope["region"] is None
    assert scope["budget_spent"] == 0.85
    assert scope["burn_rates"][0] == {
        "window": "fast",
        "severity": "critical",
        "long_window_seconds": HOUR,
        "short_window_seconds": 300.0,
        "threshold": 14.4,
        "long": 20.0,
        "short": 30.0,
        "over": True,
    }


def test_the_html_page_fetches_nothing_and_draws_every_line() -> None:
    chart = Chart(
        "api: availability SLI",
        (Line("all regions", ((1.0, 1.0), (2.0, 0.99), (3.0, 0.995))), Line("eu-1", ())),
        (("objective", 0.999),),
    )
    page = render_html(_report(_scope(None, 0.85, True)), [chart])
    assert page.startswith("<!DOCTYPE html>")
    for fetch in ("<script", "src=", "href=", "url(", "@import", "<link"):
        assert fetch not in page.lower()
    polylines = re.findall(r'<polyline data-line="([^"]+)" points="([^"]*)"', page)
    assert [(name, len(points.split())) for name, points in polylines] == [
        ("all regions", 3),
        ("eu-1", 0),
    ]
    assert "objective 99.9%" in page
    assert "no data in the window" in svg_chart(Chart("empty", (), ()))


# --- errors -------------------------------------------------------------------------------
def test_an_unreachable_prometheus_is_one_line_and_exit_2_without_credentials(
    closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://admin:s3cret@127.0.0.1:{closed_port}"
    assert cli("--prometheus", url, "-c", str(REPO / "probes.yaml")) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: prometheus at http://127.0.0.1:{closed_port}: ")
    assert err.count("\n") == 1
    assert "s3cret" not in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prometheus", "127.0.0.1:9090"], "must be an http:// or https:// URL"),
        (["--prometheus", "http://127.0.0.1:1", "-c", "missing.yaml"], "missing.yaml"),
    ],
    ids=["no scheme", "no config"],
)
def test_usage_and_config_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = [] if "-c" in argv else ["-c", str(REPO / "probes.yaml")]
    assert cli(*argv, *config) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1


async def test_prometheus_errors_name_the_server_and_the_reason(
    http_server: ServerFactory,
) -> None:
    async def rejects(_: web.Request) -> web.Response:
        body = {"status": "error", "errorType": "bad_data", "error": "parse error:\nunexpected"}
        return web.json_response(body, status=400)

    async def not_prometheus(_: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", status=200)

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    def routes(app: web.Application) -> None:
        app.router.add_post("/bad/api/v1/query", rejects)
        app.router.add_post("/html/api/v1/query", not_prometheus)
        app.router.add_post("/slow/api/v1/query", slow)

    base = await http_server(routes)
    config = str(REPO / "probes.yaml")
    expected = {
        "bad": "bad_data: parse error: unexpected",
        "html": "HTTP 200, not a Prometheus API answer",
        "slow": "no answer in time",
    }
    for path, reason in expected.items():
        with pytest.raises(PrometheusError) as info:
            await make_report(f"{base}/{path}", config, request_timeout=0.3)
        assert str(info.value) == f"prometheus at {base}/{path}: {reason}"


async def test_a_prometheus_without_prober_data_reports_no_data_and_exit_0(
    http_server: ServerFactory,
) -> None:
    asked: list[str] = []

    async def empty(request: web.Request) -> web.Response:
        asked.append(str((await request.post())["query"]))
        return web.json_response(
            {"status": "success", "data": {"resultType": "vector", "result": []}}
        )

    def routes(app: web.Application) -> None:
        app.router.add_post("/api/v1/query", empty)

    base = await http_server(routes)
    report, _ = await make_report(base, str(REPO / "probes.yaml"), at=1.7e9)
    (slo,) = report.slos
    assert slo.verdict is Verdict.NO_DATA
    assert report.exit_code == 0
    for sli in slo.slis:
        (scope,) = sli.scopes
        assert scope.region is None
        assert (scope.sli, scope.budget_remaining, scope.time_to_exhaustion) == (None, None, None)
    # It asked for the recorded rates, by their names, and for the alerts.
    assert any(n.bad_runs(300) in q for q in asked)
    assert any(n.slow_runs(3600) in q for q in asked)
    assert any(q.startswith("ALERTS{") for q in asked)


# --- against a real Prometheus ------------------------------------------------------------
@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with running_chain(tmp_path_factory.mktemp("report")) as running:
        yield running


def report_json(chain: Chain, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    code = cli(
        "--prometheus", chain.prometheus_url, "-c", chain.config.source, "--at", str(chain.at),
        "--time-scale", str(SCALE), "-o", "json", *extra,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == code
    return data


def scopes(data: dict[str, Any], sli: SLI) -> dict[str | None, dict[str, Any]]:
    (slo,) = data["slos"]
    (found,) = (s for s in slo["slis"] if s["sli"] == sli)
    return {s["region"]: s for s in found["scopes"]}


def by_region(chain: Chain, promql: str) -> dict[str | None, float]:
    return {s["metric"].get(c.L_REGION): float(s["value"][1]) for s in chain.instant(promql)}


BAD = "|".join(c.DEFAULT_BAD_OUTCOMES)  # the bundled SLO counts every failure


def raw_rates(sli: SLI, window: str) -> tuple[str, str]:
    """Bad and all rates of an SLI from the raw counters (no recording rule), per series."""
    s = 'slo="user-metadata"'
    if sli is SLI.AVAILABILITY:
        return (
            f'rate({c.RUNS_TOTAL}{{{s},{c.L_OUTCOME}=~"{BAD}"}}[{window}])',
            f"rate({c.RUNS_TOTAL}{{{s}}}[{window}])",
        )
    ok = f'{s},{c.L_OUTCOME}="success"'
    count = f"rate({c.DURATION}_count{{{ok}}}[{window}])"
    fast = f'rate({c.DURATION}_bucket{{{ok},{c.L_LE}="0.2"}}[{window}])'
    return f"({count} - ignoring ({c.L_LE}) {fast})", count


@needs_prometheus
@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_mid_incident_the_report_says_freeze_and_exits_1(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    data = report_json(chain, capsys)
    assert data["exit_code"] == 1
    (slo,) = data["slos"]
    assert slo["verdict"] == "freeze"
    availability = scopes(data, SLI.AVAILABILITY)
    assert set(availability) == {None, *REGIONS}
    assert availability[None]["over_policy"] is True
    assert availability[None]["sli"] < 0.999
    fast = availability[None]["burn_rates"][0]
    assert fast["window"] == "fast"
    assert fast["over"] is True
    # The table says the same to a person.
    assert cli(
        "--prometheus", chain.prometheus_url, "-c", chain.config.source, "--at", str(chain.at),
        "--time-scale", str(SCALE),
    ) == 1  # fmt: skip
    table = capsys.readouterr().out
    assert "FREEZE feature releases" in table
    assert f"firing: {n.BUDGET_ALERT} (warning, availability, all regions)" in table


@needs_prometheus
@pytest.mark.e2e
def test_period_figures_equal_what_the_rules_record(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    data = report_json(chain, capsys)
    for sli in SLI:
        got = scopes(data, sli)
        ratios = by_region(chain, n.error_ratio(sli, PERIOD)) | by_region(
            chain, n.error_ratio(sli, PERIOD, global_=True)
        )
        left = by_region(chain, n.budget_remaining(sli, PERIOD)) | by_region(
            chain, n.budget_remaining(sli, PERIOD, global_=True)
        )
        covered = by_region(chain, n.period_coverage()) | by_region(
            chain, n.period_coverage(global_=True)
        )
        assert set(ratios) == set(got) == {None, *REGIONS}
        for region, scope in got.items():
            assert scope["error_ratio"] == pytest.approx(ratios[region], rel=1e-9), (sli, region)
            assert scope["budget_remaining"] == pytest.approx(left[region], rel=1e-9)
            assert scope["coverage"] == pytest.approx(covered[region], rel=1e-9)
            assert 0 < scope["coverage"] < 0.01  # minutes of a (scaled) 12h period
            assert scope["sli"] == pytest.approx(1 - ratios[region], rel=1e-9)


@needs_prometheus
@pytest.mark.e2e
def test_burn_rates_equal_the_ratio_rules_the_alerts_read(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    data = report_json(chain, capsys)
    budgets = {SLI.AVAILABILITY: 0.001, SLI.LATENCY: 0.05}
    for sli in SLI:
        for region, scope in scopes(data, sli).items():
            for burn in scope["burn_rates"]:
                for which in ("long", "short"):
                    window = burn[f"{which}_window_seconds"]
                    rule = n.error_ratio(sli, window, global_=region is None)
                    ratio = by_region(chain, rule)[region]
                    assert burn[which] == pytest.approx(ratio / budgets[sli], rel=1e-9), (
                        sli,
                        region,
                        rule,
                    )
            now = scope["current_burn_rate"]
            assert now == scope["burn_rates"][0]["long"]  # the 1h window
            expected = max(scope["budget_remaining"], 0) * PERIOD / SCALE / now
            assert scope["time_to_exhaustion_seconds"] == pytest.approx(expected)


@needs_prometheus
@pytest.mark.e2e
def test_figures_agree_with_raw_counters_computed_directly(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    """Independent of the rule engine: at every instant the rules recorded a base-window rate,
    the raw counters' rate over that window (5m, here 5s), summed over the period, gives the
    SLI; and the 1h burn rate is a raw rate() over 1h (here 1m) at the rule's last run.

    Tolerance 5%: a scrape ingested just after a rule ran is in this sum but was not in the
    rule's, and one sample of a 5 s window is a fifth of it.

    (An `increase()` over the raw counters is not this estimator: over a 20 s history with
    5 s rate windows, the edges it counts differently are a quarter of the data. Over 30 days
    of 5 minute windows they are a thousandth.)"""
    data = report_json(chain, capsys)
    budgets = {SLI.AVAILABILITY: 0.001, SLI.LATENCY: 0.05}
    runs = chain.api("query", query=f"{n.runs(300)}[12h]", time=chain.at)["data"]["result"]
    stamps = sorted({float(t) for series in runs for t, _ in series["values"]})
    assert len(stamps) >= 10
    for sli in SLI:
        got = scopes(data, sli)
        bad: dict[str | None, float] = {}
        total: dict[str | None, float] = {}
        num, den = raw_rates(sli, "5s")
        for at in stamps:
            for expr, sums in ((num, bad), (den, total)):
                for s in chain.instant(f"sum by ({c.L_REGION}) ({expr})", at=at):
                    region = s["metric"][c.L_REGION]
                    sums[region] = sums.get(region, 0.0) + float(s["value"][1])
        for region in REGIONS:
            direct = bad[region] / total[region]
            assert got[region]["error_ratio"] == pytest.approx(direct, rel=0.05), (sli, region)
        direct = sum(bad.values()) / sum(total.values())
        assert got[None]["error_ratio"] == pytest.approx(direct, rel=0.05), sli
        # The 1h burn rate: raw counters over 1m (1h / 60) at the rule's evaluation time.
        (stamp,) = chain.instant(f"timestamp({n.error_ratio(sli, HOUR, global_=True)})")
        rates = [
            chain.instant(f"sum({x})", at=float(stamp["value"][1]))[0]["value"][1]
            for x in raw_rates(sli, "1m")
        ]
        direct_burn = float(rates[0]) / float(rates[1]) / budgets[sli]
        assert got[None]["burn_rates"][0]["long"] == pytest.approx(direct_burn, rel=0.05), sli


@needs_prometheus
@pytest.mark.e2e
def test_the_alerts_listed_are_the_ones_prometheus_has_firing(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    data = report_json(chain, capsys)
    listed = {
        (a["alertname"], a["labels"].get("region"), a["labels"].get("sli"))
        for a in data["slos"][0]["alerts"]
    }
    firing = {
        (s["metric"]["alertname"], s["metric"].get("region"), s["metric"].get("sli"))
        for s in chain.instant('ALERTS{alertstate="firing",slo="user-metadata"}')
    }
    assert listed == firing
    assert {
        (n.burn_alert(SLI.AVAILABILITY, "fast", global_=True), None, "availability"),
        (n.BUDGET_ALERT, None, "availability"),
    } <= listed


@needs_prometheus
@pytest.mark.e2e
def test_the_html_charts_show_the_incident_and_end_at_the_reported_budget(
    chain: Chain, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    data = report_json(chain, capsys, "--window", "40m", "--html", str(page))
    html = page.read_text()
    assert html.count("<svg") == 4
    for fetch in ("<script", "src=", "href=", "url(", "@import", "<link"):
        assert fetch not in html.lower()
    _, drawn = asyncio.run(
        make_report(chain.prometheus_url, chain.config.source, window=40 * 60, at=chain.at,
                    scale=SCALE, with_charts=True)
    )  # fmt: skip
    titles = [chart.title for chart in drawn]
    assert titles == [
        "user-metadata: availability error budget remaining",
        "user-metadata: availability SLI",
        "user-metadata: latency error budget remaining",
        "user-metadata: latency SLI",
    ]
    pairs = {SLI.AVAILABILITY: (drawn[0], drawn[1]), SLI.LATENCY: (drawn[2], drawn[3])}
    for sli, (budget_chart, sli_chart) in pairs.items():
        (down,) = budget_chart.lines
        values = [v for _, v in down.points]
        assert len(values) >= 10
        assert values == sorted(values, reverse=True), "a burn-down never goes back up"
        assert values[0] <= 1.0
        # Steps tile the window: the chart ends where the report's budget over it does. The
        # chart sums per-step increases, the report takes one increase over the whole window;
        # rate extrapolation at the edges differs between the two, and in this 1/60-scaled
        # chain an edge is a large share of the window (one CI run: -71.4 against -77.0). A
        # wrong coverage factor or window would be off by far more than 10%.
        reported = scopes(data, sli)[None]["budget_remaining"]
        assert values[-1] == pytest.approx(reported, rel=0.1, abs=0.02)
        assert [line.name for line in sli_chart.lines] == ["all regions", *REGIONS]
        assert min(v for line in sli_chart.lines for _, v in line.points) < 0.95
        assert sli_chart.references == (("objective", 0.999 if sli is SLI.AVAILABILITY else 0.95),)
