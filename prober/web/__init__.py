"""The agent's HTTP face: /metrics, /healthz, /ready, /-/reload, and its TLS/auth web config.

Imports the agent and telemetry it serves; never the rules, dashboards, report or CLI.
"""
