"""The `agent:`, `defaults:` and `tracing:` sections: how the agent itself runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from yarl import URL

from .. import conventions as c
from ..redact import safe_url
from .fields import (
    DEFAULT_SECRET_QUERY_PARAMS,
    HEADER_NAME_RE,
    LABEL_NAME_RE,
    MAX_LABEL_VALUE,
    MAX_PROBES,
    MAX_STATIC_LABELS,
    MAX_STEPS,
    NAME_RE,
    RESERVED_LABELS,
    Duration,
    Strict,
    printable,
)


class Defaults(Strict):
    interval: Duration = 15.0
    timeout: Duration = 5.0


class AgentConfig(Strict):
    region: str | None = None
    listen: str = c.DEFAULT_LISTEN
    labels: dict[str, str] = Field(default_factory=dict)
    request_id_header: str = c.DEFAULT_REQUEST_ID_HEADER
    max_concurrency: int | None = Field(default=None, ge=1, le=MAX_PROBES * MAX_STEPS)
    # builtin: plain-http probes on fresh connections use prober's own lean HTTP/1.1 client
    # (half the CPU per run, timed in the socket callbacks); aiohttp: every request by aiohttp.
    http_client: Literal["builtin", "aiohttp"] = "builtin"
    secret_query_params: tuple[str, ...] = DEFAULT_SECRET_QUERY_PARAMS
    # lean: no per-phase histograms (prober_probe_phase_seconds), the bulk of a probe's series
    metrics: Literal["full", "lean"] = "full"
    # ProberMeasurementQualityLow fires when the p99 of runs' error bound exceeds this
    error_bound_alert: Duration = 0.005

    @field_validator("error_bound_alert")
    @classmethod
    def _error_bound_alert(cls, value: float) -> float:
        if value > 1:
            raise ValueError(f"must be at most 1s (the histogram's last bucket), got {value:g}s")
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("request_id_header")
    @classmethod
    def _request_id_header(cls, value: str) -> str:
        if not HEADER_NAME_RE.match(value):
            raise ValueError(
                f"invalid header name {printable(value)!r}: "
                "letters, digits and !#$%&'*+-.^_`|~ only"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not NAME_RE.match(value):
            raise ValueError(f"invalid region {value!r}: 1-64 of letters, digits, '_', '.', '-'")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_STATIC_LABELS:
            raise ValueError(f"at most {MAX_STATIC_LABELS} static labels, got {len(value)}")
        for name, text in value.items():
            if len(text) > MAX_LABEL_VALUE:
                raise ValueError(
                    f"the value of {name!r} is {len(text)} characters, at most {MAX_LABEL_VALUE}"
                )
            if not text.isprintable():
                raise ValueError(f"the value of {name!r} must be printable text on one line")
        for name in value:
            if not LABEL_NAME_RE.match(name) or name.startswith("__"):
                raise ValueError(
                    f"invalid label name {name!r}: "
                    "use letters, digits and '_', not starting with a digit or '__'"
                )
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is set by prober and cannot be overridden")
        return value


class TracingConfig(Strict):
    """OpenTelemetry export. Unset endpoint/headers fall back to OTEL_EXPORTER_OTLP_* env."""

    enabled: bool = False
    endpoint: str | None = None
    protocol: Literal["grpc", "http/protobuf"] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    sample_ratio: float = Field(default=1.0, ge=0, le=1)
    propagate: bool = True  # send W3C traceparent/tracestate with every probe request
    max_queue: int = Field(default=2048, ge=1, le=1_000_000)
    batch_size: int = Field(default=512, ge=1, le=1_000_000)
    export_interval: Duration = 2.0
    export_timeout: Duration = 5.0

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            url = URL(value)
            if url.scheme not in ("http", "https") or not url.host:
                raise ValueError(f"must be an http:// or https:// URL, got {safe_url(value)!r}")
        return value


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid listen address {value!r}: use host:port, e.g. 127.0.0.1:9477")
    return host.strip("[]") or "0.0.0.0", int(port)
