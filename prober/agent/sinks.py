"""Where results go besides metrics: the JSON-lines results file and the log.

`record` only touches memory. The results file is written by a background task
from a bounded queue; when the disk cannot keep up, results are dropped and
counted (prober_results_dropped_total) instead of slowing the probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from ..model import ProbeResult

log = logging.getLogger("prober.result")
_OPTIONS = orjson.OPT_NON_STR_KEYS  # phase names are a StrEnum: written as their values


class Sink(Protocol):
    def record(self, result: ProbeResult, region: str) -> None: ...


def result_record(result: ProbeResult, region: str) -> dict[str, Any]:
    """One results-file line. Field names are part of prober's interface: keep them."""
    record: dict[str, Any] = {
        "time": round(result.wall_start, 6),
        "run_id": result.run_id,
        "probe": result.probe,
        "target": result.target,
        "region": region,
        "outcome": result.outcome.value,
        "code": result.code,
        "duration": round(result.duration, 6),
        "lag": round(result.lag, 6),
        "error_bound_seconds": round(result.error_bound, 6),
        "phases": {k: round(v, 6) for k, v in result.phases.items()},
    }
    if result.error:
        record["error"] = result.error
    if result.step:
        record["step"] = result.step
    if result.steps:
        record["steps"] = [
            {"name": s.name, "outcome": s.outcome.value, "duration_seconds": round(s.duration, 6)}
            for s in result.steps
        ]
    if result.trace_id:
        record["trace_id"] = result.trace_id
    return record


def _line(record: dict[str, Any]) -> bytes:
    """One JSON line: orjson (about 2 us, where json.dumps takes about 20, on the loop, once
    a run), or json when orjson refuses the text: a lone surrogate, as a header value
    decoded with surrogateescape can carry, which json writes as an escape."""
    try:
        return orjson.dumps(record, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(record, separators=(",", ":")).encode()


class ResultsFile:
    """Appends one JSON line per run; flushed by a background task."""

    def __init__(self, path: Path, max_queue: int = 100_000, on_drop: Any = None) -> None:
        self.path = path
        self._queue: deque[bytes] = deque()
        self._max = max_queue
        self._wake = asyncio.Event()
        self._file: IO[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._on_drop = on_drop
        self.dropped = 0

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        self._task = asyncio.create_task(self._writer(), name="results-writer")

    def record(self, result: ProbeResult, region: str) -> None:
        if len(self._queue) >= self._max:
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop()
            return
        self._queue.append(_line(result_record(result, region)))
        self._wake.set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._flush()
            await asyncio.sleep(0.1)  # batch: at most ten writes a second

    def _flush(self) -> None:
        if self._file is None or not self._queue:
            return
        lines = []
        while self._queue:
            lines.append(self._queue.popleft())
        try:
            self._file.write(b"\n".join(lines) + b"\n")
            self._file.flush()
        except OSError as exc:
            self.dropped += len(lines)
            log.error("cannot write results file %s: %s", self.path, exc.strerror)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._flush()
        if self._file is not None:
            self._file.close()
            self._file = None


class LogSink:
    """A log line per failed run (warning) and per success (debug), FluentBit-ready."""

    def record(self, result: ProbeResult, region: str) -> None:
        if result.success:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("probe succeeded", extra=_fields(result, region))
            return
        log.warning(
            "probe failed: %s", result.error or result.outcome.value, extra=_fields(result, region)
        )


def _fields(result: ProbeResult, region: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "probe": result.probe,
        "target": result.target,
        "region": region,
        "outcome": result.outcome.value,
        "duration_ms": round(result.duration * 1000, 3),
        "run_id": result.run_id,
    }
    if result.code is not None:
        fields["code"] = result.code
    if result.step:
        fields["step"] = result.step
    if result.trace_id:
        fields["trace_id"] = result.trace_id
        fields["span_id"] = result.span_id
    return fields
