"""aiohttp sessions shared by all probes, and the request tracing that times phases.

Two sessions cover every probe: `fresh` opens (and resolves) anew for each run so
DNS, connect and TLS faults are seen every time; `keepalive` pools connections.
TLS settings are per request, so they don't need sessions of their own.
"""

from __future__ import annotations

import ssl
import time
from types import SimpleNamespace
from typing import Literal

import aiohttp

from ..config import TLS

perf = time.perf_counter


class Timings:
    """Timestamps written by the trace hooks of one request (perf_counter seconds)."""

    __slots__ = ("conn_end", "conn_start", "dns_end", "dns_start")

    def __init__(self) -> None:
        self.dns_start = self.dns_end = self.conn_start = self.conn_end = 0.0


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

    def __init__(self, connector_limit: int = 0) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._limit = connector_limit
        self._trace = _trace_config()

    def get(self, mode: Literal["fresh", "keepalive"]) -> aiohttp.ClientSession:
        session = self._sessions.get(mode)
        if session is None or session.closed:
            fresh = mode == "fresh"
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                force_close=fresh,
                use_dns_cache=not fresh,
                ttl_dns_cache=10,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                trace_configs=[self._trace],
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
