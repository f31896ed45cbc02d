"""What a person reads in the terminal: per-probe run statistics, verdicts and tables.

Imports config and the shared vocabulary only; never the agent, probes, web or CLI.
"""
