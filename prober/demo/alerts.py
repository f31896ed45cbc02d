"""The demo's view of alerting: a webhook Alertmanager sends to, shown as a table.

With `prober demo --with-prometheus`, Prometheus evaluates the rules `prober rules`
generates for the demo config, time-scaled by 60 (1 h windows become 1 min) so the
scripted slow stage and error burst page within a minute, as the real ones would
within an hour.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..config import Config
from ..slo import names
from ..slo.generate import render_rule_files
from .stack import Stack

DEMO_SCALE = 60
# Scaled 1/60, the p99 alert's 1m window would be 1s: one scrape of the demo's Prometheus
# (1s), so rate() has nothing to divide. The demo widens it to four scrapes (4m nominal),
# still shorter than p99_for.
SCRAPES_PER_P99_WINDOW = 4


def for_demo_scale(config: Config) -> Config:
    """The config with p99 windows wide enough for the time-scaled demo Prometheus."""
    slos = []
    for slo in config.slos:
        a = slo.alerting
        wanted = min(SCRAPES_PER_P99_WINDOW * DEMO_SCALE, a.p99_for - DEMO_SCALE)
        alerting = a.model_copy(update={"p99_window": max(a.p99_window, wanted)})
        slos.append(slo.model_copy(update={"alerting": alerting}))
    return config.model_copy(update={"slos": tuple(slos)})


@dataclass
class Notice:
    name: str
    severity: str
    sli: str
    status: str
    since: float
    summary: str


class AlertBoard:
    """Receives Alertmanager webhooks on 127.0.0.1 and keeps the latest state per alert."""

    def __init__(self) -> None:
        self.notices: dict[tuple[str, str, str], Notice] = {}
        self._runner: web.AppRunner | None = None

    async def _receive(self, request: web.Request) -> web.Response:
        message: dict[str, Any] = await request.json()
        for alert in message.get("alerts", []):
            labels = alert.get("labels", {})
            key = (labels.get("alertname", "?"), labels.get("slo", ""), labels.get("region", ""))
            self.notices[key] = Notice(
                name=key[0],
                severity=labels.get("severity", ""),
                sli=labels.get("sli", ""),
                status=alert.get("status", ""),
                since=time.time(),
                summary=alert.get("annotations", {}).get("summary", ""),
            )
        return web.Response(text="ok")

    async def start_stack(self, config: Config, metrics_port: int, workdir: Path) -> Stack:
        app = web.Application()
        app.router.add_post("/alerts", self._receive)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        hook = f"http://127.0.0.1:{self._runner.addresses[0][1]}/alerts"
        rules = workdir / names.RULES_FILE
        scaled = render_rule_files(for_demo_scale(config), scale=DEMO_SCALE)
        rules.write_text(scaled[names.RULES_FILE])
        stack = Stack(workdir, [f"127.0.0.1:{metrics_port}"], [rules], hook)
        await asyncio.to_thread(stack.start)
        return stack

    def table(self, stack: Stack) -> Group:
        title = Text(
            f"alerts (rules time-scaled 1/{DEMO_SCALE}; Prometheus {stack.prometheus_url})",
            style="italic",
        )
        table = Table()
        for column in ("alert", "severity", "sli", "status", "at", "summary"):
            table.add_column(column)
        if not self.notices:
            table.add_row("-", "", "", "none yet", "", "")
        for notice in sorted(self.notices.values(), key=lambda x: -x.since)[:8]:
            style = "bold red" if notice.status == "firing" else "green"
            table.add_row(
                notice.name,
                notice.severity,
                notice.sli,
                f"[{style}]{notice.status}[/]",
                time.strftime("%H:%M:%S", time.localtime(notice.since)),
                notice.summary,
            )
        return Group(title, table)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
