"""A simulated User Metadata Service with faults you can script or set live.

Endpoints: GET/PUT/DELETE /v1/users/{id}/metadata, GET /healthz, and a control
API at GET/PUT /-/faults. Each request's own handling time is kept (and written
to an access log when asked), keyed by the X-Request-Id prober sends, so the
latency prober reports can be compared with what the service really spent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import IO, Any

from aiohttp import web

perf = time.perf_counter


@dataclass(frozen=True)
class Faults:
    """How the service misbehaves right now."""

    latency: float = 0.01  # seconds added to every request
    jitter: float = 0.005  # uniform extra in [0, jitter)
    error_rate: float = 0.0  # fraction of requests answered with error_status
    error_status: int = 503
    error_methods: tuple[str, ...] = ()  # methods the error_rate applies to; empty: all
    stale_reads: bool = False  # GET returns the value before the last write

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Faults | None = None) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        if "error_methods" in data:
            data = {**data, "error_methods": tuple(m.upper() for m in data["error_methods"])}
        return replace(base or cls(), **data)


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    faults: Faults


DEMO_TIMELINE = (
    Stage("healthy", 30, Faults(latency=0.02, jitter=0.02)),
    Stage("slow", 25, Faults(latency=0.25, jitter=0.35)),  # p99 > 500 ms, all under 0.8 s
    Stage("error burst", 20, Faults(latency=0.02, jitter=0.02, error_rate=0.5)),
    Stage("recovery", 25, Faults(latency=0.02, jitter=0.02)),
)


@dataclass
class Timeline:
    """Cycles through stages; `now` is monotonic seconds."""

    stages: Sequence[Stage]
    start: float = field(default_factory=time.monotonic)

    def current(self, now: float | None = None) -> Stage:
        elapsed = (time.monotonic() if now is None else now) - self.start
        total = sum(s.seconds for s in self.stages)
        elapsed %= total
        for stage in self.stages:
            if elapsed < stage.seconds:
                return stage
            elapsed -= stage.seconds
        return self.stages[-1]


@dataclass(frozen=True)
class Handled:
    request_id: str
    method: str
    path: str
    status: int
    handling: float  # seconds the handler spent, fault delay included


class UserMetadataService:
    def __init__(
        self,
        faults: Faults | None = None,
        timeline: Timeline | None = None,
        access_log: Path | None = None,
        seed: int | None = None,
        keep: int = 10_000,
    ) -> None:
        self.faults = faults or Faults()
        self.timeline = timeline
        self.random = random.Random(seed)
        self.users: dict[str, dict[str, Any]] = {}
        self.previous: dict[str, dict[str, Any]] = {}
        self.handled: deque[Handled] = deque(maxlen=keep)
        self.requests = 0
        self._access_path = access_log
        self._access: IO[str] | None = None
        self._put_user("canary", {"display_name": "Canary", "locale": "en-GB"})

    @property
    def current_faults(self) -> Faults:
        return self.timeline.current().faults if self.timeline else self.faults

    @property
    def stage(self) -> str:
        return self.timeline.current().name if self.timeline else "manual"

    def _put_user(self, user_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        old = self.users.get(user_id)
        version = (old["metadata"]["version"] + 1) if old else 1
        record = {
            "user_id": user_id,
            "metadata": {**metadata, "version": version},
            "updated_at": time.time(),
        }
        if old is not None:
            self.previous[user_id] = old
        self.users[user_id] = record
        return record

    # --- handlers --------------------------------------------------------------------
    async def get_metadata(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        record = self.users.get(user_id)
        if record is None:
            return web.json_response({"error": "not found"}, status=404)
        if self.current_faults.stale_reads and user_id in self.previous:
            record = self.previous[user_id]
        return web.json_response(record)

    async def put_metadata(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        body.pop("version", None)
        return web.json_response(self._put_user(request.match_info["user_id"], body))

    async def delete_metadata(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        existed = self.users.pop(user_id, None)
        if existed is not None:  # a lagging replica may still serve it: see stale_reads
            self.previous[user_id] = existed
        return web.Response(status=204 if existed else 404)

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "stage": self.stage})

    async def get_faults(self, _: web.Request) -> web.Response:
        return web.json_response({"stage": self.stage, "faults": asdict(self.current_faults)})

    async def put_faults(self, request: web.Request) -> web.Response:
        try:
            self.faults = Faults.from_json(await request.json(), self.faults)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.timeline = None  # set by hand: the script stops
        return web.json_response({"stage": self.stage, "faults": asdict(self.faults)})

    # --- fault injection and handling-time log ----------------------------------------
    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        start = perf()
        if request.path.startswith("/-/"):
            return await handler(request)
        self.requests += 1
        faults = self.current_faults
        delay = faults.latency + (self.random.random() * faults.jitter if faults.jitter else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        erring = not faults.error_methods or request.method in faults.error_methods
        if erring and faults.error_rate and self.random.random() < faults.error_rate:
            response: web.StreamResponse = web.json_response(
                {"error": "injected fault"}, status=faults.error_status
            )
        else:
            response = await handler(request)
        self._log(request, response.status, perf() - start)
        return response

    def _log(self, request: web.Request, status: int, handling: float) -> None:
        # bench/: blackbox_exporter cannot send a per-probe header, so a `rid` query parameter
        # identifies its requests when X-Request-Id is absent.
        request_id = request.headers.get("X-Request-Id") or request.query.get("rid", "")
        entry = Handled(request_id, request.method, request.path, status, handling)
        self.handled.append(entry)
        if self._access is not None:
            self._access.write(json.dumps(asdict(entry), separators=(",", ":")) + "\n")

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware])
        app.router.add_get("/v1/users/{user_id}/metadata", self.get_metadata)
        app.router.add_put("/v1/users/{user_id}/metadata", self.put_metadata)
        app.router.add_delete("/v1/users/{user_id}/metadata", self.delete_metadata)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/-/faults", self.get_faults)
        app.router.add_put("/-/faults", self.put_faults)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, int]:
        if self._access_path is not None:
            self._access = self._access_path.open("a", encoding="utf-8", buffering=1 << 16)
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host, port, reuse_address=True).start()
        return runner, int(runner.addresses[0][1])

    async def close(self, runner: web.AppRunner) -> None:
        await runner.cleanup()
        if self._access is not None:
            self._access.close()
            self._access = None


async def _serve_forever(args: argparse.Namespace) -> None:
    service = UserMetadataService(
        Faults(latency=args.latency, jitter=args.jitter), access_log=args.access_log
    )
    runner, port = await service.start("127.0.0.1", args.port)
    print(json.dumps({"port": port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await service.close(runner)


def main() -> None:
    """`python -m prober.demo.service`: the simulated service alone, for tests and benches.

    Prints {"port": N} on its first line; faults are set with PUT /-/faults.
    """
    parser = argparse.ArgumentParser(prog="python -m prober.demo.service")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.005, help="seconds")
    parser.add_argument("--jitter", type=float, default=0.0, help="seconds")
    parser.add_argument("--access-log", type=Path)
    asyncio.run(_serve_forever(parser.parse_args()))


if __name__ == "__main__":
    main()
