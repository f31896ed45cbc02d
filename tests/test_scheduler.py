"""The scheduler's timing contract, driven by a fake clock: no drift, spread, skips."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from prober.agent.scheduler import Scheduler, even_offsets, stable_offset

from .conftest import FakeClock


@dataclass
class Recorder:
    clock: FakeClock
    run_for: dict[str, float] = field(default_factory=dict)  # fake seconds a run takes
    starts: list[tuple[str, float, float]] = field(default_factory=list)  # name, planned, actual
    skips: list[tuple[str, str, int]] = field(default_factory=list)
    concurrent: int = 0
    max_concurrent: int = 0

    async def run(self, name: str, planned: float) -> None:
        self.starts.append((name, planned, self.clock.now))
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self.run_for.get(name):
                await self.clock.sleep(self.run_for[name])
        finally:
            self.concurrent -= 1

    def skip(self, name: str, reason: str, count: int) -> None:
        self.skips.append((name, reason, count))

    def planned(self, name: str) -> list[float]:
        return [p for n, p, _ in self.starts if n == name]


MakeScheduler = Callable[..., tuple[Scheduler, Recorder]]


@pytest.fixture
async def make(fake_clock: FakeClock) -> AsyncIterator[MakeScheduler]:
    made: list[Scheduler] = []

    def build(max_concurrency: int | None = None) -> tuple[Scheduler, Recorder]:
        rec = Recorder(fake_clock)
        sched = Scheduler(rec.run, rec.skip, fake_clock, max_concurrency)
        made.append(sched)
        return sched, rec

    yield build
    for sched in made:
        await sched.stop(grace=0)


async def test_runs_start_at_epoch_plus_offset_plus_k_intervals_without_drift(
    make: MakeScheduler, fake_clock: FakeClock
) -> None:
    sched, rec = make()
    rec.run_for["a"] = 0.7  # each run costs most of the interval: must not push the next one
    epoch = fake_clock.now
    sched.set_jobs([("a", 1.0)])
    await fake_clock.advance(100.0)
    planned = rec.planned("a")
    assert len(planned) == 101  # slots 0..100 inclusive
    assert planned == [epoch + k * 1.0 for k in range(101)]
    assert all(actual == p for _, p, actual in rec.starts)
    assert rec.skips == []


async def test_an_interval_that_is_not_a_binary_fraction_still_lands_on_its_grid(
    make: MakeScheduler, fake_clock: FakeClock
) -> None:
    sched, rec = make()
    epoch = fake_clock.now
    sched.set_jobs([("a", 0.1)])
    await fake_clock.advance(1000.0)
    planned = rec.planned("a")
    # Multiplying instead of accumulating: run 10000 is exactly where it should be.
    assert planned[10_000] == epoch + 10_000 * 0.1
    assert len(planned) == 10_001


async def test_a_hundred_probes_with_one_interval_are_spread_evenly_across_it(
    make: MakeScheduler, fake_clock: FakeClock
) -> None:
    sched, rec = make()
    epoch = fake_clock.now
    sched.set_jobs([(f"p{i:03d}", 10.0) for i in range(100)])
    await fake_clock.advance(9.99)
    firsts = sorted(actual - epoch for _, _, actual in rec.starts)
    assert len(firsts) == 100
    gaps = [b - a for a, b in itertools.pairwise(firsts)]
    assert min(gaps) == pytest.approx(0.1)
    assert max(gaps) == pytest.approx(0.1)


async def test_a_run_still_going_at_its_next_slot_makes_that_slot_a_counted_skip(
    make: MakeScheduler, fake_clock: FakeClock
) -> None:
    sched, rec = make()
    rec.run_for["slow"] = 2.5  # spans two more slots
    sched.set_jobs([("slow", 1.0)])
    await fake_clock.advance(5.5)
    # Slots at 0..5: runs start at 0 and 3; slots 1, 2, 4, 5 overlap a running run.
    assert [p - rec.starts[0][1] for p in rec.planned("slow")] == [0.0, 3.0]
    assert sum(n for _, reason, n in rec.skips if reason == "overlap") == 4
    assert rec.max_concurrent == 1


async def test_slots_missed_while_the_loop_stalled_are_skipped_and_counted_not_piled_up(
    make: MakeScheduler, fake_clock: FakeClock
) -> None:
    sched, rec = make()
    epoch = fake_clock.now
    sched.set_jobs([("a", 1.0)])
    await fake_clock.advance(2.5)  # runs at 0, 1, 2
    fake_clock.stall(5.0)  # the loop is blocked from 2.5 to 7.5
    await fake_clock.advance(0.0)
    await fake_clock.advance(1.0)
    planned = [p - epoch for p in rec.planned("a")]
    assert planned[:3] == [0.0, 1.0, 2.0]
    # Slots 3..6 passed entirely during the stall: skipped, no burst of catch-up runs.
    # Slot 7's window [7, 8) was still open at 7.5, so it ran, half a second late.
    assert planned[3:] == [7.0, 8.0]
    assert rec.skips == [("a", "late", 4)]
    late_start = [actual - p for n, p, actual in rec.starts if p - epoch == 7.0]
    assert late_start == [pytest.approx(0.5)]


async def test_a_concurrency_cap_holds_and_delayed_starts_show_as_lag(
    make: MakeScheduler, fake_clock: FakeClock
) -> None:
    sched, rec = make(max_concurrency=2)
    names = ["a", "b", "c", "d"]
    for name in names:
        rec.run_for[name] = 0.9  # offsets 0, .25, .5, .75: up to four would overlap
    sched.set_jobs([(n, 1.0) for n in names])
    await fake_clock.advance(10.0)
    assert rec.max_concurrent == 2
    lags = [actual - planned for _, planned, actual in rec.starts]
    assert max(lags) > 0.1  # waiting for the cap is visible as schedule lag
    assert rec.skips  # and runs still waiting at their next slot are skipped, not piled up


async def test_reload_keeps_unchanged_jobs_restarts_changed_ones_and_drops_removed(
    make: MakeScheduler, fake_clock: FakeClock
) -> None:
    sched, rec = make()
    epoch = fake_clock.now
    sched.set_jobs([("keep", 1.0), ("change", 1.0), ("drop", 1.0)])
    keep_job = sched.jobs["keep"]
    change_job = sched.jobs["change"]
    await fake_clock.advance(3.0)
    sched.set_jobs([("keep", 1.0), ("change", 2.0), ("new", 1.0)])
    await fake_clock.settle()
    assert sched.jobs["keep"] is keep_job
    assert sched.jobs["change"] is not change_job
    assert set(sched.jobs) == {"keep", "change", "new"}
    dropped_before = len(rec.planned("drop"))
    await fake_clock.advance(4.0)
    assert len(rec.planned("drop")) == dropped_before
    assert len(rec.planned("new")) >= 3
    changed = rec.planned("change")
    assert changed[-1] - changed[-2] == pytest.approx(2.0)
    # The kept job keeps its phase and count: one run per slot, no restart at the reload.
    keep_offset = keep_job.offset
    assert rec.planned("keep") == [epoch + keep_offset + k for k in range(len(rec.planned("keep")))]
    assert keep_job.runs_started == len(rec.planned("keep"))


async def test_a_job_added_while_the_scheduler_sleeps_runs_at_its_own_first_slot(
    make: MakeScheduler, fake_clock: FakeClock
) -> None:
    sched, rec = make()
    epoch = fake_clock.now
    sched.set_jobs([("hourly", 3600.0)])
    await fake_clock.advance(1.0)  # asleep until the hourly job's next slot, an hour away
    sched.set_jobs([("hourly", 3600.0), ("fast", 1.0)])
    offset = sched.jobs["fast"].offset  # a hash offset, on the grid of the first start
    assert 0 < offset < 0.9
    await fake_clock.advance(3.0)
    assert rec.planned("fast") == [epoch + offset + k for k in (1, 2, 3)]
    assert rec.planned("hourly") == [epoch]


async def test_stop_lets_in_flight_runs_finish_within_the_grace_and_cuts_the_rest(
    fake_clock: FakeClock,
) -> None:
    finished: list[str] = []

    async def run(name: str, planned: float) -> None:
        await asyncio.sleep(0.05 if name == "quick" else 10)
        finished.append(name)

    sched = Scheduler(run, lambda *a: None, fake_clock)
    sched.set_jobs([("quick", 10.0), ("stuck", 10.0)])
    await fake_clock.advance(6.0)  # both have started (offsets 0 and 5)
    assert sched.inflight == 2
    cut = await sched.stop(grace=0.5)
    assert finished == ["quick"]
    assert cut == 1
    assert sched.inflight == 0


async def test_an_exception_escaping_a_run_is_logged_and_the_schedule_goes_on(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []

    async def run(name: str, planned: float) -> None:
        calls.append(planned)
        raise RuntimeError("bug")

    sched = Scheduler(run, lambda *a: None, fake_clock)
    sched.set_jobs([("a", 1.0)])
    await fake_clock.advance(3.0)
    await sched.stop(grace=0)
    assert len(calls) == 4
    assert sum("failed inside prober" in r.getMessage() for r in caplog.records) == 4


def test_offsets_are_stable_per_name_and_inside_the_interval() -> None:
    assert stable_offset("get-canary", 15.0) == stable_offset("get-canary", 15.0)
    assert 0 <= stable_offset("x", 15.0) < 15.0
    assert stable_offset("a", 15.0) != stable_offset("b", 15.0)
    offsets = even_offsets([("b", 4.0), ("a", 4.0), ("c", 2.0)])
    assert offsets == {"a": 0.0, "b": 2.0, "c": 0.0}


async def test_a_failing_skip_callback_stops_neither_its_job_nor_the_others(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    starts: list[str] = []

    async def run(name: str, planned: float) -> None:
        starts.append(name)
        if name == "slow":
            await fake_clock.sleep(1.5)

    def skip(name: str, reason: str, count: int) -> None:
        raise RuntimeError("bug in a sink")

    sched = Scheduler(run, skip, fake_clock)
    sched.set_jobs([("slow", 1.0), ("other", 1.0)])
    await fake_clock.advance(4.0)
    assert starts.count("other") == 5
    assert starts.count("slow") == 2  # slots at 0.5, 1.5, 2.5, 3.5: the 2nd and 4th overlap
    assert sum("scheduling slow failed" in r.getMessage() for r in caplog.records) == 2
    fake_clock.stall(5.0)  # late slots: the failing callback must not leave them due forever
    await fake_clock.advance(1.0)
    assert sum("scheduling" in r.getMessage() for r in caplog.records) > 2
    assert starts.count("other") >= 6
    await sched.stop(grace=0)
