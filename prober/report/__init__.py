"""`prober report`: where each SLO stands, asked of a Prometheus that loads the generated rules.

`make_report` returns a `Report` (plain data: SLIs, budgets, burn rates, alerts, verdict)
and optionally the charts of the HTML page; `budget` holds the arithmetic; `render` and
`html` the outputs; `cli` the command line.
"""

from __future__ import annotations

from .budget import Verdict, budget_spent, burn_rate, time_to_exhaustion, verdict
from .cli import add_report_parser, cmd_report, make_report
from .collect import Chart, Report, SLOReport
from .prometheus import PrometheusError

__all__ = [
    "Chart",
    "PrometheusError",
    "Report",
    "SLOReport",
    "Verdict",
    "add_report_parser",
    "budget_spent",
    "burn_rate",
    "cmd_report",
    "make_report",
    "time_to_exhaustion",
    "verdict",
]
