"""`prober openslo export`: the config's SLOs as OpenSLO v1 documents.

Reading OpenSLO is not a command: `slos: [{openslo: file}]` in probes.yaml makes every
command (check, rules, dashboards, report, run) work from the files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_config
from ..slo.openslo_export import render_openslo
from .common import EXIT_OK, EXIT_USAGE


def add_openslo_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `openslo` (with its `export` subcommand) to the `prober` subcommands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "openslo", help="write the slos as OpenSLO v1 (read them back with slos: [{openslo: ...}])"
    )
    actions = p.add_subparsers(dest="openslo_command", required=True, parser_class=type(p))
    export = actions.add_parser(
        "export",
        help="Service, SLI, SLO, AlertPolicy, AlertCondition, AlertNotificationTarget documents",
    )
    export.add_argument("-c", "--config", default="probes.yaml", help="probes.yaml path")
    export.add_argument(
        "-o", "--output", type=Path, help="write to this file (default: standard output)"
    )
    return p


def cmd_openslo(args: argparse.Namespace) -> int:
    try:
        text = render_openslo(load_config(args.config))
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"error: {args.output}: cannot write: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {args.output}")
    return EXIT_OK
