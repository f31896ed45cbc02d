"""Secrets never leave prober, and a config cannot make unbounded series.

A recognisable token goes in through the environment (a header, URL userinfo, a secret
query parameter), `prober run` is driven through failures that produce error messages,
and every output is searched for it: stdout, stderr (JSON logs), the results file,
/metrics in both formats, the index page, every exported span (attributes, resource,
status), reload errors and `prober check`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from prober.agent import Agent
from prober.config import ConfigError, load_config, parse_config
from prober.conventions import Outcome
from prober.model import ProbeResult

from .conftest import REPO, ServerFactory, make_config
from .otlp_receiver import GRPCReceiver
from .test_signals import ProberProcess, poll, runs_of

TOKEN = f"tok-SECRET-{os.urandom(6).hex()}"
# Long enough to identify the token, short enough to catch a cut-off copy of it.
TOKEN_PREFIX = TOKEN[: len("tok-SECRET-") + 4]


@pytest.fixture
async def target(http_server: ServerFactory) -> str:
    async def needs_auth(_: web.Request) -> web.Response:
        return web.json_response({"error": "unauthorized"}, status=401)

    async def boom(_: web.Request) -> web.Response:
        return web.Response(status=500, text="internal error")

    async def echo(request: web.Request) -> web.Response:
        # A target that echoes what it was sent: assertion failures quote body values.
        headers = request.headers
        return web.json_response(
            {"key": headers.get("X-Api-Key", ""), "auth": headers.get("Authorization", "")}
        )

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    def add(app: web.Application) -> None:
        app.router.add_get("/auth", needs_auth)
        app.router.add_get("/boom", boom)
        app.router.add_get("/echo", echo)
        app.router.add_get("/ok", ok)

    return await http_server(add)


def secret_config(base: str, closed_port: int, receiver: str) -> str:
    host = base.removeprefix("http://")
    return f"""\
agent: {{region: sec-test}}
defaults: {{interval: 200ms, timeout: 150ms}}
tracing:
  enabled: true
  endpoint: {receiver}
  export_interval: 100ms
  headers: {{x-collector-token: "${{PROBER_TOKEN}}"}}
probes:
  - name: bearer-401
    url: {base}/auth
    headers: {{Authorization: "Bearer ${{PROBER_TOKEN}}"}}
  - name: userinfo-500
    url: "http://svc:${{PROBER_TOKEN}}@{host}/boom"
  - name: query-refused
    url: "http://127.0.0.1:{closed_port}/x?token=${{PROBER_TOKEN}}&page=1"
  - name: echo-assert
    url: {base}/echo
    headers: {{X-Api-Key: "${{PROBER_TOKEN}}"}}
    expect:
      json: [{{path: key, equals: not-the-key}}]
  - name: query-ok
    url: "{base}/ok?api_key=${{PROBER_TOKEN}}"
