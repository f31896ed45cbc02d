"""The Grafana dashboards, built with Grafana's own SDK (grafana-foundation-sdk).

Two dashboards from one config, both with a Prometheus datasource variable and
`slo` / `region` variables:

- `prober-slo-overview` (uid `prober-slo`): SLIs against objectives over the SLO
  period, error budget left with the policy line, burn rates per alert window,
  alerts firing, latency quantiles with exemplars, outcomes over time.
- `prober-agents` (uid `prober-agents`): per-probe durations with exemplars,
  request phases, scenario steps, and the agents' own health.

Panels read the recording rules `prober rules` writes (names from prober.slo.names)
wherever one exists; raw series only where no rule records what the panel shows
(outcome and step breakdowns, phases, agent health) or where exemplars are needed
(exemplars live on the raw histogram, not on recorded series). Panel ids are
assigned in build order, so the same config gives the same bytes.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as pb
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from .. import conventions as c
from ..config import BurnWindow, Config, SLOConfig
from ..slo import names as n
from ..slo.generate import build_groups
from ..slo.names import SLI
from ..slo.windows import QUANTILE_WINDOW, Burn, base_window, duration, number
from . import names as t
from . import promql as q

DATASOURCE: Final = dm.DataSourceRef(type_val="prometheus", uid=f"${{{q.DATASOURCE_VAR}}}")
PERCENT: Final = "percentunit"
SECONDS: Final = "s"
BURN_UNIT: Final = "suffix:x"
RUNS_PER_SECOND: Final = "suffix: runs/s"

GREEN, YELLOW, RED = "green", "yellow", "red"


def _ok_or(bad: str) -> list[dm.ValueMap | dm.RangeMap | dm.RegexMap | dm.SpecialValueMap]:
    """Value mappings for a 0/1 series: 0 is `bad` in red, 1 is ok in green."""
    return [
        dm.ValueMap(
            {
                "0": dm.ValueMappingResult(text=bad, color=RED, index=0),
                "1": dm.ValueMappingResult(text="ok", color=GREEN, index=1),
            }
        )
    ]


def _thresholds(base: str, *steps: tuple[float, str]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=None, color=base), *(dm.Threshold(v, col) for v, col in steps)])
    )


def _query(
    expr: str,
    legend: str,
    ref: str,
    *,
    instant: bool = False,
    exemplar: bool = False,
    as_table: bool = False,
) -> pb.Dataquery:
    query = pb.Dataquery().expr(expr).ref_id(ref).exemplar(exemplar)
    if legend:
        query = query.legend_format(legend)
    query = query.instant() if instant else query.range()
    fmt = pm.PromQueryFormat.TABLE if as_table else pm.PromQueryFormat.TIME_SERIES
    return query.format(fmt)


def _refs() -> Iterator[str]:
    yield from "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _legend(placement: cm.LegendPlacement = cm.LegendPlacement.BOTTOM) -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(placement)
        .show_legend(True)
    )


def _tooltip() -> cb.VizTooltipOptions:
    return cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING)


def _timeseries(
    title: str, description: str, unit: str, queries: Sequence[pb.Dataquery], width: int = 12
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(8)
        .legend(_legend())
        .tooltip(_tooltip())
        .fill_opacity(5)
        .show_points(cm.VisibilityMode.NEVER)
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel


def _lines(panel: timeseries.Panel, base: str, *steps: tuple[float, str]) -> timeseries.Panel:
    """Draw the config's thresholds on a time series as dashed lines."""
    return panel.thresholds(_thresholds(base, *steps)).thresholds_style(
        cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
    )


def _stat(
    title: str, description: str, unit: str, queries: Sequence[pb.Dataquery], width: int = 6
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(6)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.VALUE)
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel


