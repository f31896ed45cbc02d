"""prober's own HTTP/1.1 client, for the common case: plain http on a fresh connection.

Why not aiohttp for everything: for a probe that sends one fixed request and reads one
small response, aiohttp's per-request machinery (request and response objects, connector
keys, trace contexts, a stream reader, the happy-eyeballs socket dance) is about half of
the CPU a run costs (bench/README.md). Here the request head is built once, the connection
is one `loop.create_connection`, and the clock is read inside the protocol callbacks, as
close to the socket events as asyncio gets. TLS, keep-alive and URLs with credentials
stay on aiohttp (http.py decides).

The parser is llhttp (through httptools, as in uvicorn; bench/README.md, "Parser A/B"):
strict where leniency would hide a broken service (status line, field syntax, conflicting
lengths, chunk framing), and bounded everywhere: the head is capped, the body is capped as
it arrives, decompression is capped, nothing is buffered past a cap.
"""

from __future__ import annotations

import asyncio
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import cast

import aiohttp.abc
import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ..conventions import Outcome, Phase
from .errors import classify
from .session import perf

MAX_HEAD = 64 * 1024  # status line plus headers (aiohttp's limits are in the same range)
MAX_LINE = 8 * 1024  # a trailer line; framing bytes between body bytes
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # aiohttp sends Content-Length: 0 for these
_ACCEPT_ENCODING = "gzip, deflate"
# Shared by every request without configured headers: 10,000 probes need not hold 20,000
# empty containers (about 4 MB).
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_NO_NAMES: frozenset[str] = frozenset()
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def applies(url: URL, mode: str) -> bool:
    """True when this client handles the request: plain http, fresh connection, no userinfo."""
    return url.scheme == "http" and mode == "fresh" and url.user is None and url.host is not None


def request_head(url: URL, method: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
    """The request line and headers, without the blank line that ends them.

    Default headers are aiohttp's (Accept, Accept-Encoding, Content-Type for a body),
    so a probe sends the same request whichever client carries it. A header given in
    the config replaces the default of the same name, whatever its case.
    """
    fields: CIMultiDict[str] = CIMultiDict(
        {"Host": url.host_port_subcomponent or "", "Accept": "*/*"}
    )
    fields["Accept-Encoding"] = _ACCEPT_ENCODING
    for name, value in headers.items():
        fields[name] = value
    if body is not None:
        fields.setdefault("Content-Type", "application/octet-stream")
        fields["Content-Length"] = str(len(body))
    elif method in _BODY_METHODS:
        fields["Content-Length"] = "0"
    fields["Connection"] = "close"
    lines = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in fields.items())
    return "\r\n".join(lines).encode("utf-8")


