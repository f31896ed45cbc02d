"""Grafana dashboards generated from the SLO config, beside the rules `prober rules` writes.

`render_dashboards(config)` returns file name -> JSON text (deterministic: same config,
same bytes); `write_dashboards` writes them; `panel_queries` lists every PromQL query a
dashboard sends, for tests and reviews. `prober.cli.dashboards` is the command line. The
Grafana SDK is imported only when dashboards are rendered. Imports config and the rule
names of `slo`; never the runtime (agent, probes, telemetry, web) nor the CLI.
"""

from __future__ import annotations

from ..config import Config
from ..generated import stale_files
from .files import PanelQuery, panel_queries, write_dashboards
from .names import AGENTS_FILE, AGENTS_UID, OVERVIEW_FILE, OVERVIEW_UID


def render_dashboards(config: Config) -> dict[str, str]:
    """File name -> JSON text of every dashboard; ConfigError if the slos make no rules."""
    from .build import render_dashboards as render  # noqa: PLC0415 - the SDK loads on use

    return render(config)


__all__ = [
    "AGENTS_FILE",
    "AGENTS_UID",
    "OVERVIEW_FILE",
    "OVERVIEW_UID",
    "PanelQuery",
    "panel_queries",
    "render_dashboards",
    "stale_files",
    "write_dashboards",
]
