"""`prober dashboards`: write (or --check) the Grafana dashboards of a config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_config
from ..dashboards import render_dashboards
from ..dashboards.files import write_dashboards
from ..generated import stale_files

EXIT_OK, EXIT_STALE, EXIT_USAGE = 0, 1, 2


def add_dashboards_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `dashboards` to the `prober` subcommands (`sub` from add_subparsers)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "dashboards", help="generate Grafana dashboards from the slos (they read the rules)"
    )
    p.add_argument(
        "-c", "--config", default="probes.yaml", metavar="FILE", help="default: ./probes.yaml"
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        action="append",
        help="output directory; repeat to write several (default: dashboards)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the files in --out differ from what would be generated",
    )
    return p


def cmd_dashboards(args: argparse.Namespace) -> int:
    out_dirs: list[Path] = args.out or [Path("dashboards")]
    try:
        files = render_dashboards(load_config(args.config, fleet=True))
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:  # pragma: no cover - a dependency; only a broken install
        print(f"error: prober dashboards needs grafana-foundation-sdk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        stale = [path for out in out_dirs for path in stale_files(files, out)]
        for path in stale:
            print(f"stale: {path} (run prober dashboards -c {args.config} -o {path.parent})")
        return EXIT_STALE if stale else EXIT_OK
    try:
        for out in out_dirs:
            for path in write_dashboards(files, out):
                print(f"wrote {path}")
    except OSError as exc:
        print(f"error: cannot write dashboards: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
