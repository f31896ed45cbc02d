"""When probes run. The scheduler owns time; probes never sleep.

Each probe has a fixed-rate schedule on the monotonic clock: run k is planned at
epoch + offset + k * interval, computed by multiplication so drift never adds up
whatever a run costs. Offsets spread probes across their interval so a hundred
probes with one interval don't fire together. A run still going when its next
slot comes makes that slot a counted skip; a slot the agent was too late for
(a stalled loop) is a counted skip too. Runs are never piled up.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("prober.scheduler")
_SLACK = 0.005  # seconds


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def wall(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# What the scheduler calls for a run: (job name, planned monotonic time).
RunFn = Callable[[str, float], Awaitable[None]]
SkipFn = Callable[[str, str, int], None]  # (job name, reason, count)


@dataclass(eq=False)
class Job:
    name: str
    interval: float
    offset: float
    loop: asyncio.Task[None] | None = None
    running: asyncio.Task[None] | None = None
    runs_started: int = field(default=0)


def stable_offset(name: str, interval: float) -> float:
    """A phase in [0, interval) that depends only on the name: stable across restarts."""
    return (zlib.crc32(name.encode()) / 2**32) * interval


def even_offsets(jobs: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Spread jobs that share an interval evenly across it, in name order."""
    by_interval: dict[float, list[str]] = {}
    for name, interval in jobs:
        by_interval.setdefault(interval, []).append(name)
    offsets = {}
    for interval, names in by_interval.items():
        names.sort()
        step = interval / len(names)
        for i, name in enumerate(names):
            offsets[name] = i * step
    return offsets


class Scheduler:
    """Runs `run_fn` for every job on its schedule until `stop`."""

    def __init__(
        self,
        run_fn: RunFn,
        on_skip: SkipFn,
        clock: Clock | None = None,
        max_concurrency: int | None = None,
    ) -> None:
        self._run_fn = run_fn
        self._on_skip = on_skip
        self.clock: Clock = clock or SystemClock()
        self._jobs: dict[str, Job] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._epoch = self.clock.monotonic()
        self._stopping = False

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def jobs(self) -> dict[str, Job]:
        return self._jobs

    def set_jobs(self, wanted: Iterable[tuple[str, float]]) -> None:
        """Start, keep or stop job loops so they match `wanted` (name, interval).

        An unchanged job keeps its loop and phase; a changed interval restarts it.
        At first start offsets are even; jobs added later get a stable hash offset.
        """
        wanted = list(wanted)
        first = not self._jobs
        offsets = even_offsets(wanted) if first else {}
        names = {name for name, _ in wanted}
        for name in list(self._jobs):
            if name not in names:
                self._cancel(self._jobs.pop(name))
        for name, interval in wanted:
            job = self._jobs.get(name)
            if job is not None and job.interval == interval:
                continue
            if job is not None:
                self._cancel(job)
            offset = offsets.get(name, stable_offset(name, interval))
            job = Job(name, interval, offset)
            job.loop = asyncio.create_task(self._loop(job), name=f"schedule:{name}")
            self._jobs[name] = job

    def _cancel(self, job: Job) -> None:
        if job.loop is not None:
            job.loop.cancel()

    async def _loop(self, job: Job) -> None:
        clock = self.clock
        # Plan from the scheduler's epoch, so a job added later lands on the same grid.
        now = clock.monotonic()
        base = self._epoch + job.offset
        # The first slot at or after now. A slot passed by less than _SLACK still counts as
        # now: the loop task always starts a few microseconds after the epoch, and without
        # this a job at offset 0 would wait a whole interval for its first run.
        k = max(0, math.ceil((now - base - _SLACK) / job.interval))
        while True:
            planned = base + k * job.interval
            now = clock.monotonic()
            if planned > now:
                await clock.sleep(planned - now)
                now = clock.monotonic()
            late = now - planned
            if late >= job.interval:  # the loop stalled past whole slots
                missed = int(late // job.interval)
                self._on_skip(job.name, "late", missed)
                k += missed
                continue
            k += 1
            if job.running is not None and not job.running.done():
                self._on_skip(job.name, "overlap", 1)
                continue
            task = asyncio.create_task(self._execute(job, planned))
            job.running = task
            job.runs_started += 1
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _execute(self, job: Job, planned: float) -> None:
        try:
            if self._semaphore is None:
                await self._run_fn(job.name, planned)
            else:
                async with self._semaphore:
                    await self._run_fn(job.name, planned)
        except asyncio.CancelledError:
            raise
        except Exception:  # run_fn records failures itself; this is the last net
            log.exception("run of %s failed inside prober", job.name, extra={"probe": job.name})

    async def stop(self, grace: float) -> int:
        """Stop scheduling; give in-flight runs `grace` seconds; return how many were cut."""
        self._stopping = True
        loops = [j.loop for j in self._jobs.values() if j.loop is not None]
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        pending = set(self._inflight)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)
