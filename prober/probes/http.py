"""The HTTP probe: one request per run, timed by phase, classified into one outcome.

Everything that can be decided before a run (headers, body bytes, SSL context,
assertions, labels) is decided in __init__, so the per-run path is a request,
a capped body read, one clock reading, and then the checks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
from opentelemetry.trace import SpanKind
from yarl import URL

from .. import __version__
from ..conventions import USER_AGENT, Outcome, Phase
from ..model import ProbeResult, RunContext
from ..redact import one_line, safe_url, scrub, url_secrets
from . import http1
from .assertions import Check, compile_checks
from .errors import classify
from .http1 import Exchange
from .session import CURRENT_TIMINGS, SessionPool, Timings, perf, ssl_context

if TYPE_CHECKING:
    from ..config import Config, ProbeConfig

log = logging.getLogger("prober.probe")
_READ_CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    pass


async def send(
    sessions: SessionPool,
    mode: Literal["fresh", "keepalive"],
    method: str,
    url: URL,
    *,
    headers: Mapping[str, str],
    body: bytes | None,
    builtin: bool,
    ssl: ssl.SSLContext | bool,
    server_hostname: str | None,
    limit: float,
    max_body: int,
    name: str,
) -> Exchange:
    """One request by whichever client fits: prober's own HTTP/1.1 client for plain http on
    a fresh connection (unless `builtin` is off), aiohttp for everything else."""
    if builtin and http1.applies(url, mode):
        try:
            http1.check_headers(headers)
        except ValueError as exc:  # aiohttp refuses such a header too: same outcome
            return Exchange(Outcome.INTERNAL, str(exc), None, 0.0, {})
        prepared = http1.Prepared(url, method, headers, body)
        return await http1.send(
            prepared, {}, resolver=sessions.resolver, limit=limit, max_body=max_body
        )
    return await exchange(
        sessions.get(mode), method, url, headers, body, ssl=ssl,
        server_hostname=server_hostname, limit=limit, max_body=max_body, name=name,
    )  # fmt: skip


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    ssl: ssl.SSLContext | bool,
    server_hostname: str | None,
    limit: float,
    max_body: int,
    name: str,
) -> Exchange:
    """Send one request under one hard timeout; read the body with a cap; never raise.

    The end timestamp is taken as soon as the last body byte is read: status and
    assertion checks, metrics, logs and spans all happen after the clock stops.
    """
    timings = Timings()
    if url.scheme == "https":
        CURRENT_TIMINGS.set(timings)  # each run is its own task: no reset needed
    code: int | None = None
    data = b""
    response_headers: Mapping[str, str] | None = None
    outcome: Outcome | None = None
    error = ""
    start = perf()
    headers_at = 0.0
    try:
        async with asyncio.timeout(limit):
            async with session.request(
                method,
                url,
                headers=headers,
                data=body,
                ssl=ssl,
                server_hostname=server_hostname,
                allow_redirects=False,
                trace_request_ctx=timings,
            ) as resp:
                headers_at = perf()
                code = resp.status
                response_headers = resp.headers
                if method != "HEAD":
                    data = await _read(resp, max_body)
        end = perf()
    except BodyTooLarge:
        end = perf()
        outcome, error = Outcome.BODY_TOO_LARGE, f"body larger than {max_body} bytes"
    except Exception as exc:  # classified; only CancelledError passes through
        end = perf()
        outcome, error = classify(exc)
        if outcome is Outcome.INTERNAL:
            log.exception("internal error in probe %s", name, extra={"probe": name})
    return Exchange(
        outcome,
        error,
        code,
        end - start,
        _phases(timings, start, end, headers_at, outcome),
        data,
        response_headers,
        timings.cert_expiry,
    )


async def _read(resp: aiohttp.ClientResponse, max_body: int) -> bytes:
    if resp.content_length is not None and resp.content_length > max_body:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await resp.content.read(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_body:
            raise BodyTooLarge
        chunks.append(chunk)


def _phases(
    t: Timings, start: float, end: float, headers_at: float, outcome: Outcome | None
) -> dict[str, float]:
    phases: dict[str, float] = {}
    dns = 0.0
    if t.dns_start:  # a lookup that failed or timed out lasted until the end
        dns = phases[Phase.DNS] = (t.dns_end or end) - t.dns_start
    if t.conn_start:  # connect includes the lookup in aiohttp; take it out
        phases[Phase.CONNECT] = max(0.0, (t.conn_end or end) - t.conn_start - dns)
    if headers_at:
        phases[Phase.TTFB] = headers_at - (t.conn_end or start)
        if outcome is not Outcome.TIMEOUT:
            phases[Phase.TRANSFER] = end - headers_at
    return phases


_USER_AGENT = USER_AGENT.format(version=__version__)  # one string shared by every probe


def request_headers(extra: Mapping[str, str]) -> dict[str, str]:
    headers = {"User-Agent": _USER_AGENT}
    headers.update(extra)
    return headers


def encode_body(
    body: str | None, json_body: Any, has_json: bool, headers: dict[str, str]
) -> bytes | None:
    if body is not None:
        return body.encode()
    if has_json:
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(json_body, separators=(",", ":")).encode()
    return None


def http_span_attributes(
    url: URL, method: str, secret_params: Sequence[str], redact: Callable[[str], str]
) -> dict[str, str | int]:
    https = url.scheme == "https"
    return {
        "http.request.method": method,
        "url.full": redact(safe_url(url, secret_params, keep_query=True)),
        "url.scheme": url.scheme,
        "server.address": url.host or "",
        "server.port": url.port or (443 if https else 80),
    }


class HTTPProbe:
    """Runs one configured HTTP probe. `run` never raises except on cancellation.

    Slotted, and span attributes are built on first use: with ten thousand probes
    every per-probe dict counts, and tracing is often off.
    """

    __slots__ = (
        "_body", "_checks", "_expect", "_headers", "_id_header", "_method", "_prepared",
        "_redact", "_secret_params", "_server_hostname", "_sessions", "_span_attributes",
        "_ssl", "_url", "_url_secrets", "config", "interval", "name", "target", "timeout",
    )  # fmt: skip
    span_kind = SpanKind.CLIENT

    def __init__(self, probe: ProbeConfig, config: Config, sessions: SessionPool) -> None:
        self.config = probe
        self.name = probe.name
        self.target = probe.target_label
        self.timeout = config.timeout(probe)
        self.interval = config.interval(probe)
        self._sessions = sessions
        self._redact = config.redactor
        self._secret_params = config.agent.secret_query_params
        self._url = URL(probe.url, encoded=False)
        # Kept out of this probe's errors; the config's redactor knows only userinfo.
        self._url_secrets = tuple(url_secrets(probe.url, self._secret_params))
        self._method = probe.method
        self._id_header = config.agent.request_id_header
        self._headers = request_headers(probe.headers)
        self._body = encode_body(
            probe.body, probe.json_body, "json_body" in probe.model_fields_set, self._headers
        )
        self._ssl: ssl.SSLContext | bool = (
            ssl_context(probe.tls) if self._url.scheme == "https" else True
        )
        self._server_hostname = probe.tls.server_name
        self._expect = probe.expect
        self._checks = compile_checks(probe.expect)
        self._span_attributes: dict[str, str | int] | None = None
        self._prepared = (
            http1.Prepared(self._url, self._method, self._headers, self._body, (self._id_header,))
            if config.agent.http_client == "builtin" and http1.applies(self._url, probe.connection)
            else None
        )

    @property
    def span_name(self) -> str:
        return self._method

    @property
    def span_attributes(self) -> dict[str, str | int]:
        if self._span_attributes is None:
            attributes = http_span_attributes(
                self._url, self._method, self._secret_params, self._redact
            )
            attributes["prober.target"] = self.target
            self._span_attributes = attributes
        return self._span_attributes

    async def run(self, ctx: RunContext) -> ProbeResult:
        if self._prepared is not None:
            extra = (
                {self._id_header: ctx.run_id, **ctx.headers}
                if ctx.headers
                else {self._id_header: ctx.run_id}
            )
            ex = await http1.send(
                self._prepared,
                extra,
                resolver=self._sessions.resolver,
                limit=self.timeout,
                max_body=self._expect.max_body_bytes,
            )
        else:
            headers = dict(self._headers)
            headers[self._id_header] = ctx.run_id
            if ctx.headers:
                headers.update(ctx.headers)
            ex = await exchange(
                self._sessions.get(self.config.connection),
                self._method,
                self._url,
                headers,
                self._body,
                ssl=self._ssl,
                server_hostname=self._server_hostname,
                limit=self.timeout,
                max_body=self._expect.max_body_bytes,
                name=self.name,
            )
        outcome, error = ex.outcome, ex.error
        if outcome is None:  # the clock has stopped: judging is free to take its time
            outcome, error = judge(ex, self._expect.status_ok, self._checks)
        return ProbeResult(
            probe=self.name,
            target=self.target,
            outcome=outcome,
            duration=ex.duration,
            code=ex.code,
            phases=ex.phases,
            error=one_line(scrub(self._redact(error), self._url_secrets)) if error else "",
            tls_expiry=ex.cert_expiry,
            run_id=ctx.run_id,
            wall_start=ctx.wall_start,
            lag=ctx.lag,
        )


def judge(
    ex: Exchange, status_ok: Callable[[int], bool], checks: Sequence[Check]
) -> tuple[Outcome, str]:
    """Status first, then body checks in order; the first failure decides."""
    assert ex.code is not None
    if not status_ok(ex.code):
        return Outcome.HTTP_STATUS, f"unexpected status {ex.code}"
    for check in checks:
        failure = check(ex.body)
        if failure is not None:
            return Outcome.ASSERTION_FAILED, failure
    return Outcome.SUCCESS, ""
