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
from typing import TYPE_CHECKING

import aiohttp
from yarl import URL

from .. import __version__
from ..conventions import USER_AGENT, Outcome, Phase
from ..model import ProbeResult, RunContext
from ..redact import safe_url
from .assertions import compile_checks
from .errors import classify
from .session import CURRENT_TIMINGS, SessionPool, Timings, perf, ssl_context

if TYPE_CHECKING:
    from ..config import Config, ProbeConfig

log = logging.getLogger("prober.probe")
_READ_CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    pass


class HTTPProbe:
    """Runs one configured HTTP probe. `run` never raises except on cancellation."""

    def __init__(self, probe: ProbeConfig, config: Config, sessions: SessionPool) -> None:
        self.config = probe
        self.name = probe.name
        self.target = probe.target_label
        self.timeout = config.timeout(probe)
        self.interval = config.interval(probe)
        self._sessions = sessions
        self._redact = config.redactor
        self._url = URL(probe.url, encoded=False)
        self._https = self._url.scheme == "https"
        self.shown_url = safe_url(self._url)
        self._method = probe.method
        self._id_header = config.agent.request_id_header
        headers = {"User-Agent": USER_AGENT.format(version=__version__)}
        headers.update(probe.headers)
        self._body: bytes | None = None
        if probe.body is not None:
            self._body = probe.body.encode()
        elif "json_body" in probe.model_fields_set:
            self._body = json.dumps(probe.json_body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        self._headers = headers
        self._ssl: ssl.SSLContext | bool = ssl_context(probe.tls) if self._https else True
        self._server_hostname = probe.tls.server_name
        self._expect = probe.expect
        self._max_body = probe.expect.max_body_bytes
        self._checks = compile_checks(probe.expect)
        self._read_body = self._method != "HEAD"
        secret_params = config.agent.secret_query_params
        self.span_attributes: dict[str, str | int] = {
            "http.request.method": self._method,
            "url.full": self._redact(safe_url(self._url, secret_params, keep_query=True)),
            "url.scheme": self._url.scheme,
            "server.address": self._url.host or "",
            "server.port": self._url.port or (443 if self._https else 80),
            "prober.target": self.target,
        }

    async def run(self, ctx: RunContext) -> ProbeResult:
        timings = Timings()
        headers = dict(self._headers)
        headers[self._id_header] = ctx.run_id
        if ctx.headers:
            headers.update(ctx.headers)
        code: int | None = None
        body = b""
        if self._https:
            CURRENT_TIMINGS.set(timings)  # each run is its own task: no reset needed
        start = perf()
        headers_at = 0.0
        try:
            async with asyncio.timeout(self.timeout):
                session = self._sessions.get(self.config.connection)
                async with session.request(
                    self._method,
                    self._url,
                    headers=headers,
                    data=self._body,
                    ssl=self._ssl,
                    server_hostname=self._server_hostname,
                    allow_redirects=False,
                    trace_request_ctx=timings,
                ) as resp:
                    headers_at = perf()
                    code = resp.status
                    if self._read_body:
                        body = await self._read(resp)
            end = perf()
        except BodyTooLarge:
            end = perf()
            expiry = timings.cert_expiry
            return self._result(
                ctx,
                Outcome.BODY_TOO_LARGE,
                start,
                end,
                headers_at,
                timings,
                code,
                f"body larger than {self._max_body} bytes",
                expiry,
            )
        except Exception as exc:  # classified below; only CancelledError passes through
            end = perf()
            expiry = timings.cert_expiry
            outcome, reason = classify(exc)
            if outcome is Outcome.INTERNAL:
                log.exception("internal error in probe %s", self.name, extra={"probe": self.name})
            return self._result(ctx, outcome, start, end, headers_at, timings, code, reason, expiry)
        # The clock has stopped: everything below is free to take its time.
        expiry = timings.cert_expiry
        if not self._expect.status_ok(code):
            return self._result(
                ctx,
                Outcome.HTTP_STATUS,
                start,
                end,
                headers_at,
                timings,
                code,
                f"unexpected status {code}",
                expiry,
            )
        for check in self._checks:
            failure = check(body)
            if failure is not None:
                return self._result(
                    ctx,
                    Outcome.ASSERTION_FAILED,
                    start,
                    end,
                    headers_at,
                    timings,
                    code,
                    failure,
                    expiry,
                )
        return self._result(ctx, Outcome.SUCCESS, start, end, headers_at, timings, code, "", expiry)

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        if resp.content_length is not None and resp.content_length > self._max_body:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await resp.content.read(_READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self._max_body:
                raise BodyTooLarge
            chunks.append(chunk)

    def _result(  # noqa: PLR0917 - private, hot path: positional is cheapest and all call sites are here
        self,
        ctx: RunContext,
        outcome: Outcome,
        start: float,
        end: float,
        headers_at: float,
        t: Timings,
        code: int | None,
        error: str,
        expiry: float | None,
    ) -> ProbeResult:
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
        return ProbeResult(
            probe=self.name,
            target=self.target,
            outcome=outcome,
            duration=end - start,
            code=code,
            phases=phases,
            error=self._redact(error) if error else "",
            tls_expiry=expiry,
            run_id=ctx.run_id,
            wall_start=ctx.wall_start,
            lag=ctx.started - ctx.scheduled,
        )