class _Board:
    """A dashboard under construction: stable panel ids in build order."""

    def __init__(self, uid: str, title: str, description: str, config: Config) -> None:
        self._ids = itertools.count(1)
        self.config = config
        self.slos = config.slos
        self.builder = (
            db.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags([t.TAG])
            .editable()
            .tooltip(dm.DashboardCursorSync.CROSSHAIR)
            .time("now-24h", "now")
            .refresh("1m")
            .timezone("browser")
            .link(
                db.DashboardLink("Prober dashboards")
                .type(dm.DashboardLinkType.DASHBOARDS)
                .tags([t.TAG])
                .as_dropdown(False)
                .include_vars(True)
                .keep_time(True)
            )
            .with_variable(
                db.DatasourceVariable(q.DATASOURCE_VAR).label("Prometheus").type("prometheus")
            )
            .with_variable(
                self._variable(
                    "slo", "SLO", f"label_values({n.objective()}, {c.L_SLO})", "SLOs from the rules"
                )
            )
            .with_variable(
                self._variable(
                    "region",
                    "Region",
                    f"label_values({c.BUILD_INFO}, {c.L_REGION})",
                    "Regions with an agent reporting",
                )
            )
        )

    @staticmethod
    def _variable(name: str, label: str, query: str, description: str) -> db.QueryVariable:
        return (
            db.QueryVariable(name)
            .label(label)
            .description(description)
            .datasource(DATASOURCE)
            .query(query)
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dm.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")  # "All" also matches series without the label (probes without SLO)
            .current(dm.VariableOption(selected=True, text="All", value="$__all"))
        )

    def annotations(self, alerts: str | None) -> None:
        """Grafana's built-in annotations, and markers where the generated alerts fired."""
        self.builder = self.builder.annotation(
            db.AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
            .built_in(1)
        )
        if alerts is not None:
            self.builder = self.builder.annotation(
                db.AnnotationQuery()
                .name("Firing alerts")
                .datasource(DATASOURCE)
                .enable(True)
                .hide(False)
                .icon_color(RED)
                .expr(alerts)
            )

    def row(self, title: str) -> None:
        self.builder = self.builder.with_row(db.Row(title).id(next(self._ids)))

    def panel(self, panel: cogbuilder.Builder[dm.Panel]) -> None:
        built = panel.build()
        built.id_val = next(self._ids)
        self.builder = self.builder.with_panel(_Built(built))

    def build(self) -> dm.Dashboard:
        return self.builder.build()


@dataclass
class _Built(cogbuilder.Builder[dm.Panel]):
    """An already built panel, handed back to the dashboard builder (which wants builders)."""

    panel: dm.Panel

    def build(self) -> dm.Panel:
        return self.panel


# --- the SLO overview ---------------------------------------------------------------------
def _slis(slo: SLOConfig) -> list[SLI]:
    return [SLI.AVAILABILITY] + ([SLI.LATENCY] if slo.latency is not None else [])


def _with_sli(slos: Sequence[SLOConfig], sli: SLI) -> list[SLOConfig]:
    return [s for s in slos if sli in _slis(s)]


