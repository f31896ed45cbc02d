"""`prober demo`: an embedded simulated User Metadata Service, and the stack around it.

Imports the agent, web server and console to run the real thing against it; never the CLI.
"""
