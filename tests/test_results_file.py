"""The results file: one JSON line per run, whatever text the run carries."""

from __future__ import annotations

import json
from pathlib import Path

from prober.agent.sinks import ResultsFile
from prober.conventions import Outcome, Phase
from prober.model import ProbeResult


async def test_every_run_is_one_parseable_line_even_with_text_orjson_refuses(
    tmp_path: Path,
) -> None:
    path = tmp_path / "results.jsonl"
    sink = ResultsFile(path)
    await sink.start()
    ok = ProbeResult(
        "api", "ums", Outcome.SUCCESS, 0.0123456789, code=200,
        phases={Phase.CONNECT: 0.0002, Phase.TTFB: 0.012}, run_id="r1", error_bound=0.001,
    )  # fmt: skip
    # A header value decoded with surrogateescape keeps a lone surrogate: not UTF-8.
    odd = ProbeResult(
        "api", "ums", Outcome.ASSERTION_FAILED, 0.02, code=200,
        error="header X-Name: 'caf\udce9' is not 'cafe'", run_id="r2",
    )  # fmt: skip
    unicode = ProbeResult("api", "ums", Outcome.ASSERTION_FAILED, 0.02, error="café ≠ cafe")
    for result in (ok, odd, unicode):
        sink.record(result, "eu")
    await sink.close()
    lines = path.read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["run_id"] for r in records] == ["r1", "r2", ""]
    assert records[0]["phases"] == {"connect": 0.0002, "ttfb": 0.012}
    assert records[0]["duration"] == 0.012346  # rounded to the microsecond
    assert records[0]["region"] == "eu"
    assert records[0]["outcome"] == "success"
    assert records[1]["error"] == "header X-Name: 'caf\udce9' is not 'cafe'"
    assert records[2]["error"] == "café ≠ cafe"
    assert sink.dropped == 0
