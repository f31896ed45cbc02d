"""A newcomer's first hour: what `once`, `run`, the results file, the logs and `--help`
tell someone who has never read the code, run as real processes against real servers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import shlex
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from prober.cli.main import build_parser
from prober.config import load_config
from prober.console.stats import StatsSink
from prober.console.tables import summary_json
from prober.conventions import Outcome
from prober.demo.service import Faults, UserMetadataService
from prober.model import ProbeResult, RunContext
from prober.probes.scenario import ScenarioProbe
from prober.probes.session import SessionPool
from prober.telemetry.logs import TextFormatter

from .conftest import REPO, ServerFactory, make_config, routes, run_prober

VENV_BIN = Path(sys.executable).parent


async def prober(
    *args: str, env: dict[str, str] | None = None, limit: float = 90
) -> tuple[int, str, str]:
    return await run_prober(*args, env=env, limit=limit, module="prober")


@pytest.fixture
async def ums() -> AsyncIterator[tuple[UserMetadataService, str]]:
    svc = UserMetadataService(Faults(latency=0.001, jitter=0.0), seed=11)
    runner, port = await svc.start()
    yield svc, f"http://127.0.0.1:{port}"
    await svc.close(runner)


# --- item 1: why runs failed --------------------------------------------------------------
async def test_once_names_the_most_frequent_error_of_a_wrong_json_shape_in_table_and_json(
    http_server: ServerFactory,
) -> None:
    async def wrong_shape(request: web.Request) -> web.Response:
        return web.json_response({"id": "canary", "metadata": {"version": 1}})

    base = await http_server(routes(**{"v1/users/canary/metadata": wrong_shape}))
    env = {"UMS_URL": base}
    args = ("once", "-c", "probes.yaml", "-n", "4", "-p", "get-canary-metadata")
    code, out, _ = await prober(*args, env=env)
    assert code == 1
    assert "json user_id: missing ×4" in out
    code, out, _ = await prober(*args, "-o", "json", env=env)
    (entry,) = json.loads(out)["probes"]
    assert entry["outcomes"] == {"assertion_failed": 4}
    assert entry["top_error"] == {"error": "json user_id: missing", "step": None, "count": 4}


@pytest.mark.parametrize("fault", ["refused", "503"])
async def test_once_verbose_logs_every_failed_run_on_stderr_one_redacted_line_each(
    fault: str, closed_port: int, ums: tuple[UserMetadataService, str]
) -> None:
    svc, url = ums
    if fault == "refused":
        url = f"http://127.0.0.1:{closed_port}"
    else:
        svc.faults = Faults(latency=0.0, jitter=0.0, error_rate=1.0)
    code, out, err = await prober(
        *("once", "-c", "probes.yaml", "-n", "3", "-v", "-p", "healthz", "-p", "canary-write-read"),
        env={"UMS_URL": url, "UMS_TOKEN": "s3cret-token-value"},
    )
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 6, err  # 3 failed runs of each of 2 probes
    assert all(" WARNING probe failed: " in line for line in lines)
    outcome = "connect_refused" if fault == "refused" else "http_status"
    assert sum(f"outcome={outcome}" in line for line in lines) == 6
    assert sum("step=write" in line for line in lines) == 3  # the scenario names its step
    assert "None" not in err  # absent fields are left out, not printed as None
    assert "s3cret-token-value" not in err + out


# --- item 4: no data is not a verdict ------------------------------------------------------
async def test_a_run_too_short_for_any_probe_to_run_says_no_verdict_and_exits_3(
    ums: tuple[UserMetadataService, str],
) -> None:
    _, url = ums
    code, out, _ = await prober(
        *("run", "-c", "probes.yaml", "--listen", "127.0.0.1:0", "--duration", "1s"),
        *("--log-level", "error"),
        env={"UMS_URL": url},
    )
    assert code == 3
    assert "no data: no runs completed, no verdict" in out
    assert "every objective held" not in out


# --- item 8: the failing step and every step's duration in results lines ----------------------
async def test_results_lines_name_the_failing_step_and_time_every_step(
    ums: tuple[UserMetadataService, str], tmp_path: Path
) -> None:
    svc, url = ums
    warm_up = ("once", "-c", "probes.yaml", "-n", "1", "-p", "canary-write-read")
    assert (await prober(*warm_up, env={"UMS_URL": url}))[0] == 0  # a value to read stale
    svc.faults = Faults(latency=0.0, jitter=0.0, stale_reads=True)
    results = tmp_path / "runs.jsonl"
    code, _, _ = await prober(
        *("once", "-c", "probes.yaml", "-n", "3", "-p", "canary-write-read"),
        *("--results", str(results)),
        env={"UMS_URL": url},
    )
    assert code == 1
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert line["outcome"] == "consistency"
        assert line["step"] == "read"
        assert [(s["name"], s["outcome"]) for s in line["steps"]] == [
            ("write", "success"),
            ("read", "consistency"),
            ("cleanup", "success"),
        ]
        assert all(s["duration_seconds"] > 0 for s in line["steps"])
        assert line["lag"] >= 0


async def test_a_slow_cleanup_is_timed_as_its_step_and_left_out_of_the_run_duration(
    http_server: ServerFactory,
) -> None:
    async def fast(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        return web.Response(status=204)

    base = await http_server(routes(work=fast, cleanup=slow))
    config = make_config(
        [
            {
                "name": "flow",
                "kind": "scenario",
                "timeout": "250ms",
                "interval": "10s",
                "steps": [
                    {"name": "work", "url": f"{base}/work"},
                    {
                        "name": "cleanup",
                        "method": "DELETE",
                        "url": f"{base}/cleanup",
                        "always_run": True,
                        "timeout": "2s",
                        "expect": {"status": [204]},
                    },
                ],
            }
        ]
    )
    sessions = SessionPool()
    try:
        (flow,) = config.probes
        assert flow.kind == "scenario"
        probe = ScenarioProbe(flow, config, sessions)
        now = time.monotonic()
        result = await probe.run(RunContext("r1", now, now, time.time()))
    finally:
        await sessions.close()
    assert result.outcome is Outcome.SUCCESS
    work, cleanup = result.steps
    assert cleanup.duration >= 0.3  # the server slept that long before answering
    assert result.duration < cleanup.duration  # so the run's duration cannot contain it
    assert result.duration >= work.duration


# --- item 9: small things -----------------------------------------------------------------
def test_once_json_rounds_ratios_to_six_significant_digits() -> None:
    config = load_config(REPO / "probes.yaml", env={})
    stats = StatsSink(config)
    for i in range(1000):
        outcome = Outcome.HTTP_STATUS if i == 0 else Outcome.SUCCESS
        stats.record(ProbeResult("healthz", "t", outcome, 0.0123456789, error="HTTP 503"), "r")
    (entry,) = [p for p in summary_json(stats)["probes"] if p["probe"] == "healthz"]
    assert entry["availability"] == 0.999
    assert entry["success_ratio"] == 0.999
    assert entry["latency_seconds"]["p50"] == 0.0123457
    assert entry["top_error"] == {"error": "HTTP 503", "step": None, "count": 1}


def test_text_logs_leave_out_absent_fields() -> None:
    record = logging.makeLogRecord(
        {"msg": "probe failed: %s", "args": ("connection refused",), "levelname": "WARNING"}
    )
    record.__dict__.update({"probe": "p", "code": None, "outcome": "connect_refused"})
    line = TextFormatter().format(record)
    assert "probe=p outcome=connect_refused" in line
    assert "code" not in line


def test_run_context_lag_is_never_negative_when_a_timer_fires_a_hair_early() -> None:
    assert RunContext("r", scheduled=100.0, started=99.9995, wall_start=0.0).lag == 0.0
    assert RunContext("r", scheduled=100.0, started=100.25, wall_start=0.0).lag == 0.25


@pytest.mark.parametrize(
    ("command", "wanted"),
    [
        ("once", ["default: ./probes.yaml", "{table,json}", "default: 10"]),
        ("run", ["default: ./probes.yaml", "{debug,info,warning,error}", "default: info"]),
        ("rules", ["default: ./rules"]),
        ("check", ["default: ./probes.yaml"]),
    ],
)
def test_help_names_defaults_and_accepted_values(
    command: str, wanted: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in wanted:
        assert phrase in text, phrase


# --- item 2: every README command runs as typed -------------------------------------------
def readme_commands() -> list[str]:
    """`prober ...` lines of the README's code blocks and inline code, comments dropped."""
    readme = (REPO / "README.md").read_text()
    found: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command.startswith("prober "):
                found.append(command)
    for span in re.findall(r"`(prober [^`]+)`", readme):
        if "..." not in span:  # "every `prober ...` command" is prose, not a command
            found.append(span.strip())
    return list(dict.fromkeys(found))


