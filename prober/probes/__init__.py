"""Probe kinds. Adding one is a module with a `run(ctx) -> ProbeResult` class and a line in
`PROBE_KINDS`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from .http import HTTPProbe

if TYPE_CHECKING:
    from ..config import Config, ProbeConfig
    from ..model import ProbeResult, RunContext
    from .session import SessionPool


class Probe(Protocol):
    name: str
    target: str
    timeout: float
    interval: float

    @property
    def span_attributes(self) -> Mapping[str, str | int]: ...

    async def run(self, ctx: RunContext) -> ProbeResult: ...


PROBE_KINDS = {"http": HTTPProbe}


def build_probe(probe: ProbeConfig, config: Config, sessions: SessionPool) -> Probe:
    return PROBE_KINDS[probe.kind](probe, config, sessions)
