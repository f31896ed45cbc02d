"""The `prober` command as a user runs it: real processes, exit codes, signals."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from prober.demo.service import Faults, UserMetadataService
from prober.demo.stack import ALERTMANAGER_NAMES, PROMETHEUS_NAMES, find_binary

from .conftest import REPO, run_prober


@pytest.fixture
async def ums() -> AsyncIterator[tuple[UserMetadataService, str]]:
    svc = UserMetadataService(Faults(latency=0.002, jitter=0.0), seed=7)
    runner, port = await svc.start()
    yield svc, f"http://127.0.0.1:{port}"
    await svc.close(runner)


async def prober(
    *args: str, env: dict[str, str] | None = None, limit: float = 60
) -> tuple[int, str, str]:
    return await run_prober(*args, env=env, limit=limit, module="prober.cli")


async def test_once_against_a_healthy_service_exits_0_with_a_table_of_every_probe(
    ums: tuple[UserMetadataService, str],
) -> None:
    svc, url = ums
    code, out, err = await prober("once", "-c", "probes.yaml", "-n", "5", env={"UMS_URL": url})
    assert code == 0, err
    for name in ("get-canary-metadata", "put-canary-metadata", "canary-write-read", "healthz"):
        assert name in out
    assert "violated" not in out
    assert svc.requests == 5 * (1 + 1 + 3 + 1)  # the scenario makes three requests a run
    assert "canary-write-read: steps" in out  # and gets a per-step breakdown
    assert "Traceback" not in err


async def test_once_json_reports_figures_that_match_what_the_service_saw(
    ums: tuple[UserMetadataService, str], tmp_path: Path
) -> None:
    svc, url = ums
    results = tmp_path / "r.jsonl"
    code, out, _ = await prober(
        "once",
        "-c",
        "probes.yaml",
        "-n",
        "4",
        "-o",
        "json",
        "--probe",
        "healthz",
        "--results",
        str(results),
        env={"UMS_URL": url},
    )
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True
    (entry,) = report["probes"]
    assert entry["probe"] == "healthz"
    assert entry["runs"] == 4
    assert entry["outcomes"] == {"success": 4}
    assert entry["success_ratio"] == 1.0
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [line["probe"] for line in lines] == ["healthz"] * 4
    # Latency reported can't be less than what the service itself spent on the request.
    handled = {h.request_id: h.handling for h in svc.handled}
    for line in lines:
        assert line["duration"] >= handled[line["run_id"]]
    assert entry["latency_seconds"]["max"] == pytest.approx(
        max(x["duration"] for x in lines), abs=1e-6
    )


async def test_once_exits_1_when_an_objective_is_violated(
    ums: tuple[UserMetadataService, str],
) -> None:
    svc, url = ums
    svc.faults = Faults(latency=0.0, jitter=0.0, error_rate=1.0, error_status=503)
    code, out, _ = await prober(
        "once", "-c", "probes.yaml", "-n", "3", "-o", "json", env={"UMS_URL": url}
    )
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    get = next(p for p in report["probes"] if p["probe"] == "get-canary-metadata")
    assert get["outcomes"] == {"http_status": 3}
    assert get["violations"] == ["availability 0.00% < 99.9%"]


async def test_once_judges_latency_against_the_slo_threshold(
    ums: tuple[UserMetadataService, str],
) -> None:
    svc, url = ums
    svc.faults = Faults(latency=0.25, jitter=0.0)  # every request slower than 200 ms
    code, out, _ = await prober(
        "once",
        "-c",
        "probes.yaml",
        "-n",
        "2",
        "-o",
        "json",
        "-p",
        "get-canary-metadata",
        env={"UMS_URL": url},
    )
    assert code == 1
    (entry,) = json.loads(out)["probes"]
    assert entry["violations"] == ["0.0% under 200ms < 95%"]
    assert entry["latency_seconds"]["p50"] >= 0.25


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["once", "-c", "missing.yaml"], "error: missing.yaml: file not found\n"),
        (
            ["once", "-c", "probes.yaml", "-p", "nope"],
            "error: probes.yaml: no probe named 'nope' (probes: canary-write-read, "
            "get-canary-metadata, healthz, put-canary-metadata)\n",
        ),
        (
            ["once", "-c", "probes.yaml", "-n", "0"],
            "prober: argument -n/--count: must be a positive integer, got '0' "
            "(see prober once --help)\n",
        ),
        (
            ["run", "-c", "probes.yaml", "--duration", "soon"],
            "prober: argument --duration: invalid duration 'soon': use a number and a unit "
            "(ms, s, m, h, d, w), e.g. '15s' (see prober run --help)\n",
        ),
    ],
    ids=["missing-file", "unknown-probe", "zero-count", "bad-duration"],
)
async def test_usage_and_config_errors_exit_2_with_one_line_and_no_traceback(
    args: list[str], message: str
) -> None:
    code, out, err = await prober(*args)
    assert code == 2
    assert err == message
    assert out == ""


async def wait_for_port(proc: asyncio.subprocess.Process, limit: float = 15) -> int:
    """Read the agent's JSON log lines until it says where /metrics is."""
    assert proc.stderr is not None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(proc.stderr.readline(), limit)
        record = json.loads(line)
        if record.get("msg") == "serving /metrics":
            return int(record["port"])
    raise AssertionError("agent never reported its port")


