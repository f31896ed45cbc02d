"""The event loop every command runs on."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed: lower and steadier timer latency."""
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, imported only where a loop starts

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
