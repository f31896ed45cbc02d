"""The agent's runtime: lifecycle (start, reload, stop), scheduler, runner, result sinks.

Data flows one way, config -> scheduler -> probe -> result -> sinks. Imports config,
probes and telemetry; never the web server, the rules, dashboards, report or CLI.
"""

from .lifecycle import Agent, RunIds

__all__ = ["Agent", "RunIds"]
