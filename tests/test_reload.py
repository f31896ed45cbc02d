"""Reloads are all or nothing, read off the event loop, and one at a time.

A reload is rejected or taken whole: a config that validates but fails while it is
being built (a probe that cannot be constructed, an interval no schedule can hold)
must leave the running probes, their schedule and their counters exactly as they were.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from prober.agent import Agent, lifecycle
from prober.config import Config, load_config
from prober.probes import build_probe
from prober.web.server import serve

from .conftest import REPO, ServerFactory
from .test_signals import ProberProcess, poll, runs_of, runs_reach, value

NINES = "9" * 400


@pytest.fixture
async def target(http_server: ServerFactory) -> str:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    def add(app: web.Application) -> None:
        app.router.add_get("/ok", ok)

    return await http_server(add)


def write(path: Path, url: str, probes: dict[str, str]) -> Path:
    """A config of plain GET probes: name -> interval."""
    doc = {
        "defaults": {"timeout": "40ms"},
        "probes": [{"name": n, "url": f"{url}/ok", "interval": i} for n, i in probes.items()],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def runs(agent: Agent, name: str) -> int:
    series = agent.metrics.series.get(name)
    return sum(series.runs.values()) if series is not None else 0


async def wait_for(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def consistent(agent: Agent) -> set[str]:
    """The probe set, after checking every part of the agent agrees on it."""
    assert agent.scheduler is not None
    names = set(agent.probes)
    assert set(agent.scheduler.jobs) == names
    assert set(agent.metrics.series) == names
    assert {p.name for p in agent.config.probes} == names
    return names


OLD = {"kept": "50ms", "dropped": "50ms"}


async def assert_rejected_whole(agent: Agent, path: Path) -> None:
    """Reload must fail and leave the old config running, with its counters."""
    jobs = dict(agent.scheduler.jobs) if agent.scheduler else {}
    series = dict(agent.metrics.series)
    before = runs(agent, "kept")
    assert not await agent.reload()
    assert consistent(agent) == set(OLD)
    assert agent.scheduler is not None
    assert all(agent.scheduler.jobs[n] is jobs[n] for n in OLD), "schedules were replaced"
    assert all(agent.metrics.series[n] is series[n] for n in OLD), "series were replaced"
    assert runs(agent, "kept") >= before
    assert agent.state["reload_success"] == 0.0
    assert agent.state["reloads_failure"] == 1
    assert agent.state["reloads_success"] == 0
    await wait_for(lambda: runs(agent, "dropped") > before + 2 and runs(agent, "kept") > before + 2)
    assert runs(agent, "added") == 0, "a probe of the rejected config ran"


async def test_a_probe_that_fails_to_build_rejects_the_whole_reload(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "p.yaml", target, OLD)
    real = build_probe

    threads: set[int] = set()

    def build(probe: Any, config: Config, sessions: Any) -> Any:
        threads.add(threading.get_ident())
        if probe.name == "added":  # an error that echoes a secret of the new file
            raise RuntimeError(f"cannot build this one: {dict(probe.headers)}")
        return real(probe, config, sessions)

    async with Agent(load_config(path), config_path=path) as agent:
        await wait_for(lambda: runs(agent, "kept") >= 2)
        monkeypatch.setattr(lifecycle, "build_probe", build)
        write(path, target, {"kept": "50ms", "added": "50ms", "zz-later": "50ms"})
        doc = yaml.safe_load(path.read_text())
        doc["probes"][1]["headers"] = {"Authorization": "Bearer NEW-SECRET-123"}
        path.write_text(yaml.safe_dump(doc))
        await assert_rejected_whole(agent, path)
    rejected = [r.getMessage() for r in caplog.records if "reload rejected" in r.getMessage()]
    assert len(rejected) == 1
    assert "cannot build this one" in rejected[0]
    assert "NEW-SECRET-123" not in rejected[0]
    assert threads
    assert threading.get_ident() not in threads, "probes were built on the event loop"


async def test_an_interval_of_400_nines_rejects_the_whole_reload(
    target: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "p.yaml", target, OLD)
    async with Agent(load_config(path), config_path=path) as agent:
        await wait_for(lambda: runs(agent, "kept") >= 2)
        write(path, target, {"kept": "50ms", "added": "50ms", "forever": f"{NINES}s"})
        await assert_rejected_whole(agent, path)
    rejected = [r.getMessage() for r in caplog.records if "reload rejected" in r.getMessage()]
    assert len(rejected) == 1
    assert "forever" in rejected[0] or "interval" in rejected[0], rejected[0]
    assert len(rejected[0]) < 400, "one bounded line"


async def test_a_sink_refusing_the_new_config_rolls_back_the_sinks_already_updated(
    target: str, tmp_path: Path
) -> None:
    class Follower:
        def __init__(self) -> None:
            self.names: set[str] = set()

        def update(self, config: Config) -> None:
            self.names = {p.name for p in config.probes}

        def record(self, result: Any, region: str) -> None:
            return

    class Refuser(Follower):
        def update(self, config: Config) -> None:
            if any(p.name == "added" for p in config.probes):
                raise ValueError("no")
            super().update(config)

    path = write(tmp_path / "p.yaml", target, OLD)
    follower, refuser = Follower(), Refuser()
    async with Agent(load_config(path), config_path=path, extra_sinks=[follower, refuser]) as agent:
        await wait_for(lambda: runs(agent, "kept") >= 2)
        write(path, target, {"kept": "50ms", "added": "50ms"})
        await assert_rejected_whole(agent, path)
        assert follower.names == set(OLD)


class GatedLoader:
    """load_config that waits, in whatever thread it is called, until the test opens a gate.

    Counts calls and the most that ran at once. The wait is bounded: a loader stuck on the
    event loop must make the test fail, not hang.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.calls = 0
        self.running = 0
        self.most = 0
        self.on_loop_thread = False
        self._lock = threading.Lock()
        self._loop_thread = threading.get_ident()

    def __call__(self, path: Path, **kwargs: Any) -> Config:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        self.on_loop_thread |= threading.get_ident() == self._loop_thread
        self.entered.set()
        try:
            self.gate.wait(5.0)
            return load_config(path, **kwargs)
        finally:
            with self._lock:
                self.running -= 1


