"""`Config`: the whole of probes.yaml, validated, with the lookups the agent needs."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from .. import conventions as c
from ..redact import Redactor
from .agent import AgentConfig, Defaults, TracingConfig
from .fields import MAX_PROBES, Strict, bounded_line
from .probes import AnyProbe, ProbeConfig, ScenarioConfig
from .shard import MAX_SHARDS, Shard
from .slos import SLOConfig


class Config(Strict):
    agent: AgentConfig = AgentConfig()
    defaults: Defaults = Defaults()
    slos: tuple[SLOConfig, ...] = ()
    tracing: TracingConfig = TracingConfig()
    probes: tuple[AnyProbe, ...]
    # Filled by load_config, not by the user.
    source: str = Field(default="<memory>", exclude=True)
    redactor: Redactor = Field(default_factory=Redactor, exclude=True)
    # The shard this agent runs (load_config filtered `probes` to it); None: all of them.
    shard: Shard | None = Field(default=None, exclude=True)
    warnings: tuple[str, ...] = Field(default=(), exclude=True)  # for `check` to print

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    @field_validator("warnings")
    @classmethod
    def _bounded(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(bounded_line(line) for line in value)

    @field_validator("probes")
    @classmethod
    def _some_probes(cls, value: tuple[AnyProbe, ...]) -> tuple[AnyProbe, ...]:
        if not value:
            raise ValueError("list at least one probe")
        # The per-agent limit (MAX_PROBES) applies after sharding, in load_config;
        # the file itself may hold as many as its largest fleet runs.
        if len(value) > MAX_PROBES * MAX_SHARDS:
            raise ValueError(f"at most {MAX_PROBES * MAX_SHARDS} probes, got {len(value)}")
        return value

    @property
    def region(self) -> str:
        return self.agent.region or "local"

    def interval(self, probe: ProbeConfig | ScenarioConfig) -> float:
        return probe.interval or self.defaults.interval

    def timeout(self, probe: ProbeConfig | ScenarioConfig) -> float:
        return probe.timeout or self.defaults.timeout

    def slo(self, name: str | None) -> SLOConfig | None:
        return next((s for s in self.slos if s.name == name), None)

    @property
    def duration_buckets(self) -> tuple[float, ...]:
        """Default buckets plus every threshold an SLO or alert compares against."""
        extra = set()
        for slo in self.slos:
            extra.add(slo.alerting.p99_threshold)
            if slo.latency:
                extra.add(slo.latency.threshold)
        return tuple(sorted(set(c.DURATION_BUCKETS) | extra))
