"""Probe kinds. Adding one is a module with a `run(ctx) -> ProbeResult` class and a line in
`PROBE_KINDS`.

A probe runs once and returns data: it imports config and the shared vocabulary, never the
agent, sinks, telemetry exporters, web, rules or CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from opentelemetry.trace import SpanKind

from .http import HTTPProbe
from .scenario import ScenarioProbe

if TYPE_CHECKING:
    from ..config import Config, ProbeConfig, ScenarioConfig
    from ..model import ProbeResult, RunContext
    from .session import SessionPool


class Probe(Protocol):
    name: str
    target: str
    timeout: float
    interval: float

    @property
    def span_attributes(self) -> Mapping[str, str | int]: ...

    @property
    def span_name(self) -> str: ...

    @property
    def span_kind(self) -> SpanKind: ...

    async def run(self, ctx: RunContext) -> ProbeResult: ...


def build_probe(
    probe: ProbeConfig | ScenarioConfig, config: Config, sessions: SessionPool
) -> Probe:
    """The registry: one branch per kind of probe."""
    if probe.kind == "scenario":
        return ScenarioProbe(probe, config, sessions)
    return HTTPProbe(probe, config, sessions)
