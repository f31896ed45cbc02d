"""`prober run` as a real process under signals: SIGHUP reloads that must fail safe, SIGTERM
with runs in flight, and Prometheus scraping through a storm of reloads."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from .conftest import REPO, ServerFactory
from .otlp_receiver import GRPCReceiver


class ProberProcess:
    """A `prober run` subprocess with JSON logs read continuously (a full pipe would block it)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.records: list[dict[str, Any]] = []
        self.port = 0
        self._reader = asyncio.create_task(self._read())
        self._stdout = asyncio.create_task(self._drain_stdout())
        self.stdout = b""

    @classmethod
    async def start(
        cls, config: Path, *extra: str, env: dict[str, str] | None = None
    ) -> ProberProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "prober.cli", "run", "-c", str(config),
            "--listen", "127.0.0.1:0", "--log-format", "json", *extra,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        process = cls(proc)
        await process.wait_log(lambda r: r.get("msg") == "serving /metrics", limit=20)
        process.port = int(
            next(r for r in process.records if r.get("msg") == "serving /metrics")["port"]
        )
        return process

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            text = line.decode(errors="replace")
            self.lines.append(text)
            try:
                self.records.append(json.loads(text))
            except ValueError:
                continue

    async def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = await self.proc.stdout.read()

    async def wait_log(
        self, predicate: Callable[[dict[str, Any]], bool], limit: float = 10, count: int = 1
    ) -> None:
        deadline = time.monotonic() + limit
        while sum(1 for r in self.records if predicate(r)) < count:
            assert self.proc.returncode is None, f"prober exited: {''.join(self.lines)[-2000:]}"
            assert time.monotonic() < deadline, "log line not seen in time"
            await asyncio.sleep(0.02)

    async def scrape(self, session: aiohttp.ClientSession, openmetrics: bool = False) -> str:
        headers = {"Accept": "application/openmetrics-text; version=1.0.0"} if openmetrics else {}
        async with session.get(f"http://127.0.0.1:{self.port}/metrics", headers=headers) as r:
            assert r.status == 200
            return await r.text()

    async def finish(self, sig: signal.Signals = signal.SIGTERM, limit: float = 10) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            code = await asyncio.wait_for(self.proc.wait(), limit)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            await asyncio.gather(self._reader, self._stdout, return_exceptions=True)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


async def poll(
    session: aiohttp.ClientSession,
    process: ProberProcess,
    predicate: Callable[[str], bool],
    limit: float = 10,
) -> str:
    deadline = time.monotonic() + limit
    while True:
        text = await process.scrape(session)
        if predicate(text):
            return text
        assert time.monotonic() < deadline, "metrics never reached the expected state"
        await asyncio.sleep(0.05)


