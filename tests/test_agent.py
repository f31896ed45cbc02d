"""The agent end to end in-process: metrics exposition, reloads, internal failures."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from prober import conventions as c
from prober.agent import Agent
from prober.config import load_config
from prober.demo.service import Faults, UserMetadataService
from prober.model import ProbeResult, RunContext
from prober.web.server import serve


@pytest.fixture
async def service() -> AsyncIterator[tuple[UserMetadataService, str]]:
    svc = UserMetadataService(Faults(latency=0.001, jitter=0.0), seed=1)
    runner, port = await svc.start()
    yield svc, f"http://127.0.0.1:{port}"
    await svc.close(runner)


def write_config(
    path: Path, url: str, probes: list[dict[str, Any]] | None = None, region: str = "eu-west-1"
) -> Path:
    probes = probes or [
        {
            "name": "get-canary",
            "url": f"{url}/v1/users/canary/metadata?fields=all&token=abc",
            "headers": {"Authorization": "Bearer tok-SECRET-1"},
            "slo": "ums",
            "expect": {"json": [{"path": "user_id", "equals": "canary"}]},
        },
        {"name": "healthz", "url": f"{url}/healthz"},
    ]
    doc = {
        "agent": {"region": region, "labels": {"team": "identity"}},
        "defaults": {"interval": "200ms", "timeout": "150ms"},
        "slos": [{"name": "ums"}],
        "probes": probes,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


async def scrape(port: int, openmetrics: bool = False) -> tuple[str, str]:
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"} if openmetrics else {}
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as r,
    ):
        return r.headers["Content-Type"], await r.text()


def samples(text: str, name: str) -> list[Sample]:
    out: list[Sample] = []
    for family in text_string_to_metric_families(text):
        out.extend(s for s in family.samples if s.name == name)
    return out


async def wait_for(predicate: Any, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_metrics_carry_bounded_labels_and_the_slo_thresholds_as_buckets(
    service: tuple[UserMetadataService, str], tmp_path: Path
) -> None:
    _, url = service
    config = load_config(write_config(tmp_path / "p.yaml", url))
    async with Agent(config) as agent:
        runner, port = await serve(agent, "127.0.0.1:0")
        try:
            await wait_for(
                lambda: all(sum(s.runs.values()) >= 2 for s in agent.metrics.series.values())
            )
            ctype, text = await scrape(port)
        finally:
            await runner.cleanup()
    assert ctype.startswith("text/plain")
    runs = samples(text, c.RUNS_TOTAL)
    by_probe = {s.labels["probe"]: s for s in runs}
    get = by_probe["get-canary"]
    assert get.labels == {
        "probe": "get-canary",
        "target": url.removeprefix("http://"),
        "region": "eu-west-1",
        "slo": "ums",
        "team": "identity",
        "outcome": "success",
        "code": "200",
        "step": "",
    }
    assert get.value >= 2
    assert by_probe["healthz"].labels["slo"] == ""
    les = {s.labels["le"] for s in samples(text, c.DURATION + "_bucket")}
    assert {"0.2", "0.5", "+Inf"} <= les
    phases = {s.labels["phase"] for s in samples(text, c.PHASE + "_count")}
    assert {"connect", "ttfb", "transfer"} <= phases
    assert samples(text, c.BUILD_INFO)[0].labels["region"] == "eu-west-1"
    assert samples(text, c.SUCCESS_GAUGE)[0].value == 1.0
    assert samples(text, "process_resident_memory_bytes"), "process metrics are exposed"
    for secret in ("tok-SECRET-1", "token=abc", "fields=all", "/v1/users"):
        assert secret not in text


async def test_openmetrics_is_served_on_request_with_exemplars_for_traced_runs(
    service: tuple[UserMetadataService, str], tmp_path: Path
) -> None:
    _, url = service
    config = load_config(write_config(tmp_path / "p.yaml", url))
    async with Agent(config) as agent:
        runner, port = await serve(agent, "127.0.0.1:0")
        agent.record(
            ProbeResult(
                probe="healthz",
                target="t",
                outcome=c.Outcome.SUCCESS,
                duration=0.123,
                code=200,
                trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            )
        )
        ctype, text = await scrape(port, openmetrics=True)
        await runner.cleanup()
    assert ctype.startswith("application/openmetrics-text")
    assert text.rstrip().endswith("# EOF")
    exemplar_lines = [line for line in text.splitlines() if "trace_id=" in line]
    assert exemplar_lines, "the traced run's bucket carries an exemplar"
    assert 'le="0.125"' in exemplar_lines[0]
    assert '# {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.123' in exemplar_lines[0]


async def test_health_and_readiness_endpoints(
    service: tuple[UserMetadataService, str], tmp_path: Path
) -> None:
    _, url = service
    agent = Agent(load_config(write_config(tmp_path / "p.yaml", url)))
    runner, port = await serve(agent, "127.0.0.1:0")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{port}/ready") as r:
            assert r.status == 503
        await agent.start()
        async with s.get(f"http://127.0.0.1:{port}/ready") as r:
            assert r.status == 200
            assert (await r.json())["probes"] == 2
        async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
            assert r.status == 200
    await agent.stop()
    await runner.cleanup()


async def test_a_reload_keeps_counters_of_kept_probes_and_drops_series_of_removed_ones(
    service: tuple[UserMetadataService, str], tmp_path: Path
) -> None:
    _, url = service
    path = write_config(tmp_path / "p.yaml", url)
    async with Agent(load_config(path), config_path=path) as agent:
        await wait_for(lambda: sum(agent.metrics.series["healthz"].runs.values()) >= 3)
        before = sum(agent.metrics.series["healthz"].runs.values())
        write_config(
            path,
            url,
            [
                {"name": "healthz", "url": f"{url}/healthz"},
                {"name": "new-probe", "url": f"{url}/healthz"},
            ],
        )
        assert await agent.reload()
        assert set(agent.metrics.series) == {"healthz", "new-probe"}
        assert sum(agent.metrics.series["healthz"].runs.values()) >= before  # never reset
        await wait_for(lambda: sum(agent.metrics.series["new-probe"].runs.values()) >= 1)
        assert agent.state["reloads_success"] == 1


@pytest.mark.parametrize("lifecycle", [False, True], ids=["lifecycle off", "lifecycle on"])
async def test_post_reload_acts_only_with_the_lifecycle_api_enabled(
    service: tuple[UserMetadataService, str], tmp_path: Path, lifecycle: bool
) -> None:
    _, url = service
    path = write_config(tmp_path / "p.yaml", url)
    async with Agent(load_config(path), config_path=path) as agent:
        runner, port = await serve(agent, "127.0.0.1:0", lifecycle=lifecycle)
        try:
            write_config(path, url, [{"name": "only-this", "url": f"{url}/healthz"}])
            async with (
                aiohttp.ClientSession() as session,
                session.post(f"http://127.0.0.1:{port}/-/reload") as resp,
            ):
                status, body = resp.status, await resp.json()
        finally:
            await runner.cleanup()
        if lifecycle:
            assert (status, body["status"]) == (200, "reloaded")
            assert set(agent.probes) == {"only-this"}
        else:
            assert status == 403
            assert "--web.enable-lifecycle" in body["status"]
            assert set(agent.probes) == {"get-canary", "healthz"}, "nothing was reloaded"
            assert agent.state["reloads_success"] == 0


async def test_a_broken_config_on_reload_is_rejected_and_the_old_one_keeps_running(
    service: tuple[UserMetadataService, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, url = service
    path = write_config(tmp_path / "p.yaml", url)
    async with Agent(load_config(path), config_path=path) as agent:
        path.write_text("probes: [{name: x}]\n")
        assert not await agent.reload()
        assert agent.state["reload_success"] == 0.0
        assert set(agent.probes) == {"get-canary", "healthz"}
        count = sum(agent.metrics.series["healthz"].runs.values())
        await wait_for(lambda: sum(agent.metrics.series["healthz"].runs.values()) > count)
        path.unlink()
        assert not await agent.reload()
        assert agent.state["reloads_failure"] == 2
    messages = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("probes[0] (x).url: missing required field" in m for m in messages)
    assert any("file not found" in m for m in messages)


class ExplodingProbe:
    name = "explodes"
    target = "nowhere"
    timeout = 0.1
    interval = 0.2
    span_attributes: dict[str, str | int] = {}  # noqa: RUF012 - read-only in this test
    span_name = "explodes"
    span_kind = SpanKind.CLIENT

    async def run(self, ctx: RunContext) -> ProbeResult:
        raise ZeroDivisionError("a bug")


async def test_a_probe_that_raises_is_counted_internal_and_the_others_keep_running(
    service: tuple[UserMetadataService, str], tmp_path: Path
) -> None:
    _, url = service
    config = load_config(
        write_config(
            tmp_path / "p.yaml",
            url,
            [
                {"name": "healthz", "url": f"{url}/healthz"},
                {"name": "explodes", "url": f"{url}/healthz"},
            ],
        )
    )
    async with Agent(config) as agent:
        agent.probes["explodes"] = ExplodingProbe()
        series = agent.metrics.series
        await wait_for(lambda: series["explodes"].runs.get(("internal", "", ""), 0) >= 2)
        await wait_for(lambda: series["healthz"].runs.get(("success", "200", ""), 0) >= 3)


async def test_the_results_file_has_one_redacted_line_per_run_with_a_unique_run_id(
    service: tuple[UserMetadataService, str], tmp_path: Path
) -> None:
    svc, url = service
    config = load_config(write_config(tmp_path / "p.yaml", url))
    results = tmp_path / "results.jsonl"
    async with Agent(config, results_path=results) as agent:
        await wait_for(
            lambda: sum(sum(s.runs.values()) for s in agent.metrics.series.values()) >= 6
        )
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    total = sum(sum(s.runs.values()) for s in agent.metrics.series.values())
    assert len(lines) == total
    assert len({line["run_id"] for line in lines}) == len(lines)
    assert set(lines[0]) >= {
        "time",
        "run_id",
        "probe",
        "target",
        "region",
        "outcome",
        "code",
        "duration",
        "phases",
        "lag",
        "error_bound_seconds",
    }
    assert all(line["error_bound_seconds"] > 0 for line in lines)
    seen_ids = {h.request_id for h in svc.handled}
    assert {line["run_id"] for line in lines} <= seen_ids  # the service saw every run's id
    assert "tok-SECRET-1" not in results.read_text()


async def test_lean_metrics_keep_no_phase_histograms_but_the_results_file_keeps_phases(
    service: tuple[UserMetadataService, str], tmp_path: Path
) -> None:
    _, url = service
    path = write_config(tmp_path / "p.yaml", url)
    doc = yaml.safe_load(path.read_text())
    doc["agent"]["metrics"] = "lean"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    results = tmp_path / "results.jsonl"
    async with Agent(load_config(path), results_path=results) as agent:
        series = agent.metrics.series
        await wait_for(lambda: series["healthz"].runs.get(("success", "200", ""), 0) >= 3)
        assert all(not s.phases for s in series.values())
        assert all(s.durations for s in series.values())
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert any(line["phases"] for line in lines)
