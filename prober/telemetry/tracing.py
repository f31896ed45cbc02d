"""OpenTelemetry: a span per probe run, W3C trace context into the request, OTLP export.

Export never slows probing: ended spans go into a bounded queue that a background
thread drains in batches. When the collector is down, slow or refusing, the queue
fills and further spans are dropped and counted, with one log line when trouble
starts and one when it ends, instead of a line per failure. With tracing off
nothing here is constructed and the probe path does not look at it.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import (
    SpanKind,
    Status,
    StatusCode,
    format_span_id,
    format_trace_id,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .. import __version__
from ..config import TracingConfig
from ..conventions import Outcome
from ..model import ProbeResult
from ..redact import safe_url

log = logging.getLogger("prober.tracing")
# The OTLP exporters log every retry and failure; we report export health ourselves.
logging.getLogger("opentelemetry.exporter").setLevel(logging.CRITICAL)


class BoundedSpanProcessor(SpanProcessor):
    """Batches sampled spans to an exporter from a queue that never grows past `max_queue`."""

    def __init__(
        self,
        exporter: SpanExporter,
        max_queue: int = 2048,
        batch_size: int = 512,
        interval: float = 2.0,
        target: str = "collector",
    ) -> None:
        self._exporter = exporter
        self._max = max_queue
        self._batch = batch_size
        self._interval = interval
        self._target = target
        self._queue: deque[ReadableSpan] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._flush_requested = False
        self.dropped = 0
        self.exported = 0
        self.failed = 0
        self._failing = False
        self._warned_drop = False
        self._thread = threading.Thread(target=self._work, name="prober-span-export", daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is None or not span.context.trace_flags.sampled:
            return
        with self._cond:
            if self._closing or len(self._queue) >= self._max:
                self.dropped += 1
                first_drop = not self._warned_drop
                self._warned_drop = True
            else:
                self._queue.append(span)
                first_drop = False
                if len(self._queue) >= self._batch:
                    self._cond.notify()
        if first_drop:
            log.warning(
                "span queue full (%d): dropping spans until %s catches up; "
                "counted in prober_trace_spans_dropped_total",
                self._max,
                self._target,
            )

    def _work(self) -> None:
        while True:
            with self._cond:
                if (
                    not self._closing
                    and not self._flush_requested
                    and len(self._queue) < self._batch
                ):
                    self._cond.wait(self._interval)
                batch = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
                done = self._closing and not self._queue
                if not self._queue:
                    self._flush_requested = False
                    self._cond.notify_all()
            if batch:
                self._export(batch)
            if done:
                return

    def _export(self, batch: Sequence[ReadableSpan]) -> None:
        try:
            ok = self._exporter.export(batch) is SpanExportResult.SUCCESS
        except Exception:  # an exporter bug must not kill the thread
            ok = False
        if ok:
            self.exported += len(batch)
            if self._failing:
                self._failing = False
                self._warned_drop = False
                log.info("span export to %s recovered", self._target)
        else:
            self.failed += len(batch)
            if not self._failing:
                self._failing = True
                log.warning(
                    "span export to %s failing; spans are counted in "
                    "prober_trace_spans_failed_total until it recovers",
                    self._target,
                )

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        with self._cond:
            self._flush_requested = True
            self._cond.notify_all()
            while self._queue and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            return not self._queue

    def shutdown(self, timeout: float = 5.0) -> None:
        """Export what is queued within `timeout`; what is left after that is dropped."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            self.dropped += len(self._queue)
            self._queue.clear()
        self._exporter.shutdown()


def _exporter(cfg: TracingConfig) -> tuple[SpanExporter, str]:
    """The OTLP exporter, and how to name its endpoint in logs (without credentials).

    Userinfo in the endpoint becomes an `authorization: Basic` header (unless one is
    configured) and is removed from the URL the exporter gets: exporters and gRPC put
    their target into error texts, and a password must not ride along.
    """
    env = os.environ
    protocol = (
        cfg.protocol
        or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    )
    endpoint, headers = _split_credentials(cfg.endpoint, dict(cfg.headers))
    timeout = cfg.export_timeout
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as HTTPExporter,
        )

        if endpoint and not endpoint.rstrip("/").endswith("/v1/traces"):
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        http = HTTPExporter(endpoint=endpoint, headers=headers or None, timeout=timeout)
        return http, safe_url(endpoint) if endpoint else "the OTLP/HTTP endpoint"
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter as GRPCExporter,
    )

    insecure = endpoint.startswith("http://") if endpoint else None
    grpc = GRPCExporter(
        endpoint=endpoint, insecure=insecure, headers=headers or None, timeout=timeout
    )
    return grpc, safe_url(endpoint) if endpoint else "the OTLP/gRPC endpoint"


