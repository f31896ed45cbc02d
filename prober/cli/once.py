"""`prober once`: run each probe N times now, print a table or JSON, exit on the verdict."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from ..telemetry.logs import setup_logging
from .common import EXIT_USAGE, VERDICT_EXIT, load_or_exit
from .loop import run_async


def cmd_once(args: argparse.Namespace) -> int:
    from ..agent.once import run_once  # noqa: PLC0415
    from ..agent.sinks import LogSink, Sink  # noqa: PLC0415
    from ..console.tables import (  # noqa: PLC0415
        print_summary,
        steps_table,
        summary_json,
        verdict_line,
    )

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
    # -v: one text line per failed run on stderr (errors are redacted at the source).
    setup_logging("text", "warning" if args.verbose else "critical")
    log_sinks: list[Sink] = [LogSink()] if args.verbose else []
    err = Console(stderr=True)
    show_progress = args.output == "table" and err.is_terminal
    total = args.count * len(config.probes)

    async def main() -> int:
        options = {"pace": args.pace or 0.0, "results_path": args.results}
        if show_progress:
            from rich.progress import Progress  # noqa: PLC0415

            with Progress(console=err, transient=True) as progress:
                # Logging set up inside the progress display writes above the bar.
                setup_logging("text", "warning" if args.verbose else "critical")
                task = progress.add_task("probing", total=total)
                stats = await run_once(
                    config,
                    args.count,
                    on_result=lambda _: progress.advance(task),
                    extra_sinks=log_sinks,
                    **options,
                )
            setup_logging("text", "warning" if args.verbose else "critical")
        else:
            stats = await run_once(config, args.count, extra_sinks=log_sinks, **options)
        if args.output == "json":
            print(json.dumps(summary_json(stats), indent=2))
        else:
            out = print_summary(stats, f"prober once: {args.count} runs per probe")
            for probe_stats in stats.by_probe.values():
                if probe_stats.steps:
                    out.print(steps_table(probe_stats))
            out.print(verdict_line(stats))
        return VERDICT_EXIT[stats.verdict]

    return run_async(main())