"""


BROKEN_RELOADS = [
    # The token is known as a secret (a header) and echoed by a bad method.
    'probes:\n  - name: x\n    url: http://127.0.0.1/\n    method: "${PROBER_TOKEN}"\n'
    '    headers: {Authorization: "Bearer ${PROBER_TOKEN}"}\n',
    # The token sits in the userinfo of a URL with the wrong scheme.
    'probes:\n  - name: x\n    url: "ftp://svc:${PROBER_TOKEN}@127.0.0.1/"\n',
    # A token in a query parameter of a URL with no host.
    'probes:\n  - name: x\n    url: "http:///x?token=${PROBER_TOKEN}"\n',
]


def assert_no_secret(where: str, text: str) -> None:
    assert TOKEN not in text, f"the token is in {where}"
    assert TOKEN_PREFIX not in text, f"part of the token is in {where}"


async def test_a_token_from_the_environment_appears_in_no_output_of_a_failing_run(
    target: str, closed_port: int, tmp_path: Path
) -> None:
    receiver = GRPCReceiver()
    config = tmp_path / "probes.yaml"
    good = secret_config(target, closed_port, receiver.endpoint)
    config.write_text(good)
    results = tmp_path / "results.jsonl"
    env = {"PROBER_TOKEN": TOKEN}
    outputs: dict[str, str] = {}
    process = await ProberProcess.start(
        config, "--results", str(results), "--log-level", "debug", env=env
    )
    try:
        async with aiohttp.ClientSession() as s:
            names = ("bearer-401", "userinfo-500", "query-refused", "echo-assert", "query-ok")
            await poll(s, process, lambda t: all(runs_of(t, n) >= 2 for n in names))
            outputs["/metrics"] = await process.scrape(s)
            outputs["/metrics (OpenMetrics)"] = await process.scrape(s, openmetrics=True)
            for path in ("/", "/ready"):
                async with s.get(f"http://127.0.0.1:{process.port}{path}") as r:
                    outputs[path] = await r.text()
            for i, broken in enumerate(BROKEN_RELOADS, start=1):
                config.write_text(broken)
                process.proc.send_signal(signal.SIGHUP)
                await process.wait_log(lambda r: "config reload rejected" in r["msg"], count=i)
            config.write_text(good)
        deadline = time.monotonic() + 5
        while not {s.attributes["prober.probe"] for s in receiver.received.spans()} >= set(names):
            assert time.monotonic() < deadline, "spans of every probe were exported"
            await asyncio.sleep(0.05)
    finally:
        code = await process.finish()
        receiver.stop()
    assert code == 0
    check = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "prober.cli", "check", "-c", str(config),
        cwd=REPO, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    check_out, check_err = await asyncio.wait_for(check.communicate(), 30)
    assert check.returncode == 0, check_err
    outputs["prober check"] = check_out.decode() + check_err.decode()
    outputs["stdout"] = process.stdout.decode()
    outputs["stderr"] = process.stderr
    outputs["results file"] = results.read_text()
    spans = receiver.received.spans()
    outputs["spans"] = json.dumps(
        [
            {"name": sp.name, "attributes": sp.attributes, "resource": sp.resource,
             "status": sp.status_message}
            for sp in spans
        ]
    )  # fmt: skip

    # Each output holds what the grep is meant to search: it is not vacuous.
    lines = [json.loads(line) for line in outputs["results file"].splitlines()]
    assert {line["outcome"] for line in lines} >= {
        "http_status", "connect_refused", "assertion_failed", "success",
    }  # fmt: skip
    assert any("REDACTED" in line.get("error", "") for line in lines), "the echo was redacted"
    rejected = [r["msg"] for r in process.records if "config reload rejected" in r["msg"]]
    assert len(rejected) >= len(BROKEN_RELOADS)
    assert any("REDACTED" in m for m in rejected)
    url_full = {sp.attributes["prober.probe"]: sp.attributes["url.full"] for sp in spans}
    assert url_full["query-ok"].endswith("/ok?api_key=REDACTED")
    assert url_full["query-refused"].endswith("/x?token=REDACTED&page=1")
    assert 'probe="query-ok"' in outputs["/metrics"]
    assert "probe failed" in outputs["stderr"]
    for where, text in outputs.items():
        assert_no_secret(where, text)


class Collect:
    def __init__(self) -> None:
        self.results: list[ProbeResult] = []

    def record(self, result: ProbeResult, region: str) -> None:
        self.results.append(result)


# Assertion messages used to cut a quoted value at 60 characters before the probe redacted
# them: after this much text, such a cut falls inside the token, past its recognisable prefix.
# Now the whole message is redacted first, then made one short line (redact.one_line).
STRADDLE = "session=" + "x" * 29


async def test_a_token_inside_a_long_body_value_is_not_leaked_by_a_truncated_quote(
    http_server: ServerFactory,
) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"v": STRADDLE + request.headers["X-Api-Key"]})

    def add(app: web.Application) -> None:
        app.router.add_get("/", echo)

    base = await http_server(add)
    config = make_config(
        [{"name": "p", "url": f"{base}/", "headers": {"X-Api-Key": TOKEN},
          "expect": {"json": [{"path": "v", "equals": "x"}]}}],
        defaults={"interval": "200ms", "timeout": "150ms"},
    )  # fmt: skip
    sink = Collect()
    async with Agent(config, extra_sinks=[sink]):
        deadline = time.monotonic() + 5
        while not sink.results:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    result = sink.results[0]
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert_no_secret("the assertion message", result.error)


# --- label cardinality guard (config.py) -------------------------------------------------------


def _probe(i: int, **extra: Any) -> dict[str, Any]:
    return {"name": f"p{i}", "url": "http://127.0.0.1:8080/", **extra}


def _steps(n: int) -> list[dict[str, Any]]:
    return [{"name": f"s{i}", "url": "http://127.0.0.1:8080/"} for i in range(n)]


CARDINALITY_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "more probes than one agent should carry": (
        {"probes": [_probe(i) for i in range(10_001)]},
        "probes: at most 10000 probes per agent, got 10001 "
        "(each probe has its own series: split the config across agents)",
    ),
    "more static labels than a series should carry": (
        {"agent": {"labels": {f"l{i}": "v" for i in range(11)}}, "probes": [_probe(0)]},
        "agent.labels: at most 10 static labels, got 11",
    ),
    "a static label value longer than a label should be": (
        {"agent": {"labels": {"team": "t" * 129}}, "probes": [_probe(0)]},
        "agent.labels: the value of 'team' is 129 characters, at most 128",
    ),
    "a static label value on two lines": (
        {"agent": {"labels": {"team": "a\nb"}}, "probes": [_probe(0)]},
        "agent.labels: the value of 'team' must be printable text on one line",
    ),
    "a region that is not a short name": (
        {"agent": {"region": "eu west 1 " * 10}, "probes": [_probe(0)]},
        "agent.region: invalid region "
        f"{'eu west 1 ' * 10!r}: 1-64 of letters, digits, '_', '.', '-'",
    ),
    "a scenario with more steps than a step label should carry": (
        {"probes": [{"name": "flow", "kind": "scenario", "steps": _steps(21)}]},
        "probes[0] (flow).steps: at most 20 steps, got 21",
    ),
}


@pytest.mark.parametrize(("doc", "line"), CARDINALITY_CASES.values(), ids=list(CARDINALITY_CASES))
def test_a_config_that_would_make_too_many_or_too_big_series_is_rejected(
    doc: dict[str, Any], line: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, "test.yaml", {}, Path("."))
    assert caught.value.lines == [f"test.yaml: {line}"]


def test_configs_at_the_limits_are_accepted() -> None:
    doc = {
        "agent": {"region": "r" * 64, "labels": {f"l{i}": "v" * 128 for i in range(10)}},
        # MAX_PROBES is 10 000 (the over-the-limit case above has 10 001): 9 999 probes and
        # one scenario are exactly at it.
        "probes": [_probe(i) for i in range(9_999)]
        + [{"name": "flow", "kind": "scenario", "steps": _steps(20)}],
    }
    try:
        config = parse_config(doc, "test.yaml", {}, Path("."))
    except ConfigError as exc:  # pragma: no cover - shown when the guard is too strict
        raise AssertionError(exc.lines) from None
    assert len(config.probes) == 10_000


def test_a_region_from_the_command_line_is_held_to_the_same_rule(tmp_path: Path) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text("probes: [{name: p, url: 'http://127.0.0.1/'}]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={}, region="a region with spaces")
    assert caught.value.lines == [
        f"{path}: agent.region: invalid region 'a region with spaces': "
        "1-64 of letters, digits, '_', '.', '-'"
    ]
