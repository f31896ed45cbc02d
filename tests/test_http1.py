"""prober's own HTTP/1.1 client (prober/probes/http1.py), against a raw TCP peer on 127.0.0.1.

test_http_probe.py runs every outcome through both clients; here are the framings and
the malformed responses that aiohttp's server never sends: every reply is written byte
by byte or in awkward pieces, so the parser is exercised across packet boundaries.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import socket
import weakref
import zlib
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from prober.conventions import Outcome, Phase
from prober.probes import http1
from prober.probes.http1 import Exchange, Prepared

from .conftest import RawHandler

pytestmark = pytest.mark.both_loops
RawServer = Callable[[RawHandler], Awaitable[str]]
CAP = 64 * 1024


class StaticResolver(AbstractResolver):
    """Resolves every name to the given addresses, in order; counts lookups."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.lookups = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups += 1
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        return


class Recorder:
    """A raw peer that records each request it got and answers with canned bytes."""

    def __init__(self, reply: bytes, piece: int = 1, close: bool = True) -> None:
        self.reply, self.piece, self.close = reply, piece, close
        self.requests: list[bytes] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n")
             if line.lower().startswith(b"content-length:")),
            0,
        )  # fmt: skip
        self.requests.append(head + await reader.readexactly(length))
        for i in range(0, len(self.reply), self.piece):
            writer.write(self.reply[i : i + self.piece])
            await writer.drain()
            if self.piece < 16:
                await asyncio.sleep(0)  # separate reads on the client side
        if self.close:
            writer.close()
        else:
            await asyncio.sleep(10)


@pytest.fixture
def serve(raw_server: RawServer) -> Callable[..., Awaitable[URL]]:
    async def start(handler: RawHandler) -> URL:
        return URL(await raw_server(handler))

    return start


async def fetch(
    url: URL,
    method: str = "GET",
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    extra: dict[str, str] | None = None,
    resolver: AbstractResolver | None = None,
    limit: float = 2.0,
    max_body: int = CAP,
) -> Exchange:
    prepared = Prepared(url, method, headers or {}, body, ("X-Request-Id",))
    return await http1.send(
        prepared,
        extra if extra is not None else {"X-Request-Id": "run-1"},
        resolver=resolver or StaticResolver(),
        limit=limit,
        max_body=max_body,
    )


# --- framings that must parse -----------------------------------------------------------
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
    b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer-Field: x\r\n\r\n"
)
FRAMINGS = {
    "content-length, byte by byte": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 1, b"hello world"),
    "chunked with extensions and trailers, byte by byte": (CHUNKED, 1, b"hello world"),
    "chunked, in 7-byte pieces": (CHUNKED, 7, b"hello world"),
    "close-delimited (no length)": (b"HTTP/1.0 200 OK\r\n\r\nhello world", 3, b"hello world"),
    "a 100 Continue and a 103 before the real response": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 5, b"ok"),
    "no reason phrase": (b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", 64, b"ok"),
    "gzip-encoded body": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
        % len(gzip.compress(b"hello world")) + gzip.compress(b"hello world"), 4, b"hello world"),
    "deflate without the zlib wrapper": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\r\n"
        + zlib.compress(b"hello world", wbits=-15), 64, b"hello world"),
    "bytes after the declared length are ignored": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 64, b"ok"),
}  # fmt: skip


@pytest.mark.parametrize(("reply", "piece", "body"), FRAMINGS.values(), ids=list(FRAMINGS))
async def test_each_framing_yields_the_exact_body_whatever_the_packet_boundaries(
    serve: Callable[..., Awaitable[URL]], reply: bytes, piece: int, body: bytes
) -> None:
    url = await serve(Recorder(reply, piece))
    ex = await fetch(url / "x")
    assert ex.outcome is None, ex.error
    assert ex.code == 200
    assert ex.body == body
    assert {Phase.CONNECT, Phase.TTFB, Phase.TRANSFER} <= set(ex.phases)
    assert ex.duration >= ex.phases[Phase.TTFB] + ex.phases[Phase.TRANSFER]


@pytest.mark.parametrize(
    ("method", "reply"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"),
    ],
    ids=["HEAD with a length", "204", "304 without a length"],
)
async def test_responses_without_a_body_end_at_the_head_even_if_the_peer_stays(
    serve: Callable[..., Awaitable[URL]], method: str, reply: bytes
) -> None:
    url = await serve(Recorder(reply, 64, close=False))
    ex = await fetch(url, method, limit=1.0)
    assert ex.outcome is None, ex.error
    assert ex.body == b""
    assert ex.duration < 1.0, "the reply was complete without waiting for the peer to close"


async def test_response_headers_keep_case_insensitive_repeats(
    serve: Callable[..., Awaitable[URL]],
) -> None:
    reply = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-V:  padded \r\n\r\n"
    url = await serve(Recorder(reply + b"", 64))
    ex = await fetch(url)
    assert ex.headers is not None
    assert ex.headers["x-v"] == "padded"
    assert ex.headers.getall("SET-COOKIE") == ["a=1", "b=2"]  # type: ignore[attr-defined]


