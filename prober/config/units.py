"""Parsing and formatting of durations and byte sizes as written in probes.yaml."""

from __future__ import annotations

import math
import re

# Bounds: a number with more digits, or a total beyond these, is a typo (or an attack on
# float conversion), never a setting.
MAX_DURATION = 3660 * 86400.0  # ten years: longer than any SLO period or window
MAX_SIZE = 1024**3  # 1 GiB: no probe reads a larger body
_DURATION_PART = re.compile(r"(\d{1,12}(?:\.\d{1,9})?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE = re.compile(r"^(\d{1,13})\s*(B|KB|KiB|MB|MiB|GB|GiB)?$")
_SIZE_FACTORS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "KiB": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "GiB": 1024**3,
}


def parse_duration(value: object) -> float:
    """`'1m30s'` -> 90.0. A bare number is refused: `interval: 15` is ambiguous."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            f"duration must be a string with a unit like '15s', '250ms', '1m', got {value!r}"
        )
    text = value.strip()
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(
            f"invalid duration {value!r}: use a number and a unit (ms, s, m, h, d, w), e.g. '15s'"
        )
    if total <= 0:
        raise ValueError(f"duration {value!r} must be greater than zero")
    if not math.isfinite(total) or total > MAX_DURATION:
        raise ValueError(f"duration {value!r} is too long: at most 3660d (ten years)")
    return round(total, 9)  # 350 * 0.001 is 0.35000000000000003: keep bucket bounds exact


def format_duration(seconds: float) -> str:
    """90.0 -> '1m30s'; the largest units first, as Prometheus writes ranges."""
    if seconds <= 0:
        raise ValueError("duration must be positive")
    if not math.isfinite(seconds):
        raise ValueError("duration must be finite")
    ms = round(seconds * 1000)
    out = []
    for unit, size in (
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ):
        count, ms = divmod(ms, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out) or f"{seconds * 1000:g}ms"


def parse_size(value: object) -> int:
    """`'1MiB'` -> 1048576; an int is taken as bytes."""
    if isinstance(value, bool):
        raise ValueError(f"size must be bytes or a string like '1MiB', got {value!r}")
    size = 0
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("size must be greater than zero")
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value.strip())):
        size = int(m.group(1)) * _SIZE_FACTORS[m.group(2)]
    if size > MAX_SIZE:
        raise ValueError(f"size {value!r} is too large: at most 1GiB")
    if size > 0:
        return size
    raise ValueError(f"invalid size {value!r}: use bytes or a unit (KiB, MiB, KB, MB), e.g. '1MiB'")
