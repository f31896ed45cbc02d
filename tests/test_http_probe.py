"""Every outcome class of the HTTP probe, each produced by a real fault on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from prober.config import ProbeConfig
from prober.conventions import Outcome, Phase
from prober.model import ProbeResult, RunContext
from prober.probes.http import HTTPProbe
from prober.probes.session import SessionPool

from .aioresponses_compat import compat_aioresponses
from .conftest import RawHandler, ServerFactory, make_config, routes

# Every test on both loops: `prober run` uses uvloop, whose transports are not asyncio's.
pytestmark = pytest.mark.both_loops


@pytest.fixture
async def sessions() -> AsyncIterator[SessionPool]:
    pool = SessionPool()
    yield pool
    await pool.close()


RunProbe = Callable[..., Any]


def runner(sessions: SessionPool, client: str) -> RunProbe:
    async def run(url: str, **probe: Any) -> ProbeResult:
        config = make_config([{"name": "p", "url": url, **probe}], agent={"http_client": client})
        probe_config = config.probes[0]
        assert isinstance(probe_config, ProbeConfig)
        http = HTTPProbe(probe_config, config, sessions)
        now = time.monotonic()
        return await http.run(RunContext("run-1", now, now, time.time()))

    return run


@pytest.fixture(params=["builtin", "aiohttp"])
def run_probe(sessions: SessionPool, request: pytest.FixtureRequest) -> RunProbe:
    """Runs a probe through each client: every outcome must come out the same from both."""
    return runner(sessions, request.param)


@pytest.fixture
def run_aiohttp_probe(sessions: SessionPool) -> RunProbe:
    """aiohttp's client only: for tests that mock it with aioresponses."""
    return runner(sessions, "aiohttp")


async def user_ok(request: web.Request) -> web.Response:
    return web.json_response({"user_id": "canary", "metadata": {"version": 3, "tags": ["a"]}})


async def test_a_healthy_endpoint_is_a_success_with_phase_timings(
    http_server: ServerFactory, run_probe: RunProbe
) -> None:
    base = await http_server(routes(user=user_ok))
    result = await run_probe(
        f"{base}/user",
        expect={
            "status": [200],
            "json": [
                {"path": "user_id", "equals": "canary"},
                {"path": "metadata.tags[0]", "equals": "a"},
                {"path": "metadata.version", "exists": True},
            ],
        },
    )
    assert result.outcome is Outcome.SUCCESS, result.error
    assert result.code == 200
    assert result.error == ""
    assert set(result.phases) == {Phase.CONNECT, Phase.TTFB, Phase.TRANSFER}
    assert 0 < result.duration < 5
    assert sum(result.phases.values()) <= result.duration + 1e-3
    assert result.run_id == "run-1"


async def test_the_run_id_and_user_agent_are_sent_and_secret_headers_reach_the_server(
    http_server: ServerFactory, run_probe: RunProbe
) -> None:
    seen: dict[str, str] = {}

    async def record(request: web.Request) -> web.Response:
        seen.update({k.title(): v for k, v in request.headers.items()})
        return web.Response(text="ok")

    base = await http_server(routes(h=record))
    result = await run_probe(f"{base}/h", headers={"Authorization": "Bearer s3cr3t-token"})
    assert result.outcome is Outcome.SUCCESS
    assert seen["X-Request-Id"] == "run-1"
    assert seen["User-Agent"].startswith("prober/")
    assert seen["Authorization"] == "Bearer s3cr3t-token"


async def test_a_put_sends_the_json_body(http_server: ServerFactory, run_probe: RunProbe) -> None:
    got: list[Any] = []

    async def put(request: web.Request) -> web.Response:
        got.append((request.method, request.content_type, await request.json()))
        return web.json_response({}, status=204 if False else 200)

    base = await http_server(routes(m=put))
    result = await run_probe(f"{base}/m", method="PUT", json={"display_name": "Canary"})
    assert result.outcome is Outcome.SUCCESS
    assert got == [("PUT", "application/json", {"display_name": "Canary"})]


async def test_an_unexpected_status_is_http_status_with_the_code(
    http_server: ServerFactory, run_probe: RunProbe
) -> None:
    async def unavailable(_: web.Request) -> web.Response:
        return web.json_response({"error": "down"}, status=503)

    base = await http_server(routes(u=unavailable))
    result = await run_probe(f"{base}/u")
    assert result.outcome is Outcome.HTTP_STATUS
    assert result.code == 503
    assert result.error == "unexpected status 503"


async def test_a_redirect_is_not_followed_and_counts_against_a_2xx_expectation(
    http_server: ServerFactory, run_probe: RunProbe
) -> None:
    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    base = await http_server(routes(r=moved))
    assert (await run_probe(f"{base}/r")).code == 302
    assert (await run_probe(f"{base}/r", expect={"status": ["3xx"]})).outcome is Outcome.SUCCESS


