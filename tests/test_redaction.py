"""Secrets in URLs never leave prober: not in logs, stderr, spans, results or errors.

Every rendering of a URL goes through prober.redact.safe_url; these tests plant a
secret where a URL carries one (tracing endpoint userinfo, a scenario step's query,
a value captured at run time) and search every output for it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from yarl import URL

from prober.agent import Agent
from prober.conventions import Outcome
from prober.probes.http import exchange
from prober.probes.session import SessionPool
from prober.redact import safe_url, url_secrets

from .conftest import REPO, ServerFactory, make_config
from .otlp_receiver import Received, start_http_receiver

PLANTED = "PLANTED-endpoint-pw"
PLANTED2 = "PLANTED2-step-token"
PLANTED3 = "PLANTED3-captured-token"


# --- the one function ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "keep", "shown"),
    [
        ("http://u:pw@h:1/a?token=t0k3n&page=1#frag", False, "http://h:1/a"),
        ("http://u:pw@h:1/a?token=t0k3n&page=1#frag", True, "http://h:1/a?token=REDACTED&page=1"),
        (
            "http://h/a/{{id}}?TOKEN={{tok}}&x={{x}}",
            True,
            "http://h/a/{{id}}?TOKEN=REDACTED&x={{x}}",
        ),
        ("https://h/v1/traces", True, "https://h/v1/traces"),
        ("user:pw@h:9090/x?token=t0k3n", False, "h:9090/x"),
    ],
    ids=["dropped query", "kept query", "template", "nothing secret", "no scheme"],
)
def test_safe_url_drops_userinfo_and_secret_values_and_keeps_templates_readable(
    url: str, keep: bool, shown: str
) -> None:
    assert safe_url(url, ("token",), keep_query=keep) == shown
    if "://" in url:
        assert safe_url(URL(url.replace("{{", "").replace("}}", "")), ("token",), keep) == (
            shown.replace("{{", "").replace("}}", "")
        )


def test_url_secrets_lists_userinfo_and_secret_query_values_as_written_and_decoded() -> None:
    found = url_secrets("http://user:p%40ssw0rd@h/x?Token=a%2Fbcdef&page=12345&k={{v}}", ["token"])
    assert found == ["user", "p%40ssw0rd", "p@ssw0rd", "a%2Fbcdef", "a/bcdef"]


# --- the tracing endpoint's password -------------------------------------------------------
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_a_tracing_endpoint_password_is_in_no_log_line_when_export_fails(
    http_server: ServerFactory, closed_port: int, tmp_path: Path, protocol: str
) -> None:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    base = await http_server(lambda app: app.router.add_get("/ok", ok))
    config = tmp_path / "p.yaml"
    results = tmp_path / "results.jsonl"
    config.write_text(
        yaml.safe_dump(
            {
                "defaults": {"interval": "100ms", "timeout": "80ms"},
                "probes": [{"name": "ok", "url": f"{base}/ok"}],
                "tracing": {
                    "enabled": True,
                    "protocol": protocol,
                    "endpoint": f"http://user:{PLANTED}@127.0.0.1:{closed_port}",
                    "export_interval": "100ms",
                    "export_timeout": "300ms",
                },
            }
        )
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "prober.cli", "run", "-c", str(config), "--listen", "127.0.0.1:0",
        "--log-format", "json", "--log-level", "debug", "--duration", "2s",
        "--results", str(results),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"GRPC_VERBOSITY": "debug", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    output = stdout.decode(errors="replace") + stderr.decode(errors="replace")
    assert proc.returncode in (0, 1), output[-2000:]
    failing = [line for line in output.splitlines() if "span export to" in line]
    assert failing, "the export failure was logged"
    assert f"http://127.0.0.1:{closed_port}" in failing[0]
    assert PLANTED not in output
    assert PLANTED not in results.read_text()


async def test_userinfo_in_the_otlp_http_endpoint_is_sent_as_basic_auth_not_in_the_url(
    http_server: ServerFactory,
) -> None:
    seen: list[tuple[str, str]] = []

    async def traces(request: web.Request) -> web.Response:
        seen.append((str(request.url), request.headers.get("Authorization", "")))
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    def add(app: web.Application) -> None:
        app.router.add_post("/v1/traces", traces)
        app.router.add_get("/ok", ok)

    base = await http_server(add)
    config = make_config(
        [{"name": "ok", "url": f"{base}/ok"}],
        defaults={"interval": "100ms", "timeout": "80ms"},
        tracing={
            "enabled": True, "protocol": "http/protobuf", "export_interval": "100ms",
            "endpoint": base.replace("http://", f"http://user:{PLANTED}@"),
        },
    )  # fmt: skip
    async with Agent(config) as agent:
        assert agent.tracing is not None
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.05)
    assert seen
    url, auth = seen[0]
    assert PLANTED not in url
    assert auth == "Basic " + base64.b64encode(f"user:{PLANTED}".encode()).decode()


# --- a scenario step's query ----------------------------------------------------------------
async def test_scenario_step_tokens_reach_no_span_result_or_log(
    http_server: ServerFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def login(_: web.Request) -> web.Response:
        return web.json_response({"token": PLANTED3})

    async def item(request: web.Request) -> web.Response:
        # Echo the URL, so an error that quotes the body would quote the token.
        return web.Response(text=f"no item at {request.url}", status=404)

    def add(app: web.Application) -> None:
        app.router.add_get("/login", login)
        app.router.add_get("/item", item)

    base = await http_server(add)
    received = Received()
    runner, otlp = await start_http_receiver(received)
    results = tmp_path / "results.jsonl"
    config = make_config(
        [{
            "name": "flow", "kind": "scenario",
            "steps": [
                {"name": "login", "url": f"{base}/login?token={PLANTED2}",
                 "capture": {"tok": {"json": "token"}}},
                {"name": "read", "url": f"{base}/item?token={{{{tok}}}}&id=1",
                 "expect": {"status": [200]}},
                {"name": "read-again", "url": f"{base}/item?api_key={PLANTED2}",
                 "always_run": True},
            ],
        }],
        defaults={"interval": "100ms", "timeout": "80ms"},
        tracing={"enabled": True, "protocol": "http/protobuf", "endpoint": otlp,
                 "export_interval": "100ms"},
    )  # fmt: skip
    caplog.set_level(logging.DEBUG)
    try:
        async with Agent(config, results_path=results) as agent:
            for _ in range(100):
                if len(received.spans()) >= 6:
                    break
                await asyncio.sleep(0.05)
            assert agent.tracing is not None
    finally:
        await runner.cleanup()
    spans = received.spans()
    steps = {s.attributes.get("prober.step"): s for s in spans if s.parent_span_id}
    assert steps["login"].attributes["url.full"] == f"{base}/login?token=REDACTED"
    assert steps["read"].attributes["url.full"] == f"{base}/item?token=REDACTED&id=1"
    assert steps["read-again"].attributes["url.full"] == f"{base}/item?api_key=REDACTED"
    exported = b"".join(r.SerializeToString() for r in received.requests)
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert lines
    assert lines[0]["outcome"] == "http_status"
    logs = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    for secret in (PLANTED2, PLANTED3):
        assert secret.encode() not in exported
        assert secret not in results.read_text()
        assert secret not in logs


@pytest.mark.parametrize(
    ("url", "error"),
    [
        (f"http:///x?token={PLANTED2}", "InvalidUrlClientError: http:///x"),
        (
            f"ftp://u:{PLANTED2}@127.0.0.1/x?token={PLANTED2}",
            "NonHttpUrlClientError: ftp://127.0.0.1/x",
        ),
    ],
    ids=["no host", "not http"],
)
async def test_an_aiohttp_error_that_is_the_url_itself_comes_out_without_its_secrets(
    url: str, error: str
) -> None:
    """aiohttp's invalid-URL errors are the whole URL; classify renders it with safe_url."""
    pool = SessionPool()
    try:
        ex = await exchange(
            pool.get("fresh"), "GET", URL(url, encoded=False), {}, None,
            ssl=True, server_hostname=None, limit=1.0, max_body=100, name="x",
        )  # fmt: skip
    finally:
        await pool.close()
    assert ex.outcome is Outcome.PROTOCOL_ERROR
    assert ex.error == error
