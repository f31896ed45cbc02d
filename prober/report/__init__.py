"""`prober report`: where each SLO stands, asked of a Prometheus that loads the generated rules.

`make_report` returns a `Report` (plain data: SLIs, budgets, burn rates, alerts, verdict)
and optionally the charts of the HTML page; `budget` holds the arithmetic; `render` and
`html` the outputs. The command line is `prober.cli.report`.
Never imports the agent, probes, telemetry or web: a report reads Prometheus, not the runtime.
"""

from __future__ import annotations

from .budget import Verdict, budget_spent, burn_rate, time_to_exhaustion, verdict
from .collect import Chart, Report, SLOReport
from .make import make_report
from .prometheus import PrometheusError

__all__ = [
    "Chart",
    "PrometheusError",
    "Report",
    "SLOReport",
    "Verdict",
    "budget_spent",
    "burn_rate",
    "make_report",
    "time_to_exhaustion",
    "verdict",
]
