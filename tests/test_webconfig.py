"""TLS, mTLS and basic auth on prober's own endpoints, from an exporter-toolkit web config.

Real HTTPS requests to `serve(...)` on 127.0.0.1 with trustme certificates; invalid
web configs are a table of testdata files, each with the exact one-line message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import ssl
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest
import trustme
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from prober.agent import Agent
from prober.cli import build_parser
from prober.web.config import WebConfigError, load_web_config
from prober.web.server import serve

from .conftest import REPO, make_config

TESTDATA = Path(__file__).parent / "testdata" / "webconfig"
PASSWORD = "correct horse battery staple"
CHEAP_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # fast tests


@dataclass(frozen=True)
class PKI:
    """Files of a server CA and cert, a client CA and two of its certs, and a stranger."""

    dir: Path
    server_ca: Path
    server_chain: Path
    server_key: Path
    client_ca: Path
    client: Path  # key + chain, SANs prometheus@example.org and scraper.example
    other_client: Path  # same CA, SAN intruder.example
    stranger: Path  # key + chain from a CA the server does not trust

    def client_ssl(self, cert: Path | None = None, max_tls12: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.server_ca))
        if cert is not None:
            ctx.load_cert_chain(str(cert))
        if max_tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    base = tmp_path_factory.mktemp("webpki")
    server_ca, client_ca, stranger_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("localhost", "127.0.0.1")
    server_ca.cert_pem.write_to_path(str(base / "server-ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(base / "server.pem"))
    server.private_key_pem.write_to_path(str(base / "server.key"))
    client_ca.cert_pem.write_to_path(str(base / "client-ca.pem"))
    for name, ca, identities in (
        ("client.pem", client_ca, ("prometheus@example.org", "scraper.example")),
        ("other-client.pem", client_ca, ("intruder.example",)),
        ("stranger.pem", stranger_ca, ("scraper.example",)),
    ):
        ca.issue_cert(*identities).private_key_and_cert_chain_pem.write_to_path(str(base / name))
    return PKI(
        base,
        base / "server-ca.pem",
        base / "server.pem",
        base / "server.key",
        base / "client-ca.pem",
        base / "client.pem",
        base / "other-client.pem",
        base / "stranger.pem",
    )


def tls_section(pki: PKI, **extra: str) -> str:
    lines = [
        "tls_server_config:",
        f"  cert_file: {pki.server_chain.name}",  # relative: resolved against the file's folder
        f"  key_file: {pki.server_key.name}",
    ]
    lines += [f"  {key}: {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def users_section(**users: str) -> str:
    return "basic_auth_users:\n" + "".join(f"  {u}: '{h}'\n" for u, h in users.items())


Start = Callable[[str], Awaitable[int]]


@pytest.fixture
async def start(pki: PKI) -> AsyncIterator[Start]:
    """Serve an agent's endpoints with the given web config text; returns the port."""
    agent = Agent(make_config([{"name": "p", "url": "http://127.0.0.1:9/"}]))
    runners: list[web.AppRunner] = []

    async def run(text: str) -> int:
        path = pki.dir / f"web-{len(runners)}.yml"
        path.write_text(text)
        runner, port = await serve(agent, "127.0.0.1:0", web_config=path, lifecycle=True)
        runners.append(runner)
        return port

    yield run
    for runner in runners:
        await runner.cleanup()


async def fetch(
    url: str,
    *,
    ssl_ctx: ssl.SSLContext | bool = True,
    auth: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> tuple[int, dict[str, str], str]:
    headers = {**(headers or {}), **(basic(*auth) if auth else {})}
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, url, ssl=ssl_ctx, headers=headers) as r,
    ):
        return r.status, dict(r.headers), await r.text()


