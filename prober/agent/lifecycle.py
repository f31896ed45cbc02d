"""The long-running agent: config -> scheduler -> probe -> result -> sinks.

Owns the lifecycle (`async with Agent(...)`), reloads (a bad config is refused
and the running one kept), and graceful stop (in-flight runs get their timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar, cast

from ..config import Config, ConfigError, load_config
from ..model import ProbeResult, RunContext
from ..probes import Probe, build_probe
from ..probes.session import SessionPool
from ..redact import one_line
from ..telemetry.metrics import ProbeMetrics
from .runner import execute
from .scheduler import Clock, Scheduler
from .sinks import LogSink, ResultsFile, Sink

if TYPE_CHECKING:  # the OpenTelemetry SDK is imported only when tracing is on
    from ..telemetry.tracing import Tracing

log = logging.getLogger("prober.agent")
T = TypeVar("T")


async def in_daemon_thread(fn: Callable[[], T]) -> T:
    """`fn()` in a daemon thread of its own, awaited.

    Not asyncio.to_thread: the default executor's threads are joined at exit, so a
    load stuck on a pathological file (or a FIFO nobody writes) would keep SIGTERM from
    ending the process. A daemon thread is simply left behind.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, exc: BaseException | None) -> None:
        if done.done():  # the reload was cancelled meanwhile
            return
        if exc is not None:
            done.set_exception(exc)
        else:
            done.set_result(cast("T", result))

    def work() -> None:
        try:
            result, exc = fn(), None
        except BaseException as e:  # handed to the awaiting task, which classifies it
            # Without its traceback: those frames (a rejected file's whole parsed tree
            # among their locals) would sit in a cycle through this frame until a full GC.
            result, exc = None, e.with_traceback(None)
        with contextlib.suppress(RuntimeError):  # the loop closed while we worked
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=work, name="prober-config-load", daemon=True).start()
    return await done


