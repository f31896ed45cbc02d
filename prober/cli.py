"""The `prober` command: run | check | once | demo | rules | dashboards | report | version.

Exit codes: 0 fine; 1 an SLO objective was violated (once, bounded run) or the
agent could not start; 2 bad usage or a config that does not load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from . import __version__
from .config import Config, ConfigError, load_config
from .dashboards.cli import add_dashboards_parser, cmd_dashboards
from .logs import setup_logging
from .report.cli import add_report_parser, cmd_report
from .units import format_duration, parse_duration

log = logging.getLogger("prober")
EXIT_OK, EXIT_VIOLATED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"prober: {message} (see prober {self.prog.split()[-1]} --help)\n")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prober", description="Synthetic probes and black-box SLIs.")
    parser.add_argument("--version", action="version", version=f"prober {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser, config_default: str | None = "probes.yaml") -> None:
        p.add_argument("-c", "--config", default=config_default, help="probes.yaml path")
        p.add_argument("--region", help="region label (overrides PROBER_REGION and the file)")

    def logging_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--log-format",
            choices=("auto", "json", "text"),
            default="auto",
            help="auto: text on a terminal, JSON lines otherwise",
        )
        p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))

    def web_config_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--web.config.file",
            dest="web_config",
            type=Path,
            metavar="PATH",
            help="TLS and basic auth for /metrics (Prometheus exporter-toolkit web config)",
        )

    run = sub.add_parser("run", help="run the agent: scheduled probes, /metrics")
    common(run)
    run.add_argument("--listen", help="host:port for /metrics (default from the config)")
    run.add_argument("--results", type=Path, help="append one JSON line per run to this file")
    run.add_argument("--duration", type=_duration, help="stop after this long and print a summary")
    web_config_flag(run)
    run.add_argument(
        "--web.enable-lifecycle",
        dest="lifecycle",
        action="store_true",
        help="let POST /-/reload reload the config (SIGHUP always does)",
    )
    logging_flags(run)

    check = sub.add_parser("check", help="validate a config and summarise it")
    common(check)

    once = sub.add_parser("once", help="run each probe N times now and judge the results")
    common(once)
    once.add_argument("-n", "--count", type=_positive_int, default=10, help="runs per probe")
    once.add_argument("-p", "--probe", action="append", help="only this probe (repeatable)")
    once.add_argument("--pace", type=_duration, help="wait this long between runs of a probe")
    once.add_argument("-o", "--output", choices=("table", "json"), default="table")
    once.add_argument("--results", type=Path, help="append one JSON line per run to this file")
    once.add_argument("-v", "--verbose", action="store_true", help="log every failed run")

    demo = sub.add_parser("demo", help="probe an embedded simulated service with scripted faults")
    common(demo)
    demo.add_argument("--duration", type=_duration, help="stop after this long (default: Ctrl-C)")
    demo.add_argument(
        "--interval", type=_duration, default=1.0, help="probe interval for the demo (default 1s)"
    )
    demo.add_argument("--listen", default="127.0.0.1:9477", help="host:port for /metrics")
    demo.add_argument(
        "--service-port",
        type=int,
        default=8089,
        help="port of the simulated service on 127.0.0.1 (0: any free port)",
    )
    demo.add_argument("--latency", type=_duration, help="fixed added latency (no timeline)")
    demo.add_argument("--error-rate", type=float, help="fixed error fraction 0-1 (no timeline)")
    demo.add_argument("--stale-reads", action="store_true", help="reads return the old value")
    demo.add_argument("--results", type=Path, help="append one JSON line per run to this file")
    demo.add_argument("--access-log", type=Path, help="the service's own per-request log")
    demo.add_argument(
        "--with-prometheus",
        action="store_true",
        help="also start Prometheus and Alertmanager (Debian packages) on 127.0.0.1 with the "
        "generated rules, time-scaled 1/60, and show the alerts that fire",
    )
    web_config_flag(demo)
    logging_flags(demo)

    rules = sub.add_parser("rules", help="generate Prometheus rule files from the slos")
    common(rules)
    rules.add_argument("-o", "--out", type=Path, default=Path("rules"), help="output directory")
    rules.add_argument(
        "--format",
        choices=("prometheus", "operator", "all"),
        default="all",
        help="plain rule file, PrometheusRule resource, or both (default)",
    )
    rules.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the files in --out differ from what would be generated",
    )

    add_dashboards_parser(sub)
    add_report_parser(sub)
    sub.add_parser("version", help="print the version")
    return parser


def load_or_exit(path: str, region: str | None = None) -> Config:
    try:
        return load_config(path, region=region)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed: lower and steadier timer latency."""
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, imported only where a loop starts

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- commands ----------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config, args.region)
    out = Console(soft_wrap=True)
    out.print(
        f"[green]ok[/] {args.config}: {_count(len(config.probes), 'probe')}, "
        f"{_count(len(config.slos), 'SLO')}, "
        f"region {config.region}, metrics on {config.agent.listen}"
    )
    for p in config.probes:
        slo = f" -> SLO {p.slo}" if p.slo else ""
        what = f"{len(p.steps)}-step scenario" if p.kind == "scenario" else p.method
        out.print(
            f"  {p.name}: {what} {p.target_label} every "
            f"{format_duration(config.interval(p))}, timeout "
            f"{format_duration(config.timeout(p))}{slo}",
            highlight=False,
        )
    return EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    from .console import console, steps_table, summary_json, summary_table  # noqa: PLC0415
    from .once import run_once  # noqa: PLC0415

    config = load_or_exit(args.config, args.region)
    if args.probe:
        names = {p.name for p in config.probes}
        unknown = [n for n in args.probe if n not in names]
        if unknown:
            print(
                f"error: {args.config}: no probe named {', '.join(map(repr, unknown))} "
                f"(probes: {', '.join(sorted(names))})",
                file=sys.stderr,
            )
            return EXIT_USAGE
        config = config.model_copy(
            update={"probes": tuple(p for p in config.probes if p.name in args.probe)}
        )
    setup_logging("text", "warning" if args.verbose else "critical")
    err = Console(stderr=True)
    show_progress = args.output == "table" and err.is_terminal
    total = args.count * len(config.probes)

    async def main() -> int:
        options = {"pace": args.pace or 0.0, "results_path": args.results}
        if show_progress:
            from rich.progress import Progress  # noqa: PLC0415

            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("probing", total=total)
                stats = await run_once(
                    config, args.count, on_result=lambda _: progress.advance(task), **options
                )
        else:
            stats = await run_once(config, args.count, **options)
        if args.output == "json":
            print(json.dumps(summary_json(stats), indent=2))
        else:
            out = console()
            out.print(summary_table(stats, title=f"prober once: {args.count} runs per probe"))
            for probe_stats in stats.by_probe.values():
                if probe_stats.steps:
                    out.print(steps_table(probe_stats))
        return EXIT_VIOLATED if stats.violated else EXIT_OK

    return run_async(main())


