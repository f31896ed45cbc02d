"""The simulated User Metadata Service for the benchmark, in a process of its own.

`python bench/service.py --latency 0.02 --access-log FILE` serves on 127.0.0.1
(any free port unless --port), prints `{"port": N}` on its first stdout line, and
writes one JSON line per request with the id (X-Request-Id, else the `rid` query
parameter) and the handler's own time. SIGTERM or SIGINT closes it and flushes
the log. Faults can be changed live with PUT /-/faults. `--lean` serves the same GET
from lean_service.py instead (no framework, no faults): what run.py uses, so that the
service is not the first thing to saturate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path

from lean_service import serve_lean

from prober.demo.service import Faults, UserMetadataService


async def serve(latency: float, jitter: float, port: int, access_log: Path | None) -> None:
    service = UserMetadataService(
        Faults(latency=latency, jitter=jitter), access_log=access_log, seed=1
    )
    runner, bound = await service.start("127.0.0.1", port)
    print(json.dumps({"port": bound}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await service.close(runner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--jitter", type=float, default=0.0, help="uniform extra seconds")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-log", type=Path)
    parser.add_argument("--lean", action="store_true", help="lean_service.py: GET only")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        if args.lean:
            if args.jitter:
                parser.error("--lean has a fixed latency: no --jitter")
            runner.run(lean(args.latency, args.port, args.access_log))
        else:
            runner.run(serve(args.latency, args.jitter, args.port, args.access_log))


async def lean(latency: float, port: int, access_log: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve_lean(latency, port, access_log, stop)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed, as prober itself runs."""
    try:
        import uvloop  # noqa: PLC0415 - optional

        return uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        return None


if __name__ == "__main__":
    main()