def _status_row(board: _Board) -> None:
    slos = board.slos
    board.row("SLO status over the SLO period")
    for sli, title in ((SLI.AVAILABILITY, t.AVAILABILITY_SLI), (SLI.LATENCY, t.LATENCY_SLI)):
        having = _with_sli(slos, sli)
        for period, group in q.grouped(having, lambda s: s.period):
            sel = q.slo_matchers(group, having)
            what = (
                "share of probe runs that succeeded"
                if sli is SLI.AVAILABILITY
                else "share of successful runs faster than the latency threshold"
            )
            refs = _refs()
            p = duration(period)
            board.panel(
                _stat(
                    q.for_slos(title, group, having),
                    f"The {sli} SLI ({what}) over the SLO period ({p}), across all regions and "
                    "per region, next to the objective. Recording rules "
                    f"`{n.error_ratio(sli, period, global_=True)}`, "
                    f"`{n.error_ratio(sli, period)}`, `{n.objective()}`.",
                    PERCENT,
                    [
                        _query(
                            f"1 - {q.selector(n.error_ratio(sli, period, global_=True), *sel)}",
                            f"{{{{{c.L_SLO}}}}} all regions, {p}",
                            next(refs),
                            instant=True,
                        ),
                        _query(
                            f"1 - {q.selector(n.error_ratio(sli, period), *sel, q.REGION_MATCH)}",
                            f"{{{{{c.L_SLO}}}}} {{{{{c.L_REGION}}}}}, {p}",
                            next(refs),
                            instant=True,
                        ),
                        _query(
                            q.selector(n.objective(), *sel, q.eq(n.L_SLI, sli)),
                            f"{{{{{c.L_SLO}}}}} objective",
                            next(refs),
                            instant=True,
                        ),
                    ],
                ).decimals(3)
            )
    for (period, spent), group in q.grouped(
        slos, lambda s: (s.period, s.alerting.budget_policy_spent_percent)
    ):
        sel = q.slo_matchers(group, slos)
        line = 1 - spent / 100
        refs = _refs()
        board.panel(
            _stat(
                q.for_slos(t.BUDGET_NOW, group, slos),
                f"Share of the {duration(period)} error budget left, across all regions: 100% "
                f"untouched, 0% spent, below 0 overspent. Red below {number(line * 100)}% "
                f"left: over {number(spent)}% spent, the budget policy freezes feature releases "
                f"(alert {n.BUDGET_ALERT}).",
                PERCENT,
                [
                    _query(
                        q.selector(n.budget_remaining(sli, period, global_=True), *sel),
                        f"{{{{{c.L_SLO}}}}} {sli}",
                        next(refs),
                        instant=True,
                    )
                    for sli in (SLI.AVAILABILITY, SLI.LATENCY)
                    if _with_sli(group, sli)
                ],
                width=8,
            )
            .decimals(1)
            .thresholds(_thresholds(RED, (line, GREEN)))
        )
        board.panel(
            _stat(
                q.for_slos(t.COVERAGE, group, slos),
                f"Share of the {duration(period)} SLO period for which Prometheus holds "
                "recorded runs (any region). Below 100% (a new install, a retention shorter "
                "than the period, rule evaluation down) the budget counts the missing time as "
                "unspent: bad runs are weighed against the runs expected over the whole "
                "period at the observed run rate.",
                PERCENT,
                [
                    _query(
                        q.selector(n.period_coverage(global_=True), *sel),
                        f"{{{{{c.L_SLO}}}}}",
                        "A",
                        instant=True,
                    )
                ],
                width=4,
            ).decimals(1)
        )
    alerts = _alert_selector(board)
    board.panel(
        table.Panel()
        .title(t.FIRING)
        .description(
            "Alerts of the generated rules firing now (Prometheus' ALERTS series): burn rates, "
            "p99, budget policy, traffic and the agents' dead-man's switches."
        )
        .datasource(DATASOURCE)
        .span(12)
        .height(8)
        .with_target(_query(alerts, "", "A", instant=True, as_table=True))
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True, "Value": True, "__name__": True},
                    "indexByName": {"alertname": 0, "severity": 1, "slo": 2, "region": 3},
                },
            )
        )
        .no_value("No alert firing")
    )
    board.panel(
        statetimeline.Panel()
        .title(t.ALERT_HISTORY)
        .description("When each alert was firing over the dashboard's time range.")
        .datasource(DATASOURCE)
        .span(12)
        .height(8)
        .show_value(cm.VisibilityMode.NEVER)
        .merge_values(True)
        .legend(_legend().show_legend(False))
        .with_target(
            _query(
                f"max by ({n.L_SEVERITY}, alertname, {c.L_SLO}, {c.L_REGION}) ({alerts})",
                "{{alertname}} {{slo}} {{region}}",
                "A",
            )
        )
        .thresholds(_thresholds(RED))
        .no_value("No alert fired")
    )


def _alert_selector(board: _Board) -> str:
    """ALERTS of the rules generated from this config, filtered by the variables."""
    names = sorted({r.alert for g in build_groups(board.config) for r in g.rules if r.alert})
    return q.selector(
        "ALERTS",
        'alertstate="firing"',
        f'alertname=~"{"|".join(names)}"',
        q.SLO_OR_NONE,
        q.REGION_OR_NONE,
    )


