"""The `prober` command: run, check, once, demo, rules, dashboards, report, shards, openslo,
version.

Exit codes: 0 fine; 1 an SLO objective was violated (once, bounded run) or the
agent could not start; 2 bad usage or a config that does not load.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.text import Text

from .. import __version__
from ..config import ConfigError, printable
from ..config.units import format_duration
from .common import (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VIOLATED,
    duration_arg,
    load_or_exit,
    positive_int_arg,
    shard_arg,
    shard_or_exit,
)
from .dashboards import add_dashboards_parser, cmd_dashboards
from .loop import run_async
from .once import cmd_once
from .openslo import add_openslo_parser, cmd_openslo
from .report import add_report_parser, cmd_report
from .run import cmd_run
from .shards import add_shards_parser, cmd_shards

log = logging.getLogger("prober")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"prober: {message} (see prober {self.prog.split()[-1]} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prober", description="Synthetic probes and black-box SLIs.")
    parser.add_argument("--version", action="version", version=f"prober {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser, config_default: str | None = "probes.yaml") -> None:
        p.add_argument(
            "-c",
            "--config",
            default=config_default,
            metavar="FILE",
            help=f"the config file (default: ./{config_default})",
        )
        p.add_argument("--region", help="region label (overrides PROBER_REGION and the file)")

    def logging_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--log-format",
            choices=("auto", "json", "text"),
            default="auto",
            help="auto: text on a terminal, JSON lines otherwise",
        )
        p.add_argument(
            "--log-level",
            default="info",
            choices=("debug", "info", "warning", "error"),
            help="default: info",
        )

    def web_config_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--web.config.file",
            dest="web_config",
            type=Path,
            metavar="PATH",
            help="TLS and basic auth for /metrics (Prometheus exporter-toolkit web config)",
        )

    def shard_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--shard",
            type=shard_arg,
            metavar="INDEX/TOTAL",
            help="run only this shard's probes (INDEX from 0; default: env PROBER_SHARD, "
            "else all); see prober shards",
        )

    run = sub.add_parser("run", help="run the agent: scheduled probes, /metrics")
    common(run)
    run.add_argument("--listen", help="host:port for /metrics (default from the config)")
    run.add_argument("--results", type=Path, help="append one JSON line per run to this file")
    shard_flag(run)
    run.add_argument(
        "--duration", type=duration_arg, help="stop after this long and print a summary"
    )
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
    shard_flag(check)

    once = sub.add_parser("once", help="run each probe N times now and judge the results")
    common(once)
    once.add_argument(
        "-n", "--count", type=positive_int_arg, default=10, help="runs per probe (default: 10)"
    )
    once.add_argument("-p", "--probe", action="append", help="only this probe (repeatable)")
    once.add_argument("--pace", type=duration_arg, help="wait this long between runs of a probe")
    once.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="table (default), for people, or json, for scripts",
    )
    once.add_argument("--results", type=Path, help="append one JSON line per run to this file")
    once.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log every failed run on stderr, one line each",
    )

    demo = sub.add_parser("demo", help="probe an embedded simulated service with scripted faults")
    common(demo)
    demo.add_argument(
        "--duration", type=duration_arg, help="stop after this long (default: Ctrl-C)"
    )
    demo.add_argument(
        "--interval",
        type=duration_arg,
        default=1.0,
        help="probe interval for the demo (default 1s)",
    )
    demo.add_argument("--listen", default="127.0.0.1:9477", help="host:port for /metrics")
    demo.add_argument(
        "--service-port",
        type=int,
        default=8089,
        help="port of the simulated service on 127.0.0.1 (0: any free port)",
    )
    demo.add_argument("--latency", type=duration_arg, help="fixed added latency (no timeline)")
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
    rules.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("rules"),
        metavar="DIR",
        help="output directory (default: ./rules)",
    )
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
    rules.add_argument(
        "--tests",
        type=Path,
        metavar="DIR",
        help="also write `promtool test rules` files derived from the SLO math into DIR",
    )

    add_dashboards_parser(sub)
    add_report_parser(sub)
    add_shards_parser(sub)
    add_openslo_parser(sub)
    sub.add_parser("version", help="print the version")
    return parser


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- commands ----------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config, args.region, shard_or_exit(args.shard))
    for line in config.warnings:  # not errors: the config runs as written
        print(f"warning: {line}", file=sys.stderr)
    out = Console(soft_wrap=True, highlight=False)
    shard = f" in shard {config.shard}" if config.shard else ""
    # Text, never markup: a path like `probes[/].yaml` or a target is shown as written.
    out.print(
        Text.assemble(
            ("ok", "green"),
            f" {printable(args.config)}: {_count(len(config.probes), 'probe')}{shard}, "
            f"{_count(len(config.slos), 'SLO')}, "
            f"region {config.region}, metrics on {config.agent.listen}",
        )
    )
    for p in config.probes:
        slo = f" -> SLO {p.slo}" if p.slo else ""
        what = f"{len(p.steps)}-step scenario" if p.kind == "scenario" else p.method
        out.print(
            Text(
                f"  {p.name}: {what} {p.target_label} every "
                f"{format_duration(config.interval(p))}, timeout "
                f"{format_duration(config.timeout(p))}{slo}"
            )
        )
    return EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415

    from ..generated import stale_files, write_files  # noqa: PLC0415
    from ..slo import names  # noqa: PLC0415
    from ..slo.generate import render_files, warnings  # noqa: PLC0415
    from ..slo.tests_gen import render_tests  # noqa: PLC0415

    config = load_or_exit(args.config, args.region, fleet=True)
    if args.tests is not None and args.format == "operator":
        print("error: --tests needs the plain rule file (--format prometheus or all)",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    try:
        outputs = [(args.out, render_files(config, args.format))]
        for line in warnings(config):
            print(line, file=sys.stderr)
        if args.tests is not None:
            rule_file = os.path.relpath(args.out / names.RULES_FILE, args.tests)
            generated = render_tests(config, Path(rule_file).as_posix())
            outputs.append((args.tests, generated.files))
            for note in generated.notes:
                print(f"note: {note}", file=sys.stderr)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        stale = [path for out, files in outputs for path in stale_files(files, out)]
        for path in stale:
            tests = f" --tests {args.tests}" if args.tests is not None else ""
            print(f"stale: {path} (run prober rules -c {args.config} -o {args.out}{tests})")
        return EXIT_VIOLATED if stale else EXIT_OK
    for out, files in outputs:
        for path in write_files(files, out):
            print(f"wrote {path}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo.run import run_demo  # noqa: PLC0415

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
        "shards": cmd_shards,
        "openslo": cmd_openslo,
    }
    if args.command == "version":
        print(f"prober {__version__}")
        return EXIT_OK
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `prober once -o json | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
