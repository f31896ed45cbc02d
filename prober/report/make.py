"""`make_report`: ask Prometheus, compute, and return the report as plain data."""

from __future__ import annotations

import time

import aiohttp

from ..config import load_config
from .collect import Chart, Collector, Report, charts
from .prometheus import Prometheus


async def make_report(
    url: str,
    config_path: str,
    *,
    window: float | None = None,
    at: float | None = None,
    scale: float = 1.0,
    request_timeout: float = 30.0,
    with_charts: bool = False,
) -> tuple[Report, list[Chart]]:
    """The report (and its charts when asked); ConfigError or PrometheusError otherwise."""
    config = load_config(config_path, fleet=True)  # a sharded fleet's whole file
    async with aiohttp.ClientSession() as session:
        prometheus = Prometheus(session, url, timeout=request_timeout)
        collector = Collector(prometheus, config, time.time() if at is None else at, scale)
        report = await collector.collect(window)
        drawn = await charts(prometheus, config, report, window) if with_charts else []
    return report, drawn
