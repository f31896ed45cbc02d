"""The benchmark's lean service: the simulated service's GET, without an HTTP framework.

At 2,000 requests/s the aiohttp service (service.py) needs most of a core for itself, so
on a two-core box it, not the tool under test, was the first thing to saturate. This one
answers every GET with the same small JSON record after the fixed latency, from a bare
asyncio protocol on uvloop: a few microseconds of Python per request. It keeps what the
bench needs: the request id (X-Request-Id, else the `rid` query parameter blackbox's
targets carry) and the handler's own time, from the moment the request head was complete
to the moment the reply is written, one JSON line per request in the access log, in the
format service.py writes. Keep-alive and `Connection: close` are honoured; anything but
a GET gets a 405. Faults are not injectable here: the soak uses service.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from time import perf_counter as perf
from typing import IO, cast

MAX_HEAD = 16 * 1024
_REQUEST_ID = re.compile(rb"\r\nx-request-id:[ \t]*([^\r\n]*?)[ \t]*(?:\r\n|$)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
_RID = re.compile(rb"[?&]rid=([^&# ]*)")
BODY = json.dumps(
    {
        "user_id": "canary",
        "metadata": {"display_name": "Canary", "locale": "en-GB", "version": 1},
        "updated_at": 1765065600.0,
    },
    separators=(",", ":"),
).encode()
_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)
_NOT_ALLOWED = b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class LeanService:
    """Answers after `latency` seconds; writes the access log when `access` is given."""

    def __init__(self, latency: float, access: IO[str] | None) -> None:
        self.latency = latency
        self.access = access
        self.requests = 0

    def protocol(self) -> _Connection:
        return _Connection(self)

    def answer(self, conn: _Connection, head: bytes, start: float) -> None:
        method, _, rest = head.partition(b" ")
        target = rest.split(b" ", 1)[0]
        if method != b"GET":
            conn.reply(_NOT_ALLOWED, close=True)
            return
        rid_header = _REQUEST_ID.search(head)
        rid_query = _RID.search(target)
        rid = rid_header.group(1) if rid_header else rid_query.group(1) if rid_query else b""
        request_line = head.split(b"\r\n", 1)[0]
        close = request_line.endswith(b"HTTP/1.0") or _CLOSE.search(head) is not None
        self.requests += 1
        loop = asyncio.get_running_loop()
        loop.call_later(self.latency, self._reply, conn, rid, target, start, close)

    def _reply(
        self, conn: _Connection, rid: bytes, target: bytes, start: float, close: bool
    ) -> None:
        handling = perf() - start
        conn.reply(_OK, close=close)
        if self.access is not None:
            path = target.split(b"?", 1)[0].decode("latin-1")
            self.access.write(
                f'{{"request_id":{json.dumps(rid.decode("latin-1"))},"method":"GET",'
                f'"path":{json.dumps(path)},"status":200,"handling":{handling!r}}}\n'
            )


class _Connection(asyncio.Protocol):
    """One client connection: request heads in, one reply per head, in order."""

    def __init__(self, service: LeanService) -> None:
        self.service = service
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.busy = False  # a reply is pending: the next head waits for it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        start = perf()
        self.buf += data
        self._next(start)

    def _next(self, start: float) -> None:
        if self.busy or self.transport is None:
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                self.transport.close()
            return
        head, self.buf = self.buf[:end], self.buf[end + 4 :]
        self.busy = True
        self.service.answer(self, head, start)

    def reply(self, data: bytes, *, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        self.busy = False
        if close:
            self.transport.close()
        elif self.buf:
            self._next(perf())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve_lean(
    latency: float, port: int, access_log: Path | None, stop: asyncio.Event
) -> None:
    """Serve on 127.0.0.1 until `stop` is set; print the port first, flush the log last."""
    access = access_log.open("a", encoding="utf-8", buffering=1 << 16) if access_log else None
    try:
        service = LeanService(latency, access)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(service.protocol, "127.0.0.1", port, backlog=4096)
        print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
        try:
            await stop.wait()
        finally:
            server.close()
    finally:
        if access is not None:
            access.close()