# --- responses that must be refused, with one short line ------------------------------------
MALFORMED = {
    "not HTTP": (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", Outcome.PROTOCOL_ERROR, "bad status line"),
    "HTTP/2 preface": (b"HTTP/2 200\r\n\r\n", Outcome.PROTOCOL_ERROR, "bad status line"),
    "status with letters": (b"HTTP/1.1 2OO OK\r\n\r\n", Outcome.PROTOCOL_ERROR, "bad status line"),
    "header without a colon": (
        b"HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n", Outcome.PROTOCOL_ERROR, "bad header line"),
    "space before the colon": (
        b"HTTP/1.1 200 OK\r\nX-Bad : 1\r\n\r\n", Outcome.PROTOCOL_ERROR, "bad header line"),
    "two different lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        Outcome.PROTOCOL_ERROR, "bad Content-Length"),
    "negative length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Outcome.PROTOCOL_ERROR,
        "bad Content-Length"),
    "length and chunked together": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        Outcome.PROTOCOL_ERROR, "both Content-Length and Transfer-Encoding"),
    "chunk size not hex": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        Outcome.PROTOCOL_ERROR, "bad chunk size"),
    "chunk without its CRLF": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX",
        Outcome.PROTOCOL_ERROR, "chunk not followed by CRLF"),
    "head that never ends": (
        b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * (http1.MAX_HEAD + 10),
        Outcome.PROTOCOL_ERROR, "response head over 64 KiB"),
    "body cut short": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", Outcome.PROTOCOL_ERROR,
        "connection closed mid-response: closed in the body"),
    "chunked body cut short": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", Outcome.PROTOCOL_ERROR,
        "connection closed mid-response: closed in the body"),
    "nothing at all": (b"", Outcome.PROTOCOL_ERROR,
                       "connection closed mid-response: closed before the response"),
    "gzip header on a plain body": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nplain",
        Outcome.PROTOCOL_ERROR, "body is not valid gzip"),
}  # fmt: skip


@pytest.mark.parametrize(("reply", "outcome", "reason"), MALFORMED.values(), ids=list(MALFORMED))
async def test_a_malformed_response_is_one_outcome_with_a_short_reason(
    serve: Callable[..., Awaitable[URL]], reply: bytes, outcome: Outcome, reason: str
) -> None:
    url = await serve(Recorder(reply, 4096))
    ex = await fetch(url)
    assert ex.outcome is outcome
    assert ex.error.endswith(reason), ex.error
    assert ex.body == b""
    assert len(ex.error) < 120


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"8000\r\n"
        + b"a" * 0x8000
        + b"\r\n8000\r\n"
        + b"a" * 0x8000
        + b"\r\n8000\r\n"
        + b"a" * 0x8000
        + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n" + b"a" * 200_000,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + gzip.compress(b"\0" * 10_000_000),
    ],
    ids=["declared length", "chunks", "until close", "gzip bomb"],
)
async def test_a_body_over_the_cap_is_body_too_large_however_it_is_framed(
    serve: Callable[..., Awaitable[URL]], reply: bytes
) -> None:
    url = await serve(Recorder(reply, 8192))
    ex = await fetch(url)
    assert ex.outcome is Outcome.BODY_TOO_LARGE
    assert ex.error == f"body larger than {CAP} bytes"
    assert ex.code == 200


# --- the request ------------------------------------------------------------------------
async def test_the_request_carries_defaults_config_headers_run_headers_and_the_body(
    serve: Callable[..., Awaitable[URL]],
) -> None:
    peer = Recorder(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 64)
    url = await serve(peer)
    ex = await fetch(
        url.with_path("/v1/users/ü").with_query({"q": "a b"}),
        "PUT",
        headers={"accept": "application/json", "Authorization": "Bearer t0k"},
        body=b'{"a":1}',
        extra={"X-Request-Id": "run-9", "traceparent": "00-abc-def-01"},
    )
    assert ex.outcome is None, ex.error
    head, _, body = peer.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "PUT /v1/users/%C3%BC?q=a+b HTTP/1.1"
    fields = [tuple(line.split(": ", 1)) for line in lines[1:]]
    names = [n.lower() for n, _ in fields]
    assert len(names) == len(set(names)), f"no header sent twice: {names}"
    got = {n.lower(): v for n, v in fields}
    assert got["host"] == f"127.0.0.1:{url.port}"
    assert got["accept"] == "application/json", "a configured header replaces the default"
    assert got["authorization"] == "Bearer t0k"
    assert got["content-length"] == "7"
    assert got["content-type"] == "application/octet-stream"
    assert got["x-request-id"] == "run-9"
    assert got["traceparent"] == "00-abc-def-01"
    assert got["connection"] == "close"
    assert body == b'{"a":1}'