@pytest.mark.parametrize(
    ("expect", "reason"),
    [
        (
            {"json": [{"path": "user_id", "equals": "someone-else"}]},
            "json user_id: got 'canary', want 'someone-else'",
        ),
        (
            {"json": [{"path": "metadata.missing", "exists": True}]},
            "json metadata.missing: expected present",
        ),
        (
            {"json": [{"path": "metadata.version", "matches": "^9$"}]},
            "json metadata.version: 3 does not match",
        ),
        ({"body_regex": "nope"}, "body does not match /nope/"),
        ({"body_not_regex": "canary"}, "body matches /canary/"),
    ],
    ids=["json-equals", "json-exists", "json-matches", "body-regex", "body-not-regex"],
)
async def test_a_failed_body_assertion_is_assertion_failed_with_the_reason(
    http_server: ServerFactory, run_probe: RunProbe, expect: dict[str, Any], reason: str
) -> None:
    base = await http_server(routes(user=user_ok))
    result = await run_probe(f"{base}/user", expect=expect)
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.code == 200
    assert result.error == reason


async def test_a_body_that_is_not_json_fails_a_json_assertion(
    http_server: ServerFactory, run_probe: RunProbe
) -> None:
    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>oops</html>", content_type="text/html")

    base = await http_server(routes(h=html))
    result = await run_probe(f"{base}/h", expect={"json": [{"path": "a", "exists": True}]})
    assert result.outcome is Outcome.ASSERTION_FAILED
    assert result.error == "body is not valid JSON"