def test_the_quick_start_puts_prober_on_path_for_the_readme_commands() -> None:
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "source .venv/bin/activate" in quick
    assert (VENV_BIN / "prober").exists()  # what the activated venv puts on PATH
    assert len(readme_commands()) >= 10


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_parses(command: str) -> None:
    argv = shlex.split(command)
    assert argv[0] == "prober"
    if argv[1:] and argv[1] != "version":
        build_parser().parse_args(argv[1:])  # exits 2 on an unknown flag or value


# Cheap commands run for real, exactly as typed, in a shell with the venv on PATH (what
# `source .venv/bin/activate` does); probes go to a local service through UMS_URL.
CHEAP = re.compile(r"^prober (check|once|version|rules --check|dashboards --check)\b")


async def test_the_cheap_readme_commands_run_as_typed_from_the_repo_root(
    ums: tuple[UserMetadataService, str],
) -> None:
    _, url = ums
    cheap = [c for c in readme_commands() if CHEAP.match(c)]
    assert any(c.startswith("prober once") for c in cheap)
    assert any(c.startswith("prober check") for c in cheap)
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "UMS_URL": url}
    results: dict[str, Any] = {}
    for command in cheap:
        proc = await asyncio.create_subprocess_shell(
            command,
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            executable="/bin/bash",
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        results[command] = (proc.returncode, err.decode()[-500:])
        assert proc.returncode in (0, 1), (command, results[command])  # not 2 (usage), 127
        assert b"Traceback" not in err, command
        assert out or command.endswith("--check"), command  # --check is silent when current


def test_errors_that_differ_only_in_run_values_count_as_one_reason() -> None:
    config = load_config(REPO / "probes.yaml", env={})
    stats = StatsSink(config)
    for nonce in ("29b760bc06a8e1ba", "0b7e5a1f9c2d4e68", "77aa00bb11cc22dd"):
        error = f"step read: json metadata.nonce: got 'old', wanted '{nonce}'"
        result = ProbeResult("canary-write-read", "t", Outcome.CONSISTENCY, 0.01, error=error)
        stats.record(dataclasses.replace(result, step="read"), "r")
    stats.record(
        ProbeResult("canary-write-read", "t", Outcome.TIMEOUT, 5.0, error="timed out"), "r"
    )
    top = stats.by_probe["canary-write-read"].top_error
    assert top is not None
    assert (top.count, top.step) == (3, "read")
    assert top.error.endswith("wanted '77aa00bb11cc22dd'")  # the latest example, as it was