def header_lines(headers: Mapping[str, str]) -> bytes:
    """`\\r\\n`-prefixed header lines to append to a head (per-run ids, trace context)."""
    return "".join(f"\r\n{name}: {value}" for name, value in headers.items()).encode("utf-8")


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuses a header that would end the line it is on: a value rendered at run time
    (a scenario's captured variable) must not inject headers. The value is not shown."""
    for name, value in headers.items():
        if any(ch in name or ch in value for ch in "\r\n\0"):
            raise ValueError(f"header {name.strip()}: the value has a line break or a NUL byte")


@dataclass(slots=True)
class Exchange:
    """One request and what came back, measured. `outcome` None: a whole response arrived.

    Both clients (this one and aiohttp's, in http.py) return it.
    """

    outcome: Outcome | None
    error: str
    code: int | None
    duration: float
    phases: dict[str, float]
    body: bytes = b""
    headers: Mapping[str, str] | None = None
    cert_expiry: float | None = None


class Prepared:
    """A request built once at load time; a run only appends its own headers (id, trace).

    A per-run header that a configured header also names replaces it, as in aiohttp's
    path: the head is then rebuilt for that run (rare: only on a name clash).
    """

    __slots__ = ("body", "head", "head_only", "headers", "host", "method", "names", "port", "url")

    def __init__(
        self, url: URL, method: str, headers: Mapping[str, str], body: bytes | None,
        per_run: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.url, self.method = url, method
        self.headers: Mapping[str, str] = dict(headers) if headers else _NO_HEADERS
        self.host, self.port = url.raw_host or "", url.port or 80  # IDNA-encoded, as sent
        self.body = body or b""
        self.head_only = method == "HEAD"
        skip = {n.lower() for n in per_run}
        self.head = request_head(
            url, method, {k: v for k, v in headers.items() if k.lower() not in skip}, body
        )
        self.names = (frozenset(k.lower() for k in headers) - skip) or _NO_NAMES

    def request(self, extra: Mapping[str, str]) -> bytes:
        """The bytes to send: head, the run's headers, blank line, body."""
        if self.names and any(n.lower() in self.names for n in extra):
            merged = CIMultiDict(self.headers)
            merged.update(extra)
            return b"".join((request_head(self.url, self.method, merged, self.body or None),
                             b"\r\n\r\n", self.body))  # fmt: skip
        return b"".join((self.head, header_lines(extra), b"\r\n\r\n", self.body))


class _Bad(Exception):
    """The response broke HTTP/1.1 or a cap: ends the exchange with an outcome."""

    def __init__(self, outcome: Outcome, error: str) -> None:
        super().__init__(error)
        self.outcome = outcome
        self.error = error


def _invalid(reason: str) -> _Bad:
    return _Bad(Outcome.PROTOCOL_ERROR, f"invalid HTTP response: {reason}")


# Framing states: the head is open; then how the body ends
_HEAD, _FIXED, _UNTIL_CLOSE, _CHUNKED = range(4)

# llhttp's reason (a fixed English text) -> one short line in the client's own words
_REASONS: tuple[tuple[str, str], ...] = (
    ("Transfer-Encoding can't be present", "both Content-Length and Transfer-Encoding"),
    ("Content-Length can't be present", "both Content-Length and Transfer-Encoding"),
    ("Content-Length", "bad Content-Length"),
    ("hunk size", "bad chunk size"),
    ("hunk extension", "bad chunk extension"),
    ("after chunk data", "chunk not followed by CRLF"),
    ("eader", "bad header line"),
    ("status", "bad status line"),
    ("HTTP/", "bad status line"),
    ("version", "bad status line"),
    ("Expected dot", "bad status line"),
    ("response line", "bad status line"),
    ("Expected space", "bad status line"),
)
_FRAMING = frozenset({"bad Content-Length", "both Content-Length and Transfer-Encoding"})


def _reason(exc: Exception) -> str:
    """One short printable line for an llhttp error, never the exception's repr."""
    text = str(exc)
    for needle, reason in _REASONS:
        if needle in text:
            return reason
    clean = "".join(ch if " " <= ch < "\x7f" else "?" for ch in text)[:80]
    return clean[:1].lower() + clean[1:] if clean else "unparseable"


class _Stop(Exception):
    """Raised from an llhttp callback once the exchange is decided: parsing stops there."""


class _Response(asyncio.Protocol):
    """One request written on connect, one response parsed by llhttp as it arrives.

    llhttp (httptools) checks the syntax: status line, field names and values, the
    Content-Length and Transfer-Encoding rules, chunk framing. What it leaves to us is
    done here: the 64 KiB head cap (bytes fed while a head is open, interim heads
    included), the 8 KiB cap on a trailer line and on framing bytes between body bytes,
    only `HTTP/1.0`/`1.1` and codes 100-999 (llhttp also takes RTSP/, ICE/, HTTP/0.9,
    HTTP/2.0, codes 0-99), 1xx heads skipped but 101, HEAD/101/204/304 ended at the head,
    a close-delimited body ended at EOF (llhttp has no `finish()` in httptools), the body
    cap as bytes arrive.
    """

    def __init__(self, request: bytes, head_only: bool, max_body: int) -> None:
        self.request = request
        self.head_only = head_only
        self.max_body = max_body
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        # BWS before a chunk extension's ';' (RFC 9112 7.1.1); also "5 " without one
        self.parser.set_dangerous_leniencies(lenient_spaces_after_chunk_size=True)
        self.fields: CIMultiDict[str] = CIMultiDict()
        self.state = _HEAD
        self.fed = 0  # bytes fed since the head opened; past the head, since the last body bytes
        self.chunks: list[bytes] = []
        self.size = 0
        self.code: int | None = None
        self.headers: CIMultiDictProxy[str] | None = None
        self.encoding = ""
        self.connected_at = 0.0
        self.headers_at = 0.0
        self.end = 0.0
        self.now = 0.0
        self.stop: _Bad | None = None
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
        self.now = now  # the callbacks stamp headers_at and the end with it
        try:
            if self.fed == 0 and self.state == _HEAD and data[:1] != b"H":
                raise _invalid("bad status line")  # RTSP/, ICE/, a leading empty line
            if self.fed + len(data) > MAX_HEAD:
                self._feed_capped(data)
            else:
                self.fed += len(data)
                self.parser.feed_data(data)
        except httptools.HttpParserError as exc:  # a callback's _Stop arrives as one too
            if not self.done.done():
                self._finish(now, self.stop or self._mapped(exc, now))
        except httptools.HttpParserUpgrade:  # pragma: no cover - a 101 ends at its head
            if not self.done.done():
                self._finish(now, _invalid("unexpected upgrade"))
        except _Bad as bad:
            self._finish(now, bad)
        if self.state != _HEAD and self.fed > MAX_LINE and not self.done.done():
            self._finish(now, _invalid("chunk framing line too long"))

    def eof_received(self) -> bool:
        now = perf()
        if not self.done.done():
            if self.state == _UNTIL_CLOSE:
                self._finish(now)
            else:
                self._finish(now, _Bad(Outcome.PROTOCOL_ERROR, self._cut_reason()))
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        now = perf()
        if not self.done.done():
            if exc is None and self.state == _UNTIL_CLOSE:
                self._finish(now)
            else:
                self._finish(now, exc or _Bad(Outcome.PROTOCOL_ERROR, self._cut_reason()))

    # --- llhttp callbacks ---------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        if self.state == _HEAD:
            self.fields.add(
                name.decode("ascii"), value.strip(b" \t").decode("utf-8", "surrogateescape")
            )
        elif len(name) + len(value) > MAX_LINE:  # a trailer field: skipped, but capped
            self.stop = _invalid("chunk framing line too long")
            raise _Stop

    def on_headers_complete(self) -> None:
        parser = self.parser
        code = parser.get_status_code()
        if code < 100 or parser.get_http_version() not in ("1.1", "1.0"):
            self.stop = _invalid("bad status line")
            raise _Stop
        if code < 200 and code != 101:
            self.fields = CIMultiDict()  # an interim response (100, 103): the real one follows
            return
        fields = self.fields
        self.headers_at = self.now
        self.code = code
        self.headers = CIMultiDictProxy(fields)
        self.encoding = fields.get("Content-Encoding", "").strip().lower()
        try:
            self._framing(code, fields)
        except _Bad as bad:
            self.stop = bad
            raise _Stop from None
        self.fed = 0
        if self.done.done():
            raise _Stop  # HEAD, 101, 204, 304, a zero length: nothing more is parsed

    def on_body(self, body: bytes) -> None:
        self.fed = 0
        try:
            self._keep(body)
        except _Bad as bad:
            self.stop = bad
            raise _Stop from None

    def on_message_complete(self) -> None:
        if self.code is not None:  # not an interim response
            self._finish(self.now)
            raise _Stop  # bytes after the response are not parsed

    # --- the rest ---------------------------------------------------------------------------
    def _feed_capped(self, data: bytes) -> None:
        if self.state != _HEAD:  # past the head: the framing cap applies, checked after
            self.fed += len(data)
            self.parser.feed_data(data)
            return
        room = MAX_HEAD + 4 - self.fed  # as a head: up to MAX_HEAD plus its blank line
        view = memoryview(data)
        self.fed += min(room, len(data))
        self.parser.feed_data(view[:room])
        if self.state == _HEAD and not self.done.done():
            raise _invalid(f"response head over {MAX_HEAD // 1024} KiB")
        if len(data) > room and not self.done.done():
            self.parser.feed_data(view[room:])

    def _mapped(self, exc: Exception, now: float) -> _Bad:
        """An llhttp error as one outcome. A framing error comes with the code and the
        head's time, as when the framing is judged after the head (llhttp judges it while
        reading the fields); a length past 64 bits is a body over the cap."""
        reason = _reason(exc)
        code = self.parser.get_status_code()
        if self.code is None and reason in _FRAMING and (code >= 200 or code == 101):
            self.code, self.headers_at = code, now
            if "overflow" in str(exc):
                return _Bad(Outcome.BODY_TOO_LARGE, f"body larger than {self.max_body} bytes")
        return _invalid(reason)

    def _finish(self, now: float, failure: BaseException | None = None) -> None:
        """Ends the exchange. A failure is kept without its traceback: the traceback's
        frames hold this protocol, and that cycle would keep every buffered body chunk
        (up to max_body per run) alive until a full GC, long after the run."""
        self.end = now
        self.failure = failure.with_traceback(None) if failure is not None else None
        self.done.set_result(None)

    def release(self) -> None:
        """Drops the buffers as soon as the exchange is over, whoever still holds us, and
        the parser, which holds our bound methods (a cycle otherwise)."""
        self.chunks = []
        self.fields = CIMultiDict()
        self.parser = _RELEASED
        self.stop = None
        self.failure = None
        self.transport = None

    def _cut_reason(self) -> str:
        where = "before the response" if self.code is None else "in the body"
        return f"connection closed mid-response: closed {where}"

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_body:
            raise _Bad(Outcome.BODY_TOO_LARGE, f"body larger than {self.max_body} bytes")
        self.chunks.append(data)

    def _framing(self, code: int, headers: CIMultiDict[str]) -> None:
        """How the body ends (RFC 9112 section 6.3), and the cap on a declared length.
        llhttp has refused a bad, repeated or conflicting Content-Length already."""
        codings = ",".join(headers.getall("Transfer-Encoding", ())).lower()
        length = headers.get("Content-Length")
        if self.head_only or code in (101, 204, 304):
            self.state = _FIXED
            self._finish(self.headers_at)  # nothing more is read
        elif codings:
            last = codings.rsplit(",", 1)[-1].strip()
            self.state = _CHUNKED if last == "chunked" else _UNTIL_CLOSE
        elif length is not None:
            self.state = _FIXED
            if int(length) > self.max_body:
                raise _Bad(Outcome.BODY_TOO_LARGE, f"body larger than {self.max_body} bytes")
            if int(length) == 0:
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
            raise _invalid(f"body is not valid {self.encoding}") from None


def _decompress(raw: bytes, wbits: int, cap: int, raw_deflate_fallback: bool) -> bytes:
    try:
        decoder = zlib.decompressobj(wbits)
        out = decoder.decompress(raw, cap + 1)
    except zlib.error:
        if not raw_deflate_fallback:  # some servers send deflate without the zlib wrapper
            raise
        decoder = zlib.decompressobj(-zlib.MAX_WBITS)
        out = decoder.decompress(raw, cap + 1)
    if len(out) > cap:
        raise _Bad(Outcome.BODY_TOO_LARGE, f"body larger than {cap} bytes")
    return out


_RELEASED = httptools.HttpResponseParser(object())  # what a released protocol holds


async def send(
    prepared: Prepared,
    extra: Mapping[str, str],
    *,
    resolver: aiohttp.abc.AbstractResolver,
    limit: float,
    max_body: int,
) -> Exchange:
    """Resolve (unless the host is an address), connect, send the request, read the reply.

    Never raises except on cancellation; one hard timeout covers every phase. The end
    is stamped when the last body byte arrives, so decoding and judging are not timed.
    """
    loop = asyncio.get_running_loop()
    host, port, head_only = prepared.host, prepared.port, prepared.head_only
    proto = _Response(prepared.request(extra), head_only, max_body)
    start = perf()
    dns_start = dns_end = conn_start = 0.0
    transport: asyncio.Transport | None = None
    outcome: Outcome | None = None
    error = ""
    body = b""
    try:
        async with asyncio.timeout(limit):
            addresses = [host]
            if not _is_address(host):
                dns_start = perf()
                addresses = await _resolve(resolver, host, port)
                dns_end = perf()
            conn_start = dns_end or start
            transport = await _connect(loop, proto, addresses, port)
            await proto.done
        end = proto.end
        failure = proto.failure
        if isinstance(failure, _Bad):  # not re-raised: a traceback through here is a cycle
            outcome, error = failure.outcome, failure.error
        elif failure is not None:
            outcome, error = classify(failure)
        elif not head_only:
            body = proto.body()
        del failure
    except _Bad as bad:
        end = proto.end or perf()
        outcome, error = bad.outcome, bad.error
    except _DNSError as exc:
        end = perf()
        outcome, error = Outcome.DNS_ERROR, f"DNS resolution failed: {exc}"
    except _ConnectError as exc:
        end = perf()
        outcome, error = exc.outcome, exc.error
    except Exception as exc:  # classified; only CancelledError passes through
        end = proto.end or perf()
        outcome, error = classify(exc)
    finally:
        if transport is not None:
            if outcome is None:
                transport.close()
            else:  # a failed or capped exchange: drop whatever the peer still sends
                transport.abort()
        proto.release()
    phases = _phases(
        start=start, end=end, dns_start=dns_start, dns_end=dns_end, conn_start=conn_start,
        proto=proto, outcome=outcome,
    )  # fmt: skip
    return Exchange(
        outcome,
        error,
        proto.code,
        end - start,
        phases,
        body,
        proto.headers,
    )


class _DNSError(Exception):
    """The name did not resolve; the message is the resolver's reason."""


class _ConnectError(Exception):
    """No address took the connection: refused, or another socket error."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(str(exc))
        if isinstance(exc, ConnectionRefusedError):
            self.outcome, self.error = Outcome.CONNECT_REFUSED, "connection refused"
        else:
            self.outcome = Outcome.CONNECT_ERROR
            self.error = f"connect failed: {exc.strerror or exc or type(exc).__name__}"


def _is_address(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


async def _resolve(resolver: aiohttp.abc.AbstractResolver, host: str, port: int) -> list[str]:
    try:
        found = await resolver.resolve(host, port, family=socket.AF_UNSPEC)
    except OSError as exc:
        raise _DNSError(exc.strerror or str(exc) or type(exc).__name__) from None
    addresses = [r["host"] for r in found]
    if not addresses:
        raise _DNSError("no addresses")
    return addresses


async def _connect(
    loop: asyncio.AbstractEventLoop, proto: _Response, addresses: list[str], port: int
) -> asyncio.Transport:
    """Tries each address in turn; the last failure is the one reported."""
    failure: OSError | None = None
    for address in addresses:
        try:
            transport, _ = await loop.create_connection(lambda: proto, address, port)
        except TimeoutError:
            raise
        except OSError as exc:
            failure = exc
        else:
            return transport
    raise _ConnectError(failure or OSError("no address to connect to"))


def _phases(
    *,
    start: float,
    end: float,
    dns_start: float,
    dns_end: float,
    conn_start: float,
    proto: _Response,
    outcome: Outcome | None,
) -> dict[str, float]:
    """The same phases, with the same meaning, as the aiohttp path (http._phases)."""
    phases: dict[str, float] = {}
    if dns_start:  # a lookup that failed or timed out lasted until the end
        phases[Phase.DNS] = (dns_end or end) - dns_start
    if conn_start:
        phases[Phase.CONNECT] = max(0.0, (proto.connected_at or end) - conn_start)
    if proto.headers_at:
        phases[Phase.TTFB] = proto.headers_at - (proto.connected_at or start)
        if outcome is not Outcome.TIMEOUT:
            phases[Phase.TRANSFER] = max(0.0, end - proto.headers_at)
    return phases