async def test_a_server_that_never_answers_is_a_timeout_within_the_timeout(
    http_server: ServerFactory, run_probe: RunProbe
) -> None:
    async def hang(_: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response()

    base = await http_server(routes(h=hang))
    started = time.monotonic()
    result = await run_probe(f"{base}/h", timeout="300ms", interval="1s")
    assert result.outcome is Outcome.TIMEOUT
    assert result.code is None
    assert 0.29 <= result.duration < 0.6  # uvloop timers have millisecond resolution
    assert time.monotonic() - started < 1.0


async def test_a_body_that_stalls_after_the_headers_is_a_timeout(
    raw_server: Callable[[RawHandler], Any], run_probe: RunProbe
) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(5)
        writer.close()

    base = await raw_server(stall)
    result = await run_probe(f"{base}/", timeout="300ms", interval="1s")
    assert result.outcome is Outcome.TIMEOUT
    assert result.code == 200  # the headers did arrive
    assert Phase.TTFB in result.phases


async def test_a_closed_port_is_connect_refused(closed_port: int, run_probe: RunProbe) -> None:
    result = await run_probe(f"http://127.0.0.1:{closed_port}/")
    assert result.outcome is Outcome.CONNECT_REFUSED
    assert result.error == "connection refused"


async def test_an_unresolvable_name_is_a_dns_error_with_a_dns_phase(run_probe: RunProbe) -> None:
    result = await run_probe("http://user-metadata.invalid/healthz")
    assert result.outcome is Outcome.DNS_ERROR
    assert result.error.startswith("DNS resolution failed")
    assert Phase.DNS in result.phases


async def test_localhost_is_resolved_and_timed_on_every_fresh_run(
    http_server: ServerFactory, run_probe: RunProbe
) -> None:
    base = await http_server(routes(user=user_ok))
    url = base.replace("127.0.0.1", "localhost") + "/user"
    for _ in range(2):
        result = await run_probe(url)
        assert result.outcome is Outcome.SUCCESS
        assert Phase.DNS in result.phases


async def test_a_self_signed_certificate_is_a_tls_error(
    http_server: ServerFactory, run_probe: RunProbe, server_ssl: ssl.SSLContext
) -> None:
    base = await http_server(routes(user=user_ok), ssl_context=server_ssl)
    result = await run_probe(f"{base}/user")
    assert result.outcome is Outcome.TLS_ERROR
    assert "certificate" in result.error


async def test_a_certificate_for_another_host_is_a_tls_error(
    http_server: ServerFactory,
    run_probe: RunProbe,
    server_ssl: ssl.SSLContext,
    tls_files: dict[str, Path],
) -> None:
    base = await http_server(routes(user=user_ok), ssl_context=server_ssl)
    result = await run_probe(
        f"{base}/user", tls={"ca_file": str(tls_files["ca"]), "server_name": "other.example"}
    )
    assert result.outcome is Outcome.TLS_ERROR
    assert "other.example" in result.error or "mismatch" in result.error


async def test_a_trusted_ca_makes_https_succeed_and_reports_the_expiry(
    http_server: ServerFactory,
    run_probe: RunProbe,
    server_ssl: ssl.SSLContext,
    tls_files: dict[str, Path],
) -> None:
    base = await http_server(routes(user=user_ok), ssl_context=server_ssl)
    result = await run_probe(f"{base}/user", tls={"ca_file": str(tls_files["ca"])})
    assert result.outcome is Outcome.SUCCESS, result.error
    assert result.tls_expiry is not None
    assert result.tls_expiry > time.time() + 86400  # trustme certs last far longer than a day
    assert (await run_probe(f"{base}/user", tls={"verify": False})).outcome is Outcome.SUCCESS


async def test_a_body_over_the_cap_is_body_too_large_by_content_length_or_by_stream(
    http_server: ServerFactory, run_probe: RunProbe
) -> None:
    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async def streamed(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(10):
            await resp.write(b"y" * 1000)
        await resp.write_eof()
        return resp

    base = await http_server(routes(big=big, stream=streamed))
    for path in ("big", "stream"):
        result = await run_probe(f"{base}/{path}", expect={"max_body_bytes": 4096})
        assert result.outcome is Outcome.BODY_TOO_LARGE, path
        assert result.error == "body larger than 4096 bytes"
    assert (await run_probe(f"{base}/big", expect={"max_body_bytes": 5000})).success


async def test_garbage_instead_of_http_is_a_protocol_error(
    raw_server: Callable[[RawHandler], Any], run_probe: RunProbe
) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        writer.close()

    result = await run_probe(f"{await raw_server(garbage)}/")
    assert result.outcome is Outcome.PROTOCOL_ERROR
    assert result.error.startswith("invalid HTTP response")


async def test_a_connection_closed_mid_response_is_a_protocol_error(
    raw_server: Callable[[RawHandler], Any], run_probe: RunProbe
) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly a little")
        await writer.drain()
        writer.close()

    result = await run_probe(f"{await raw_server(cut)}/")
    assert result.outcome is Outcome.PROTOCOL_ERROR
    assert "closed mid-response" in result.error


async def test_a_peer_that_closes_without_answering_is_a_protocol_error(
    raw_server: Callable[[RawHandler], Any], run_probe: RunProbe
) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    result = await run_probe(f"{await raw_server(hang_up)}/")
    assert result.outcome is Outcome.PROTOCOL_ERROR


async def test_an_unexpected_exception_inside_the_client_is_internal_not_raised(
    run_aiohttp_probe: RunProbe, caplog: pytest.LogCaptureFixture
) -> None:
    with compat_aioresponses() as mocked:
        mocked.get("http://ums.test/boom", exception=RuntimeError("bug in prober"))
        result = await run_aiohttp_probe("http://ums.test/boom")
    assert result.outcome is Outcome.INTERNAL
    assert result.error == "RuntimeError: bug in prober"
    assert any(r.exc_info for r in caplog.records), "the traceback is logged"


async def test_mocked_responses_drive_status_and_assertion_logic(
    run_aiohttp_probe: RunProbe,
) -> None:
    with compat_aioresponses() as mocked:
        mocked.get("http://ums.test/a", status=200, body=json.dumps({"user_id": "x"}))
        mocked.get("http://ums.test/b", status=429)
        ok = await run_aiohttp_probe(
            "http://ums.test/a", expect={"json": [{"path": "user_id", "equals": "x"}]}
        )
        limited = await run_aiohttp_probe("http://ums.test/b", expect={"status": ["2xx", 429]})
    assert ok.outcome is Outcome.SUCCESS
    assert limited.outcome is Outcome.SUCCESS
    assert limited.code == 429


async def test_errors_never_contain_url_userinfo_or_secret_header_values(
    closed_port: int, run_probe: RunProbe
) -> None:
    result = await run_probe(
        f"http://admin:hunter2-pass@127.0.0.1:{closed_port}/x?token=abc",
        headers={"X-Api-Key": "tok-123456"},
    )
    assert result.outcome is Outcome.CONNECT_REFUSED
    for secret in ("hunter2-pass", "tok-123456"):
        assert secret not in result.error


async def test_fresh_connections_connect_every_run_and_keepalive_reuses_one(
    http_server: ServerFactory, run_probe: RunProbe
) -> None:
    peers: list[int] = []

    async def who(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername")[1])
        return web.Response(text="ok")

    base = await http_server(routes(who=who))
    fresh = [await run_probe(f"{base}/who") for _ in range(3)]
    assert all(Phase.CONNECT in r.phases for r in fresh)
    assert len(set(peers)) == 3  # a new source port, so a new connection, every run
    peers.clear()
    kept = [await run_probe(f"{base}/who", connection="keepalive") for _ in range(3)]
    assert all(r.outcome is Outcome.SUCCESS for r in kept)
    assert len(set(peers)) == 1
    assert Phase.CONNECT in kept[0].phases
    assert all(Phase.CONNECT not in r.phases for r in kept[1:])  # no connect phase when reused
