"""Every name prober exposes (metrics, labels, outcomes, phases) lives here.

The rule and dashboard generators import these too, so a rename cannot leave
an alert querying a series that no longer exists.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Outcome(StrEnum):
    """How one probe run ended. Exactly one per run; a bounded label value."""

    SUCCESS = "success"
    HTTP_STATUS = "http_status"  # answered, but with a status code not expected
    ASSERTION_FAILED = "assertion_failed"  # expected status, body assertion failed
    TIMEOUT = "timeout"  # the run's hard timeout expired (any phase)
    CONNECT_REFUSED = "connect_refused"  # TCP RST on connect
    CONNECT_ERROR = "connect_error"  # other connect/socket failure (unreachable, reset)
    PROTOCOL_ERROR = "protocol_error"  # not valid HTTP, or the peer closed mid-response
    DNS_ERROR = "dns_error"  # the name did not resolve
    TLS_ERROR = "tls_error"  # handshake or certificate verification failed
    BODY_TOO_LARGE = "body_too_large"  # body exceeded the configured cap
    CONSISTENCY = "consistency"  # scenario: data read back differs from what was written
    INTERNAL = "internal"  # a bug in prober; logged with its traceback


ALL_OUTCOMES: Final = tuple(Outcome)
# Outcomes that say nothing about the service: the default SLI excludes none of
# them (a black-box SLI cannot tell a prober bug from an outage), but users can.
DEFAULT_BAD_OUTCOMES: Final = tuple(o for o in Outcome if o is not Outcome.SUCCESS)


class Phase(StrEnum):
    """Timed phases of one HTTP request, from aiohttp's request tracing."""

    DNS = "dns"
    CONNECT = "connect"  # TCP connect plus TLS handshake (aiohttp does not split them)
    TTFB = "ttfb"  # request sent (or connection ready) to response headers received
    TRANSFER = "transfer"  # response headers to the last body byte


# --- metric names -----------------------------------------------------------
METRIC_PREFIX: Final = "prober"
RUNS_TOTAL: Final = "prober_probe_runs_total"
DURATION: Final = "prober_probe_duration_seconds"
PHASE: Final = "prober_probe_phase_seconds"
STEP_DURATION: Final = "prober_probe_step_duration_seconds"
SUCCESS_GAUGE: Final = "prober_probe_success"
TLS_EXPIRY: Final = "prober_tls_cert_expiry_timestamp_seconds"
SCHEDULE_LAG: Final = "prober_schedule_lag_seconds"
SKIPPED_RUNS: Final = "prober_skipped_runs_total"
INFLIGHT: Final = "prober_inflight"
LOOP_LAG: Final = "prober_event_loop_lag_seconds"
# Per agent, not per probe: the bound is the agent's loop being late, shared by every run
# in flight at that moment; each run's own value is in the results file (docs/metrics.md).
ERROR_BOUND: Final = "prober_measurement_error_bound_seconds"
CONFIG_RELOAD_SUCCESS: Final = "prober_config_last_reload_success"
CONFIG_RELOAD_TIMESTAMP: Final = "prober_config_last_reload_success_timestamp_seconds"
CONFIG_RELOADS_TOTAL: Final = "prober_config_reloads_total"
PROBES_CONFIGURED: Final = "prober_probes_configured"
RESULTS_DROPPED: Final = "prober_results_dropped_total"
BUILD_INFO: Final = "prober_build_info"
TRACE_SPANS_EXPORTED: Final = "prober_trace_spans_exported_total"
TRACE_SPANS_DROPPED: Final = "prober_trace_spans_dropped_total"
TRACE_SPANS_FAILED: Final = "prober_trace_spans_failed_total"

# --- label names --------------------------------------------------------------
L_PROBE: Final = "probe"
L_TARGET: Final = "target"
L_REGION: Final = "region"
L_SLO: Final = "slo"
L_OUTCOME: Final = "outcome"
L_CODE: Final = "code"
L_PHASE: Final = "phase"
L_STEP: Final = "step"
L_REASON: Final = "reason"
L_LE: Final = "le"
# On prober_build_info only (one series per agent): the shard it runs and of how many.
L_SHARD: Final = "shard"
L_SHARDS: Final = "shards"

# Labels every probe series carries, in this order (static agent labels follow).
PROBE_LABELS: Final = (L_PROBE, L_TARGET, L_REGION, L_SLO)

# --- histogram buckets --------------------------------------------------------
# Dense around the seed's thresholds (0.2 s latency SLO, 0.5 s p99 alert) so both
# are exact bucket bounds, not interpolations. SLO thresholds from the config are
# merged in at load time (see Config.duration_buckets).
DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.125,
    0.15,
    0.175,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.5,
    5.0,
    10.0,
)
PHASE_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
LAG_BUCKETS: Final = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# A bound is never below the watch's 1 ms tick; the default alert threshold (5 ms) is a bound.
ERROR_BOUND_BUCKETS: Final = (
    0.0011,
    0.0015,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)

DEFAULT_LISTEN: Final = "127.0.0.1:9477"
CONTAINER_LISTEN: Final = "0.0.0.0:9477"
DEFAULT_REQUEST_ID_HEADER: Final = "X-Request-Id"
USER_AGENT: Final = "prober/{version} (+synthetic monitoring)"
