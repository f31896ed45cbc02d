"""Prometheus rules from the SLOs of probes.yaml: SLI recordings, burn-rate and health alerts.

Pure functions of the config: imports config and the shared vocabulary, never the runtime
(agent, probes, telemetry, web) nor the CLI.
"""

from __future__ import annotations

from .generate import (
    build_groups,
    render_prometheus_rule,
    render_rule_files,
    validate,
    write_rules,
)

__all__ = ["build_groups", "render_prometheus_rule", "render_rule_files", "validate", "write_rules"]
