"""Each run's measurement error bound: a stall of the agent's own loop during a run shows up
in that run's bound, and not in the bound of runs that did not overlap it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from prober.agent.loopwatch import TICK, LoopWatch
from prober.agent.runner import execute
from prober.config import ProbeConfig
from prober.model import ProbeResult, RunContext
from prober.probes.http import HTTPProbe
from prober.probes.session import SessionPool

from .conftest import ServerFactory, make_config, routes

pytestmark = pytest.mark.both_loops

BLOCK = 0.05  # how long the deliberately blocking callback holds the loop
SERVICE = 0.1  # the service's own time: a run is in flight long enough to overlap the block


@pytest.fixture
async def sessions() -> AsyncIterator[SessionPool]:
    pool = SessionPool()
    yield pool
    await pool.close()


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(SERVICE)
    return web.Response(text="ok")


async def _run(probe: HTTPProbe, run_id: str) -> ProbeResult:
    now = time.monotonic()
    return await execute(probe, RunContext(run_id, now, now, time.time()), None)


@pytest.mark.parametrize("client", ["builtin", "aiohttp"])
async def test_a_loop_stall_during_a_run_is_within_its_bound_and_not_in_the_others(
    http_server: ServerFactory, sessions: SessionPool, client: str
) -> None:
    base = await http_server(routes(slow=_slow))
    config = make_config(
        [{"name": "p", "url": f"{base}/slow", "timeout": "5s"}], agent={"http_client": client}
    )
    probe_config = config.probes[0]
    assert isinstance(probe_config, ProbeConfig)
    probe = HTTPProbe(probe_config, config, sessions)
    loop = asyncio.get_running_loop()

    before = await _run(probe, "before")
    # a callback that holds the loop for BLOCK while the next run waits for its reply
    loop.call_later(SERVICE / 4, time.sleep, BLOCK)
    blocked = await _run(probe, "blocked")
    after = await _run(probe, "after")

    assert [r.success for r in (before, blocked, after)] == [True, True, True]
    assert blocked.error_bound >= BLOCK  # the stall it overlapped is inside its bound
    assert before.error_bound < BLOCK  # runs that did not overlap it are not charged for it
    assert after.error_bound < BLOCK
    assert before.error_bound > 0  # never zero: the watch's resolution is part of the bound


async def test_concurrent_runs_each_get_the_stall_they_overlapped(
    http_server: ServerFactory, sessions: SessionPool
) -> None:
    """Two runs in flight share the watch; a stall during both is in both bounds, and the
    watch stops ticking once none is in flight (a later run is not charged for it)."""
    base = await http_server(routes(slow=_slow))
    config = make_config([{"name": "p", "url": f"{base}/slow", "timeout": "5s"}])
    probe_config = config.probes[0]
    assert isinstance(probe_config, ProbeConfig)
    probe = HTTPProbe(probe_config, config, sessions)
    loop = asyncio.get_running_loop()

    loop.call_later(SERVICE / 4, time.sleep, BLOCK)
    first, second = await asyncio.gather(_run(probe, "a"), _run(probe, "b"))
    later = await _run(probe, "c")

    assert first.error_bound >= BLOCK
    assert second.error_bound >= BLOCK
    assert later.error_bound < BLOCK
    assert not LoopWatch.of(loop).ticking  # nothing in flight: an idle agent pays nothing


async def test_a_stall_right_before_the_end_is_caught_by_the_pending_tick() -> None:
    """The stall ends just before the run does, so no tick has run since: the tick still
    pending, late by now minus its due time, carries it."""
    watch = LoopWatch.of(asyncio.get_running_loop())
    since = watch.enter()
    await asyncio.sleep(0)
    time.sleep(BLOCK)  # noqa: ASYNC251 - the stall under test: the run itself holds the loop
    bound = watch.leave(since)
    assert bound >= BLOCK
    assert not watch.ticking
    quiet_since = watch.enter()
    quiet = watch.leave(quiet_since)
    assert TICK <= quiet < BLOCK
