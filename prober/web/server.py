"""The agent's own HTTP endpoints: /metrics, /healthz, /ready, POST /-/reload (opt-in).

With a web config file (exporter-toolkit format, see webconfig.py) they are served
over TLS and/or behind basic auth; /healthz alone stays open to liveness probes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from time import perf_counter

from aiohttp import web
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from .. import __version__
from ..agent.lifecycle import Agent
from ..config import parse_listen
from ..telemetry.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    Pace,
    render_chunks,
)
from .config import WebConfig, install, load_web_config

OPENMETRICS = "application/openmetrics-text"


def process_registry() -> CollectorRegistry:
    """process_*, python_gc_* and python_info: a few series, rendered by prometheus_client."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def build_app(
    agent: Agent, web_config: WebConfig | None = None, *, lifecycle: bool = False
) -> web.Application:
    """The endpoints; POST /-/reload acts only with `lifecycle` (--web.enable-lifecycle),
    as in Prometheus: a listener on 0.0.0.0 must not let anyone who reaches it reload."""
    process = process_registry()

    async def metrics(request: web.Request) -> web.StreamResponse:
        openmetrics = OPENMETRICS in request.headers.get("Accept", "")
        ctype = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
        response = web.StreamResponse(headers={"Content-Type": ctype})
        await response.prepare(request)
        pace = Pace()
        chunks = render_chunks(
            agent.metrics,
            inflight=agent.inflight,
            state=agent.health,
            version=__version__,
            process=process,
            openmetrics=openmetrics,
            budget=pace,
        )
        resumed = perf_counter()
        for chunk in chunks:
            await response.write(chunk)
            handed = perf_counter()
            await asyncio.sleep(0)  # let due probe runs start between pieces of a big scrape
            last, resumed = resumed, perf_counter()
            pace.after_turn(own=handed - last, others=resumed - handed)
        await response.write_eof()
        return response

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        if agent.ready.is_set():
            return web.json_response({"status": "ready", "probes": len(agent.probes)})
        return web.json_response({"status": "starting"}, status=503)

    async def reload(_: web.Request) -> web.Response:
        if not lifecycle:
            return web.json_response(
                {"status": "the lifecycle API is off: start with --web.enable-lifecycle"},
                status=403,
            )
        if agent.config_path is None:
            return web.json_response({"status": "no config file to reload"}, status=400)
        ok = await agent.reload()
        status = 200 if ok else 500
        return web.json_response(
            {"status": "reloaded" if ok else "rejected, old config kept"}, status=status
        )

    async def index(_: web.Request) -> web.Response:
        links = "".join(
            f'<li><a href="{p}">{p}</a></li>' for p in ("/metrics", "/healthz", "/ready")
        )
        return web.Response(
            text=f"<html><body><h1>prober {__version__}</h1><ul>{links}</ul></body></html>",
            content_type="text/html",
        )

    app = web.Application()
    if web_config is not None:
        install(app, web_config)
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", ready)
    app.router.add_post("/-/reload", reload)
    return app


async def serve(
    agent: Agent, listen: str, web_config: Path | None = None, *, lifecycle: bool = False
) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (to clean up) and the bound port.

    Raises WebConfigError (one line) for a bad web config file, OSError when the
    address cannot be bound.
    """
    host, port = parse_listen(listen)
    config = load_web_config(web_config) if web_config is not None else None
    app = build_app(agent, config, lifecycle=lifecycle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(
        runner, host, port, reuse_address=True, ssl_context=config.ssl if config else None
    )
    await site.start()
    return runner, int(runner.addresses[0][1])