def _budget_row(board: _Board) -> None:
    slos = board.slos
    board.row("Error budget and SLIs over time")
    for sli in (SLI.AVAILABILITY, SLI.LATENCY):
        having = _with_sli(slos, sli)
        for (period, spent), group in q.grouped(
            having, lambda s: (s.period, s.alerting.budget_policy_spent_percent)
        ):
            sel = q.slo_matchers(group, having)
            line = 1 - spent / 100
            refs = _refs()
            board.panel(
                _lines(
                    _timeseries(
                        q.for_slos(t.BUDGET_OVER_TIME.format(sli=sli.capitalize()), group, having),
                        f"The {duration(period)} {sli} error budget left over time, across all "
                        f"regions and per region. The dashed line is the policy: over "
                        f"{number(spent)}% spent, freeze feature releases.",
                        PERCENT,
                        [
                            _query(
                                q.selector(n.budget_remaining(sli, period, global_=True), *sel),
                                "{{slo}} all regions",
                                next(refs),
                            ),
                            _query(
                                q.selector(n.budget_remaining(sli, period), *sel, q.REGION_MATCH),
                                "{{slo}} {{region}}",
                                next(refs),
                            ),
                        ],
                    ),
                    RED,
                    (line, GREEN),
                )
            )
    for sli in (SLI.AVAILABILITY, SLI.LATENCY):
        having = _with_sli(slos, sli)
        for (period, base), group in q.grouped(having, lambda s: (s.period, base_window(s))):
            sel = q.slo_matchers(group, having)
            refs = _refs()
            board.panel(
                _timeseries(
                    q.for_slos(t.SLI_OVER_TIME.format(sli=sli.capitalize()), group, having),
                    f"The {sli} SLI per region over the last {duration(base)} (incidents) and "
                    f"over the SLO period ({duration(period)}), with the objective.",
                    PERCENT,
                    [
                        _query(
                            f"1 - {q.selector(n.error_ratio(sli, base), *sel, q.REGION_MATCH)}",
                            f"{{{{slo}}}} {{{{region}}}}, {duration(base)}",
                            next(refs),
                        ),
                        _query(
                            f"1 - {q.selector(n.error_ratio(sli, period), *sel, q.REGION_MATCH)}",
                            f"{{{{slo}}}} {{{{region}}}}, {duration(period)}",
                            next(refs),
                        ),
                        _query(
                            q.selector(n.objective(), *sel, q.eq(n.L_SLI, sli)),
                            "{{slo}} objective",
                            next(refs),
                        ),
                    ],
                )
            )


def _burn_key(slo: SLOConfig, w: BurnWindow) -> tuple[str, float, float, float, str]:
    return (w.name, w.long_window, w.short_window, Burn(w, slo.period).rate, w.severity)


def _burn_row(board: _Board) -> None:
    slos = board.slos
    board.row("Burn rates per alert window")
    for sli in (SLI.AVAILABILITY, SLI.LATENCY):
        having = _with_sli(slos, sli)
        keys = sorted(
            {_burn_key(s, w) for s in having for w in s.alerting.burn_windows},
            key=lambda k: (k[1], k[0]),
        )
        for key in keys:
            name, long_, short, rate, severity = key
            group = [
                s for s in having if any(_burn_key(s, w) == key for w in s.alerting.burn_windows)
            ]
            sel = q.slo_matchers(group, having)
            budget = q.selector(n.objective(), *sel, q.eq(n.L_SLI, sli))
            refs = _refs()
            queries = []
            for window in (long_, short):
                for global_ in (True, False):
                    ratio = q.selector(
                        n.error_ratio(sli, window, global_=global_),
                        *sel,
                        *(() if global_ else (q.REGION_MATCH,)),
                    )
                    where = "all regions" if global_ else "{{region}}"
                    queries.append(
                        _query(
                            f"{ratio} / on ({c.L_SLO}) group_left () (1 - {budget})",
                            f"{{{{slo}}}} {where}, {duration(window)}",
                            next(refs),
                        )
                    )
            title = t.BURN_RATE.format(
                sli=sli.capitalize(), window=name, long=duration(long_), short=duration(short)
            )
            board.panel(
                _lines(
                    _timeseries(
                        q.for_slos(title, group, having),
                        f"How fast the {sli} error budget burns: the error ratio over each "
                        "window divided by the error budget (1x spends it exactly over the SLO "
                        f"period). {n.burn_alert(sli, name)} ({severity}) fires when both the "
                        f"{duration(long_)} and the {duration(short)} burn rate are above "
                        f"{number(rate)}x (dashed line).",
                        BURN_UNIT,
                        queries,
                    ),
                    GREEN,
                    (rate, RED),
                )
            )


