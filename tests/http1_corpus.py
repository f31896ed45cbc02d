"""The strictness corpus for the builtin HTTP/1.1 client's response parser (issue 20).

Each case is raw response bytes and what RFC 9112 / RFC 9110 make of them:

- `reject`: the message is invalid (or breaks one of our caps) and must end in an error;
- `accept`: the message is valid and must parse, with the given body;
- `either`: the RFCs let a recipient accept or refuse (a MAY, a SHOULD, or a sender's MUST NOT
  with no rule for the recipient); recorded, not required.

Used by tests/test_http1_strictness.py (against the client in use) and by
bench/parser_ab.py (both parsers, for the table in bench/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MAX_HEAD = 64 * 1024  # prober.probes.http1.MAX_HEAD (a test checks they agree)

Verdict = Literal["reject", "accept", "either"]


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    reply: bytes
    verdict: Verdict
    why: str
    body: bytes = b""  # for `accept`: the body the client must return
    method: str = "GET"


OK = b"Content-Length: 2\r\n\r\nok"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

CORPUS: tuple[Case, ...] = (
    # --- valid messages: must parse ------------------------------------------------------------
    Case("content-length", b"HTTP/1.1 200 OK\r\n" + OK, "accept", "9112 6.3", b"ok"),
    Case(
        "chunked, extensions and trailers",
        CHUNKED + b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer-Field: x\r\n\r\n",
        "accept",
        "9112 7.1",
        b"hello world",
    ),
    Case(
        "chunk extension, quoted value",
        CHUNKED + b'2;a="b c"\r\nok\r\n0\r\n\r\n',
        "accept",
        "9112 7.1.1 chunk-ext-val = token / quoted-string",
        b"ok",
    ),
    Case(
        "chunk extension after BWS",
        CHUNKED + b"2 ;a=b\r\nok\r\n0\r\n\r\n",
        "accept",
        "9112 7.1.1 BWS before ';'; 9110 5.6.3 a recipient MUST parse BWS",
        b"ok",
    ),
    Case("close-delimited", b"HTTP/1.0 200 OK\r\n\r\nhello", "accept", "9112 6.3 item 8", b"hello"),
    Case(
        "transfer-coding not ending in chunked: until close",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip-ish\r\n\r\nabc",
        "accept",
        "9112 6.3 item 4 (a response: read until close)",
        b"abc",
    ),
    Case(
        "100 and 103 before the response",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\n" + OK,
        "accept",
        "9110 15.2 interim responses",
        b"ok",
    ),
    Case(
        "empty reason phrase",
        b"HTTP/1.1 200 \r\n" + OK,
        "accept",
        "9112 4 status-code SP [ reason-phrase ]",
        b"ok",
    ),
    Case(
        "no reason phrase, no SP",
        b"HTTP/1.1 200\r\n" + OK,
        "accept",
        "common; 9112 4 asks for the SP, a client SHOULD ignore the reason",
        b"ok",
    ),
    Case(
        "header value with obs-text and HTAB",
        b"HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\tb\r\n" + OK,
        "accept",
        "9110 5.5 field-vchar",
        b"ok",
    ),
    Case(
        "a 60 KiB header (under the 64 KiB head cap)",
        b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * (60 * 1024) + b"\r\n" + OK,
        "accept",
        "no RFC limit; ours is 64 KiB",
        b"ok",
    ),
    Case(
        "500 headers",
        b"HTTP/1.1 200 OK\r\n" + b"X-N: 1\r\n" * 500 + OK,
        "accept",
        "no RFC limit",
        b"ok",
    ),
    Case(
        "bytes after the declared length",
        b"HTTP/1.1 200 OK\r\n" + OK + b"EXTRA",
        "accept",
        "9112 6.3: the length ends the message",
        b"ok",
    ),
    Case(
        "HEAD with a length and no body",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
        "accept",
        "9110 9.3.2",
        method="HEAD",
    ),
    Case(
        "204 with Content-Length: 0",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        "accept",
        "9110 15.3.5",
    ),
    Case(
        "304 without a length",
        b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
        "accept",
        "9110 15.4.5",
    ),
    # --- invalid messages: must be refused -------------------------------------------------------
    Case("not HTTP", b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "reject", "9112 4 status-line"),
    Case("HTTP/2 preface", b"HTTP/2 200\r\n\r\n", "reject", "9112 2.3 HTTP-version DIGIT.DIGIT"),
    Case(
        "HTTP/2.0 status line",
        b"HTTP/2.0 200 OK\r\n" + OK,
        "reject",
        "not HTTP/1.x: HTTP/2 has no status line (9113)",
    ),
    Case(
        "HTTP/0.9 status line", b"HTTP/0.9 200 OK\r\n" + OK, "reject", "HTTP/0.9 has no status line"
    ),
    Case(
        "RTSP status line", b"RTSP/1.0 200 OK\r\n" + OK, "reject", "not HTTP (llhttp parses RTSP/)"
    ),
    Case("status with letters", b"HTTP/1.1 2OO OK\r\n\r\n", "reject", "9112 4 3DIGIT"),
    Case("status 099", b"HTTP/1.1 099 Low\r\n" + OK, "reject", "9110 15: 100..599, 1xx-5xx"),
    Case("status 1000", b"HTTP/1.1 1000 High\r\n" + OK, "reject", "9112 4 3DIGIT"),
    Case(
        "header without a colon",
        b"HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n",
        "reject",
        "9112 5 field-line",
    ),
    Case(
        "space before the colon",
        b"HTTP/1.1 200 OK\r\nX-Bad : 1\r\n" + OK,
        "reject",
        "9112 5.1 no whitespace between name and colon",
    ),
    Case(
        "non-token header name",
        b"HTTP/1.1 200 OK\r\nX(A): 1\r\n" + OK,
        "reject",
        "9110 5.1 field-name = token",
    ),
    Case(
        "empty header name",
        b"HTTP/1.1 200 OK\r\n: 1\r\n" + OK,
        "reject",
        "9110 5.1 token is 1*tchar",
    ),
    Case(
        "two different lengths",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        "reject",
        "9112 6.3 item 5: a UA MUST discard",
    ),
    Case(
        "negative length",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "reject",
        "9110 8.6 1*DIGIT",
    ),
    Case(
        "'+' length",
        b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
        "reject",
        "9110 8.6 1*DIGIT",
    ),
    Case(
        "empty length", b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", "reject", "9110 8.6 1*DIGIT"
    ),
    Case(
        "length and chunked together",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        "reject",
        "9112 6.2 sender MUST NOT; 6.3 item 3 ought to be an error",
    ),
    Case("chunk size not hex", CHUNKED + b"zz\r\n", "reject", "9112 7.1 chunk-size 1*HEXDIG"),
    Case(
        "chunk size over 64 bits",
        CHUNKED + b"1" + b"0" * 16 + b"\r\nhello",
        "reject",
        "9112 7.1 a recipient MUST prevent integer overflow",
    ),
    Case("chunk without its CRLF", CHUNKED + b"2\r\nokXX", "reject", "9112 7.1 chunk-data CRLF"),
    Case(
        "head over the 64 KiB cap",
        b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * (MAX_HEAD + 10) + b"\r\n" + OK,
        "reject",
        "our cap (9112 allows a limit; 431-like)",
    ),
    Case(
        "body cut short",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
        "reject",
        "9112 8 incomplete message",
    ),
    Case("chunked body cut short", CHUNKED + b"5\r\nhel", "reject", "9112 8 incomplete message"),
    Case(
        "chunked body cut before the last chunk",
        CHUNKED + b"2\r\nok\r\n",
        "reject",
        "9112 8 incomplete message",
    ),
    Case("head cut short", b"HTTP/1.1 200 OK\r\nContent-Len", "reject", "9112 8"),
    Case("nothing at all", b"", "reject", "9112 8"),
    Case(
        "gzip header on a plain body",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nplain",
        "reject",
        "9110 8.4 (content coding, not framing)",
    ),
    # --- the RFCs leave it to the recipient ------------------------------------------------------
    Case(
        "obs-fold",
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  more\r\n" + OK,
        "either",
        "9112 5.2 sender MUST NOT; a UA MUST unfold (both parsers refuse)",
        b"ok",
    ),
    Case(
        "bare LF line endings",
        b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
        "either",
        "9112 2.2 a recipient MAY accept a bare LF",
        b"ok",
    ),
    Case(
        "bare LF after one header",
        b"HTTP/1.1 200 OK\r\nX-A: 1\n" + OK,
        "either",
        "9112 2.2 MAY",
        b"ok",
    ),
    Case(
        "bare CR in a header value",
        b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\n" + OK,
        "either",
        "9112 2.2 invalid, or replace with SP",
        b"ok",
    ),
    Case(
        "NUL in a header value",
        b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\n" + OK,
        "either",
        "9110 5.5 MUST reject or replace with SP",
        b"ok",
    ),
    Case(
        "other CTL in a header value",
        b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n" + OK,
        "either",
        "9110 5.5 invalid; a recipient MAY retain",
        b"ok",
    ),
    Case(
        "HTAB between code and reason",
        b"HTTP/1.1 200\tOK\r\n" + OK,
        "either",
        "9112 4 asks for SP; not a smuggling risk",
        b"ok",
    ),
    Case(
        "status 999",
        b"HTTP/1.1 999 Odd\r\n" + OK,
        "either",
        "9110 15: outside 100..599 is invalid, but 3DIGIT parses",
        b"ok",
    ),
    Case(
        "HTTP/1.2",
        b"HTTP/1.2 200 OK\r\n" + OK,
        "either",
        "9110 2.5 SHOULD process as the highest minor version",
        b"ok",
    ),
    Case(
        "empty line before the status line",
        b"\r\nHTTP/1.1 200 OK\r\n" + OK,
        "either",
        "9112 2.2 (a server SHOULD ignore it; no rule for a client)",
        b"ok",
    ),
    Case(
        "duplicate identical Content-Length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
        "either",
        "9110 8.6 MAY reject or replace with one value",
        b"ok",
    ),
    Case(
        "Content-Length: 2, 2",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
        "either",
        "9110 8.6 MAY reject or replace with one value",
        b"ok",
    ),
    Case(
        "Content-Length beyond 64 bits",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "either",
        "9110 8.6 MUST prevent overflow: refuse, as too large or invalid",
    ),
    Case(
        "chunk size of 16 hex digits",
        CHUNKED + b"f" * 16 + b"\r\nhello",
        "either",
        "fits 64 bits; ends in an error either way (cut, too large or refused)",
    ),
    Case(
        "malformed chunk extension",
        CHUNKED + b"2;=\r\nok\r\n0\r\n\r\n",
        "either",
        "9112 7.1.1 invalid syntax; a recipient MUST ignore unknown extensions",
        b"ok",
    ),
    Case(
        "space after the chunk size",
        CHUNKED + b"2 \r\nok\r\n0\r\n\r\n",
        "either",
        "9112 7.1 no BWS without ';'",
        b"ok",
    ),
    Case(
        "chunk size line ended by a bare LF",
        CHUNKED + b"2\nok\r\n0\r\n\r\n",
        "either",
        "9112 2.2 MAY",
        b"ok",
    ),
    Case(
        "a trailer field over 8 KiB",
        CHUNKED + b"2\r\nok\r\n0\r\nX-T: " + b"t" * (9 * 1024) + b"\r\n\r\n",
        "either",
        "no RFC limit; our 8 KiB line cap (the hand parser applied it only to a line still open)",
        b"ok",
    ),
    Case(
        "a chunk extension over 8 KiB",
        CHUNKED + b"2;x=" + b"e" * (9 * 1024) + b"\r\nok\r\n0\r\n\r\n",
        "either",
        "no RFC limit; the hand parser caps the line at 8 KiB (llhttp does not buffer it)",
        b"ok",
    ),
    Case(
        "chunked twice",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "either",
        "9112 6.1 sender MUST NOT chunk twice",
        b"ok",
    ),
)
