"""The benchmark's load generator: fixed-rate requests, each identifiable, bounded.

Two modes, both on uvloop:
- `floor`: GET the service directly, a fresh connection per request, X-Request-Id
  set, through a bare asyncio protocol (no HTTP library: one fixed request written on
  connect, the reply read to its Content-Length); the clock is read before connecting
  and in the callback that completes the body. The best any Python prober could do
  here, and light enough that the floor is not the first thing to saturate.
- `blackbox`: GET blackbox_exporter's /probe with the service URL as target and
  a unique `rid` query parameter in it (blackbox can send no per-probe header);
  the latency is blackbox's own `probe_duration_seconds` from the response.

Request k is planned at start + k / rate. The run is bounded by count
(rate * seconds) and by time (seconds + timeout + 5). One JSON line per planned
request that started goes to --out: id, planned (unix time), lag, ok, latency,
rtt (the driver's own round trip), status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import aiohttp
from yarl import URL

perf = time.perf_counter


def _first_value(text: str, name: str) -> float | None:
    """The value of an unlabelled sample `name` in Prometheus text, without a full parse."""
    at = text.find("\n" + name + " ")
    if at < 0:
        return None
    start = at + len(name) + 2
    end = text.find("\n", start)
    return float(text[start : end if end >= 0 else None])


class _Reply(asyncio.Protocol):
    """One request written on connect; done when the head and Content-Length bytes are in.
    The clock is read first thing in the callback that completes the reply."""

    def __init__(self, request: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self.done: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.BaseTransport | None = None
        self.buf = b""
        self.need = -1  # total bytes of head and body, once the head is in
        self.status = 0
        self.end = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        cast("asyncio.Transport", transport).write(self.request)

    def data_received(self, data: bytes) -> None:
        now = perf()
        self.buf += data
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = _CONTENT_LENGTH.search(self.buf, 0, end)
            if not self.buf.startswith(b"HTTP/1.") or length is None:
                self._fail(ValueError("not a Content-Length response"))
                return
            self.status = int(self.buf[9:12])
            self.need = end + 4 + int(length.group(1))
        if len(self.buf) >= self.need and not self.done.done():
            self.end = now
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("closed before the reply was complete"))

    def _fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)", re.IGNORECASE)


async def generate(args: argparse.Namespace) -> list[dict[str, Any]]:
    floor = args.mode == "floor"
    connector = aiohttp.TCPConnector(limit=0, force_close=floor, use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    prefix = args.id_prefix or os.urandom(3).hex()
    records: list[dict[str, Any]] = []
    total = int(args.rate * args.seconds)
    tasks: set[asyncio.Task[None]] = set()

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        target = args.target

        def record(  # noqa: PLR0917 - one field each of a results line
            rid: str, planned: float, started: float, ok: bool, latency: float | None,
            rtt: float, status: int, error: str,
        ) -> None:  # fmt: skip
            records.append(
                {
                    "id": rid,
                    "planned": wall0 + (planned - mono0),
                    "lag": started - planned,
                    "ok": ok,
                    "latency": latency,
                    "rtt": rtt,
                    "status": status,
                    "error": error,
                }
            )

        url = URL(target)
        host, port = url.host or "127.0.0.1", url.port or 80
        head = f"GET {url.raw_path_qs} HTTP/1.1\r\nHost: {url.host}:{port}\r\nX-Request-Id: "
        loop = asyncio.get_running_loop()

        async def one_floor(rid: str, planned: float) -> None:
            started = time.monotonic()
            status, ok, latency, error = 0, False, None, ""
            reply = _Reply(f"{head}{rid}\r\nConnection: close\r\n\r\n".encode(), loop)
            t0 = perf()
            try:
                async with asyncio.timeout(args.timeout):
                    await loop.create_connection(lambda: reply, host, port)
                    await reply.done
                t1 = reply.end
                status = reply.status
                ok, latency = status == 200, t1 - t0
            except (TimeoutError, OSError, ValueError) as exc:
                t1 = perf()
                error = type(exc).__name__
            finally:
                if reply.transport is not None:
                    reply.transport.close()
            record(rid, planned, started, ok, latency, t1 - t0, status, error)

        base = args.blackbox.rstrip("/") + "/probe?module=" + args.module + "&target="
        sep = "&" if "?" in target else "?"

        async def one_blackbox(rid: str, planned: float) -> None:
            started = time.monotonic()
            status, ok, latency, error = 0, False, None, ""
            url = URL(base + quote(f"{target}{sep}rid={rid}", safe=""), encoded=True)
            t0 = perf()
            try:
                async with session.get(url) as resp:
                    text = await resp.text()
                t1 = perf()
                status = resp.status
                success = _first_value(text, "probe_success")
                latency = _first_value(text, "probe_duration_seconds")
                ok = status == 200 and success == 1.0
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                t1 = perf()
                error = type(exc).__name__
            record(rid, planned, started, ok, latency, t1 - t0, status, error)

        one: Callable[[str, float], Any] = one_floor if floor else one_blackbox
        mono0 = time.monotonic() + 0.05
        wall0 = time.time() + 0.05
        deadline = mono0 + args.seconds + args.timeout + 5
        print(json.dumps({"start": wall0, "planned": total}), flush=True)
        step = 1.0 / args.rate
        k = 0
        while k < total:
            now = time.monotonic()
            planned = mono0 + k * step
            if planned > now:
                await asyncio.sleep(planned - now)
                now = time.monotonic()
            if now > deadline:
                break
            while k < total and mono0 + k * step <= now:
                task = asyncio.create_task(one(f"{prefix}-{k:x}", mono0 + k * step))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                k += 1
        if tasks:
            await asyncio.wait(set(tasks), timeout=args.timeout + 2)
        for task in tasks:
            task.cancel()
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description="fixed-rate load generator (bench)")
    parser.add_argument("--mode", choices=("floor", "blackbox"), required=True)
    parser.add_argument("--target", required=True, help="service URL to fetch or to probe")
    parser.add_argument("--blackbox", default="", help="blackbox_exporter base URL")
    parser.add_argument("--module", default="http_2xx")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, required=True, help="how long to generate")
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--id-prefix", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.mode == "blackbox" and not args.blackbox:
        parser.error("--blackbox is required in blackbox mode")
    try:
        import uvloop  # noqa: PLC0415 - optional

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        records = runner.run(generate(args))
    with args.out.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    print(json.dumps({"records": len(records)}), flush=True)


if __name__ == "__main__":
    main()