async def test_a_run_header_that_a_configured_header_names_replaces_it(
    serve: Callable[..., Awaitable[URL]],
) -> None:
    peer = Recorder(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 64)
    url = await serve(peer)
    await fetch(url, headers={"TraceParent": "from-config"}, extra={"traceparent": "from-run"})
    head = peer.requests[0].decode().lower()
    assert head.count("traceparent:") == 1
    assert "traceparent: from-run" in head


async def test_a_name_is_resolved_every_run_and_a_refused_address_falls_through(
    serve: Callable[..., Awaitable[URL]], closed_port: int
) -> None:
    peer = Recorder(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 64)
    url = await serve(peer)
    resolver = StaticResolver("127.0.0.2", "127.0.0.1")  # nothing listens on .2
    named = url.with_host("ums.test")
    for _ in range(2):
        ex = await fetch(named, resolver=resolver)
        assert ex.outcome is None, ex.error
        assert Phase.DNS in ex.phases
    assert resolver.lookups == 2
    assert peer.requests[0].split(b"\r\n")[1] == f"Host: ums.test:{url.port}".encode()


async def test_refused_on_every_address_is_connect_refused(closed_port: int) -> None:
    resolver = StaticResolver("127.0.0.1", "127.0.0.1")
    ex = await fetch(URL(f"http://ums.test:{closed_port}/"), resolver=resolver)
    assert (ex.outcome, ex.error) == (Outcome.CONNECT_REFUSED, "connection refused")
    assert set(ex.phases) == {Phase.DNS, Phase.CONNECT}


async def test_a_timeout_waiting_for_the_body_keeps_ttfb_and_the_code(
    serve: Callable[..., Awaitable[URL]],
) -> None:
    url = await serve(Recorder(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 64, False))
    ex = await fetch(url, limit=0.3)
    assert (ex.outcome, ex.code) == (Outcome.TIMEOUT, 200)
    assert Phase.TTFB in ex.phases
    assert Phase.TRANSFER not in ex.phases
    assert 0.25 <= ex.duration < 1.0  # uvloop timers have millisecond resolution


async def test_an_ipv6_literal_and_an_international_name_are_sent_as_the_wire_wants(
    closed_port: int,
) -> None:
    v6 = Prepared(URL(f"http://[::1]:{closed_port}/x"), "GET", {}, None)
    assert (v6.host, v6.port) == ("::1", closed_port)
    assert b"\r\nHost: [::1]:%d" % closed_port in v6.head
    idn = Prepared(URL("http://bücher.example/x"), "GET", {}, None)
    assert idn.host == "xn--bcher-kva.example"
    assert b"\r\nHost: xn--bcher-kva.example\r\n" in idn.head


def test_which_requests_the_builtin_client_takes() -> None:
    assert http1.applies(URL("http://127.0.0.1:8080/x"), "fresh")
    assert http1.applies(URL("http://ums.internal/x"), "fresh")
    assert not http1.applies(URL("https://127.0.0.1/x"), "fresh"), "TLS stays on aiohttp"
    assert not http1.applies(URL("http://127.0.0.1/x"), "keepalive")
    assert not http1.applies(URL("http://u:p@127.0.0.1/x"), "fresh"), "userinfo stays on aiohttp"


# --- memory: a failed exchange is freed by reference counting alone -------------------------
FAILURES = {
    "declared length over the cap": b"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n",
    "until close, over the cap": b"HTTP/1.1 200 OK\r\n\r\n" + b"a" * 200_000,
    "gzip bomb": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n"
    + gzip.compress(b"\0" * 10_000_000),
    "malformed chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "cut mid-body": b"HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n" + b"a" * 1000,
}


@pytest.mark.parametrize("reply", FAILURES.values(), ids=list(FAILURES))
async def test_a_failed_exchange_leaves_no_reference_cycle_holding_its_buffers(
    serve: Callable[..., Awaitable[URL]], monkeypatch: pytest.MonkeyPatch, reply: bytes
) -> None:
    """With the cyclic GC off, the protocol object (and the body chunks it holds) must die
    as soon as the exchange is over: a cycle here keeps up to max_body_bytes per run alive
    until a full collection, which `prober run` makes rarer still with gc.freeze()."""
    made: list[weakref.ref[http1._Response]] = []

    class Tracked(http1._Response):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(weakref.ref(self))

    monkeypatch.setattr(http1, "_Response", Tracked)
    url = await serve(Recorder(reply, 8192))
    gc.collect()
    gc.disable()
    try:
        ex = await fetch(url)
        for _ in range(5):  # let the aborted transport deliver connection_lost
            await asyncio.sleep(0)
        assert ex.outcome is not None
        assert len(made) == 1
        if made[0]() is not None:
            holders = [type(r).__name__ for r in gc.get_referrers(made[0]())]
            pytest.fail(f"protocol still alive after the run; held by {holders}")
    finally:
        gc.enable()