def _latency_row(board: _Board) -> None:
    slos = _with_sli(board.slos, SLI.LATENCY)
    board.row("Latency")
    for (threshold, p99, p99_window), group in q.grouped(
        slos,
        lambda s: (
            s.latency.threshold if s.latency else 0.0,
            s.alerting.p99_threshold,
            s.alerting.p99_window,
        ),
    ):
        sel = (*q.slo_matchers(group, slos), q.REGION_MATCH)
        window = QUANTILE_WINDOW
        by = (c.L_SLO, c.L_REGION)
        raw = q.selector(f"{c.DURATION}_bucket", *sel, q.eq(c.L_OUTCOME, c.Outcome.SUCCESS))
        refs = _refs()
        board.panel(
            _lines(
                _timeseries(
                    q.for_slos(t.LATENCY, group, slos),
                    f"Quantiles of successful runs' durations over {duration(window)} "
                    f"(recording rules), and p99 at the dashboard's resolution from the raw "
                    "histogram with exemplars: a point links to the run's trace when the "
                    "datasource has an exemplar trace-ID destination. Dashed: the latency SLI "
                    f"threshold ({duration(threshold)}) and the p99 alert ({duration(p99)}), "
                    f"which reads p99 over {duration(p99_window)}.",
                    SECONDS,
                    [
                        _query(
                            q.quantile(0.5, q.selector(n.duration_buckets(window), *sel), by),
                            f"p50 {{{{slo}}}} {{{{region}}}}, {duration(window)}",
                            next(refs),
                        ),
                        *(
                            _query(
                                q.selector(n.duration_quantile(quant, window), *sel),
                                f"p{round(quant * 100)} {{{{slo}}}} {{{{region}}}}, "
                                f"{duration(window)}",
                                next(refs),
                            )
                            for quant in (0.95, 0.99)
                        ),
                        *(
                            _query(
                                q.selector(n.duration_quantile(0.99, p99_window), *sel),
                                f"p99 {{{{slo}}}} {{{{region}}}}, {duration(p99_window)} (alert)",
                                next(refs),
                            )
                            for _ in range(1)
                            if p99_window != window
                        ),
                        _query(
                            q.quantile(0.99, q.rate(raw), by),
                            "p99 {{slo}} {{region}} (exemplars)",
                            next(refs),
                            exemplar=True,
                        ),
                    ],
                    width=24,
                ),
                GREEN,
                (threshold, YELLOW),
                (p99, RED),
            )
        )


def _outcomes_row(board: _Board) -> None:
    board.row("Outcomes")
    sel = (q.SLO_MATCH, q.REGION_MATCH)
    runs = q.selector(c.RUNS_TOTAL, *sel)
    board.panel(
        _timeseries(
            t.OUTCOMES,
            "Every probe run, stacked by how it ended (success, http_status, timeout, ...). "
            "Raw counters: no recording rule keeps the outcome.",
            RUNS_PER_SECOND,
            [_query(f"sum by ({c.L_OUTCOME}) ({q.rate(runs)})", "{{outcome}}", "A")],
        ).stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    )
    failed = q.selector(c.RUNS_TOTAL, *sel, f'{c.L_OUTCOME}!="{c.Outcome.SUCCESS}"')
    labels = (c.L_PROBE, c.L_STEP, c.L_OUTCOME, c.L_CODE)
    board.panel(
        _timeseries(
            t.FAILURES,
            "Failed runs by probe and how they failed; for scenario probes, `step` names the "
            "step that failed. `code` is the HTTP status, empty when no response came.",
            RUNS_PER_SECOND,
            [
                _query(
                    f"sum by ({', '.join(labels)}) ({q.rate(failed)})",
                    "{{probe}} {{step}} {{outcome}} {{code}}",
                    "A",
                )
            ],
        ).stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    )


def overview(config: Config) -> dm.Dashboard:
    board = _Board(
        t.OVERVIEW_UID,
        "Prober SLO overview",
        "Black-box SLOs measured by prober: SLIs against objectives, error budgets, burn "
        "rates and alerts. Generated by `prober dashboards` from probes.yaml; do not edit.",
        config,
    )
    board.annotations(_alert_selector(board))
    _status_row(board)
    _budget_row(board)
    _burn_row(board)
    _latency_row(board)
    _outcomes_row(board)
    return board.build()