def cmd_run(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config, args.region)
    setup_logging(args.log_format, args.log_level)
    return run_async(run_agent(config, args))


async def run_agent(config: Config, args: argparse.Namespace) -> int:
    from .agent import Agent  # noqa: PLC0415
    from .console import console, summary_table  # noqa: PLC0415
    from .server import serve  # noqa: PLC0415
    from .stats import StatsSink  # noqa: PLC0415
    from .webconfig import WebConfigError  # noqa: PLC0415

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
    await agent.start()
    freeze_heap()
    log.info("serving /metrics", extra={"listen": listen, "port": port})
    stopped = await _wait_for_stop(agent, args.duration)
    await agent.stop()
    await runner.cleanup()
    log.info("exiting", extra={"signal": stopped})
    if stats is not None:
        console().print(summary_table(stats, title=f"prober run: {format_duration(args.duration)}"))
        return EXIT_VIOLATED if stats.violated else EXIT_OK
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


async def _reload(agent: Any) -> bool:
    """Reload, and freeze the new config's objects as well when it was taken."""
    reloaded = bool(await agent.reload())
    if reloaded:
        freeze_heap()
    return reloaded


async def _wait_for_stop(agent: Any, duration: float | None) -> str:
    """Wait for SIGTERM/SIGINT or the duration; SIGHUP reloads meanwhile."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    got: list[str] = []
    reloads: set[asyncio.Task[bool]] = set()

    def on_stop(name: str) -> None:
        got.append(name)
        stop.set()

    def on_hup() -> None:
        task = asyncio.create_task(_reload(agent))
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


def cmd_rules(args: argparse.Namespace) -> int:
    from .generated import stale_files  # noqa: PLC0415
    from .slo.generate import render_files, write_rules  # noqa: PLC0415

    config = load_or_exit(args.config, args.region)
    try:
        if args.check:
            stale = stale_files(render_files(config, args.format), args.out)
            for path in stale:
                print(f"stale: {path} (run prober rules -c {args.config} -o {args.out})")
            return EXIT_VIOLATED if stale else EXIT_OK
        for path in write_rules(config, args.out, args.format):
            print(f"wrote {path}")
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo.run import run_demo  # noqa: PLC0415

    return run_async(run_demo(args))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {
        "run": cmd_run,
        "check": cmd_check,
        "once": cmd_once,
        "demo": cmd_demo,
        "rules": cmd_rules,
        "dashboards": cmd_dashboards,
        "report": cmd_report,
    }
    if args.command == "version":
        print(f"prober {__version__}")
        return EXIT_OK
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
