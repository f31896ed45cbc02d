"""A sharded, replicated fleet as real processes: 3 shards x 2 replicas of `prober run --shard`
(region "fleet") and one unsharded agent (region "single") probe the same simulated service
with the same config, scraped by a real Prometheus evaluating the generated rules,
time-scaled 1/60 as in tests/test_e2e.py (5m -> 5s, 1d -> 24m; `for: 5m` -> 5s).

What it shows: every probe runs in exactly one shard, in both its replicas; the fleet's
availability SLI equals the single agent's under the same faults; one replica killed pages
nothing; both replicas of a shard killed fire ProberShardDown and still no page.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from prober import conventions as c
from prober.config import load_config
from prober.config.shard import shard_of
from prober.demo.stack import ALERTMANAGER_NAMES, PROMETHEUS_NAMES, Stack, find_binary, free_port
from prober.slo import names as n
from prober.slo.generate import render_rule_files

from .conftest import REPO
from .e2e_chain import put_faults, stop_process, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(360),
    pytest.mark.skipif(
        not (find_binary(PROMETHEUS_NAMES) and find_binary(ALERTMANAGER_NAMES)),
        reason="needs Debian's prometheus and prometheus-alertmanager (scripts/test.sh installs)",
    ),
]

SCALE = 60
SHARDS, REPLICAS = 3, 2
PROBES = [f"ums-healthz-{i:02d}" for i in range(24)]
AVAILABILITY_1H = n.error_ratio(n.SLI.AVAILABILITY, 3600)  # a 1m window at this scale


@dataclass
class Fleet:
    service_url: str
    stack: Stack
    agents: dict[tuple[int, int], subprocess.Popen[bytes]]  # (shard, replica) -> process
    ports: dict[tuple[int, int], int]

    def faults(self, **values: Any) -> None:
        put_faults(self.service_url, **values)

    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self.stack.alerts() if a["state"] == "firing"]

    def pages(self) -> list[str]:
        return [a["labels"]["alertname"] for a in self.firing() if a["labels"]["action"] == "page"]

    def kill(self, shard: int, replica: int) -> None:
        proc = self.agents[shard, replica]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _config(work: Path, service_url: str) -> Path:
    bundled = yaml.safe_load((REPO / "probes.yaml").read_text())
    doc = {
        "agent": {"labels": bundled["agent"]["labels"]},
        "defaults": {"interval": "1s", "timeout": "800ms"},
        "slos": bundled["slos"],
        "probes": [
            {"name": name, "url": "${UMS_URL}/healthz", "slo": "user-metadata"} for name in PROBES
        ],
    }
    path = work / "probes.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    work = tmp_path_factory.mktemp("shards")
    procs: list[subprocess.Popen[bytes]] = []
    stack: Stack | None = None
    log = (work / "agents.log").open("wb")
    try:
        service = subprocess.Popen(
            [sys.executable, "-m", "prober.demo.service", "--latency", "0.002"],
            cwd=REPO,
            stdout=subprocess.PIPE,
        )
        procs.append(service)
        assert service.stdout is not None
        service_url = f"http://127.0.0.1:{json.loads(service.stdout.readline())['port']}"
        config_path = _config(work, service_url)
        rules = work / "rules.yml"
        config = load_config(config_path, env={"UMS_URL": service_url})
        rules.write_text(render_rule_files(config, scale=SCALE)[n.RULES_FILE])

        def agent(region: str, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "prober.cli", "run", "-c", str(config_path),
                 "--region", region, "--listen", f"127.0.0.1:{port}",
                 "--log-format", "json", "--log-level", "warning", *extra],
                cwd=REPO,
                env={**os.environ, "UMS_URL": service_url},
                stderr=log,
            )  # fmt: skip
            procs.append(proc)
            return proc, port

        agents, ports = {}, {}
        for shard in range(SHARDS):
            for replica in range(REPLICAS):
                agents[shard, replica], ports[shard, replica] = agent(
                    "fleet", "--shard", f"{shard}/{SHARDS}"
                )
        _, single_port = agent("single")
        for port in [*ports.values(), single_port]:
            wait_for(f"agent on {port} ready", functools.partial(_ready, port), 60)
        targets = [f"127.0.0.1:{p}" for p in [*ports.values(), single_port]]
        stack = Stack(work / "stack", targets, [rules], "http://127.0.0.1:9/unused")
        stack.start()
        yield Fleet(service_url, stack, agents, ports)
    finally:
        if stack is not None:
            stack.stop()
        for proc in procs:
            stop_process(proc)
        log.close()


def test_1_every_probe_runs_in_exactly_one_shard_in_both_its_replicas(fleet: Fleet) -> None:
    wait_for(
        "every agent scraped with probe runs",
        lambda: len(fleet.stack.query(f"sum by (instance) ({c.RUNS_TOTAL})")) == 7,
        60,
    )
    # Each fleet series joined to the shard its agent reports on prober_build_info.
    per_agent = (
        f'sum by (probe, instance) ({c.RUNS_TOTAL}{{region="fleet"}}) '
        f"* on (instance) group_left (shard) {c.BUILD_INFO}"
    )
    rows = [s["metric"] for s in fleet.stack.query(per_agent)]
    shards: dict[str, set[str]] = {}
    instances: dict[str, set[str]] = {}
    for row in rows:
        shards.setdefault(row["probe"], set()).add(row["shard"])
        instances.setdefault(row["probe"], set()).add(row["instance"])
    assert sorted(shards) == sorted(PROBES), "a probe runs nowhere"
    for probe in PROBES:
        assert shards[probe] == {str(shard_of(probe, SHARDS))}, probe
        assert len(instances[probe]) == REPLICAS, probe
    single = fleet.stack.query(f'count by (probe) ({c.RUNS_TOTAL}{{region="single"}})')
    assert len(single) == len(PROBES)
    # The shard label is on build_info only: the probe series do not multiply.
    assert fleet.stack.query(f'{c.RUNS_TOTAL}{{shard!=""}}') == []


def test_2_the_fleet_measures_the_availability_one_agent_measures(fleet: Fleet) -> None:
    fleet.faults(error_rate=0.3, error_status=503, latency=0.002)
    try:
        time.sleep(30)
        ratios = {
            s["metric"]["region"]: float(s["value"][1]) for s in fleet.stack.query(AVAILABILITY_1H)
        }
    finally:
        fleet.faults(error_rate=0.0)
    print(f"\navailability error ratio over the last minute: {ratios}")
    assert ratios["single"] > 0.1, ratios  # the faults reached both
    # ~1,000 runs from the single agent and twice that from the fleet in the window:
    # the sampling noise of their difference is about 0.015.
    assert abs(ratios["fleet"] - ratios["single"]) < 0.05, ratios


def test_3_one_replica_killed_pages_nothing_both_fire_shard_down_and_still_no_page(
    fleet: Fleet,
) -> None:
    # test_2's faults paged (fast burn); those pages clear with the 5s window.
    wait_for("the fault's pages to clear", lambda: not fleet.pages(), 90)
    fleet.kill(0, 0)
    watch_until = time.monotonic() + 20  # four times the scaled `for: 5m`
    while time.monotonic() < watch_until:
        names = {a["labels"]["alertname"] for a in fleet.firing()}
        assert not fleet.pages(), names
        assert n.SHARD_DOWN_ALERT not in names
        assert n.REGION_ABSENT_ALERT not in names
        time.sleep(1)
    killed = time.monotonic()
    fleet.kill(0, 1)

    def shard_down() -> list[dict[str, str]]:
        return [
            a["labels"] for a in fleet.firing() if a["labels"]["alertname"] == n.SHARD_DOWN_ALERT
        ]

    wait_for(f"{n.SHARD_DOWN_ALERT} firing", shard_down, 60)
    print(f"\nboth replicas killed -> {n.SHARD_DOWN_ALERT}: {time.monotonic() - killed:.1f}s")
    [labels] = shard_down()
    assert (labels["region"], labels["shard"], labels["shards"]) == ("fleet", "0", "3")
    assert labels["action"] != "page"
    assert not fleet.pages(), fleet.pages()
    assert n.REGION_ABSENT_ALERT not in {a["labels"]["alertname"] for a in fleet.firing()}
