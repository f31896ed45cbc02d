"""A real chain for the dashboard and report tests: the simulated service, two prober agents
(two regions) probing it with the bundled probes.yaml, and a real Prometheus (Debian package)
scraping both and evaluating the generated rules, time-scaled 1/60 as in tests/test_e2e.py.

`running_chain` scripts one short history: healthy, a fault (errors and slow responses, so
error and latency panels have data), recovery. It then pins `at`: a moment in that history
every query of a test can be asked about, so the figures compared do not drift while the
agents keep probing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from prober import conventions as c
from prober.config import Config, load_config
from prober.demo.stack import ALERTMANAGER_NAMES, PROMETHEUS_NAMES, Stack, find_binary, free_port
from prober.slo import names as n
from prober.slo.generate import render_rule_files

from .conftest import REPO

SCALE = 60
REGIONS = ("eu-1", "us-1")

needs_prometheus = pytest.mark.skipif(
    not (find_binary(PROMETHEUS_NAMES) and find_binary(ALERTMANAGER_NAMES)),
    reason="needs Debian's prometheus and prometheus-alertmanager (scripts/test.sh installs them)",
)


def wait_for(what: str, predicate: Callable[[], Any], limit: float, every: float = 0.5) -> Any:
    """Poll until predicate() is truthy and return its value; fail after `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {limit:g}s waiting for: {what}")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def put_faults(service_url: str, **values: Any) -> None:
    """Change the simulated service's faults live (PUT /-/faults)."""
    request = urllib.request.Request(
        f"{service_url}/-/faults",
        data=json.dumps(values).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).close()


@dataclass
class Chain:
    service_url: str
    config: Config  # the bundled probes.yaml as the agents run it
    stack: Stack
    at: float = 0.0  # the pinned evaluation time (unix seconds), set once the history is done

    @property
    def prometheus_url(self) -> str:
        return self.stack.prometheus_url

    def faults(self, **values: Any) -> None:
        put_faults(self.service_url, **values)

    def api(self, path: str, **params: str | float) -> dict[str, Any]:
        """GET /api/v1/<path>; the whole answer, whatever its status (the caller checks)."""
        url = f"{self.prometheus_url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            return dict(_get(url))
        except urllib.error.HTTPError as exc:  # 400/422: Prometheus explains in the body
            return dict(json.loads(exc.read()))

    def instant(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        data = self.api("query", query=promql, time=self.at if at is None else at)
        assert data["status"] == "success", f"{promql}: {data}"
        return list(data["data"]["result"])

    def scalar(self, promql: str) -> float:
        """The value of a query that must return exactly one series."""
        result = self.instant(promql)
        assert len(result) == 1, f"{promql}: expected one series, got {result}"
        return float(result[0]["value"][1])


def _bundled_config(work: Path, service_url: str, region: str) -> tuple[Path, Config]:
    """The bundled probes.yaml, probing every second; each region writes its own canary
    user, or two agents' write-read scenarios would read each other's writes."""
    raw = yaml.safe_load((REPO / "probes.yaml").read_text())
    raw["defaults"] = {"interval": "1s", "timeout": "800ms"}
    alerting = raw["slos"][0]["alerting"]
    # The budget counts the scaled 12h period's missing history as unspent: a minute of
    # incident spends a few percent, so the policy line is lowered for the alert to fire.
    alerting["budget_policy_spent_percent"] = 2
    for probe in raw["probes"]:
        probe.pop("interval", None)
        probe.pop("timeout", None)
        if probe.get("kind") == "scenario":
            probe["timeout"] = "900ms"
            for step in probe["steps"]:
                step.pop("timeout", None)
    path = work / f"probes-{region}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path, load_config(path, env={"UMS_URL": service_url}, region=region)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def running_chain(work: Path) -> Iterator[Chain]:
    """Start everything, play the history, pin `at`; stop everything on the way out."""
    with ExitStack() as stack:
        service = subprocess.Popen(
            [sys.executable, "-m", "prober.demo.service", "--latency", "0.005"],
            cwd=REPO,
            stdout=subprocess.PIPE,
        )
        stack.callback(stop_process, service)
        assert service.stdout is not None
        service_url = f"http://127.0.0.1:{json.loads(service.stdout.readline())['port']}"
        configs = {region: _bundled_config(work, service_url, region) for region in REGIONS}
        config = configs[REGIONS[0]][1]
        rules = work / n.RULES_FILE
        rules.write_text(render_rule_files(config, scale=SCALE)[n.RULES_FILE])

        targets = []
        for region, (config_path, _) in configs.items():
            port = free_port()
            log = stack.enter_context((work / f"prober-{region}.log").open("wb"))
            proc = subprocess.Popen(
                [sys.executable, "-m", "prober.cli", "run", "-c", str(config_path),
                 "--region", region, "--listen", f"127.0.0.1:{port}",
                 "--log-format", "json", "--log-level", "error"],
                cwd=REPO,
                env={**os.environ, "UMS_URL": service_url},
                stderr=log,
            )  # fmt: skip
            stack.callback(stop_process, proc)
            targets.append(f"127.0.0.1:{port}")

        prometheus = Stack(work / "stack", targets, [rules], "http://127.0.0.1:9/unused")
        stack.callback(prometheus.stop)
        prometheus.start()
        chain = Chain(service_url, config, prometheus)
        play_history(chain)
        yield chain


def play_history(chain: Chain) -> None:
    """Healthy, then errors and slow responses until the fast burn and the budget policy
    alerts fire and both SLIs have failed in both regions; `at` is pinned there,
    mid-incident, and the service recovers."""
    availability = n.error_ratio(n.SLI.AVAILABILITY, 300)
    latency = n.error_ratio(n.SLI.LATENCY, 300)
    wait_for(
        "both regions' recording rules to have data",
        lambda: len(chain.instant(availability, at=time.time())) >= len(REGIONS),
        60,
    )
    time.sleep(3)  # the healthy part of the history: charts start at 100%
    chain.faults(error_rate=0.3, error_status=503, latency=0.005, jitter=0.45)
    wanted = {n.burn_alert(n.SLI.AVAILABILITY, "fast"), n.BUDGET_ALERT}

    # Enough failed runs in each region that estimators of the same ratio (recorded rates,
    # raw counters) agree closely.
    failed = (
        f'sum by ({c.L_REGION}) (increase({c.RUNS_TOTAL}{{{c.L_OUTCOME}!="success"}}[1m])) >= 12'
    )

    def incident() -> bool:
        now = time.time()
        bad = f"{availability} > 0 and {latency} > 0"
        return (
            wanted <= {a["labels"]["alertname"] for a in firing(chain)}
            and len(chain.instant(bad, at=now)) >= len(REGIONS)
            and len(chain.instant(failed, at=now)) >= len(REGIONS)
        )

    wait_for(f"{', '.join(sorted(wanted))} firing and both SLIs failing", incident, 60)
    chain.at = round(time.time(), 3)
    chain.faults(error_rate=0.0, jitter=0.0)


def firing(chain: Chain) -> list[dict[str, Any]]:
    return [a for a in chain.stack.alerts() if a["state"] == "firing"]
