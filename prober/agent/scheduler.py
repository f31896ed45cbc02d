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
import heapq
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("prober.scheduler")
_SLACK = 0.005  # seconds


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def wall(self) -> float: ...
    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback)


# What the scheduler calls for a run: (job name, planned monotonic time).
RunFn = Callable[[str, float], Awaitable[None]]
SkipFn = Callable[[str, str, int], None]  # (job name, reason, count)


@dataclass(eq=False, slots=True)
class Job:
    """One probe's schedule: slot k is planned at epoch + offset + k * interval."""

    name: str
    interval: float
    offset: float
    k: int = 0  # the next slot to consider
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
    """Runs `run_fn` for every job on its schedule until `stop`.

    One loop timer, set for the earliest planned slot of a heap of jobs, rather than a
    task per job: ten thousand sleeping tasks (coroutine frames, futures, timer handles)
    cost some 20 MB, a heap entry about a hundred bytes. The timer's callback starts the
    due runs itself, one loop iteration sooner than a task woken from a sleep would.
    """

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
        # (planned, tie-break, job); entries of jobs no longer in _jobs are dropped when met.
        self._heap: list[tuple[float, int, Job]] = []
        self._seq = 0
        self._timer: Timer | None = None
        self._timer_at = math.inf  # the slot the timer is set for
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
        """Start, keep or stop jobs so they match `wanted` (name, interval)."""
        self.install(self.plan(wanted))

    def plan(self, wanted: Iterable[tuple[str, float]]) -> dict[str, Job]:
        """The jobs that match `wanted` (name, interval), computed without changing anything.

        An unchanged job keeps its phase (the same Job); a changed interval starts it anew.
        At first start offsets are even; jobs added later get a stable hash offset. Raises
        ValueError for an interval no schedule can hold (not finite, not positive), so a
        reload fails here, before anything it would replace has been touched.
        """
        wanted = list(wanted)
        for name, interval in wanted:
            if not (math.isfinite(interval) and interval > 0):
                raise ValueError(f"probe {name}: interval {interval!r} cannot be scheduled")
        offsets = even_offsets(wanted) if not self._jobs else {}
        now = self.clock.monotonic()
        jobs: dict[str, Job] = {}
        for name, interval in wanted:
            job = self._jobs.get(name)
            if job is None or job.interval != interval:
                job = Job(name, interval, offsets.get(name, stable_offset(name, interval)))
                # Plan from the scheduler's epoch, so a job added later lands on the same grid.
                # The first slot at or after now; one passed by less than _SLACK still counts
                # as now, or a job at offset 0 would wait a whole interval for its first run.
                base = self._epoch + job.offset
                job.k = max(0, math.ceil((now - base - _SLACK) / interval))
                if not math.isfinite(self._planned(job)):
                    raise ValueError(f"probe {name}: interval {interval!r} cannot be scheduled")
            jobs[name] = job
        return jobs

    def install(self, jobs: dict[str, Job]) -> None:
        """Make `jobs` (from `plan`) the schedule, in one step that cannot fail halfway."""
        fresh = [job for name, job in jobs.items() if self._jobs.get(name) is not job]
        dropped = any(jobs.get(name) is not job for name, job in self._jobs.items())
        self._jobs = jobs
        if dropped:  # forget the slots of replaced and removed jobs
            self._heap = [e for e in self._heap if jobs.get(e[2].name) is e[2]]
            heapq.heapify(self._heap)
        for job in fresh:
            self._push(job)
        self._arm()

    def _planned(self, job: Job) -> float:
        return self._epoch + job.offset + job.k * job.interval

    def _push(self, job: Job) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (self._planned(job), self._seq, job))

    def _arm(self) -> None:
        """Set the timer for the earliest slot, unless it is already set for that or sooner."""
        if self._stopping or not self._heap:
            return
        target = self._heap[0][0]
        if self._timer is not None:
            if target >= self._timer_at:
                return
            self._timer.cancel()
        self._timer_at = target
        self._timer = self.clock.call_later(max(0.0, target - self.clock.monotonic()), self._fire)

    def _fire(self) -> None:
        """The timer's callback: start or skip every slot that is due, then set the timer."""
        # A slot counts as reached once its timer has fired, even if the clock reads a hair
        # earlier (timers are rounded): run everything due by then.
        now = self.clock.monotonic()
        due = max(now, self._timer_at)
        self._timer, self._timer_at = None, math.inf
        if self._stopping:
            return
        try:
            while self._heap and self._heap[0][0] <= due:
                _, _, job = heapq.heappop(self._heap)
                if self._jobs.get(job.name) is job:
                    try:
                        self._slot(job, now)
                    except Exception:  # a failing skip callback must not stop every job
                        log.exception("scheduling %s failed", job.name, extra={"probe": job.name})
                    self._push(job)
        finally:
            self._arm()

    def _slot(self, job: Job, now: float) -> None:
        """Job's slot k has come: start a run or count a skip, and move k past it."""
        planned = self._planned(job)
        late = now - planned
        while late >= job.interval:  # the loop stalled past whole slots
            missed = int(late // job.interval)
            job.k += missed  # first: a failing callback must not leave the slot due
            self._on_skip(job.name, "late", missed)
            planned = self._planned(job)
            if planned > now:  # rounding put it ahead of now: that slot comes later
                return
            late = now - planned
        job.k += 1
        if job.running is not None and not job.running.done():
            self._on_skip(job.name, "overlap", 1)
            return
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
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
        pending = set(self._inflight)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)
