"""A small Prometheus HTTP API client on aiohttp: instant and range queries.

Every failure (unreachable, timeout, HTTP error, a query Prometheus rejects, an answer
that is not the API's JSON) becomes one PrometheusError with a one-line message that
names the server without credentials.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from ..redact import safe_url


class PrometheusError(Exception):
    """The report cannot be made: the message is one line, fit for `error: ...`."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    """`connection refused`, not aiohttp's `Cannot connect to host h:p ssl:default [...]`
    (which names TLS settings even for a plain-http URL)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "cannot resolve the host name"
    os_error = exc.os_error
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    reason = os_error.strerror or str(os_error) or type(os_error).__name__
    return _one_line(reason[:1].lower() + reason[1:])


class Prometheus:
    """Queries one server; at most `concurrency` requests in flight."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        timeout: float = 30.0,
        concurrency: int = 8,
    ) -> None:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise PrometheusError(
                f"--prometheus must be an http:// or https:// URL, got {safe_url(url)!r}"
            )
        self.url = parsed
        self.shown = safe_url(parsed)
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limit = asyncio.Semaphore(concurrency)

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        url = self.url.with_path(self.url.path.rstrip("/") + f"/api/v1/{path}")
        async with self._limit:
            try:
                async with self._session.post(url, data=params, timeout=self._timeout) as resp:
                    body = await resp.read()
                    status = resp.status
            except TimeoutError:
                raise PrometheusError(f"prometheus at {self.shown}: no answer in time") from None
            except aiohttp.ClientConnectorError as exc:
                raise PrometheusError(
                    f"prometheus at {self.shown}: cannot connect: {_connect_reason(exc)}"
                ) from None
            except aiohttp.ClientError as exc:
                reason = _one_line(str(exc) or type(exc).__name__)
                raise PrometheusError(f"prometheus at {self.shown}: {reason}") from None
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict) or "status" not in data:
            raise PrometheusError(
                f"prometheus at {self.shown}: HTTP {status}, not a Prometheus API answer"
            )
        if data["status"] != "success":
            kind = data.get("errorType", "error")
            message = _one_line(str(data.get("error", "")))
            raise PrometheusError(f"prometheus at {self.shown}: {kind}: {message}")
        return data["data"]

    async def query(self, expr: str, at: float) -> list[Sample]:
        data = await self._get("query", {"query": expr, "time": f"{at:.3f}"})
        if data.get("resultType") != "vector":
            raise PrometheusError(f"prometheus at {self.shown}: {expr}: not an instant vector")
        return [Sample(dict(r["metric"]), float(r["value"][1])) for r in data["result"]]

    async def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = await self._get("query_range", params)
        return [
            Series(dict(r["metric"]), tuple((float(t), float(v)) for t, v in r["values"]))
            for r in data["result"]
        ]
