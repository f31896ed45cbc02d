"""The data that flows from a probe run to the sinks. Plain, frozen, cheap to build."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .conventions import Outcome


class StepTracer(Protocol):
    """Child spans for the steps of a traced multi-request run."""

    def start(
        self, name: str, attributes: Mapping[str, str | int]
    ) -> tuple[Any, dict[str, str]]: ...

    def finish(self, span: Any, outcome: Outcome, code: int | None, error: str) -> None: ...


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of a scenario run."""

    name: str
    outcome: Outcome
    duration: float
    code: int | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class RunContext:
    """What the scheduler hands a probe for one run."""

    run_id: str
    scheduled: float  # monotonic time the run was planned for
    started: float  # monotonic time it actually started
    wall_start: float  # unix time of `started`, for the results file
    headers: Mapping[str, str] | None = None  # trace context to send with the request
    step_tracer: StepTracer | None = None  # set when the run is traced

    @property
    def lag(self) -> float:
        """How late the run started; never negative.

        uvloop (libuv) keeps timers in whole milliseconds of a loop clock read at the
        start of each iteration, so a slot's timer can fire up to about 1 ms before
        its planned monotonic time. The scheduler treats the slot as reached (it was);
        a run that early is on time, not -0.0008 s late.
        """
        return max(0.0, self.started - self.scheduled)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe run, classified. A probe returns this; it never raises."""

    probe: str
    target: str
    outcome: Outcome
    duration: float  # seconds, request start to last body byte (or to the failure)
    code: int | None = None  # HTTP status, when a response arrived
    phases: dict[str, float] = field(default_factory=dict)
    error: str = ""  # redacted, one line; empty on success
    tls_expiry: float | None = None  # unix time the peer's leaf certificate expires
    run_id: str = ""
    wall_start: float = 0.0
    lag: float = 0.0  # actual start minus planned start
    trace_id: str = ""  # hex, when the run was traced and sampled
    span_id: str = ""
    step: str = ""  # scenarios: the first failing step
    steps: tuple[StepResult, ...] = ()  # scenarios: every step that ran
    # at most this much of `duration` can be the agent's own delay (see agent/loopwatch.py)
    error_bound: float = 0.0

    @property
    def success(self) -> bool:
        return self.outcome is Outcome.SUCCESS