# --- probes and agents --------------------------------------------------------------------
def _probes_row(board: _Board) -> None:
    board.row("Probes")
    sel = (q.SLO_MATCH, q.REGION_MATCH)
    success = q.eq(c.L_OUTCOME, c.Outcome.SUCCESS)
    board.panel(
        _timeseries(
            t.PROBE_DURATION,
            "p99 of each probe's successful runs, from the raw histogram, with exemplars: a "
            "point links to that run's trace when the datasource has an exemplar trace-ID "
            "destination (and Prometheus runs with --enable-feature=exemplar-storage).",
            SECONDS,
            [
                _query(
                    q.histogram_quantile(
                        0.99, c.DURATION, *sel, success, by=(c.L_PROBE, c.L_REGION)
                    ),
                    "{{probe}} {{region}}",
                    "A",
                    exemplar=True,
                )
            ],
        )
    )
    board.panel(
        statetimeline.Panel()
        .title(t.LAST_SUCCESS)
        .description("Whether each probe's last run succeeded (prober_probe_success).")
        .datasource(DATASOURCE)
        .span(12)
        .height(8)
        .show_value(cm.VisibilityMode.NEVER)
        .merge_values(True)
        .legend(_legend().show_legend(False))
        .with_target(_query(q.selector(c.SUCCESS_GAUGE, *sel), "{{probe}} {{region}}", "A"))
        .mappings(_ok_or("failed"))
        .thresholds(_thresholds(RED, (1, GREEN)))
    )
    board.panel(
        _timeseries(
            t.PHASES,
            "Where the time goes in a request: dns (when a name is resolved), connect "
            "(TCP and TLS), ttfb (to the response headers), transfer (the body).",
            SECONDS,
            [
                _query(
                    q.histogram_quantile(0.95, c.PHASE, *sel, by=(c.L_PHASE,)),
                    "{{phase}}",
                    "A",
                )
            ],
        )
    )
    board.panel(
        _timeseries(
            t.PHASES_BY_PROBE,
            "The same phases per probe, stacked: which probe spends its time where.",
            SECONDS,
            [
                _query(
                    q.histogram_quantile(0.95, c.PHASE, *sel, by=(c.L_PROBE, c.L_PHASE)),
                    "{{probe}} {{phase}}",
                    "A",
                )
            ],
        ).stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    )
    board.panel(
        _timeseries(
            t.STEPS,
            "Duration of each step of scenario probes.",
            SECONDS,
            [
                _query(
                    q.histogram_quantile(0.95, c.STEP_DURATION, *sel, by=(c.L_PROBE, c.L_STEP)),
                    "{{probe}} {{step}}",
                    "A",
                )
            ],
        )
    )
    board.panel(
        _lines(
            _timeseries(
                t.TLS_EXPIRY,
                "Time left until each https probe's peer certificate expires.",
                SECONDS,
                [
                    _query(
                        f"min by ({c.L_TARGET}, {c.L_REGION}) "
                        f"({q.selector(c.TLS_EXPIRY, *sel)}) - time()",
                        "{{target}} {{region}}",
                        "A",
                    )
                ],
            ),
            RED,
            (14 * 86400, YELLOW),
            (28 * 86400, GREEN),
        )
    )