def runs_of(text: str, probe: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "prober_probe_runs_total" and s.labels.get("probe") == probe:
                total += s.value
    return total


def reloads_are(result: str, count: int, last: float | None = None) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        if value(text, "prober_config_reloads_total", result=result) != count:
            return False
        return last is None or value(text, "prober_config_last_reload_success") == last

    return check


def runs_reach(probe: str, count: float) -> Callable[[str], bool]:
    return lambda text: runs_of(text, probe) >= count


@pytest.fixture
async def ok_target(http_server: ServerFactory) -> str:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    def add(app: web.Application) -> None:
        app.router.add_get("/ok", ok)

    return await http_server(add)


def good_config(
    url: str, interval: str = "100ms", timeout: str = "80ms", names: tuple[str, ...] = ("kept",)
) -> str:
    probes = "".join(f"  - name: {n}\n    url: {url}/ok\n" for n in names)
    return f"defaults: {{interval: {interval}, timeout: {timeout}}}\nprobes:\n{probes}"


def make_unreadable(path: Path) -> str:
    """Make `path` unreadable by this process; returns the reason load_config will give.

    chmod 000 is the honest way, but root (as in CI here) reads through it; then the
    file is replaced by a directory, which no user can read as a file.
    """
    path.chmod(0)
    try:
        with path.open("rb"):
            readable = True
    except PermissionError:
        readable = False
    if not readable:
        return "cannot read: Permission denied"
    path.chmod(0o644)
    path.unlink()
    path.mkdir()
    return "cannot read: Is a directory"


def restore(path: Path, text: str) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    if path.exists():
        path.chmod(0o644)
    path.write_text(text)


def break_yaml(path: Path) -> str:
    path.write_text("probes:\n  - name: kept\n    url: [unclosed\n")
    return "invalid YAML"


def remove(path: Path) -> str:
    path.unlink()
    return "file not found"


async def test_sighup_with_a_broken_missing_or_unreadable_file_keeps_the_old_config_running(
    ok_target: str, tmp_path: Path
) -> None:
    config = tmp_path / "probes.yaml"
    good = good_config(ok_target)
    config.write_text(good)
    process = await ProberProcess.start(config)
    try:
        async with aiohttp.ClientSession() as s:
            await poll(s, process, lambda t: runs_of(t, "kept") >= 2)
            faults: list[tuple[str, Callable[[Path], str]]] = [
                ("broken", break_yaml),
                ("missing", remove),
                ("unreadable", make_unreadable),
            ]
            for attempt, (what, fault) in enumerate(faults, start=1):
                reason = fault(config)
                before = runs_of(await process.scrape(s), "kept")
                process.proc.send_signal(signal.SIGHUP)
                text = await poll(s, process, reloads_are("failure", attempt))
                assert value(text, "prober_config_last_reload_success") == 0, what
                # The old config keeps probing: its counter carries on from where it was.
                await poll(s, process, runs_reach("kept", before + 3))
                rejected = [
                    r["msg"] for r in process.records if "config reload rejected" in r["msg"]
                ]
                assert len(rejected) == attempt, what
                assert reason in rejected[-1], (what, rejected[-1])
                assert "\n" not in rejected[-1]
                restore(config, good)
                process.proc.send_signal(signal.SIGHUP)
                await poll(s, process, reloads_are("success", attempt, last=1))
    finally:
        code = await process.finish()
    assert code == 0
    assert "Traceback" not in process.stderr


async def test_sigterm_with_runs_in_flight_exits_0_within_the_longest_timeout_with_spans_flushed(
    http_server: ServerFactory, tmp_path: Path
) -> None:
    arrived: dict[str, float] = {}
    answered: dict[str, float] = {}

    async def slow(request: web.Request) -> web.Response:
        run_id = request.headers["X-Request-Id"]
        arrived[run_id] = time.monotonic()
        await asyncio.sleep(1.5)
        answered[run_id] = time.monotonic()
        return web.Response(text="slow but fine")

    def add(app: web.Application) -> None:
        app.router.add_get("/slow", slow)

    base = await http_server(add)
    receiver = GRPCReceiver()
    config = tmp_path / "probes.yaml"
    # export_interval far beyond the test: spans can only reach the receiver by the flush
    # at exit. Two intervals, so each probe is alone in its group and starts at phase 0:
    # both runs are in flight together.
    config.write_text(
        "defaults: {timeout: 2s}\n"
        f"tracing: {{enabled: true, endpoint: '{receiver.endpoint}', export_interval: 60s}}\n"
        "probes:\n"
        f"  - {{name: slow-a, url: '{base}/slow', interval: 2100ms}}\n"
        f"  - {{name: slow-b, url: '{base}/slow', interval: 2200ms}}\n"
    )
    process = await ProberProcess.start(config)
    try:
        deadline = time.monotonic() + 10
        while len(arrived) < 2:  # a bounded poll of the target's side
            assert time.monotonic() < deadline, "the runs never reached the target"
            await asyncio.sleep(0.01)
        in_flight = set(arrived)
        assert not answered, "both runs are still waiting for their answer"
        sent = time.monotonic()
        code = await process.finish(signal.SIGTERM, limit=10)
        took = time.monotonic() - sent
    finally:
        if process.proc.returncode is None:
            await process.finish(signal.SIGKILL)
        receiver.stop()
    assert code == 0, process.stderr[-2000:]
    assert took < 2.0 + 1.0, f"exit took {took:.2f}s; the longest timeout is 2s"
    assert set(answered) == in_flight, "the in-flight runs were allowed to finish"
    spans = {s.attributes["prober.run_id"]: s for s in receiver.received.spans()}
    assert in_flight <= set(spans), "every in-flight run's span was flushed at exit"
    assert {spans[r].attributes["prober.outcome"] for r in in_flight} == {"success"}
    stopped = [r for r in process.records if r.get("msg") == "agent stopped"]
    assert stopped
    assert stopped[0]["runs_cut_short"] == 0
    assert "Traceback" not in process.stderr


Sample = tuple[str, frozenset[tuple[str, str]]]


def monotonic_samples(text: str) -> dict[Sample, float]:
    """Every sample that may only go up: counters and histogram buckets, counts and sums."""
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "histogram"):
            continue
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            out[(s.name, frozenset(s.labels.items()))] = float(s.value)
    return out


async def test_scraping_during_repeated_reloads_never_sees_a_counter_go_down(
    ok_target: str, tmp_path: Path
) -> None:
    config = tmp_path / "probes.yaml"
    names = ("alpha", "beta")
    variants = [
        good_config(ok_target, names=names),
        # Same probes and labels, other schedule and settings: series must carry on.
        good_config(ok_target, interval="150ms", timeout="50ms", names=names).replace(
            "/ok\n", "/ok\n    headers: {X-Variant: b}\n"
        ),
        "probes: [{name: alpha, url: 'not a url'}]\n",  # rejected: the last good one stays
    ]
    config.write_text(variants[0])
    process = await ProberProcess.start(config)
    reloads = 12
    decreases: list[str] = []
    scrapes = 0
    try:
        async with aiohttp.ClientSession() as s:
            await poll(s, process, lambda t: runs_of(t, "beta") >= 1)
            done = asyncio.Event()

            async def scraper() -> None:
                nonlocal scrapes
                previous = monotonic_samples(await process.scrape(s))
                while not done.is_set() and scrapes < 500:
                    current = monotonic_samples(await process.scrape(s, scrapes % 2 == 1))
                    scrapes += 1
                    for key, seen in current.items():
                        if key in previous and seen < previous[key]:
                            decreases.append(f"{key}: {previous[key]} -> {seen}")
                    previous = current

            task = asyncio.create_task(scraper())
            for i in range(reloads):
                config.write_text(variants[i % 3])
                process.proc.send_signal(signal.SIGHUP)
                await process.wait_log(
                    lambda r: r.get("msg", "").startswith(("config reloaded", "config reload rej")),
                    count=i + 1,
                )
                await asyncio.sleep(0.05)  # let a few runs and scrapes happen on this config
            done.set()
            await task
            final = await process.scrape(s)
    finally:
        code = await process.finish()
    assert code == 0
    assert scrapes >= 2 * reloads, "the scraper kept pace with the reloads"
    assert decreases == []
    assert value(final, "prober_config_reloads_total", result="success") == 8
    assert value(final, "prober_config_reloads_total", result="failure") == 4
    assert runs_of(final, "alpha") > 0
    assert runs_of(final, "beta") > 0
