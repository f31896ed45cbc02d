"""aiohttp sessions shared by all probes, and the request tracing that times phases.

Two sessions cover every probe: `fresh` opens (and resolves) anew for each run so
DNS, connect and TLS faults are seen every time; `keepalive` pools connections.
TLS settings are per request, so they don't need sessions of their own.
"""

from __future__ import annotations

import ssl
import time
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any, Literal

import aiohttp
import aiohttp.abc

from ..config import TLS

perf = time.perf_counter


class Timings:
    """Timestamps written by the trace hooks of one request (perf_counter seconds)."""

    __slots__ = ("cert_expiry", "conn_end", "conn_start", "dns_end", "dns_start")

    def __init__(self) -> None:
        self.dns_start = self.dns_end = self.conn_start = self.conn_end = 0.0
        self.cert_expiry: float | None = None


# The Timings of the request being made in this task; read by the connector.
CURRENT_TIMINGS: ContextVar[Timings | None] = ContextVar("prober_timings", default=None)


class _CertReadingConnector(aiohttp.TCPConnector):
    """Reads the peer certificate's expiry when a connection is handed out.

    It must happen here: by the time a small response is returned to the caller,
    aiohttp has already released the connection and its transport.
    """

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:  # noqa: ASYNC109 - aiohttp's signature
        conn = await super().connect(req, traces, timeout)
        timings = CURRENT_TIMINGS.get()
        if timings is not None and req.is_ssl() and conn.transport is not None:
            ssl_object = conn.transport.get_extra_info("ssl_object")
            cert = ssl_object.getpeercert() if ssl_object is not None else None
            if cert and cert.get("notAfter"):
                timings.cert_expiry = float(ssl.cert_time_to_seconds(str(cert["notAfter"])))
        return conn


async def _dns_start(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: object) -> None:
    if isinstance(t := ctx.trace_request_ctx, Timings):
        t.dns_start = perf()


async def _dns_end(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: object) -> None:
    if isinstance(t := ctx.trace_request_ctx, Timings):
        t.dns_end = perf()


async def _conn_start(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: object) -> None:
    if isinstance(t := ctx.trace_request_ctx, Timings):
        t.conn_start = perf()


async def _conn_end(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: object) -> None:
    if isinstance(t := ctx.trace_request_ctx, Timings):
        t.conn_end = perf()


def _trace_config() -> aiohttp.TraceConfig:
    # Only connection-level hooks: request start/end are timed inline by the probe,
    # which is cheaper than an awaited hook and just as close to the socket event.
    tc = aiohttp.TraceConfig()
    tc.on_dns_resolvehost_start.append(_dns_start)
    tc.on_dns_resolvehost_end.append(_dns_end)
    tc.on_connection_create_start.append(_conn_start)
    tc.on_connection_create_end.append(_conn_end)
    tc.freeze()
    return tc


def ssl_context(tls: TLS) -> ssl.SSLContext | bool:
    """The `ssl=` argument for a probe's requests; False turns verification off."""
    if not tls.verify:
        return False
    ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
    return ctx


class SessionPool:
    """Creates the two sessions lazily, inside the running loop; closes them once."""

    def __init__(
        self, connector_limit: int = 0, resolver: aiohttp.abc.AbstractResolver | None = None
    ) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._limit = connector_limit
        self._resolver = resolver  # None: aiohttp's default; tests inject slow or failing DNS
        self._own_resolver = False
        self._trace = _trace_config()

    @property
    def resolver(self) -> aiohttp.abc.AbstractResolver:
        """The resolver both clients use (aiohttp's default unless one was given)."""
        if self._resolver is None:
            self._resolver = aiohttp.DefaultResolver()
            self._own_resolver = True
        return self._resolver

    def get(self, mode: Literal["fresh", "keepalive"]) -> aiohttp.ClientSession:
        session = self._sessions.get(mode)
        if session is None or session.closed:
            fresh = mode == "fresh"
            connector = _CertReadingConnector(
                limit=self._limit,
                force_close=fresh,
                use_dns_cache=not fresh,
                ttl_dns_cache=10,
                resolver=self._resolver,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                trace_configs=[self._trace],
                # Each run is bounded by its own asyncio.timeout: aiohttp's timers would only
                # add a timer handle per request.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
                auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(),  # runs must not leak state into each other
                skip_auto_headers=("User-Agent",),
            )
            self._sessions[mode] = session
        return session

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        if self._own_resolver and self._resolver is not None:
            await self._resolver.close()
            self._resolver, self._own_resolver = None, False