def _split_credentials(
    endpoint: str | None, headers: dict[str, str]
) -> tuple[str | None, dict[str, str]]:
    """(endpoint without userinfo, headers with basic auth from it)."""
    if not endpoint:
        return endpoint, headers
    parts = urlsplit(endpoint)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return endpoint, headers
    if not any(k.lower() == "authorization" for k in headers):
        user, _, password = (unquote(p) for p in userinfo.partition(":"))
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers = {**headers, "authorization": f"Basic {token}"}
    return urlunsplit(parts._replace(netloc=host)), headers


class Tracing:
    """Owns the tracer provider; starts and finishes the span of each probe run."""

    def __init__(
        self, cfg: TracingConfig, region: str, exporter: SpanExporter | None = None
    ) -> None:
        target = "the test exporter"
        if exporter is None:
            exporter, target = _exporter(cfg)
        resource = Resource.create(
            {
                "service.name": "prober",
                "service.version": __version__,
                "cloud.region": region,
                "host.name": socket.gethostname(),
            }
        )
        self.provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio))
        )
        self.processor = BoundedSpanProcessor(
            exporter, cfg.max_queue, cfg.batch_size, cfg.export_interval, target
        )
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("prober", __version__)
        self.propagator = TraceContextTextMapPropagator() if cfg.propagate else None
        self.region = region

    def start(
        self,
        name: str,
        kind: SpanKind,
        probe: str,
        run_id: str,
        attributes: Mapping[str, str | int],
    ) -> tuple[trace.Span, dict[str, str]]:
        """Start the span of one run; returns it and the headers that carry its context."""
        span = self.tracer.start_span(
            name,
            kind=kind,
            attributes={
                **attributes,
                "prober.probe": probe,
                "prober.region": self.region,
                "prober.run_id": run_id,
            },
        )
        return span, self.inject(span)

    def steps(self, parent: trace.Span) -> StepSpans:
        return StepSpans(self, parent)

    @staticmethod
    def close(span: trace.Span, outcome: Outcome, code: int | None, error: str) -> None:
        span.set_attribute("prober.outcome", outcome.value)
        if code is not None:
            span.set_attribute("http.response.status_code", code)
        if outcome is not Outcome.SUCCESS:
            span.set_attribute(
                "error.type", str(code) if outcome is Outcome.HTTP_STATUS else outcome.value
            )
            span.set_status(Status(StatusCode.ERROR, error or outcome.value))
        span.end()

    @classmethod
    def finish(cls, span: trace.Span, result: ProbeResult) -> tuple[str, str]:
        """End the span with the run's outcome; returns (trace_id, span_id) if sampled."""
        if result.step:
            span.set_attribute("prober.step", result.step)
        cls.close(span, result.outcome, result.code, result.error)
        ctx = span.get_span_context()
        if not ctx.trace_flags.sampled:
            return "", ""
        return format_trace_id(ctx.trace_id), format_span_id(ctx.span_id)

    def inject(self, span: trace.Span) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.propagator is not None:
            self.propagator.inject(headers, context=set_span_in_context(span))
        return headers

    @property
    def counters(self) -> dict[str, float]:
        p = self.processor
        return {"spans_exported": p.exported, "spans_dropped": p.dropped, "spans_failed": p.failed}

    def shutdown(self, timeout: float = 5.0) -> None:
        self.processor.shutdown(timeout)


class StepSpans:
    """A child CLIENT span per step of one scenario run, under the run's span."""

    def __init__(self, tracing: Tracing, parent: trace.Span) -> None:
        self._tracing = tracing
        self._context = set_span_in_context(parent)

    def start(
        self, name: str, attributes: Mapping[str, str | int]
    ) -> tuple[trace.Span, dict[str, str]]:
        span = self._tracing.tracer.start_span(
            str(attributes.get("http.request.method", name)),
            context=self._context,
            kind=SpanKind.CLIENT,
            attributes={**attributes, "prober.step": name},
        )
        return span, self._tracing.inject(span)

    def finish(self, span: trace.Span, outcome: Outcome, code: int | None, error: str) -> None:
        self._tracing.close(span, outcome, code, error)
