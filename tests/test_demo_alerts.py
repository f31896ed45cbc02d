"""`prober demo --with-prometheus` does what the README says, stage by stage.

The demo is run as a user runs it (a real process, real Prometheus and Alertmanager, the
real scripted timeline: healthy 30 s, slow 25 s, error burst 20 s, recovery). Piped, it
prints one `alert:` line per status change that reaches Alertmanager's webhook, tagged
with the fault stage it arrived in; this test reads those lines.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import Any

import pytest

from prober.demo.alerts import AlertBoard
from prober.demo.run import bundled_config, demo_config
from prober.demo.service import DEMO_TIMELINE
from prober.demo.stack import ALERTMANAGER_NAMES, PROMETHEUS_NAMES, find_binary
from prober.slo import names as n

from .conftest import REPO

PAGE = n.burn_alert(n.SLI.AVAILABILITY, "fast")
P99 = n.p99_alert()
LINE = re.compile(
    r"^alert: \S+ \[(?P<stage>[^\]]*)\] (?P<status>firing|resolved) (?P<name>\S+)"
    r" \((?P<labels>[^)]*)\)$"
)


def test_the_demo_timeline_is_the_one_the_readme_and_this_module_describe() -> None:
    assert [(s.name, s.seconds) for s in DEMO_TIMELINE] == [
        ("healthy", 30),
        ("slow", 25),
        ("error burst", 20),
        ("recovery", 25),
    ]
    slow = DEMO_TIMELINE[1].faults
    # Slow enough for p99 > 500 ms, never past the demo's 0.8 s per-request timeout.
    assert slow.latency + slow.jitter > 0.5
    assert slow.latency + slow.jitter < 0.8


def test_in_the_demo_no_probe_times_out_on_the_slow_stage_alone() -> None:
    """The slow stage must read as slow, not down: every request's worst case fits the
    timeout the demo gives it, a scenario's requests (cleanup aside) fit the run's."""
    config = demo_config(bundled_config(), "http://127.0.0.1:8089", 1.0, None)
    slow = DEMO_TIMELINE[1].faults
    worst = slow.latency + slow.jitter
    for probe in config.probes:
        requests = 1
        if probe.kind == "scenario":
            requests = sum(1 for step in probe.steps if not step.always_run)
            assert config.interval(probe) == len(probe.steps)
        assert config.timeout(probe) > requests * worst, probe.name
        assert config.timeout(probe) < config.interval(probe)


def test_the_alert_board_reports_each_status_change_once_with_its_stage() -> None:
    stage = ["slow"]
    board = AlertBoard(stage=lambda: stage[0])

    def message(status: str) -> dict[str, Any]:
        labels = {"alertname": P99, "slo": "s", "sli": "latency", "severity": "warning"}
        return {"alerts": [{"status": status, "labels": labels, "annotations": {}}]}

    assert board.changes_since(0) == []
    board.receive(message("firing"))
    board.receive(message("firing"))  # a repeat notification is not a change
    stage[0] = "error burst"
    board.receive(message("resolved"))
    assert [(c.status, c.stage) for c in board.changes_since(0)] == [
        ("firing", "slow"),
        ("resolved", "error burst"),
    ]
    assert [c.status for c in board.changes_since(1)] == ["resolved"]
    match = LINE.match(f"alert: {board.change_line(board.changes[0])}")
    assert match is not None
    assert match.group("stage", "status", "name", "labels") == (
        "slow",
        "firing",
        P99,
        "warning, latency",
    )


@pytest.mark.e2e
@pytest.mark.timeout(240)
@pytest.mark.skipif(
    not (find_binary(PROMETHEUS_NAMES) and find_binary(ALERTMANAGER_NAMES)),
    reason="needs Debian's prometheus and prometheus-alertmanager (scripts/test.sh installs)",
)
def test_the_slow_stage_fires_the_p99_alert_without_paging_and_the_error_burst_pages() -> None:
    """README: the slow stage fires the p99 alert (and latency tickets), never a page; the
    error burst pages; the page resolves in recovery."""
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "prober",
            "demo",
            "--with-prometheus",
            "--duration",
            "88s",
            "--service-port",
            "0",
            "--listen",
            "127.0.0.1:0",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert time.monotonic() - started < 180
    changes = [m.groupdict() for line in proc.stdout.splitlines() if (m := LINE.match(line))]
    by_stage: dict[str, list[tuple[str, str, str]]] = {}
    for c in changes:
        by_stage.setdefault(c["stage"], []).append((c["status"], c["name"], c["labels"]))
    shown = "\n".join(line for line in proc.stdout.splitlines() if line.startswith("alert:"))

    assert "healthy" not in by_stage, shown  # nothing fires before the first fault
    slow = by_stage.get("slow", [])
    assert ("firing", P99, "warning, latency") in slow, shown
    assert not [c for c in slow if c[0] == "firing" and c[2].startswith("critical")], shown
    burst = by_stage.get("error burst", [])
    assert ("firing", PAGE, "critical, availability") in burst, shown
    recovery = by_stage.get("recovery", [])
    assert ("resolved", PAGE, "critical, availability") in recovery, shown
