"""Shared fixtures: real servers on 127.0.0.1, a TLS CA, a fake clock, config builders."""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import uvloop
from aiohttp import web

from prober.config import Config, parse_config

REPO = Path(__file__).resolve().parent.parent


async def run_prober(
    *args: str, env: dict[str, str] | None = None, limit: float = 60, module: str = "prober.cli"
) -> tuple[int, str, str]:
    """`python -m MODULE ARGS` from the repository: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), limit)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """Tests that call `prober.cli.main` in process run `setup_logging`, which replaces the
    root logger's handlers and level (to critical for `once`); later tests' caplog would
    then see nothing. Put the root logger back as it was after every test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Tests marked both_loops run on asyncio's loop and on uvloop (what `prober run` uses)."""
    if item.get_closest_marker("both_loops") is None:
        return {"asyncio": asyncio.new_event_loop}
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


Routes = Callable[[web.Application], None]
ServerFactory = Callable[..., Awaitable[str]]
RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def routes(**handlers: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Routes:
    """Routes for http_server: each handler at /<its name>, for any method."""

    def add(app: web.Application) -> None:
        for path, handler in handlers.items():
            app.router.add_route("*", "/" + path, handler)

    return add


def make_config(probes: list[dict[str, Any]], **sections: Any) -> Config:
    """A validated Config from plain dicts, as if loaded from a file."""
    raw: dict[str, Any] = {"probes": probes, **sections}
    return parse_config(raw, "test.yaml", {}, Path("."))


@pytest.fixture
async def http_server() -> AsyncIterator[ServerFactory]:
    """Start aiohttp apps on 127.0.0.1; returns their base URL. Cleaned up after the test."""
    runners: list[web.AppRunner] = []

    async def start(routes: Routes, ssl_context: ssl.SSLContext | None = None) -> str:
        app = web.Application()
        routes(app)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[RawHandler], Awaitable[str]]]:
    """A bare TCP server for faults aiohttp's server would never produce."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def start(handler: RawHandler) -> str:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            await handler(reader, writer)

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for writer in writers:
        writer.close()
    for server in servers:
        await server.wait_closed()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_files(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """CA file and a server cert for localhost/127.0.0.1, written to disk."""
    base = tmp_path_factory.mktemp("tls")
    cert = tls_ca.issue_cert("localhost", "127.0.0.1")
    paths = {"ca": base / "ca.pem", "chain": base / "server.pem", "key": base / "server.key"}
    tls_ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.private_key_and_cert_chain_pem.write_to_path(str(paths["chain"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    return paths


@pytest.fixture
def server_ssl(tls_files: dict[str, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tls_files["chain"]))
    return ctx


class FakeTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A discrete-event clock: time moves only when the test advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._seq = 0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(callback)
        self._seq += 1
        heapq.heappush(self._timers, (self.now + max(0.0, delay), self._seq, timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        """For the fake runs of tests: a sleep on this clock."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.call_later(seconds, lambda: None if fut.done() else fut.set_result(None))
        await fut

    async def settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Fire every timer due within `seconds`, in order, letting tasks run between."""
        await self.settle()
        target = self.now + seconds
        while self._timers and self._timers[0][0] <= target:
            due, _, timer = heapq.heappop(self._timers)
            self.now = max(self.now, due)
            if not timer.cancelled:
                timer.callback()
            await self.settle()
        self.now = target
        await self.settle()

    def stall(self, seconds: float) -> None:
        """Move time without firing timers, like an event loop blocked for `seconds`."""
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
