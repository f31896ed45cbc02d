"""`prober report`: where each SLO stands, from a Prometheus that loads the generated rules.

Exit codes: 0 every budget under its policy line (or no data); 1 a budget over its
policy line (freeze feature releases); 2 bad usage, a config that does not load, or a
Prometheus that cannot answer (unreachable, an error, not a Prometheus). A report that
could not be made is never 0 or 1: a release gate must not read it as "fine" or as
"frozen".
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from ..config import ConfigError
from ..report.html import render_html
from ..report.make import make_report
from ..report.prometheus import PrometheusError
from ..report.render import print_table, to_json
from .common import duration_arg
from .loop import run_async

EXIT_OK, EXIT_OVER_POLICY, EXIT_USAGE = 0, 1, 2


def _instant(text: str) -> float:
    """Unix seconds or an RFC 3339 time with a zone (2025-01-31T00:00:00Z)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: use unix seconds or RFC 3339, e.g. 2025-01-31T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"time {text!r} needs a zone, e.g. a trailing Z")
    return moment.timestamp()


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"must be a number >= 1, got {text!r}")
    return value


def add_report_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `report` to the `prober` subcommands (`sub` from add_subparsers)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="where each SLO stands: SLIs, error budgets, burn rates, alerts, release verdict",
    )
    p.add_argument("--prometheus", required=True, help="Prometheus base URL (http[s]://host:port)")
    p.add_argument(
        "-c",
        "--config",
        default="probes.yaml",
        metavar="FILE",
        help="its slos (default: ./probes.yaml)",
    )
    p.add_argument(
        "--window",
        type=duration_arg,
        help="the window for the SLI and budget figures (default: each SLO's period)",
    )
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.add_argument("--html", type=Path, help="also write a self-contained HTML page with charts")
    p.add_argument(
        "--at", type=_instant, help="report as of this time (unix seconds or RFC 3339; now)"
    )
    p.add_argument(
        "--time-scale",
        type=_scale,
        default=1.0,
        help="the Prometheus loads rules time-scaled by this factor (prober demo "
        "--with-prometheus and the tests use 60); windows are nominal",
    )
    p.add_argument(
        "--timeout", type=duration_arg, default=30.0, help="per Prometheus request (default 30s)"
    )
    return p


def cmd_report(args: argparse.Namespace) -> int:
    try:
        return run_async(_run(args))
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
    except PrometheusError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except OSError as exc:  # the --html file
        print(f"error: cannot write {args.html}: {exc.strerror or exc}", file=sys.stderr)
    return EXIT_USAGE


async def _run(args: argparse.Namespace) -> int:
    report, drawn = await make_report(
        args.prometheus,
        args.config,
        window=args.window,
        at=args.at,
        scale=args.time_scale,
        request_timeout=args.timeout,
        with_charts=args.html is not None,
    )
    if args.html is not None:
        args.html.write_text(render_html(report, drawn), encoding="utf-8")
    if args.output == "json":
        sys.stdout.write(to_json(report))
    else:
        # Piped: wide enough for the table rather than the 80 columns rich assumes.
        print_table(report, Console(highlight=False, width=None if sys.stdout.isatty() else 160))
    return report.exit_code