class RunIds:
    """Unique, cheap run ids: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self._prefix = os.urandom(4).hex()
        self._n = 0

    def __call__(self) -> str:
        self._n += 1
        return f"{self._prefix}-{self._n:08x}"


class Agent:
    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        results_path: Path | None = None,
        clock: Clock | None = None,
        extra_sinks: Sequence[Sink] = (),
        region_override: str | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.region_override = region_override
        self._clock = clock
        self.tracing = tracing
        if tracing is None and config.tracing.enabled:
            from ..telemetry.tracing import Tracing  # noqa: PLC0415 - the SDK costs memory when unused

            self.tracing = Tracing(config.tracing, config.region)
        self.sessions = SessionPool()
        self.metrics = ProbeMetrics(
            config.region,
            config.agent.labels,
            config.duration_buckets,
            lean=config.agent.metrics == "lean",
        )
        self.results = ResultsFile(results_path, on_drop=self._count_drop) if results_path else None
        self.sinks: list[Sink] = [self.metrics, LogSink(), *extra_sinks]
        if self.results is not None:
            self.sinks.append(self.results)
        self.probes: dict[str, Probe] = {}
        self.scheduler: Scheduler | None = None
        self.state: dict[str, float] = {
            "reload_success": 1.0,
            "reload_timestamp": time.time(),
            "reloads_success": 0.0,
            "reloads_failure": 0.0,
            "loop_lag": 0.0,
        }
        self.ready = asyncio.Event()
        self._run_id = RunIds()
        self._lag_task: asyncio.Task[None] | None = None
        self._reload_lock = asyncio.Lock()
        self._reloads_requested = 0  # reload requests so far
        self._reloads_covered = 0  # requests answered by a reload that began after them
        self._last_reload_ok = True

    # --- lifecycle ---------------------------------------------------------------
    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self.results is not None:
            await self.results.start()
        self.scheduler = Scheduler(
            self._run, self._skip, self._clock, self.config.agent.max_concurrency
        )
        try:
            self._apply(self.config)
        except Exception as exc:  # validated, yet cannot run (an interval no clock holds)
            reason = one_line(self.config.redactor(str(exc) or type(exc).__name__))
            raise ConfigError([f"{self.config.source}: {reason}"]) from None
        self._lag_task = asyncio.create_task(self._watch_loop_lag(), name="loop-lag")
        self.ready.set()
        log.info("agent started", extra={"probes": len(self.probes), "region": self.config.region})

    async def stop(self, grace: float | None = None) -> None:
        """Stop scheduling, let in-flight runs finish within their timeout, close."""
        self.ready.clear()
        if grace is None:
            grace = max((p.timeout for p in self.probes.values()), default=1.0) + 0.5
        cut = await self.scheduler.stop(grace) if self.scheduler else 0
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task
        if self.results is not None:
            await self.results.close()
        await self.sessions.close()
        if self.tracing is not None:  # bounded: a dead collector must not hold up exit
            await asyncio.to_thread(self.tracing.shutdown, 3.0)
        log.info("agent stopped", extra={"runs_cut_short": cut})

    # --- config ------------------------------------------------------------------
    def _build(self, config: Config) -> dict[str, Probe]:
        """The probes of `config`. Touches nothing running and no event loop: a reload
        builds them in a worker thread (TLS contexts read files, regexes compile)."""
        return {p.name: build_probe(p, config, self.sessions) for p in config.probes}

    def _load(self, path: Path, loaded: list[Config]) -> tuple[Config, dict[str, Probe]]:
        """Load and build; `loaded` gets the config even when building then fails, so the
        error can be redacted with the new file's secrets too."""
        config = load_config(path, region=self.region_override, shard=self.config.shard)
        loaded.append(config)
        return config, self._build(config)

    def _apply(self, config: Config, probes: dict[str, Probe] | None = None) -> None:
        """Build everything `config` needs, then switch to it in one step.

        Building (probes, schedule slots, metric series) changes nothing the agent is
        running, so an exception there leaves the old config whole; the switch after it
        is plain assignments with no await, so no run or scrape sees half of each.
        """
        assert self.scheduler is not None
        if probes is None:
            probes = self._build(config)
        jobs = self.scheduler.plan((name, probe.interval) for name, probe in probes.items())
        series = self.metrics.plan(
            config.region, ((p.name, p.target_label, p.slo or "") for p in config.probes)
        )
        self._update_sinks(config)
        self.metrics.install(config.region, series)
        self.metrics.shard = config.shard
        self.metrics.set_lean(config.agent.metrics == "lean")
        self.probes = probes
        self.config = config
        self.scheduler.install(jobs)

    def _update_sinks(self, config: Config) -> None:
        """Sinks that follow the config (the console stats) take the new one; if one
        refuses it, those already updated go back to the running config and it re-raises."""
        done = []
        try:
            for sink in self.sinks:
                update = getattr(sink, "update", None)
                if update is not None:
                    update(config)
                    done.append(update)
        except BaseException:
            for update in done:
                update(self.config)
            raise

    async def reload(self) -> bool:
        """Load the config file again; on any error keep running the old config, whole.

        The file is read and validated, and its probes built, in a worker thread: a big
        or alias-heavy file must not stall probe runs or scrapes. Reloads run one at a
        time, and a burst of requests (a SIGHUP storm) collapses: a request waiting behind
        a running reload is answered by the next one to start, which reads the file as it
        is by then.
        """
        if self.config_path is None:
            return False
        self._reloads_requested += 1
        ticket = self._reloads_requested
        async with self._reload_lock:
            if self._reloads_covered >= ticket:  # a reload that began after us covered us
                return self._last_reload_ok
            self._reloads_covered = self._reloads_requested
            ok = await self._reload_once(self.config_path)
            self._last_reload_ok = ok
            return ok

    async def _reload_once(self, path: Path) -> bool:
        loaded: list[Config] = []
        try:
            config, probes = await in_daemon_thread(lambda: self._load(path, loaded))
            self._warn_restart_only(config)
            self._apply(config, probes)
        except ConfigError as exc:
            for line in exc.lines:
                log.error("config reload rejected: %s", line)
            return self._reload_failed()
        except Exception as exc:  # e.g. an unreadable CA file, an interval no clock can hold
            reason = self.config.redactor(str(exc) or type(exc).__name__)
            for new in loaded:  # the new file's secrets too: the text may echo them
                reason = new.redactor(reason)
            reason = one_line(reason)
            log.error("config reload rejected: %s: %s", path, reason)
            return self._reload_failed()
        self.state["reload_success"] = 1.0
        self.state["reload_timestamp"] = time.time()
        self.state["reloads_success"] += 1
        log.info("config reloaded", extra={"probes": len(self.probes)})
        return True

    def _reload_failed(self) -> bool:
        self.state["reload_success"] = 0.0
        self.state["reloads_failure"] += 1
        return False

    def _warn_restart_only(self, config: Config) -> None:
        if config.tracing != self.config.tracing:
            log.warning("tracing settings change on restart only; keeping the running ones")
        if config.agent.labels != self.config.agent.labels:
            log.warning("agent.labels change on restart only; keeping the running ones")
        if config.duration_buckets != self.config.duration_buckets:
            log.warning(
                "histogram buckets (SLO thresholds) change on restart only; "
                "keeping the running ones"
            )
        if config.agent.listen != self.config.agent.listen:
            log.warning(
                "listen address changes need a restart; keeping %s", self.config.agent.listen
            )

    # --- the hot path --------------------------------------------------------------
    async def _run(self, name: str, planned: float) -> None:
        probe = self.probes.get(name)
        if probe is None:
            return
        clock = self.scheduler.clock if self.scheduler else None
        started = clock.monotonic() if clock else time.monotonic()
        ctx = RunContext(self._run_id(), planned, started, time.time())
        result = await execute(probe, ctx, self.tracing)
        self.record(result)

    def record(self, result: ProbeResult) -> None:
        region = self.config.region
        for sink in self.sinks:
            try:
                sink.record(result, region)
            except Exception:
                log.exception("sink %s failed", type(sink).__name__)

    def _skip(self, name: str, reason: str, count: int) -> None:
        self.metrics.skip(name, reason, count)
        log.warning(
            "skipped %d run(s) of %s: %s",
            count,
            name,
            reason,
            extra={"probe": name, "reason": reason},
        )

    def _count_drop(self) -> None:
        self.metrics.results_dropped += 1

    @property
    def health(self) -> dict[str, float]:
        """Agent state for the metrics collector, trace export counters included."""
        return {**self.state, **self.tracing.counters} if self.tracing else self.state

    @property
    def inflight(self) -> int:
        return self.scheduler.inflight if self.scheduler else 0

    async def _watch_loop_lag(self, every: float = 0.25) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(every)
            self.state["loop_lag"] = max(0.0, loop.time() - before - every)