async def test_run_serves_metrics_reloads_on_sighup_and_exits_0_on_sigterm(
    ums: tuple[UserMetadataService, str], tmp_path: Path
) -> None:
    _, url = ums
    config = tmp_path / "probes.yaml"
    config.write_text(
        "defaults: {interval: 200ms, timeout: 150ms}\n"
        f"probes:\n  - name: healthz\n    url: {url}/healthz\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "prober.cli",
        "run",
        "-c",
        str(config),
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        cwd=REPO,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        port = await wait_for_port(proc)
        metrics = f"http://127.0.0.1:{port}/metrics"
        async with aiohttp.ClientSession() as s:
            await asyncio.sleep(0.6)
            async with s.get(metrics) as r:
                assert 'probe="healthz"' in await r.text()
            config.write_text(config.read_text().replace("name: healthz", "name: renamed"))
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            text = ""
            while 'probe="renamed"' not in text and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                async with s.get(metrics) as r:
                    text = await r.text()
            assert 'probe="renamed"' in text
            assert 'probe="healthz"' not in text
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 5) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_bounded_run_ends_by_itself_with_a_summary(
    ums: tuple[UserMetadataService, str],
) -> None:
    _, url = ums
    code, out, err = await prober(
        "run",
        "-c",
        "probes.yaml",
        "--listen",
        "127.0.0.1:0",
        "--duration",
        "1s",
        env={"UMS_URL": url},
    )
    # First runs are spread across 10-30 s intervals: 1 s completes too few to judge.
    assert code == 3, err
    assert "prober run: 1s" in out
    assert "healthz" in out
    assert "no data: no runs completed, no verdict" in out


async def test_run_freezes_the_startup_heap_out_of_the_collectors_way(
    ums: tuple[UserMetadataService, str],
) -> None:
    _, url = ums
    code, _, err = await prober(
        *("run", "-c", "probes.yaml", "--listen", "127.0.0.1:0", "--duration", "1s"),
        *("--log-format", "json", "--log-level", "debug"),
        env={"UMS_URL": url},
    )
    assert code == 3, err  # a bounded run too short to judge: no verdict
    frozen = [
        line["objects"]
        for line in map(json.loads, err.splitlines())
        if line.get("msg") == "heap frozen"
    ]
    assert len(frozen) == 1
    assert frozen[0] > 10_000  # modules, config and probes: everything alive at startup


async def test_the_demo_runs_its_own_service_and_ends_cleanly() -> None:
    code, out, err = await prober(
        "demo",
        "--duration",
        "3s",
        "--service-port",
        "0",
        "--listen",
        "127.0.0.1:0",
        env={"COLUMNS": "200"},
    )
    assert code == 0, err
    assert "get-canary-metadata" in out
    assert "requests served" in out
    assert "Traceback" not in err


@pytest.mark.skipif(
    not (find_binary(PROMETHEUS_NAMES) and find_binary(ALERTMANAGER_NAMES)),
    reason="needs Debian's prometheus and prometheus-alertmanager",
)
async def test_the_demo_can_bring_its_own_prometheus_and_alertmanager() -> None:
    code, out, err = await prober(
        "demo",
        "--duration",
        "4s",
        "--service-port",
        "0",
        "--listen",
        "127.0.0.1:0",
        "--with-prometheus",
    )
    assert code == 0, err
    assert "alerts (rules time-scaled 1/60; Prometheus http://127.0.0.1:" in out
    assert "Traceback" not in err


async def test_rules_reproduces_the_committed_files_and_check_spots_a_stale_one(
    tmp_path: Path,
) -> None:
    code, out, err = await prober("rules", "-c", "probes.yaml", "-o", str(tmp_path))
    assert code == 0, err
    for name in ("prober-rules.yml", "prober-prometheusrule.yaml"):
        assert (tmp_path / name).read_bytes() == (REPO / "rules" / name).read_bytes()
        assert f"wrote {tmp_path / name}" in out
    assert (await prober("rules", "-c", "probes.yaml", "-o", "rules", "--check"))[0] == 0
    (tmp_path / "prober-rules.yml").write_text("groups: []\n")
    code, out, _ = await prober("rules", "-c", "probes.yaml", "-o", str(tmp_path), "--check")
    assert code == 1
    assert out.startswith(f"stale: {tmp_path / 'prober-rules.yml'}")


async def test_rules_for_a_config_without_slos_is_an_error_not_an_empty_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "p.yaml"
    config.write_text("probes:\n  - name: x\n    url: http://127.0.0.1:1/\n")
    code, _, err = await prober("rules", "-c", str(config), "-o", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith(f"error: {config}")
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()
