"""Memory under hostile bodies: a probe hammering a server that sends far more than the cap.

Each run that ends in body_too_large must give back what it buffered (up to
max_body_bytes) by reference counting alone. A reference cycle there (the builtin client
kept its failure's traceback, whose frames held the protocol and its body chunks) made
RSS climb by the cap on every run until a full collection, which `prober run` defers
further with gc.freeze(). The soak runs with the cyclic collector off, so any such cycle
shows as growth at once rather than by luck of GC timing.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web

from prober.config import ProbeConfig
from prober.conventions import Outcome
from prober.model import RunContext
from prober.probes.http import HTTPProbe
from prober.probes.session import SessionPool

from .conftest import ServerFactory, make_config, routes

pytestmark = pytest.mark.both_loops

MiB = 1024 * 1024
CAP = 2 * MiB
BODY = 64 * MiB  # what the server would send if the client kept reading
RUNS = 300  # per client
PIECE = b"z" * (256 * 1024)  # one object, written again and again: the server holds no copies


def rss() -> int:
    """Resident set size of this process, in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def stream(request: web.Request) -> web.StreamResponse:
    """BODY bytes, chunked if `chunked` else with the length declared up front."""
    resp = web.StreamResponse()
    if request.query.get("framing") == "chunked":
        resp.enable_chunked_encoding()
    else:
        resp.content_length = BODY
    await resp.prepare(request)
    try:
        for _ in range(BODY // len(PIECE)):
            await resp.write(PIECE)
    except (ConnectionError, aiohttp.ClientConnectionResetError):
        pass  # the client gave up at its cap: expected
    return resp


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


@pytest.fixture
async def sessions() -> AsyncIterator[SessionPool]:
    pool = SessionPool()
    yield pool
    await pool.close()


@pytest.mark.parametrize("client", ["builtin", "aiohttp"])
async def test_hundreds_of_body_too_large_runs_leave_rss_flat_with_the_cyclic_gc_off(
    http_server: ServerFactory, sessions: SessionPool, client: str, no_cyclic_gc: None
) -> None:
    base = await http_server(routes(big=stream))
    probes = []
    for framing in ("declared", "chunked"):
        config = make_config(
            [{"name": f"big-{framing}", "url": f"{base}/big?framing={framing}",
              "timeout": "10s", "interval": "15s", "expect": {"max_body_bytes": CAP}}],
            agent={"http_client": client},
        )  # fmt: skip
        cfg = config.probes[0]
        assert isinstance(cfg, ProbeConfig)
        probes.append(HTTPProbe(cfg, config, sessions))

    async def run(i: int) -> Outcome:
        now = time.monotonic()
        result = await probes[i % 2].run(RunContext(f"run-{i}", now, now, time.time()))
        return result.outcome

    for i in range(20):  # warm up: sessions, connectors, allocator arenas
        assert await run(i) is Outcome.BODY_TOO_LARGE
    baseline = rss()
    outcomes = [await run(i) for i in range(RUNS)]
    for _ in range(10):  # let aborted transports deliver connection_lost
        await asyncio.sleep(0)
    grown = rss() - baseline
    assert set(outcomes) == {Outcome.BODY_TOO_LARGE}
    assert grown < 4 * CAP + 30 * MiB, (
        f"RSS grew {grown / MiB:.0f} MiB over {RUNS} capped runs ({client} client)"
    )
