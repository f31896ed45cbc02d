"""Sharding: which agent of a fleet runs which probe, by rendezvous hashing of its name.

Rendezvous (highest random weight) hashing scores every (probe, shard) pair and gives
the probe to the highest score: each probe belongs to exactly one shard, the shards
get equal shares in expectation, and going from N to N+1 shards moves only the
probes the new shard wins (about 1/(N+1) of them); the others keep their shard.

The score is stable across processes, versions and machines (Python's `hash()` is
salted per process): the probe name's 64-bit BLAKE2b digest, XORed with a per-shard
seed and mixed by SplitMix64's finaliser, a bijection with full avalanche. The digest
is computed once per probe; each shard then costs a few integer operations.

Lives in the config layer because the per-agent probe limit applies after filtering.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

MAX_SHARDS = 1000  # far beyond any fleet; bounds the per-probe scoring loop
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64's increment
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
_SHARD_RE = re.compile(r"(\d{1,4})/(\d{1,4})")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `total`; index counts from 0, like a StatefulSet ordinal."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    def owns(self, name: str) -> bool:
        return shard_of(name, self.total) == self.index


def parse_shard(text: str) -> Shard:
    """`INDEX/TOTAL` -> Shard; ValueError with the reason otherwise."""
    match = _SHARD_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"expected INDEX/TOTAL such as 0/3, got {text[:40]!r}")
    index, total = int(match[1]), int(match[2])
    if not 1 <= total <= MAX_SHARDS:
        raise ValueError(f"TOTAL must be 1 to {MAX_SHARDS}, got {total}")
    if index >= total:
        raise ValueError(f"INDEX counts from 0 and must be below TOTAL {total}, got {index}")
    return Shard(index, total)


def name_hash(name: str) -> int:
    """The probe name's stable 64-bit digest."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def mix64(x: int) -> int:
    """SplitMix64's finaliser: a bijection on 64 bits where each input bit flips half the output."""
    x = ((x ^ (x >> 30)) * MIX1) & MASK64
    x = ((x ^ (x >> 27)) * MIX2) & MASK64
    return x ^ (x >> 31)


def shard_seed(index: int) -> int:
    return mix64((index + 1) * GOLDEN & MASK64)


@cache
def _seeds(total: int) -> tuple[int, ...]:
    return tuple(shard_seed(i) for i in range(total))


def shard_of(name: str, total: int) -> int:
    """The shard (0..total-1) that runs the probe called `name`; ties go to the lower index."""
    h = name_hash(name)
    best, best_score = 0, -1
    for index, seed in enumerate(_seeds(total)):
        score = mix64(h ^ seed)
        if score > best_score:
            best, best_score = index, score
    return best


def assign(names: Iterable[str], total: int) -> dict[str, int]:
    """Every name's shard."""
    return {name: shard_of(name, total) for name in names}


def select(items: Sequence[T], names: Sequence[str], shard: Shard) -> tuple[T, ...]:
    """The items (probes) whose names the shard owns, in their order."""
    return tuple(item for item, name in zip(items, names, strict=True) if shard.owns(name))
