"""The `prober` command line: one module per command, `main` dispatches.

The top of the import graph: it may import every other package, and no other package may
ever import it (never the other way round).
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
