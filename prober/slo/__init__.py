"""Prometheus rules from the SLOs of probes.yaml: SLI recordings, burn-rate and health alerts."""

from __future__ import annotations

from .generate import (
    build_groups,
    render_prometheus_rule,
    render_rule_files,
    validate,
    write_rules,
)

__all__ = ["build_groups", "render_prometheus_rule", "render_rule_files", "validate", "write_rules"]
