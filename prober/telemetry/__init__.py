"""What the agent tells the world about its runs: metrics, their exposition, spans, logs.

Imports config and the shared vocabulary only; never the agent, probes, web or CLI
(the agent feeds telemetry, not the other way round).
"""
