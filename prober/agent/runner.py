"""One probe run, from context to classified (and, when tracing is on, traced) result.

Shared by the agent and `prober once`, so both count, trace and classify alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from ..conventions import Outcome
from ..model import ProbeResult, RunContext
from .loopwatch import LoopWatch

if TYPE_CHECKING:
    from ..probes import Probe
    from ..telemetry.tracing import Tracing

log = logging.getLogger("prober.agent")


async def execute(probe: Probe, ctx: RunContext, tracing: Tracing | None) -> ProbeResult:
    """Run `probe` once. Never raises, except on cancellation."""
    span = None
    if tracing is not None:
        span, headers = tracing.start(
            probe.span_name, probe.span_kind, probe.name, ctx.run_id, probe.span_attributes
        )
        ctx = dataclasses.replace(ctx, headers=headers, step_tracer=tracing.steps(span))
    watch = LoopWatch.of(asyncio.get_running_loop())
    since = watch.enter()
    try:
        result = await probe.run(ctx)
    except asyncio.CancelledError:
        watch.leave(since)
        if span is not None:
            span.end()
        raise
    except Exception as exc:
        log.exception(
            "probe %s raised; counted as internal", probe.name, extra={"probe": probe.name}
        )
        result = ProbeResult(
            probe=probe.name,
            target=probe.target,
            outcome=Outcome.INTERNAL,
            duration=0.0,
            error=type(exc).__name__,
            run_id=ctx.run_id,
            wall_start=ctx.wall_start,
            lag=ctx.lag,
        )
    # Set on the result the probe just built for this run, which nothing else holds yet:
    # dataclasses.replace would copy all its fields, about 20 us a run (a few % of its CPU).
    object.__setattr__(result, "error_bound", watch.leave(since))
    if span is not None and tracing is not None:
        trace_id, span_id = tracing.finish(span, result)
        if trace_id:
            result = dataclasses.replace(result, trace_id=trace_id, span_id=span_id)
    return result
