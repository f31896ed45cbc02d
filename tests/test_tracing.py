"""Tracing against real OTLP receivers: spans, trace context into the target, exemplars."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as PbStatus

from prober.agent import Agent
from prober.config import Config
from prober.telemetry.logs import JSONFormatter
from prober.web.server import serve

from .conftest import REPO, RawHandler, ServerFactory, make_config
from .otlp_receiver import GRPCReceiver, Received, start_http_receiver

TOKEN = "tok-TRACE-SECRET-42"


@pytest.fixture
async def target(http_server: ServerFactory) -> tuple[str, list[dict[str, str]]]:
    """A target that answers /ok with 200 and /fail with 503, recording request headers."""
    seen: list[dict[str, str]] = []

    async def ok(request: web.Request) -> web.Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return web.json_response({"status": "ok"})

    async def fail(request: web.Request) -> web.Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return web.json_response({"error": "down"}, status=503)

    def add(app: web.Application) -> None:
        app.router.add_get("/ok", ok)
        app.router.add_get("/fail", fail)

    return await http_server(add), seen


@pytest.fixture
def grpc_receiver() -> AsyncIterator[GRPCReceiver] | Any:
    receiver = GRPCReceiver()
    yield receiver
    receiver.stop()


def traced_config(base: str, endpoint: str, protocol: str = "grpc", **tracing: Any) -> Config:
    return make_config(
        [
            {
                "name": "ok",
                "url": f"{base.replace('http://', 'http://svc:pw-SECRET@')}/ok?token=abc123&page=1",
                "headers": {"X-Api-Key": TOKEN},
            },
            {"name": "fail", "url": f"{base}/fail"},
        ],
        agent={"region": "eu-west-1"},
        defaults={"interval": "200ms", "timeout": "150ms"},
        tracing={
            "enabled": True,
            "endpoint": endpoint,
            "protocol": protocol,
            "export_interval": "100ms",
            **tracing,
        },
    )


async def wait_until(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def assert_spans_match_the_runs(received: Received, seen: list[dict[str, str]]) -> None:
    spans = received.spans()
    ok_spans = [s for s in spans if s.attributes["prober.probe"] == "ok"]
    fail_spans = [s for s in spans if s.attributes["prober.probe"] == "fail"]
    assert ok_spans
    assert fail_spans
    span = ok_spans[0]
    assert span.name == "GET"
    assert span.kind == PbSpan.SPAN_KIND_CLIENT
    assert span.parent_span_id == ""  # a root span: each probe run is its own trace
    attrs = span.attributes
    assert attrs["http.request.method"] == "GET"
    assert attrs["server.address"] == "127.0.0.1"
    assert isinstance(attrs["server.port"], int)
    assert attrs["http.response.status_code"] == 200
    assert attrs["prober.outcome"] == "success"
    assert attrs["prober.region"] == "eu-west-1"
    assert attrs["url.full"].endswith("/ok?token=REDACTED&page=1")
    assert "svc" not in attrs["url.full"]
    assert span.resource["service.name"] == "prober"
    assert span.resource["cloud.region"] == "eu-west-1"
    assert span.resource["host.name"]
    assert span.resource["service.version"]
    failed = fail_spans[0]
    assert failed.status_code == PbStatus.STATUS_CODE_ERROR
    assert failed.attributes["error.type"] == "503"
    assert failed.attributes["prober.outcome"] == "http_status"
    # The target saw a traceparent naming the exported span as its parent.
    sent = {h["x-request-id"]: h.get("traceparent", "") for h in seen}
    for s in ok_spans + fail_spans:
        version, trace_id, parent_id, flags = sent[s.attributes["prober.run_id"]].split("-")
        assert (version, trace_id, parent_id) == ("00", s.trace_id, s.span_id)
        assert int(flags, 16) & 1 == 1  # sampled
    everything = json.dumps([s.attributes | s.resource for s in spans])
    for secret in (TOKEN, "pw-SECRET", "abc123"):
        assert secret not in everything


async def test_grpc_export_sends_a_client_span_per_run_and_the_target_sees_its_context(
    target: tuple[str, list[dict[str, str]]], grpc_receiver: GRPCReceiver
) -> None:
    base, seen = target
    async with Agent(traced_config(base, grpc_receiver.endpoint)) as agent:
        await wait_until(lambda: len(seen) >= 4)
    # stop() flushed the queue: every run that finished has its span at the receiver.
    assert agent.tracing is not None
    assert agent.tracing.counters["spans_exported"] == len(grpc_receiver.received.spans())
    assert_spans_match_the_runs(grpc_receiver.received, seen)
    assert len(grpc_receiver.received.spans()) == len(seen)


async def test_http_protobuf_export_works_the_same_way(
    target: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = target
    received = Received()
    runner, url = await start_http_receiver(received)
    try:
        async with Agent(traced_config(base, url, protocol="http/protobuf")):
            await wait_until(lambda: len(seen) >= 4)
        await wait_until(lambda: len(received.spans()) == len(seen), limit=5)
        assert_spans_match_the_runs(received, seen)
    finally:
        await runner.cleanup()


async def test_a_refusing_collector_never_slows_probing_and_failures_are_counted_once_logged(
    target: tuple[str, list[dict[str, str]]], closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    base, seen = target
    config = traced_config(base, f"http://127.0.0.1:{closed_port}", export_timeout="200ms")
    caplog.set_level(logging.INFO, logger="prober.tracing")
    async with Agent(config) as agent:
        started = time.monotonic()
        await wait_until(lambda: len(seen) >= 20)
        # Two probes every 200 ms: 20 runs take about 2 s when nothing holds them up.
        assert time.monotonic() - started < 4.0
        assert sum(agent.metrics.lag.counts[-3:]) == 0  # no run started 0.25 s or more late
    assert agent.tracing is not None
    counters = agent.tracing.counters
    assert counters["spans_failed"] > 0
    assert counters["spans_exported"] == 0
    trouble = [
        r for r in caplog.records if r.name == "prober.tracing" and r.levelno >= logging.WARNING
    ]
    assert len(trouble) == 1  # one line when export starts failing, not one per batch


async def test_a_collector_that_never_answers_fills_a_bounded_queue_and_drops_are_counted(
    target: tuple[str, list[dict[str, str]]], raw_server: Callable[[RawHandler], Any]
) -> None:
    async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)
        await asyncio.sleep(30)

    base, seen = target
    collector = await raw_server(black_hole)
    config = traced_config(base, collector, max_queue=5, batch_size=2, export_timeout="1s")
    async with Agent(config) as agent:
        started = time.monotonic()
        await wait_until(lambda: len(seen) >= 20)
        assert time.monotonic() - started < 4.0
        assert agent.tracing is not None
        assert len(agent.tracing.processor._queue) <= 5
        assert sum(agent.metrics.lag.counts[-3:]) == 0
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5.0  # shutdown gives up on the collector in bounded time
    counters = agent.tracing.counters
    assert counters["spans_dropped"] > 0
    assert counters["spans_exported"] == 0


async def test_openmetrics_exemplars_carry_the_trace_ids_of_exported_spans(
    target: tuple[str, list[dict[str, str]]], grpc_receiver: GRPCReceiver
) -> None:
    base, seen = target
    async with Agent(traced_config(base, grpc_receiver.endpoint)) as agent:
        runner, port = await serve(agent, "127.0.0.1:0")
        try:
            await wait_until(lambda: len(seen) >= 4)
            async with (
                aiohttp.ClientSession() as s,
                s.get(
                    f"http://127.0.0.1:{port}/metrics",
                    headers={"Accept": "application/openmetrics-text; version=1.0.0"},
                ) as r,
            ):
                text = await r.text()
        finally:
            await runner.cleanup()
    exemplar_ids = {
        line.split('trace_id="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("prober_probe_duration_seconds_bucket") and "trace_id=" in line
    }
    assert exemplar_ids
    exported = {s.trace_id for s in grpc_receiver.received.spans()}
    assert exemplar_ids <= exported
    assert "prober_trace_spans_exported_total" in text


async def test_probe_log_lines_carry_the_trace_and_span_ids(
    target: tuple[str, list[dict[str, str]]],
    grpc_receiver: GRPCReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base, seen = target
    async with Agent(traced_config(base, grpc_receiver.endpoint)):
        await wait_until(lambda: len(seen) >= 4)
    failures = [r for r in caplog.records if r.name == "prober.result"]
    assert failures
    line = json.loads(JSONFormatter().format(failures[0]))
    exported = {(s.trace_id, s.span_id) for s in grpc_receiver.received.spans()}
    assert (line["trace_id"], line["span_id"]) in exported
    assert line["probe"] == "fail"


async def test_with_sampling_at_zero_context_still_propagates_but_nothing_is_exported(
    target: tuple[str, list[dict[str, str]]], grpc_receiver: GRPCReceiver
) -> None:
    base, seen = target
    async with Agent(traced_config(base, grpc_receiver.endpoint, sample_ratio=0.0)):
        await wait_until(lambda: len(seen) >= 4)
    assert grpc_receiver.received.spans() == []
    assert all(int(h["traceparent"].split("-")[3], 16) & 1 == 0 for h in seen)  # not sampled


async def test_propagation_can_be_turned_off(
    target: tuple[str, list[dict[str, str]]], grpc_receiver: GRPCReceiver
) -> None:
    base, seen = target
    async with Agent(traced_config(base, grpc_receiver.endpoint, propagate=False)):
        await wait_until(lambda: len(seen) >= 2)
    assert all("traceparent" not in h for h in seen)
    assert grpc_receiver.received.spans()


async def test_with_tracing_off_no_trace_headers_are_sent(
    target: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = target
    config = make_config([{"name": "ok", "url": f"{base}/ok"}],
                         defaults={"interval": "200ms", "timeout": "150ms"})  # fmt: skip
    async with Agent(config) as agent:
        await wait_until(lambda: len(seen) >= 2)
    assert agent.tracing is None
    assert all("traceparent" not in h for h in seen)


def test_the_agent_and_its_server_do_not_load_the_sdk_while_tracing_is_off() -> None:
    """The OpenTelemetry SDK costs memory in every agent; only tracing needs it."""
    code = (
        "import sys, prober.cli, prober.agent, prober.web.server\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]"
