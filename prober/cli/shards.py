"""`prober shards`: which shard runs which probe, before deploying `prober run --shard`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from ..config import MAX_PROBES, Config
from ..config.shard import MAX_SHARDS, assign
from .common import EXIT_OK, EXIT_USAGE, load_or_exit


def _total_arg(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_SHARDS}, got {text[:20]!r}")
    return int(text)


def add_shards_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `shards` to the `prober` subcommands (`sub` from add_subparsers)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "shards", help="show which of TOTAL shards runs each probe (prober run --shard)"
    )
    p.add_argument("-c", "--config", default="probes.yaml", help="probes.yaml path")
    p.add_argument("--total", type=_total_arg, required=True, help="number of shards")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    return p


def assignment(config: Config, total: int) -> dict[str, Any]:
    """The plan as data: every probe's shard, and each shard's probes in config order."""
    owner = assign((p.name for p in config.probes), total)
    shards: list[list[str]] = [[] for _ in range(total)]
    for name, index in owner.items():
        shards[index].append(name)
    return {
        "config": config.source,
        "total": total,
        "max_probes_per_shard": MAX_PROBES,
        "shards": [
            {"shard": f"{i}/{total}", "index": i, "count": len(names), "probes": names}
            for i, names in enumerate(shards)
        ],
        "probes": owner,
    }


def cmd_shards(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config, fleet=True)
    plan = assignment(config, args.total)
    over = [s for s in plan["shards"] if s["count"] > MAX_PROBES]
    if args.output == "json":
        print(json.dumps(plan, indent=2))
    else:
        _print_table(config, plan)
    for s in over:
        print(
            f"error: {config.source}: shard {s['shard']} would run {s['count']} probes, at most "
            f"{MAX_PROBES} per agent: use a larger --total",
            file=sys.stderr,
        )
    return EXIT_USAGE if over else EXIT_OK


def _print_table(config: Config, plan: dict[str, Any]) -> None:
    out = Console(soft_wrap=True)
    total = plan["total"]
    probes = Table(title=f"{config.source}: {len(config.probes)} probes over {total} shards")
    for column in ("probe", "kind", "slo", "shard"):
        probes.add_column(column)
    for p in config.probes:
        probes.add_row(p.name, p.kind, p.slo or "", f"{plan['probes'][p.name]}/{total}")
    out.print(probes)
    counts = Table(title="probes per shard")
    counts.add_column("shard")
    counts.add_column("probes", justify="right")
    for s in plan["shards"]:
        counts.add_row(s["shard"], str(s["count"]))
    out.print(counts)
