"""Parser A/B (issue 20): the builtin client's hand parser vs llhttp (through httptools).

`python bench/parser_ab.py` prints, as Markdown:

1. the strictness table: every case of tests/http1_corpus.py sent by a raw asyncio server
   on 127.0.0.1 through `http1.send`, once with each parser in the protocol;
2. the in-protocol cost: µs of CPU per response, min of --repeats batches of --batch
   responses, each response a fresh protocol driven by `data_received` with a fake
   transport (construction, request write, parse, body), for three responses;
3. (unless --no-e2e) CPU per run of `http1.send` against a raw server in a child process on
   127.0.0.1, --e2e-runs sequential runs per parser, interleaved, min of --repeats.

This process pins itself to CPU 1 (os.sched_setaffinity) when it can, the e2e server to
CPU 0. Every loop is bounded by count; the child server is stopped by its PID.

`HandResponse` is the hand parser the client had before issue 20, kept here for the record
and for this comparison; the client now parses with llhttp (bench/README.md, "Parser A/B").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import httptools
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo: prober, tests

from prober.conventions import Outcome
from prober.probes import http1
from prober.probes.http1 import _WBITS, MAX_HEAD, MAX_LINE, _decompress, _Response
from prober.probes.http1 import _Bad as Bad
from prober.probes.http1 import _invalid as invalid
from prober.probes.session import perf
from tests.http1_corpus import CORPUS, Case

ProtocolType = type[_Response] | type["HandResponse"]

_STATUS_RE = re.compile(rb"HTTP/1\.[01] ([1-9][0-9][0-9])(?:[ \t][^\r\n]*)?")
_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHUNK_SIZE_RE = re.compile(rb"[0-9A-Fa-f]{1,15}")


# Parser states
_HEAD, _FIXED, _UNTIL_CLOSE, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER = range(7)


class HandResponse(asyncio.Protocol):
    """The hand parser, as `http1._Response` was before issue 20 (commit 48b4e75)."""

    def __init__(self, request: bytes, head_only: bool, max_body: int) -> None:
        self.request = request
        self.head_only = head_only
        self.max_body = max_body
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.state = _HEAD
        self.remaining = 0  # bytes left in the fixed-length body or the current chunk
        self.chunks: list[bytes] = []
        self.size = 0
        self.code: int | None = None
        self.headers: CIMultiDictProxy[str] | None = None
        self.encoding = ""
        self.connected_at = 0.0
        self.headers_at = 0.0
        self.end = 0.0
        self.failure: BaseException | None = None

    # --- asyncio callbacks: each reads the clock first --------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connected_at = perf()
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = perf()
        if self.done.done():
            return
        self.buf += data
        try:
            self._parse(now)
        except Bad as bad:
            self._finish(now, bad)

    def eof_received(self) -> bool:
        now = perf()
        if not self.done.done():
            if self.state == _UNTIL_CLOSE:
                self._finish(now)
            else:
                self._finish(now, Bad(Outcome.PROTOCOL_ERROR, self._cut_reason()))
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        now = perf()
        if not self.done.done():
            if exc is None and self.state == _UNTIL_CLOSE:
                self._finish(now)
            else:
                self._finish(now, exc or Bad(Outcome.PROTOCOL_ERROR, self._cut_reason()))

    # --- parsing ------------------------------------------------------------------------
    def _finish(self, now: float, failure: BaseException | None = None) -> None:
        """Ends the exchange. A failure is kept without its traceback: the traceback's
        frames hold this protocol, and that cycle would keep every buffered body chunk
        (up to max_body per run) alive until a full GC, long after the run."""
        self.end = now
        self.failure = failure.with_traceback(None) if failure is not None else None
        self.done.set_result(None)

    def release(self) -> None:
        """Drops the buffers as soon as the exchange is over, whoever still holds us."""
        self.chunks = []
        self.buf = bytearray()
        self.failure = None
        self.transport = None

    def _cut_reason(self) -> str:
        where = "before the response" if self.code is None else "in the body"
        return f"connection closed mid-response: closed {where}"

    def _parse(self, now: float) -> None:
        while not self.done.done():
            state = self.state
            if state == _HEAD:
                if not self._head(now):
                    return
            elif state == _FIXED:
                take = min(self.remaining, len(self.buf))
                self._keep(bytes(self.buf[:take]))
                del self.buf[:take]
                self.remaining -= take
                if self.remaining == 0:
                    self._finish(now)
                return
            elif state == _UNTIL_CLOSE:
                self._keep(bytes(self.buf))
                self.buf.clear()
                return
            elif state == _CHUNK_SIZE:
                line = self._line()
                if line is None:
                    return
                size = line.split(b";", 1)[0].strip()
                if not _CHUNK_SIZE_RE.fullmatch(size):
                    raise invalid("bad chunk size")
                self.remaining = int(size, 16)
                self.state = _CHUNK_DATA if self.remaining else _TRAILER
            elif state == _CHUNK_DATA:
                take = min(self.remaining, len(self.buf))
                self._keep(bytes(self.buf[:take]))
                del self.buf[:take]
                self.remaining -= take
                if self.remaining:
                    return
                self.state = _CHUNK_END
            elif state == _CHUNK_END:
                if len(self.buf) < 2:
                    return
                if self.buf[:2] != b"\r\n":
                    raise invalid("chunk not followed by CRLF")
                del self.buf[:2]
                self.state = _CHUNK_SIZE
            else:  # _TRAILER: skip trailer fields up to the blank line
                line = self._line()
                if line is None:
                    return
                if not line:
                    self._finish(now)
                    return

    def _line(self) -> bytes | None:
        i = self.buf.find(b"\r\n")
        if i < 0:
            if len(self.buf) > MAX_LINE:
                raise invalid("chunk framing line too long")
            return None
        line = bytes(self.buf[:i])
        del self.buf[: i + 2]
        return line

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.max_body:
            raise Bad(Outcome.BODY_TOO_LARGE, f"body larger than {self.max_body} bytes")
        self.chunks.append(data)

    def _head(self, now: float) -> bool:
        """Parses one response head; False while it is incomplete. Skips 1xx heads."""
        end = self.buf.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                raise invalid(f"response head over {MAX_HEAD // 1024} KiB")
            return False
        lines = bytes(self.buf[:end]).split(b"\r\n")
        del self.buf[: end + 4]
        status = _STATUS_RE.fullmatch(lines[0])
        if status is None:
            raise invalid("bad status line")
        code = int(status.group(1))
        if 100 <= code < 200 and code != 101:
            return True  # an interim response (100 Continue, 103 Early Hints): the real one follows
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN_RE.fullmatch(name) or b"\0" in value or b"\r" in value:
                raise invalid("bad header line")
            text = value.strip(b" \t").decode("utf-8", "surrogateescape")
            headers.add(name.decode("ascii"), text)
        self.headers_at = now
        self.code = code
        self.headers = CIMultiDictProxy(headers)
        self.encoding = headers.get("Content-Encoding", "").strip().lower()
        self._framing(code, headers)
        return True

    def _framing(self, code: int, headers: CIMultiDict[str]) -> None:
        """How the body is delimited (RFC 9112 section 6.3), and the cap on a declared length."""
        lengths = {v.strip() for v in headers.getall("Content-Length", ())}
        codings = ",".join(headers.getall("Transfer-Encoding", ())).lower()
        if lengths and codings:
            raise invalid("both Content-Length and Transfer-Encoding")
        if self.head_only or code in (101, 204, 304):
            self._finish(self.headers_at)
            self.state = _FIXED  # nothing more is read
        elif codings:
            last = codings.rsplit(",", 1)[-1].strip()
            self.state = _CHUNK_SIZE if last == "chunked" else _UNTIL_CLOSE
        elif lengths:
            if len(lengths) > 1 or not next(iter(lengths)).isdigit():
                raise invalid("bad Content-Length")
            self.remaining = int(next(iter(lengths)))
            if self.remaining > self.max_body:
                raise Bad(Outcome.BODY_TOO_LARGE, f"body larger than {self.max_body} bytes")
            self.state = _FIXED
            if self.remaining == 0:
                self._finish(self.headers_at)
        else:
            self.state = _UNTIL_CLOSE

    def body(self) -> bytes:
        """The body as the application sees it: decoded, still within the cap."""
        raw = b"".join(self.chunks)
        wbits = _WBITS.get(self.encoding)
        if wbits is None or not raw:
            return raw
        try:
            return _decompress(raw, wbits, self.max_body, self.encoding == "deflate")
        except zlib.error:
            raise invalid(f"body is not valid {self.encoding}") from None


# --- strictness -------------------------------------------------------------------------
async def _corpus_outcomes(
    variants: Sequence[tuple[str, ProtocolType]],
) -> dict[str, dict[str, str]]:
    """case name -> variant name -> outcome text, through http1.send and a real socket."""
    current: list[bytes] = [b""]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(current[0])
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = URL(f"http://127.0.0.1:{port}/x")
    table: dict[str, dict[str, str]] = {}
    original = http1._Response
    try:
        for case in CORPUS:
            row = table.setdefault(case.name, {})
            for name, proto in variants:
                current[0] = case.reply
                http1._Response = proto  # type: ignore[misc,assignment]
                ex = await http1.send(
                    http1.Prepared(url, case.method, {}, None), {},
                    resolver=_NoResolver(), limit=2.0, max_body=64 * 1024,
                )  # fmt: skip
                row[name] = _describe(case, ex)
    finally:
        http1._Response = original  # type: ignore[misc]
        server.close()
        await server.wait_closed()
    return table


def _describe(case: Case, ex: http1.Exchange) -> str:
    if ex.outcome is None:
        return "accepted" if ex.body == case.body else f"accepted, body {ex.body[:20]!r}"
    tag = "" if ex.outcome is Outcome.PROTOCOL_ERROR else f"{ex.outcome.value}: "
    return f"{tag}{ex.error.removeprefix('invalid HTTP response: ')}"


class _NoResolver(AbstractResolver):
    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError("no lookups in this bench")

    async def close(self) -> None:
        return


# --- in-protocol cost -------------------------------------------------------------------
def _service_like() -> bytes:
    """A 200 with a length and ten headers, like bench/service.py's JSON answers."""
    body = b'{"user_id":"u-000042","plan":"pro","region":"eu-west-1","flags":["a","b"]}'
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
        b"Content-Length: %d\r\nDate: Mon, 07 Dec 2026 10:00:00 GMT\r\n"
        b"Server: Python/3.11 aiohttp/3.14.5\r\nX-Request-Id: 7f3c9a2e-run-000001\r\n"
        b"Cache-Control: no-store\r\nX-Stage: steady\r\nVary: Accept-Encoding\r\n"
        b"X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n" % len(body)
    )
    return head + body


