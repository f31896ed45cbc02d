"""A throwaway Prometheus + Alertmanager on 127.0.0.1, for the demo and the end-to-end tests.

Both run in the foreground of their own processes with their own config and data
directory under `workdir`, gossip off, and are stopped by PID. Alertmanager sends
to a webhook the caller provides (the demo shows what arrives; the tests assert it).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROMETHEUS_NAMES = ("prometheus",)
ALERTMANAGER_NAMES = ("prometheus-alertmanager", "alertmanager")  # Debian names it the former


def find_binary(names: Sequence[str]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


@dataclass
class Stack:
    """Prometheus scraping `targets` with `rule_files`, alerting through Alertmanager."""

    workdir: Path
    targets: Sequence[str]  # host:port of prober /metrics endpoints
    rule_files: Sequence[Path]
    webhook_url: str
    scrape_interval: str = "1s"
    evaluation_interval: str = "1s"
    external_labels: dict[str, str] = field(default_factory=dict)
    prometheus_port: int = 0
    alertmanager_port: int = 0
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def start(self, ready_timeout: float = 30.0) -> None:
        prometheus = find_binary(PROMETHEUS_NAMES)
        alertmanager = find_binary(ALERTMANAGER_NAMES)
        if not prometheus or not alertmanager:
            raise FileNotFoundError(
                "prometheus and alertmanager binaries are needed "
                "(Debian: apt-get install prometheus prometheus-alertmanager)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.prometheus_port = self.prometheus_port or free_port()
        self.alertmanager_port = self.alertmanager_port or free_port()
        am_config = self.workdir / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(self._alertmanager_config(), sort_keys=False))
        prom_config = self.workdir / "prometheus.yml"
        prom_config.write_text(yaml.safe_dump(self._prometheus_config(), sort_keys=False))
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        try:
            self._spawn(
                [
                    alertmanager,
                    f"--config.file={am_config}",
                    f"--storage.path={self.workdir / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                    "--cluster.listen-address=",
                ],
                logs / "alertmanager.log",
            )
            self._spawn(
                [
                    prometheus,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={self.workdir / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                    "--web.enable-lifecycle",
                    "--enable-feature=exemplar-storage",
                    "--rules.alert.resend-delay=1s",
                ],
                logs / "prometheus.log",
            )
            self._wait_ready(f"{self.alertmanager_url}/-/ready", ready_timeout)
            self._wait_ready(f"{self.prometheus_url}/-/ready", ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _prometheus_config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
                "external_labels": dict(self.external_labels),
            },
            "rule_files": [str(p) for p in self.rule_files],
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}
                ]
            },
            "scrape_configs": [
                {
                    "job_name": "prober",
                    "static_configs": [{"targets": list(self.targets)}],
                }
            ],
        }

    def _alertmanager_config(self) -> dict[str, Any]:
        return {
            "route": {
                "receiver": "webhook",
                "group_by": ["alertname", "slo", "region", "sli", "severity"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "webhook",
                    "webhook_configs": [{"url": self.webhook_url, "send_resolved": True}],
                }
            ],
        }

    def _spawn(self, argv: list[str], log: Path) -> None:
        with log.open("wb") as out:
            self._procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))

    def _wait_ready(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    name = Path(str(proc.args[0])).name  # type: ignore[index]
                    raise RuntimeError(f"{name} exited early; see {self.workdir / 'logs'}")
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                urllib.request.urlopen(url, timeout=1).close()
                return
            time.sleep(0.1)
        raise TimeoutError(f"{url} not ready after {timeout:g}s")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; the result vector."""
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        data = _get(url)
        if data.get("status") != "success":
            raise RuntimeError(f"query failed: {promql}: {data}")
        return list(data["data"]["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts Prometheus currently has pending or firing."""
        return list(_get(f"{self.prometheus_url}/api/v1/alerts")["data"]["alerts"])

    def stop(self, timeout: float = 10.0) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
