"""Scenario probes against the simulated service with real faults."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from prometheus_client.parser import text_string_to_metric_families

from prober.agent import Agent
from prober.agent.runner import execute
from prober.config import Config, load_config
from prober.conventions import Outcome
from prober.demo.service import Faults, UserMetadataService
from prober.model import ProbeResult, RunContext
from prober.probes.scenario import ScenarioProbe
from prober.probes.session import SessionPool
from prober.telemetry.exposition import render
from prober.telemetry.tracing import Tracing

from .conftest import REPO, ServerFactory, make_config, routes
from .otlp_receiver import GRPCReceiver


@pytest.fixture
async def ums() -> AsyncIterator[tuple[UserMetadataService, str]]:
    svc = UserMetadataService(Faults(latency=0.001, jitter=0.0), seed=3)
    runner, port = await svc.start()
    yield svc, f"http://127.0.0.1:{port}"
    await svc.close(runner)


@pytest.fixture
async def sessions() -> AsyncIterator[SessionPool]:
    pool = SessionPool()
    yield pool
    await pool.close()


def bundled(url: str) -> Config:
    return load_config(REPO / "probes.yaml", env={"UMS_URL": url})


async def run_scenario(config: Config, sessions: SessionPool, run_id: str = "r1") -> ProbeResult:
    probe_config = next(p for p in config.probes if p.kind == "scenario")
    probe = ScenarioProbe(probe_config, config, sessions)
    now = time.monotonic()
    return await probe.run(RunContext(run_id, now, now, time.time()))


def scenario(*steps: dict[str, Any], **sections: Any) -> Config:
    """A config with one scenario probe of these steps."""
    return make_config([{"name": "scenario", "kind": "scenario", "steps": list(steps)}], **sections)


def requests_of(svc: UserMetadataService, run_id: str) -> list[tuple[str, int]]:
    return [(h.method, h.status) for h in svc.handled if h.request_id == run_id]


async def test_the_bundled_canary_writes_reads_back_and_cleans_up(
    ums: tuple[UserMetadataService, str], sessions: SessionPool
) -> None:
    svc, url = ums
    result = await run_scenario(bundled(url), sessions)
    assert result.outcome is Outcome.SUCCESS, result.error
    assert [(s.name, s.outcome) for s in result.steps] == [
        ("write", Outcome.SUCCESS),
        ("read", Outcome.SUCCESS),
        ("cleanup", Outcome.SUCCESS),
    ]
    assert result.step == ""
    assert requests_of(svc, "r1") == [("PUT", 200), ("GET", 200), ("DELETE", 204)]
    assert "canary-rw-local" not in svc.users
    # The always_run cleanup is timed as its own step, outside the run's duration.
    assert result.duration >= sum(s.duration for s in result.steps if s.name != "cleanup")


async def test_every_run_writes_a_fresh_nonce_and_reads_back_the_captured_version(
    ums: tuple[UserMetadataService, str], sessions: SessionPool
) -> None:
    svc, url = ums
    config = bundled(url)
    scenario = next(p for p in config.probes if p.kind == "scenario")
    no_cleanup = scenario.model_copy(update={"steps": scenario.steps[:2]})
    config = config.model_copy(update={"probes": (no_cleanup,)})
    written = []
    for run in ("a", "b"):
        assert (await run_scenario(config, sessions, run)).outcome is Outcome.SUCCESS
        written.append(dict(svc.users["canary-rw-local"]["metadata"]))
    assert written[0]["nonce"] != written[1]["nonce"]
    assert all(len(w["nonce"]) == 16 for w in written)
    assert [w["version"] for w in written] == [1, 2]


async def test_a_write_that_fails_names_the_write_step_and_cleanup_still_runs(
    ums: tuple[UserMetadataService, str], sessions: SessionPool
) -> None:
    svc, url = ums
    svc.faults = Faults(latency=0.0, jitter=0.0, error_rate=1.0, error_status=500,
                        error_methods=("PUT",))  # fmt: skip
    result = await run_scenario(bundled(url), sessions)
    assert result.outcome is Outcome.HTTP_STATUS
    assert result.step == "write"
    assert result.code == 500
    assert result.error == "step write: unexpected status 500"
    assert [s.name for s in result.steps] == ["write", "cleanup"]  # read was skipped
    assert requests_of(svc, "r1") == [("PUT", 500), ("DELETE", 404)]


async def test_a_stale_read_is_a_consistency_failure_of_the_read_step(
    ums: tuple[UserMetadataService, str], sessions: SessionPool
) -> None:
    svc, url = ums
    config = bundled(url)
    assert (await run_scenario(config, sessions, "warm-up")).outcome is Outcome.SUCCESS
    svc.faults = Faults(latency=0.0, jitter=0.0, stale_reads=True)
    result = await run_scenario(config, sessions, "r2")
    assert result.outcome is Outcome.CONSISTENCY
    assert result.step == "read"
    assert result.error.startswith("step read: json metadata.nonce: got '")
    assert requests_of(svc, "r2") == [("PUT", 200), ("GET", 200), ("DELETE", 204)]


async def test_a_capture_that_finds_nothing_fails_the_step_that_captures(
    ums: tuple[UserMetadataService, str], sessions: SessionPool
) -> None:
    svc, url = ums
    config = make_config(
        [
            {
                "name": "cap",
                "kind": "scenario",
                "steps": [
                    {"name": "write", "method": "PUT", "url": f"{url}/v1/users/u1/metadata",
                     "json": {"a": 1}, "capture": {"etag": {"json": "metadata.etag"}}},
                    {"name": "read", "url": f"{url}/v1/users/u1/metadata?etag={{{{etag}}}}"},
                ],
            }
        ]
    )  # fmt: skip
    result = await run_scenario(config, sessions)
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.step == "write"
    assert result.error == "step write: capture etag: json metadata.etag missing"
    assert requests_of(svc, "r1") == [("PUT", 200)]


async def test_captures_from_headers_and_regexes_feed_later_urls_headers_and_assertions(
    ums: tuple[UserMetadataService, str], sessions: SessionPool
) -> None:
    svc, url = ums
    config = make_config(
        [
            {
                "name": "chain",
                "kind": "scenario",
                "steps": [
                    {"name": "health", "url": f"{url}/healthz",
                     "capture": {"ctype": {"header": "Content-Type"},
                                 "status": {"regex": '"status": "(\\w+)"'}}},
                    {"name": "read", "url": f"{url}/v1/users/canary/metadata?s={{{{status}}}}",
                     "headers": {"X-Seen": "{{ctype}} {{region}}"},
                     "expect": {"json": [{"path": "user_id", "matches": "^{{probe}}$"}]}},
                ],
            }
        ],
        agent={"region": "eu-west-1"},
    )  # fmt: skip
    result = await run_scenario(config, sessions)
    # `probe` is "chain", the user is "canary": a mismatch on a static variable is an
    # assertion failure, not a consistency one.
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.step == "read"
    read = [h for h in svc.handled if h.request_id == "r1"][1]
    assert read.path == "/v1/users/canary/metadata"


async def test_a_captured_token_sent_as_a_header_never_appears_in_the_error(
    http_server: ServerFactory, sessions: SessionPool
) -> None:
    token = "tok-CAPTURED-0123456789"
    seen: list[str] = []

    async def login(_: web.Request) -> web.Response:
        return web.json_response({"token": token, "version": "7"})

    async def me(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"echo": token, "v": "7"})

    base = await http_server(routes(login=login, me=me))
    config = scenario(
        {"name": "login", "method": "POST", "url": f"{base}/login",
         "capture": {"token": {"json": "token"}, "version": {"json": "version"}}},
        {"name": "me", "url": f"{base}/me",
         "headers": {"Authorization": "Bearer {{token}}", "X-V": "{{version}}"},
         "expect": {"json": [{"path": "echo", "equals": "someone else"}]}},
    )  # fmt: skip
    result = await run_scenario(config, sessions)
    assert seen == [f"Bearer {token}"], "the captured token was sent"
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert token not in result.error
    assert result.error == "step me: json echo: got 'REDACTED', want 'someone else'"
    assert all(token not in s.error for s in result.steps)


@pytest.mark.parametrize("client", ["builtin", "aiohttp"])
async def test_a_captured_value_with_a_line_break_cannot_inject_a_header(
    http_server: ServerFactory, sessions: SessionPool, client: str
) -> None:
    seen: list[dict[str, str]] = []

    async def source(_: web.Request) -> web.Response:
        return web.json_response({"v": "x\r\nX-Injected: gotcha"})

    async def sink(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(text="ok")

    base = await http_server(routes(source=source, sink=sink))
    config = scenario(
        {"name": "read", "url": f"{base}/source", "capture": {"v": {"json": "v"}}},
        {"name": "use", "url": f"{base}/sink", "headers": {"X-V": "{{v}}"}},
        agent={"http_client": client},
    )
    result = await run_scenario(config, sessions)
    assert seen == [], "the request with the broken header was never sent"
    assert (result.outcome, result.step) == (Outcome.INTERNAL, "use")
    assert "gotcha" not in result.error


async def test_scenario_runs_count_once_in_the_slo_with_the_failing_step_labelled(
    ums: tuple[UserMetadataService, str],
) -> None:
    svc, url = ums
    config = bundled(url)
    scenario_only = config.model_copy(
        update={"probes": tuple(p.model_copy(update={"interval": 0.5, "timeout": 0.3})
                                for p in config.probes if p.kind == "scenario")}
    )  # fmt: skip
    svc.faults = Faults(latency=0.0, jitter=0.0, error_rate=1.0, error_status=500,
                        error_methods=("PUT",))  # fmt: skip
    async with Agent(scenario_only) as agent:
        deadline = time.monotonic() + 5
        while sum(agent.metrics.series["canary-write-read"].runs.values()) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        text = render(agent.metrics, inflight=0, state={}, version="test").decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
    runs = [s for s in families["prober_probe_runs"].samples if s.name.endswith("_total")]
    (sample,) = runs
    assert sample.labels["step"] == "write"
    assert sample.labels["outcome"] == "http_status"
    assert sample.labels["slo"] == "user-metadata"
    steps = {s.labels["step"] for s in families["prober_probe_step_duration_seconds"].samples}
    assert steps == {"write", "cleanup"}
    total = sum(agent.metrics.series["canary-write-read"].runs.values())
    puts = sum(1 for h in svc.handled if h.method == "PUT")
    assert total == puts  # one availability event per scenario run, not one per step


@pytest.fixture
def grpc_receiver() -> Iterator[GRPCReceiver]:
    receiver = GRPCReceiver()
    yield receiver
    receiver.stop()


async def test_a_traced_scenario_is_one_span_with_a_child_client_span_per_step(
    ums: tuple[UserMetadataService, str], sessions: SessionPool, grpc_receiver: GRPCReceiver
) -> None:
    svc, url = ums
    config = bundled(url)
    config = config.model_copy(
        update={
            "probes": tuple(p for p in config.probes if p.kind == "scenario"),
            "tracing": config.tracing.model_copy(update={"enabled": True,
                                                         "endpoint": grpc_receiver.endpoint}),
        }
    )  # fmt: skip
    tracing = Tracing(config.tracing, config.region)
    probe = ScenarioProbe(config.probes[0], config, sessions)  # type: ignore[arg-type]
    now = time.monotonic()
    result = await execute(probe, RunContext("t1", now, now, time.time()), tracing)
    await asyncio.to_thread(tracing.shutdown, 5.0)
    assert result.outcome is Outcome.SUCCESS
    spans = grpc_receiver.received.spans()
    (root,) = [s for s in spans if s.parent_span_id == ""]
    children = [s for s in spans if s.parent_span_id == root.span_id]
    assert root.name == "scenario canary-write-read"
    assert root.kind == PbSpan.SPAN_KIND_INTERNAL
    assert root.trace_id == result.trace_id
    assert [(c.name, c.attributes["prober.step"]) for c in children] == [
        ("PUT", "write"), ("GET", "read"), ("DELETE", "cleanup"),
    ]  # fmt: skip
    assert all(c.kind == PbSpan.SPAN_KIND_CLIENT for c in children)
    assert all(c.trace_id == root.trace_id for c in children)
    template = "/v1/users/canary-rw-{{region}}/metadata"  # spans show the template, not values
    assert all(c.attributes["url.full"].endswith(template) for c in children)
    sent = {h.method: h for h in svc.handled if h.request_id == "t1"}
    assert set(sent) == {"PUT", "GET", "DELETE"}


async def test_once_prints_a_per_step_breakdown(ums: tuple[UserMetadataService, str]) -> None:
    _, url = ums
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "prober.cli", "once", "-c", "probes.yaml", "-n", "3",
        "-p", "canary-write-read", "-o", "json", cwd=REPO,
        env={**os.environ, "UMS_URL": url}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    (entry,) = json.loads(out)["probes"]
    assert entry["runs"] == 3
    steps: dict[str, Any] = entry["steps"]
    assert list(steps) == ["write", "read", "cleanup"]
    assert all(s["runs"] == 3 and s["outcomes"] == {"success": 3} for s in steps.values())