async def test_with_tls_the_metrics_are_served_over_https_with_the_configured_certificate(
    pki: PKI, start: Start
) -> None:
    port = await start(tls_section(pki))
    status, headers, body = await fetch(
        f"https://127.0.0.1:{port}/metrics", ssl_ctx=pki.client_ssl()
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert "prober_build_info" in body
    with pytest.raises(aiohttp.ClientError):  # plain HTTP to the TLS port gets nothing
        await fetch(f"http://127.0.0.1:{port}/metrics")
    with pytest.raises(aiohttp.ClientConnectorCertificateError):  # a client trusting no one
        await fetch(f"https://127.0.0.1:{port}/metrics", ssl_ctx=ssl.create_default_context())


async def test_tls_refuses_clients_below_the_configured_minimum_version(
    pki: PKI, start: Start
) -> None:
    port = await start(tls_section(pki, min_version="TLS13"))
    url = f"https://127.0.0.1:{port}/healthz"
    assert (await fetch(url, ssl_ctx=pki.client_ssl()))[0] == 200
    with pytest.raises(aiohttp.ClientError):
        await fetch(url, ssl_ctx=pki.client_ssl(max_tls12=True))


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/metrics", {}, 401),
        ("GET", "/metrics", basic("prometheus", "wrong"), 401),
        ("GET", "/metrics", basic("nobody", PASSWORD), 401),
        ("GET", "/metrics", basic("prometheus", PASSWORD + "x" * 80), 401),
        ("GET", "/metrics", {"Authorization": "Bearer " + PASSWORD}, 401),
        ("GET", "/metrics", {"Authorization": "Basic !!!not-base64"}, 401),
        (
            "GET",
            "/metrics",
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
            401,
        ),
        ("GET", "/metrics", basic("prometheus", PASSWORD), 200),
        ("GET", "/metrics", basic("htpasswd-user", PASSWORD), 200),
        ("GET", "/ready", {}, 401),
        ("GET", "/", {}, 401),
        ("POST", "/-/reload", {}, 401),
        ("POST", "/-/reload", basic("prometheus", PASSWORD), 400),  # authorised; no file
        ("GET", "/healthz", {}, 200),
    ],
    ids=[
        "no credentials",
        "wrong password",
        "unknown user",
        "password longer than bcrypt's 72 bytes",
        "another scheme",
        "credentials that are not base64",
        "credentials without a colon",
        "right password",
        "an htpasswd $2y$ hash",
        "readiness needs auth",
        "the index needs auth",
        "reload needs auth",
        "reload with auth reaches the handler",
        "liveness stays open",
    ],
)
async def test_basic_auth_guards_every_endpoint_but_healthz(
    start: Start, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    htpasswd_style = "$2y$" + CHEAP_HASH.removeprefix("$2b$")
    port = await start(users_section(prometheus=CHEAP_HASH, **{"htpasswd-user": htpasswd_style}))
    got, response_headers, body = await fetch(
        f"http://127.0.0.1:{port}{path}", headers=headers, method=method
    )
    assert got == status, body
    if status == 401:
        assert response_headers["WWW-Authenticate"].startswith("Basic")
        assert "prober_" not in body
        assert PASSWORD not in body


async def test_password_checks_run_off_the_event_loop_so_probing_never_stalls(
    start: Start,
) -> None:
    """bcrypt at cost 10 takes tens of milliseconds: inline, it would freeze every probe."""
    costly = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    port = await start(users_section(prometheus=costly))
    url = f"http://127.0.0.1:{port}/metrics"
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    results = await asyncio.gather(
        *(fetch(url, auth=("prometheus", f"guess-{i}")) for i in range(4)),
        fetch(url, auth=("prometheus", PASSWORD)),
    )
    elapsed = time.perf_counter() - started
    done.set()
    await tick
    assert [r[0] for r in results] == [401, 401, 401, 401, 200]
    assert elapsed > 0.1, "five cost-10 checks, one at a time, cannot be faster than this"
    assert max(gaps) < 0.06, f"the loop stalled for {max(gaps):.3f}s during password checks"


async def test_with_required_client_certificates_only_clients_of_the_client_ca_get_in(
    pki: PKI, start: Start
) -> None:
    port = await start(
        tls_section(
            pki, client_auth_type="RequireAndVerifyClientCert", client_ca_file="client-ca.pem"
        )
    )
    url = f"https://127.0.0.1:{port}/metrics"
    assert (await fetch(url, ssl_ctx=pki.client_ssl(pki.client)))[0] == 200
    for cert in (None, pki.stranger):
        with pytest.raises(aiohttp.ClientError):
            await fetch(url, ssl_ctx=pki.client_ssl(cert))


async def test_optional_client_certificates_are_verified_when_given(pki: PKI, start: Start) -> None:
    port = await start(
        tls_section(pki, client_auth_type="VerifyClientCertIfGiven", client_ca_file="client-ca.pem")
    )
    url = f"https://127.0.0.1:{port}/metrics"
    assert (await fetch(url, ssl_ctx=pki.client_ssl()))[0] == 200
    assert (await fetch(url, ssl_ctx=pki.client_ssl(pki.client)))[0] == 200
    with pytest.raises(aiohttp.ClientError):
        await fetch(url, ssl_ctx=pki.client_ssl(pki.stranger))


async def test_client_allowed_sans_admit_only_the_listed_client_identities(
    pki: PKI, start: Start
) -> None:
    port = await start(
        tls_section(
            pki,
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file=str(pki.client_ca),  # absolute paths work too
            client_allowed_sans="[prometheus@example.org]",
        )
    )
    url = f"https://127.0.0.1:{port}/metrics"
    assert (await fetch(url, ssl_ctx=pki.client_ssl(pki.client)))[0] == 200
    status, _, _ = await fetch(url, ssl_ctx=pki.client_ssl(pki.other_client))
    assert status == 403


async def test_tls_and_basic_auth_combine_and_configured_headers_are_on_every_response(
    pki: PKI, start: Start
) -> None:
    text = (
        tls_section(pki)
        + users_section(prometheus=CHEAP_HASH)
        + "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
        + "    Strict-Transport-Security: max-age=31536000\n"
    )
    port = await start(text)
    url = f"https://127.0.0.1:{port}/metrics"
    denied = await fetch(url, ssl_ctx=pki.client_ssl())
    allowed = await fetch(url, ssl_ctx=pki.client_ssl(), auth=("prometheus", PASSWORD))
    assert (denied[0], allowed[0]) == (401, 200)
    for _, headers, _ in (denied, allowed):
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Strict-Transport-Security"] == "max-age=31536000"


def touch_later(path: Path, text: str) -> None:
    """Rewrite `path` so its mtime surely differs from the last version's."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    while path.stat().st_mtime_ns == before:
        time.sleep(0.01)
        path.write_text(text)


async def test_a_changed_password_applies_without_a_restart_and_a_broken_file_is_ignored(
    pki: PKI, start: Start, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("prober.web.config.RECHECK_SECONDS", 0.0)
    port = await start(users_section(prometheus=CHEAP_HASH))
    path = pki.dir / "web-0.yml"
    url = f"http://127.0.0.1:{port}/metrics"
    assert (await fetch(url, auth=("prometheus", PASSWORD)))[0] == 200
    new_password = "a rotated password"
    new_hash = bcrypt.hashpw(new_password.encode(), bcrypt.gensalt(4)).decode()
    touch_later(path, users_section(prometheus=new_hash))
    assert (await fetch(url, auth=("prometheus", PASSWORD)))[0] == 401
    assert (await fetch(url, auth=("prometheus", new_password)))[0] == 200
    touch_later(path, "basic_auth_users: [not, a, mapping]\n")
    assert (await fetch(url, auth=("prometheus", new_password)))[0] == 200, "last good kept"
    assert any("web config not reloaded" in r.getMessage() for r in caplog.records)


@pytest.mark.both_loops  # uvloop has its own TLS transport: the handshake hook must work there
async def test_a_rotated_certificate_is_served_to_the_next_connection(
    pki: PKI, start: Start, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("prober.web.config.RECHECK_SECONDS", 0.0)
    ca = trustme.CA()
    first, second = ca.issue_cert("127.0.0.1"), ca.issue_cert("127.0.0.1")
    cert, key = pki.dir / "rotating.pem", pki.dir / "rotating.key"
    first.cert_chain_pems[0].write_to_path(str(cert))
    first.private_key_pem.write_to_path(str(key))
    port = await start(f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n")
    client = ssl.create_default_context()
    ca.configure_trust(client)

    async def served_certificate() -> bytes:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()
        return bytes(der)

    def der(pem: bytes) -> bytes:
        return ssl.PEM_cert_to_DER_cert(pem.decode())

    assert await served_certificate() == der(first.cert_chain_pems[0].bytes())
    second.private_key_pem.write_to_path(str(key))
    touch_later(cert, second.cert_chain_pems[0].bytes().decode())
    assert await served_certificate() == der(second.cert_chain_pems[0].bytes())


async def test_an_empty_web_config_serves_plain_http_without_auth(pki: PKI, start: Start) -> None:
    port = await start("")
    assert (await fetch(f"http://127.0.0.1:{port}/metrics"))[0] == 200
    assert load_web_config(pki.dir / "web-0.yml").ssl is None


# file -> the message after "<file>: "; "<dir>" is the testdata folder.
INVALID = {
    "invalid-not-a-mapping.yml": (
        "expected a mapping (tls_server_config, basic_auth_users, ...), got list"
    ),
    "invalid-yaml.yml": (
        "line 2 column 1: invalid YAML: expected ',' or ']', but got '<stream end>'"
    ),
    "invalid-unknown-top-level-key.yml": "tls_config: unknown field",
    "invalid-unknown-tls-key.yml": "tls_server_config.client_auth: unknown field",
    "invalid-missing-key-file.yml": "tls_server_config: missing key_file",
    "invalid-missing-cert-file.yml": "tls_server_config: missing cert_file",
    "invalid-cert-file-not-a-string.yml": "tls_server_config.cert_file: expected a string",
    "invalid-cert-file-not-found.yml": (
        "tls_server_config.cert_file: cannot read '<dir>/missing.pem': No such file or directory"
    ),
    "invalid-client-auth-type.yml": (
        "tls_server_config.client_auth_type: invalid value 'Always': "
        "one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
    ),
    "invalid-client-auth-type-unverified.yml": (
        "tls_server_config.client_auth_type: RequireAnyClientCert is not supported by prober: "
        "it would accept a client certificate without verifying it; "
        "use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
    ),
    "invalid-client-ca-without-auth-type.yml": (
        "tls_server_config: client_ca_file is set but client_auth_type is not: "
        "use RequireAndVerifyClientCert or VerifyClientCertIfGiven"
    ),
    "invalid-verify-without-client-ca.yml": (
        "tls_server_config: client_auth_type RequireAndVerifyClientCert needs client_ca_file"
    ),
    "invalid-allowed-sans-with-optional-cert.yml": (
        "tls_server_config.client_allowed_sans: needs client_auth_type RequireAndVerifyClientCert"
    ),
    "invalid-cipher-suites.yml": (
        "tls_server_config.cipher_suites: not supported by prober: Python's TLS defaults apply "
        "(min_version: TLS13 restricts ciphers to TLS 1.3 ones)"
    ),
    "invalid-rate-limit.yml": "rate_limit: not supported by prober",
    "invalid-plaintext-password.yml": (
        "basic_auth_users.alice: not a bcrypt hash (make one with: htpasswd -nBC 10 alice)"
    ),
    "invalid-user-name-with-colon.yml": (
        "basic_auth_users: invalid user name 'al:ice': a string without ':'"
    ),
    "invalid-users-not-a-mapping.yml": (
        "basic_auth_users: expected a mapping of user names to bcrypt hashes, got list"
    ),
    "invalid-header-name.yml": (
        "http_server_config.headers.Server: header cannot be configured: one of "
        "Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, "
        "X-Frame-Options, X-XSS-Protection"
    ),
    "invalid-header-value.yml": (
        "http_server_config.headers.X-Frame-Options: expected one of deny, sameorigin, "
        "got 'allow-from'"
    ),
    "invalid-http2.yml": "http_server_config.http2: expected true or false",
}


def test_every_invalid_web_config_in_testdata_has_a_row() -> None:
    assert {p.name for p in TESTDATA.glob("invalid-*.yml")} == set(INVALID)


@pytest.mark.parametrize(("file", "message"), INVALID.items(), ids=list(INVALID))
def test_an_invalid_web_config_is_one_line_naming_the_file_and_the_field(
    file: str, message: str
) -> None:
    path = TESTDATA / file
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    assert str(caught.value) == f"{path}: {message.replace('<dir>', str(TESTDATA))}"
    assert "hunter2" not in str(caught.value)  # a plaintext password is never echoed


def test_a_missing_web_config_file_is_one_line() -> None:
    with pytest.raises(WebConfigError, match=r"^nowhere/web\.yml: file not found$"):
        load_web_config("nowhere/web.yml")


def test_a_key_that_does_not_match_the_certificate_is_refused(pki: PKI, tmp_path: Path) -> None:
    other_key = trustme.CA().issue_cert("localhost").private_key_pem
    other_key.write_to_path(str(tmp_path / "other.key"))
    path = tmp_path / "web.yml"
    path.write_text(f"tls_server_config:\n  cert_file: {pki.server_chain}\n  key_file: other.key\n")
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    assert str(caught.value).startswith(
        f"{path}: tls_server_config: cannot use cert_file and key_file: "
    )
    assert "\n" not in str(caught.value)


def test_an_encrypted_key_is_refused_without_prompting_for_a_passphrase(
    pki: PKI, tmp_path: Path
) -> None:
    key = serialization.load_pem_private_key(pki.server_key.read_bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    (tmp_path / "locked.key").write_bytes(encrypted)
    path = tmp_path / "web.yml"
    path.write_text(
        f"tls_server_config:\n  cert_file: {pki.server_chain}\n  key_file: locked.key\n"
    )
    with pytest.raises(WebConfigError, match="cannot use cert_file and key_file"):
        load_web_config(path)


def test_a_client_ca_file_without_certificates_is_refused(pki: PKI, tmp_path: Path) -> None:
    (tmp_path / "empty-ca.pem").write_text("not a certificate\n")
    path = tmp_path / "web.yml"
    path.write_text(
        f"tls_server_config:\n  cert_file: {pki.server_chain}\n  key_file: {pki.server_key}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: empty-ca.pem\n"
    )
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    assert str(caught.value).startswith(
        f"{path}: tls_server_config.client_ca_file: cannot load CA certificates: "
    )


async def test_serve_refuses_a_bad_web_config_before_binding_the_port(tmp_path: Path) -> None:
    agent = Agent(make_config([{"name": "p", "url": "http://127.0.0.1:9/"}]))
    with pytest.raises(WebConfigError):
        await serve(agent, "127.0.0.1:0", web_config=TESTDATA / "invalid-rate-limit.yml")


# --- the CLI flag ------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["run", "demo"])
def test_run_and_demo_take_the_web_config_flag(command: str) -> None:
    with contextlib.redirect_stderr(io.StringIO()):
        args = build_parser().parse_args([command, "--web.config.file", "web.yml"])
    assert args.web_config == Path("web.yml")


async def _prober(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "prober.cli",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_prober_run_with_a_bad_web_config_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "probes.yaml"
    config.write_text("probes:\n  - name: p\n    url: http://127.0.0.1:9/\n")
    bad = TESTDATA / "invalid-plaintext-password.yml"
    proc = await _prober(
        "run", "-c", str(config), "--listen", "127.0.0.1:0", "--web.config.file", str(bad)
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert err.decode() == f"error: {bad}: {INVALID[bad.name]}\n"


async def test_prober_run_serves_https_with_basic_auth_from_the_web_config_flag(
    pki: PKI, tmp_path: Path
) -> None:
    config = tmp_path / "probes.yaml"
    config.write_text("probes:\n  - name: p\n    url: http://127.0.0.1:9/\n")
    web_config = pki.dir / "cli-web.yml"
    web_config.write_text(tls_section(pki) + users_section(prometheus=CHEAP_HASH))
    proc = await _prober(
        "run", "-c", str(config), "--listen", "127.0.0.1:0", "--log-format", "json",
        "--web.config.file", str(web_config),
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        port = 0
        while not port:
            line = await asyncio.wait_for(proc.stderr.readline(), 15)
            assert line, "prober exited before serving"
            record: dict[str, Any] = json.loads(line)
            port = int(record.get("port", 0)) if record.get("msg") == "serving /metrics" else 0
        url = f"https://127.0.0.1:{port}/metrics"
        assert (await fetch(url, ssl_ctx=pki.client_ssl()))[0] == 401
        status, _, body = await fetch(url, ssl_ctx=pki.client_ssl(), auth=("prometheus", PASSWORD))
        assert status == 200
        assert "prober_build_info" in body
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 10)
