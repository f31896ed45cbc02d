"""Dashboard uids, file names and panel titles: the docs, the tests and the Helm chart
refer to these. No Grafana SDK import here, so the CLI can load without it."""

from __future__ import annotations

from typing import Final

OVERVIEW_UID: Final = "prober-slo"
AGENTS_UID: Final = "prober-agents"
OVERVIEW_FILE: Final = "prober-slo-overview.json"
AGENTS_FILE: Final = "prober-agents.json"
TAG: Final = "prober"

# Panel titles: the docs and the tests refer to these.
AVAILABILITY_SLI: Final = "Availability SLI vs objective"
LATENCY_SLI: Final = "Latency SLI vs objective"
BUDGET_NOW: Final = "Error budget remaining"
COVERAGE: Final = "SLO period with data"
FIRING: Final = "Firing alerts"
ALERT_HISTORY: Final = "Alert history"
BUDGET_OVER_TIME: Final = "{sli} error budget remaining"
SLI_OVER_TIME: Final = "{sli} SLI over time"
BURN_RATE: Final = "{sli} burn rate: {window} alert ({long} and {short} windows)"
LATENCY: Final = "Latency of successful runs: p50, p95, p99"
OUTCOMES: Final = "Runs by outcome"
FAILURES: Final = "Failed runs by probe, step, outcome and code"
PROBE_DURATION: Final = "Run duration by probe, p99"
LAST_SUCCESS: Final = "Last run succeeded"
PHASES: Final = "Request phases, p95"
PHASES_BY_PROBE: Final = "Request phases by probe, p95"
STEPS: Final = "Scenario step durations, p95"
TLS_EXPIRY: Final = "TLS certificates expire in"
AGENTS: Final = "Agents reporting"
RELOAD: Final = "Config reload status"
RELOAD_AGE: Final = "Last successful config load"
INFLIGHT: Final = "Runs in flight"
SCHEDULE_LAG: Final = "Schedule lag, p99"
SKIPPED: Final = "Skipped runs"
LOOP_LAG: Final = "Event loop lag"
DROPPED: Final = "Dropped trace spans and result lines"