def _chunked() -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(p), p) for p in (b'{"user_id":', b'"u-000042",', b'"ok":true}')]
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Date: Mon, 07 Dec 2026 10:00:00 GMT\r\nServer: Python/3.11 aiohttp/3.14.5\r\n"
        b"Connection: close\r\n\r\n" + b"".join(parts) + b"0\r\n\r\n"
    )


def _pieces(data: bytes, n: int) -> tuple[bytes, ...]:
    step = -(-len(data) // n)
    return tuple(data[i : i + step] for i in range(0, len(data), step))


SERVICE = _service_like()
CASES: dict[str, tuple[bytes, ...]] = {
    "200, Content-Length, 10 headers, one read": (SERVICE,),
    "200, chunked (3 chunks), one read": (_chunked(),),
    "the same 200 in 6 reads": _pieces(SERVICE, 6),
}
PARSERS: tuple[tuple[str, ProtocolType], ...] = (("hand", HandResponse), ("llhttp", _Response))


class _FakeTransport:
    def write(self, data: bytes) -> None:
        return

    def close(self) -> None:
        return


def _one(proto_type: ProtocolType, request: bytes, pieces: tuple[bytes, ...]) -> bytes:
    proto = proto_type(request, False, 64 * 1024)
    proto.connection_made(cast("asyncio.Transport", _FakeTransport()))
    for piece in pieces:
        proto.data_received(piece)
    if not proto.done.done() or proto.failure is not None:
        raise RuntimeError(f"{proto_type.__name__}: the response did not parse")
    body = proto.body()
    proto.release()
    return body


async def _in_protocol(batch: int, repeats: int) -> dict[str, dict[str, float]]:
    """case -> parser -> min over repeats of CPU µs per response (thread CPU time)."""
    request = http1.Prepared(URL("http://127.0.0.1:8080/v1/users/u-000042"), "GET", {}, None)
    raw = request.request({"X-Request-Id": "run-1"})
    out: dict[str, dict[str, float]] = {}
    for case, pieces in CASES.items():
        bodies = {_one(p, raw, pieces) for _, p in PARSERS}
        if len(bodies) != 1:
            raise RuntimeError(f"{case}: the parsers disagree on the body")
        best = {name: float("inf") for name, _ in PARSERS}
        for _ in range(repeats):  # interleaved: a noisy moment hits both
            for name, proto_type in PARSERS:
                start = time.thread_time_ns()
                for _ in range(batch):
                    _one(proto_type, raw, pieces)
                took = (time.thread_time_ns() - start) / batch / 1000
                best[name] = min(best[name], took)
        out[case] = best
    return out


# --- end to end -------------------------------------------------------------------------
_SERVER = """
import asyncio, sys
reply = sys.stdin.buffer.read()
async def handle(reader, writer):
    try:
        await reader.readuntil(b"\\r\\n\\r\\n")
        writer.write(reply)
        await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""


def _start_server(pin: bool) -> tuple[subprocess.Popen[bytes], int]:
    """The raw server in a child process (on CPU 0 when pinned): it answers SERVICE."""
    child = subprocess.Popen(
        [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        preexec_fn=(lambda: os.sched_setaffinity(0, {0})) if pin else None,  # noqa: PLW1509
    )  # fmt: skip
    try:
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(SERVICE)
        child.stdin.close()
        return child, int(child.stdout.readline())
    except BaseException:
        _stop(child)
        raise


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=5)


async def _end_to_end(runs: int, repeats: int, pin: bool) -> dict[str, float]:
    """parser -> min over repeats of CPU µs per `http1.send` run (this process only)."""
    child, port = _start_server(pin)
    try:
        prepared = http1.Prepared(URL(f"http://127.0.0.1:{port}/v1/users/u-1"), "GET", {}, None)
        best = {name: float("inf") for name, _ in PARSERS}
        original = http1._Response
        try:
            for _ in range(repeats):
                for name, proto_type in PARSERS:
                    http1._Response = proto_type  # type: ignore[misc,assignment]
                    start = time.process_time_ns()
                    for _ in range(runs):
                        ex = await http1.send(
                            prepared, {"X-Request-Id": "run-1"}, resolver=_NoResolver(),
                            limit=5.0, max_body=64 * 1024,
                        )  # fmt: skip
                        if ex.outcome is not None:
                            raise RuntimeError(f"{name}: {ex.outcome}: {ex.error}")
                    took = (time.process_time_ns() - start) / runs / 1000
                    best[name] = min(best[name], took)
        finally:
            http1._Response = original  # type: ignore[misc]
        return best
    finally:
        _stop(child)


# --- report -----------------------------------------------------------------------------
def _pin() -> bool:
    """This process on CPU 1 alone, when the machine has CPUs 0 and 1 (the server goes on 0)."""
    try:
        if (os.cpu_count() or 1) >= 2 and 1 in os.sched_getaffinity(0):
            os.sched_setaffinity(0, {1})
            return True
    except (AttributeError, OSError):
        pass
    return False


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


async def _main(args: argparse.Namespace) -> None:
    pinned = _pin()
    print(f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
          f"httptools {httptools.__version__}, pinned to CPU 1: {pinned}, "
          f"loop: {type(asyncio.get_running_loop()).__module__}\n")  # fmt: skip
    if not args.no_corpus:
        table = await _corpus_outcomes(PARSERS)
        print(_row("case", "RFC", "hand parser", "llhttp"))
        print(_row("---", "---", "---", "---"))
        for case in CORPUS:
            row = table[case.name]
            print(_row(case.name, case.verdict, row["hand"], row["llhttp"]))
        print()
    figures = await _in_protocol(args.batch, args.repeats)
    print(f"In-protocol CPU per response, µs (min of {args.repeats} x {args.batch}):\n")
    print(_row("response", "hand", "llhttp", "llhttp / hand"))
    print(_row("---", "---:", "---:", "---:"))
    for label, best in figures.items():
        print(_row(label, f"{best['hand']:.2f}", f"{best['llhttp']:.2f}",
                   f"{best['llhttp'] / best['hand']:.2f}"))  # fmt: skip
    if not args.no_e2e:
        e2e = await _end_to_end(args.e2e_runs, args.repeats, pinned)
        print(f"\nEnd to end, CPU per http1.send run, µs (min of {args.repeats} x "
              f"{args.e2e_runs}, server in a child process):\n")  # fmt: skip
        print(_row("client", "hand", "llhttp", "llhttp / hand"))
        print(_row("---", "---:", "---:", "---:"))
        print(_row("service-like 200", f"{e2e['hand']:.1f}", f"{e2e['llhttp']:.1f}",
                   f"{e2e['llhttp'] / e2e['hand']:.2f}"))  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--batch", type=int, default=2000, help="responses per timed batch")
    parser.add_argument("--repeats", type=int, default=15, help="batches per parser; min kept")
    parser.add_argument("--e2e-runs", type=int, default=1000, help="sequential sends per batch")
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as prober does")
    args = parser.parse_args(argv)
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.uvloop:
        import uvloop  # noqa: PLC0415

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_main(args))


if __name__ == "__main__":
    main()
