"""What every command shares: exit codes, argument types, loading the config or exiting 2."""

from __future__ import annotations

import argparse
import os
import sys

from ..config import Config, ConfigError, Shard, load_config, parse_shard
from ..config.units import parse_duration

EXIT_OK, EXIT_VIOLATED, EXIT_USAGE = 0, 1, 2
EXIT_NO_DATA = 3  # nothing completed, so nothing to judge: neither "held" nor "violated"

VERDICT_EXIT = {"ok": EXIT_OK, "violated": EXIT_VIOLATED, "no_data": EXIT_NO_DATA}


def duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int_arg(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def shard_arg(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def shard_or_exit(flag: Shard | None) -> Shard | None:
    """--shard, else PROBER_SHARD (how a pod gets it), else None: every probe."""
    if flag is not None:
        return flag
    text = os.environ.get("PROBER_SHARD", "")
    if not text:
        return None
    try:
        return parse_shard(text)
    except ValueError as exc:
        print(f"error: PROBER_SHARD: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def load_or_exit(
    path: str, region: str | None = None, shard: Shard | None = None, *, fleet: bool = False
) -> Config:
    try:
        return load_config(path, region=region, shard=shard, fleet=fleet)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