async def test_a_slow_reload_does_not_stall_probe_runs_or_scrapes(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "p.yaml", target, OLD)
    loader = GatedLoader()
    monkeypatch.setattr(lifecycle, "load_config", loader)
    async with Agent(load_config(path), config_path=path) as agent:
        runner, port = await serve(agent, "127.0.0.1:0")
        try:
            await wait_for(lambda: runs(agent, "kept") >= 1)
            write(path, target, {"kept": "50ms", "added": "50ms"})
            reload = asyncio.create_task(agent.reload())
            await asyncio.to_thread(loader.entered.wait, 5.0)
            assert loader.entered.is_set()
            before = runs(agent, "kept")
            async with (
                aiohttp.ClientSession() as s,
                s.get(f"http://127.0.0.1:{port}/metrics") as r,
            ):
                text = await r.text()
            await wait_for(lambda: runs(agent, "kept") >= before + 2)
            assert not reload.done(), "the scrape and runs happened while the file was loading"
            assert 'probe="kept"' in text
            loader.gate.set()
            assert await reload
        finally:
            loader.gate.set()
            await runner.cleanup()
        assert not loader.on_loop_thread
        assert consistent(agent) == {"kept", "added"}


async def test_a_burst_of_reloads_runs_one_at_a_time_and_the_last_file_wins(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "p.yaml", target, OLD)
    loader = GatedLoader()
    monkeypatch.setattr(lifecycle, "load_config", loader)
    async with Agent(load_config(path), config_path=path) as agent:
        first = asyncio.create_task(agent.reload())
        await asyncio.to_thread(loader.entered.wait, 5.0)
        burst = [asyncio.create_task(agent.reload()) for _ in range(30)]
        await asyncio.sleep(0)
        write(path, target, {"kept": "50ms", "latest": "50ms"})  # written after every request
        loader.gate.set()
        results = await asyncio.gather(first, *burst)
        assert results == [True] * 31
        assert loader.most == 1, "two loads ran at once"
        assert loader.calls == 2, "the burst collapsed into one reload after the running one"
        assert consistent(agent) == {"kept", "latest"}
        await wait_for(lambda: runs(agent, "latest") >= 1)


