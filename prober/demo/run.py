"""`prober demo`: the simulated service, the agent on the bundled config, a live view."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from ..agent.lifecycle import Agent
from ..config import Config, ConfigError, load_config
from ..config.units import format_duration
from ..console.stats import StatsSink
from ..console.tables import console as make_console
from ..console.tables import summary_table
from ..telemetry.logs import setup_logging
from ..web.config import WebConfigError
from ..web.server import serve
from .alerts import AlertBoard
from .service import DEMO_TIMELINE, Faults, Timeline, UserMetadataService
from .stack import Stack

LIVE_WINDOW = 60  # percentiles in the live view cover the last N runs of each probe


def bundled_config() -> Path:
    return Path(str(resources.files("prober") / "data" / "probes.yaml"))


def demo_config(path: Path, url: str, interval: float, region: str | None) -> Config:
    """The bundled config pointed at the simulated service, at a demo-friendly pace.

    Every request gets `interval` (a scenario one interval per step) and 80% of it as
    its timeout: the slow stage (up to 0.65 s a request) is then slow, not down, so it
    fires latency alerts and never the availability page, which is the error burst's.
    """
    config = load_config(path, env={**os.environ, "UMS_URL": url}, region=region)
    probes = []
    for p in config.probes:
        every = interval * max(1, len(p.steps) if p.kind == "scenario" else 1)
        probes.append(
            p.model_copy(update={"interval": every, "timeout": min(config.timeout(p), every * 0.8)})
        )
    return config.model_copy(update={"probes": tuple(probes)})


def next_steps(config: str) -> str:
    """What to type next, as this shell can run it: `prober ...` when this `prober` is the
    one on PATH; after `source .../activate` when it lives in a venv not activated (the
    quick start installs into .venv without touching the shell); else by its path."""
    argv0 = sys.argv[0]
    quoted = shlex.quote(config)
    if argv0.endswith("__main__.py"):  # python -m prober
        return f"`{shlex.quote(sys.executable or 'python3')} -m prober once -c {quoted}`"
    on_path = shutil.which("prober")
    if on_path and os.path.exists(argv0) and os.path.samefile(on_path, argv0):
        return f"`prober once -c {quoted}`"
    activate = os.path.join(os.path.dirname(argv0), "activate")
    if os.path.exists(activate):
        shown = os.path.relpath(activate)
        shown = os.path.abspath(activate) if shown.startswith(os.pardir) else shown
        return f"`source {shlex.quote(shown)}`, then `prober once -c {quoted}`"
    return f"`{shlex.quote(os.path.abspath(argv0))} once -c {quoted}`"


def _service(args: argparse.Namespace) -> UserMetadataService:
    fixed = args.latency is not None or args.error_rate is not None or args.stale_reads
    if fixed:
        faults = Faults(
            latency=args.latency if args.latency is not None else 0.02,
            error_rate=args.error_rate or 0.0,
            stale_reads=args.stale_reads,
        )
        return UserMetadataService(faults, access_log=args.access_log)
    return UserMetadataService(timeline=Timeline(DEMO_TIMELINE), access_log=args.access_log)


async def run_demo(args: argparse.Namespace) -> int:
    setup_logging(args.log_format, "error" if args.log_level == "info" else args.log_level)
    console = make_console()
    path = Path(args.config)
    if args.config == "probes.yaml" and not os.path.exists(path):  # noqa: ASYNC240 - one stat at start-up
        path = bundled_config()
    service = _service(args)
    try:
        service_runner, service_port = await service.start("127.0.0.1", args.service_port)
    except OSError as exc:
        console.print(
            f"[red]error:[/] cannot start the simulated service on 127.0.0.1:"
            f"{args.service_port}: {exc.strerror} (try --service-port 0)"
        )
        return 1
    url = f"http://127.0.0.1:{service_port}"
    try:
        config = demo_config(path, url, args.interval, args.region)
    except ConfigError as exc:
        await service.close(service_runner)
        for line in exc.lines:
            console.print(f"[red]error:[/] {line}", highlight=False)
        return 2
    stats = StatsSink(config, window=LIVE_WINDOW)
    agent = Agent(config, results_path=args.results, extra_sinks=[stats])
    try:
        metrics_runner, metrics_port = await serve(agent, args.listen, args.web_config)
    except WebConfigError as exc:
        await service.close(service_runner)
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return 2
    except OSError as exc:
        await service.close(service_runner)
        console.print(
            f"[red]error:[/] cannot listen on {args.listen}: {exc.strerror} "
            "(try --listen 127.0.0.1:0)"
        )
        return 1
    await agent.start()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    board: AlertBoard | None = None
    stack: Stack | None = None
    if args.with_prometheus:
        board = AlertBoard(stage=lambda: service.stage)
        try:
            stack = await board.start_stack(config, metrics_port, Path(tempfile.mkdtemp()))
        except (OSError, RuntimeError, TimeoutError) as exc:
            await board.close()
            await agent.stop()
            await metrics_runner.cleanup()
            await service.close(service_runner)
            console.print(f"[red]error:[/] --with-prometheus: {exc}", highlight=False)
            return 2
    started = time.monotonic()

    def view() -> Group:
        elapsed = format_duration(max(1.0, round(time.monotonic() - started)))
        header = Text.assemble(
            ("prober demo", "bold"),
            f"  service {url}  stage ",
            (service.stage, "bold yellow" if service.stage != "healthy" else "bold green"),
            f"  elapsed {elapsed}  metrics {metrics_url}",
        )
        note = Text(f"percentiles over the last {LIVE_WINDOW} runs; Ctrl-C to stop", style="dim")
        parts: list[RenderableType] = [header, summary_table(stats, latest=True)]
        if board is not None and stack is not None:
            parts.append(board.table(stack))
        return Group(*parts, note)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    deadline = started + args.duration if args.duration else None
    try:
        if console.is_terminal:
            with Live(view(), console=console, refresh_per_second=4, transient=True) as live:
                while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                    await _wait(stop, 0.25)
                    live.update(view())
        else:
            console.print(f"prober demo: service {url}, metrics {metrics_url}")
            last_print = started
            printed = 0  # alert changes printed so far, one line each as they arrive
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                await _wait(stop, 0.5)
                if board is not None:
                    for notice in board.changes_since(printed):
                        console.print(
                            f"alert: {board.change_line(notice)}", markup=False, highlight=False
                        )
                    printed = board.changes_total
                if time.monotonic() - last_print >= 15:
                    last_print = time.monotonic()
                    console.print(view())
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if stack is not None:
            await asyncio.to_thread(stack.stop)
        if board is not None:
            await board.close()
        await agent.stop()
        await metrics_runner.cleanup()
        await service.close(service_runner)
    console.print(view())
    shown = str(path) if path.is_absolute() else args.config
    console.print(f"{service.requests} requests served.", highlight=False)
    console.print(
        f"Next: {next_steps(shown)} probes the service $UMS_URL names "
        "(default http://127.0.0.1:8089).",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
