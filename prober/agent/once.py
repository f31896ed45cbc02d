"""`prober once`: run each probe N times now, side by side, and judge the results."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..config import Config
from ..console.stats import StatsSink
from ..model import ProbeResult, RunContext
from ..probes import Probe, build_probe
from ..probes.session import SessionPool
from ..telemetry.tracing import Tracing
from .lifecycle import RunIds
from .runner import execute
from .sinks import ResultsFile, Sink


async def run_once(
    config: Config,
    count: int,
    *,
    pace: float = 0.0,
    results_path: Path | None = None,
    on_result: Callable[[ProbeResult], None] | None = None,
    extra_sinks: Sequence[Sink] = (),
) -> StatsSink:
    """One run at a time per probe, probes concurrently; `pace` seconds between runs."""
    stats = StatsSink(config)
    sinks: list[Sink] = [stats, *extra_sinks]
    results = ResultsFile(results_path) if results_path else None
    if results is not None:
        await results.start()
        sinks.append(results)
    sessions = SessionPool()
    run_id = RunIds()
    tracing = Tracing(config.tracing, config.region) if config.tracing.enabled else None
    region = config.region

    # Build every probe before any runs: building one (a TLS context loads the CA store,
    # tens of ms of CPU) while another's run is in flight would be counted in that run.
    probes = [build_probe(p, config, sessions) for p in config.probes]

    async def one_probe(probe: Probe) -> None:
        for i in range(count):
            if i and pace:
                await asyncio.sleep(pace)
            now = time.monotonic()
            result = await execute(probe, RunContext(run_id(), now, now, time.time()), tracing)
            for sink in sinks:
                sink.record(result, region)
            if on_result is not None:
                on_result(result)

    try:
        await asyncio.gather(*(one_probe(probe) for probe in probes))
    finally:
        await sessions.close()
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown, 3.0)
        if results is not None:
            await results.close()
    return stats