async def test_a_storm_of_post_reloads_over_good_and_bad_files_never_leaves_a_half_state(
    target: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "p.yaml", target, OLD)
    variants: list[dict[str, str]] = [
        {"kept": "50ms", "b": "60ms"},
        {"kept": "50ms", "added": "50ms", "forever": f"{NINES}s"},  # fails while building
        {"kept": "70ms", "c": "50ms", "d": "50ms"},
    ]
    allowed = [set(OLD), {"kept", "b"}, {"kept", "c", "d"}]
    async with Agent(load_config(path), config_path=path) as agent:
        runner, port = await serve(agent, "127.0.0.1:0", lifecycle=True)
        seen: list[set[str]] = []
        try:
            async with aiohttp.ClientSession() as s:

                async def post() -> int:
                    async with s.post(f"http://127.0.0.1:{port}/-/reload") as r:
                        return r.status

                async def scrape() -> int:
                    seen.append(consistent(agent))  # mid-burst, between reloads
                    async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                        await r.read()
                        return r.status + 1000  # told apart from the reload answers

                for i in range(30):
                    write(path, target, variants[i % 3])
                    statuses = await asyncio.gather(post(), scrape(), post(), post(), scrape())
                    assert [statuses[1], statuses[4]] == [1200, 1200], "scrapes answered"
                    assert {statuses[0], statuses[2], statuses[3]} <= {200, 500}
                    seen.append(consistent(agent))
        finally:
            await runner.cleanup()
        assert all(names in allowed for names in seen), seen
        assert agent.state["reloads_failure"] >= 1
        assert agent.state["reloads_success"] >= 1
        assert runs(agent, "kept") > 0


async def test_a_sighup_storm_on_prober_run_collapses_into_few_reloads_and_one_freeze_each(
    target: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "p.yaml", target, {"kept": "100ms"})
    process = await ProberProcess.start(path, "--log-level", "debug")
    try:
        async with aiohttp.ClientSession() as s:
            await poll(s, process, runs_reach("kept", 1))
            write(path, target, {"kept": "100ms", "latest": "100ms"})
            for _ in range(40):
                process.proc.send_signal(signal.SIGHUP)
                await asyncio.sleep(0.001)
            text = await poll(s, process, runs_reach("latest", 2))
            await asyncio.sleep(0.3)  # let any queued reload requests drain
            text = await process.scrape(s)
    finally:
        code = await process.finish()
    assert code == 0
    taken = value(text, "prober_config_reloads_total", result="success")
    assert value(text, "prober_config_reloads_total", result="failure") == 0
    assert taken is not None
    assert 1 <= taken < 40
    freezes = [r for r in process.records if r.get("msg") == "heap frozen"]
    assert len(freezes) == 1 + taken, "one freeze at start and one per config taken"
    assert "Traceback" not in process.stderr


async def test_sigterm_during_a_reload_stuck_reading_its_file_still_exits_0(
    target: str, tmp_path: Path
) -> None:
    """The file is a FIFO nobody writes: the load never ends. A worker thread the
    interpreter joins at exit would keep the process alive; prober's is left behind."""
    path = write(tmp_path / "p.yaml", target, {"kept": "100ms"})
    process = await ProberProcess.start(path)
    try:
        async with aiohttp.ClientSession() as s:
            await poll(s, process, runs_reach("kept", 1))
            path.unlink()
            os.mkfifo(path)
            process.proc.send_signal(signal.SIGHUP)
            before = runs_of(await process.scrape(s), "kept")
            await poll(s, process, runs_reach("kept", before + 2))  # probing goes on
    finally:
        code = await process.finish(limit=15)
    assert code == 0
    assert "Traceback" not in process.stderr


async def test_a_failed_load_in_the_worker_thread_leaves_nothing_for_the_cyclic_gc() -> None:
    """What the failing load held (a rejected file's parsed tree) must be freed by
    reference counting when the reload is over, not kept in a cycle through the thread's
    frames until a full collection (rarer still after `prober run`'s gc.freeze)."""

    class Tree:
        pass

    held: list[weakref.ref[Tree]] = []

    def load() -> None:
        tree = Tree()
        held.append(weakref.ref(tree))
        raise ValueError("rejected")

    gc.collect()
    gc.disable()
    try:
        with pytest.raises(ValueError, match="rejected"):
            await lifecycle.in_daemon_thread(load)
        assert held
        assert held[0]() is None, "the tree outlived the reload"
    finally:
        gc.enable()


async def test_prober_run_refuses_a_config_it_cannot_schedule_with_one_line_and_exit_2(
    target: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "p.yaml", target, {"kept": "100ms", "forever": f"{NINES}s"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "prober.cli", "run", "-c", str(path), "--listen", "127.0.0.1:0",
        "--duration", "5s", "--log-format", "json",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    errors = [line for line in stderr.decode().splitlines() if line.startswith("error:")]
    assert proc.returncode == 2
    assert len(errors) == 1, stderr
    assert str(path) in errors[0]
    assert "forever" in errors[0] or "interval" in errors[0]
    assert len(errors[0]) < 400
    assert "Traceback" not in stderr.decode()
