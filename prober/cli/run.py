"""`prober run`: the long-running agent, its signals, reloads and bounded runs."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError
from ..config.units import format_duration
from ..telemetry.logs import setup_logging
from .common import (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VIOLATED,
    VERDICT_EXIT,
    load_or_exit,
    shard_or_exit,
)
from .loop import run_async

log = logging.getLogger("prober")


def cmd_run(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config, args.region, shard_or_exit(args.shard))
    setup_logging(args.log_format, args.log_level)
    if config.shard is not None:
        log.info(
            "running shard %s: %d probe(s)",
            config.shard,
            len(config.probes),
            extra={"shard": str(config.shard), "probes": len(config.probes)},
        )
        if not config.probes:
            log.warning("shard %s owns no probe: more shards than probes?", config.shard)
    return run_async(run_agent(config, args))


async def run_agent(config: Config, args: argparse.Namespace) -> int:
    from ..agent.lifecycle import Agent  # noqa: PLC0415
    from ..console.stats import StatsSink  # noqa: PLC0415
    from ..console.tables import print_summary, verdict_line  # noqa: PLC0415
    from ..web.config import WebConfigError  # noqa: PLC0415
    from ..web.server import serve  # noqa: PLC0415

    stats = StatsSink(config) if args.duration else None
    agent = Agent(
        config,
        config_path=Path(args.config),
        results_path=args.results,
        region_override=args.region,
        extra_sinks=[stats] if stats else [],
    )
    listen = args.listen or config.agent.listen
    try:
        runner, port = await serve(agent, listen, args.web_config, lifecycle=args.lifecycle)
    except WebConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: cannot listen on {listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_VIOLATED
    try:
        await agent.start()
    except ConfigError as exc:  # passed validation, yet cannot be built: one line, exit 2
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        await agent.stop()
        await runner.cleanup()
        return EXIT_USAGE
    freeze_heap()
    log.info("serving /metrics", extra={"listen": listen, "port": port})
    stopped = await _wait_for_stop(agent, args.duration)
    await agent.stop()
    await runner.cleanup()
    log.info("exiting", extra={"signal": stopped})
    if stats is not None:
        out = print_summary(stats, f"prober run: {format_duration(args.duration)}")
        out.print(verdict_line(stats))
        if stats.no_data and not stats.violated:
            out.print(
                "first runs are spread across each probe's interval: "
                "a bounded run needs a --duration longer than the longest interval",
                style="dim",
            )
        return VERDICT_EXIT[stats.verdict]
    return EXIT_OK


def freeze_heap() -> None:
    """Hide what is alive now (modules, config, probes, series) from the cyclic GC.

    Those objects live as long as the config, yet every full collection walked them
    all: with 10,000 probes a gen-2 pause on the event loop took over 100 ms. Frozen
    objects are still freed by reference counting when a reload drops them.
    """
    gc.collect()
    gc.freeze()
    log.debug("heap frozen", extra={"objects": gc.get_freeze_count()})


async def _reload(agent: Any, frozen: list[float]) -> bool:
    """Reload, and freeze the new config's objects as well when one was taken.

    Once per config taken: a burst of SIGHUPs is answered by one or two reloads, and a
    full collection per signal would stall the loop for nothing. `frozen` holds the
    success count at the last freeze.
    """
    reloaded = bool(await agent.reload())
    taken = agent.state["reloads_success"]
    if reloaded and taken != frozen[0]:
        frozen[0] = taken
        freeze_heap()
    return reloaded


async def _wait_for_stop(agent: Any, duration: float | None) -> str:
    """Wait for SIGTERM/SIGINT or the duration; SIGHUP reloads meanwhile."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    got: list[str] = []
    reloads: set[asyncio.Task[bool]] = set()
    frozen = [0.0]

    def on_stop(name: str) -> None:
        got.append(name)
        stop.set()

    def on_hup() -> None:
        task = asyncio.create_task(_reload(agent, frozen))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, on_stop, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_stop, "SIGINT")
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await asyncio.wait_for(stop.wait(), timeout=duration)
    except TimeoutError:
        got.append("duration")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return got[0] if got else ""