def _health_row(board: _Board) -> None:
    board.row("Agent health")
    region = q.selector(c.BUILD_INFO, q.REGION_MATCH)
    board.panel(
        _stat(
            t.AGENTS,
            "Agents reporting per region and version (prober_build_info). The dead-man's "
            f"switches {n.REGION_ABSENT_ALERT} and {n.ALL_ABSENT_ALERT} watch this series.",
            "none",
            [
                _query(
                    f"count by ({c.L_REGION}, version) ({region})",
                    "{{region}} {{version}}",
                    "A",
                    instant=True,
                )
            ],
        )
    )
    board.panel(
        _stat(
            t.RELOAD,
            "Whether each agent's last config load succeeded; a rejected reload keeps the old "
            "config running.",
            "none",
            [
                _query(
                    q.with_region(
                        c.CONFIG_RELOAD_SUCCESS, by=(c.L_REGION, n.L_INSTANCE), agg="min"
                    ),
                    "{{region}} {{instance}}",
                    "A",
                    instant=True,
                )
            ],
        )
        .mappings(_ok_or("rejected"))
        .thresholds(_thresholds(RED, (1, GREEN)))
    )
    board.panel(
        _stat(
            t.RELOAD_AGE,
            "How long ago each agent last loaded its config successfully.",
            SECONDS,
            [
                _query(
                    "time() - "
                    + q.with_region(
                        c.CONFIG_RELOAD_TIMESTAMP, by=(c.L_REGION, n.L_INSTANCE), agg="max"
                    ),
                    "{{region}} {{instance}}",
                    "A",
                    instant=True,
                )
            ],
        )
    )
    board.panel(
        _stat(
            t.INFLIGHT,
            "Probe runs in progress now, per region.",
            "none",
            [_query(q.with_region(c.INFLIGHT, by=(c.L_REGION,)), "{{region}}", "A", instant=True)],
        )
    )
    lag = q.selector(f"{c.SCHEDULE_LAG}_bucket", q.REGION_MATCH)
    board.panel(
        _timeseries(
            t.SCHEDULE_LAG,
            "Actual minus planned start of runs. Grows when the event loop is overloaded or "
            "the concurrency cap is reached; runs measured then read slower than the service "
            "was.",
            SECONDS,
            [_query(q.quantile(0.99, q.rate(lag), (c.L_REGION,)), "{{region}}", "A")],
        )
    )
    skipped = q.selector(c.SKIPPED_RUNS, q.REGION_MATCH)
    board.panel(
        _timeseries(
            t.SKIPPED,
            "Planned runs that did not start: `overlap` (the previous run was still going) "
            "or `late` (the agent fell a whole interval behind). Not counted as probe runs.",
            RUNS_PER_SECOND,
            [
                _query(
                    f"sum by ({c.L_REGION}, {c.L_PROBE}, {c.L_REASON}) ({q.rate(skipped)})",
                    "{{region}} {{probe}} {{reason}}",
                    "A",
                )
            ],
        )
    )
    board.panel(
        _timeseries(
            t.LOOP_LAG,
            "How late a 250 ms timer fired, last measured, per agent.",
            SECONDS,
            [
                _query(
                    q.with_region(c.LOOP_LAG, by=(c.L_REGION, n.L_INSTANCE), agg="max"),
                    "{{region}} {{instance}}",
                    "A",
                )
            ],
        )
    )
    refs = _refs()
    board.panel(
        _timeseries(
            t.DROPPED,
            "Trace spans dropped (export queue full) or not accepted by the collector, and "
            "--results lines dropped because the writer could not keep up. Should stay at 0.",
            "cps",
            [
                _query(
                    q.with_region(q.rate(metric), by=(c.L_REGION,)),
                    f"{{{{region}}}} {what}",
                    next(refs),
                )
                for metric, what in (
                    (c.TRACE_SPANS_DROPPED, "spans dropped"),
                    (c.TRACE_SPANS_FAILED, "spans failed"),
                    (c.RESULTS_DROPPED, "result lines dropped"),
                )
            ],
        )
    )


def agents(config: Config) -> dm.Dashboard:
    board = _Board(
        t.AGENTS_UID,
        "Prober probes and agents",
        "Per-probe durations with exemplars, request phases, scenario steps, and the probe "
        "agents' own health. Generated by `prober dashboards` from probes.yaml; do not edit.",
        config,
    )
    board.annotations(None)
    _probes_row(board)
    _health_row(board)
    return board.build()


def to_json(dashboard: dm.Dashboard) -> str:
    """Stable text: sorted keys, two-space indent, a final newline."""
    data: Any = json.loads(json.dumps(dashboard, cls=JSONEncoder))
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def render_dashboards(config: Config) -> dict[str, str]:
    """File name -> JSON text of every dashboard. Raises ConfigError if the slos do not
    generate rules (the dashboards read them)."""
    build_groups(config)  # the same validation as `prober rules`
    return {t.OVERVIEW_FILE: to_json(overview(config)), t.AGENTS_FILE: to_json(agents(config))}
