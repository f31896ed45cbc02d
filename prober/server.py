"""The agent's own HTTP endpoints: /metrics, /healthz, /ready, POST /-/reload."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client import exposition as text_format
from prometheus_client.openmetrics import exposition as openmetrics

from . import __version__
from .agent import Agent
from .config import parse_listen
from .metrics import ProberCollector

OPENMETRICS = "application/openmetrics-text"


def build_registry(agent: Agent) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        ProberCollector(
            lambda: agent.metrics, lambda: agent.inflight, lambda: agent.health, __version__
        )
    )
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def build_app(agent: Agent) -> web.Application:
    registry = build_registry(agent)

    async def metrics(request: web.Request) -> web.Response:
        if OPENMETRICS in request.headers.get("Accept", ""):
            body = openmetrics.generate_latest(registry)  # type: ignore[no-untyped-call]
            ctype = openmetrics.CONTENT_TYPE_LATEST
        else:
            body = text_format.generate_latest(registry)
            ctype = text_format.CONTENT_TYPE_LATEST
        return web.Response(body=body, headers={"Content-Type": ctype})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        if agent.ready.is_set():
            return web.json_response({"status": "ready", "probes": len(agent.probes)})
        return web.json_response({"status": "starting"}, status=503)

    async def reload(_: web.Request) -> web.Response:
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
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", ready)
    app.router.add_post("/-/reload", reload)
    return app


async def serve(agent: Agent, listen: str) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (to clean up) and the bound port."""
    host, port = parse_listen(listen)
    runner = web.AppRunner(build_app(agent), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner, int(runner.addresses[0][1])
