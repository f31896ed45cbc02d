"""Issue 17: hostile configs, hostile services, secrets that never leak (black-box, from the spec).

Every invalid case of tests/hostile/corpus.py goes through ``prober check`` (in process, or in a
subprocess under a 1 GiB RLIMIT_AS for resource-exhaustion cases); the cases marked ``subset``
also through ``once -n 1`` (in process) and ``run --duration 2s`` (subprocess). Each must exit
2 with no traceback, name the config file and the field, keep every line under
``LINE_BOUND`` (1000) characters, and never print the planted secret.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.hostile.corpus import ACCEPTED, ENV, INVALID, SECRET, SECRET_PASS, TOLERATED, Case
from tests.hostile.harness import (
    CHECK_TIME_BOUND,
    LINE_BOUND,
    PROBER,
    Outcome,
    case_env,
    materialize,
    problems,
    run_inprocess,
    run_subprocess,
)

IS_ROOT = os.geteuid() == 0
SUB_TIME_BOUND = 14.0


def _skip_if_root(case: Case) -> None:
    if case.kind == "unreadable" and IS_ROOT:
        pytest.skip("root reads any file")


# ---------------------------------------------------------------- local servers (threads)


class ThreadServer:
    """An aiohttp app on 127.0.0.1 in its own thread and event loop."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._stop())
        self.loop.close()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


BODY_OK: dict[str, Any] = {
    "status": "ok",
    "user_id": "canary",
    "metadata": {"version": 3, "tags": ["abc"]},
    "x": "id=abc123",
}


def target_app(seen: list[str]) -> web.Application:
    async def ok(request: web.Request) -> web.StreamResponse:
        seen.append(str(request.rel_url))
        return web.json_response(BODY_OK, headers={"ETag": '"v3"'})

    async def aaa(request: web.Request) -> web.StreamResponse:
        seen.append(str(request.rel_url))
        return web.Response(text="a" * 30 + "!")

    async def slowish(request: web.Request) -> web.StreamResponse:
        seen.append(str(request.rel_url))
        return web.Response(text="fine")

    app = web.Application()
    app.router.add_route("*", "/ok", ok)
    app.router.add_route("*", "/aaa", aaa)
    app.router.add_route("*", "/healthy", slowish)
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[ThreadServer, list[str]]]:
    seen: list[str] = []
    with ThreadServer(target_app(seen)) as srv:
        yield srv, seen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---------------------------------------------------------------- subprocess batch, in parallel

SUB_JOBS: list[tuple[str, str]] = [
    (case.name, cmd)
    for case in INVALID
    for cmd in (
        (["check"] if case.resource else [])
        + (["once"] if case.resource and case.subset else [])
        + (["run"] if case.subset else [])
    )
]
BY_NAME = {c.name: c for c in INVALID}
SubResults = dict[tuple[str, str], tuple[Path, Outcome]]


def _argv(cmd: str, path: Path) -> list[str]:
    if cmd == "check":
        return ["check", "-c", str(path)]
    if cmd == "once":
        return ["once", "-c", str(path), "-n", "1"]
    return ["run", "-c", str(path), "--duration", "2s", "--listen", "127.0.0.1:0"]


@pytest.fixture(scope="module")
def sub_results(tmp_path_factory: pytest.TempPathFactory) -> SubResults:
    root = tmp_path_factory.mktemp("hostile-sub")

    def job(key: tuple[str, str]) -> tuple[tuple[str, str], tuple[Path, Outcome]]:
        case = BY_NAME[key[0]]
        if case.kind == "unreadable" and IS_ROOT:
            return key, (Path("/"), Outcome(2, "", "", 0.0))
        path = materialize(case, root / f"{case.name}-{key[1]}")
        return key, (path, run_subprocess(_argv(key[1], path), case_env(case)))

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(job, SUB_JOBS))


# ---------------------------------------------------------------- the corpus


def test_corpus_is_large_and_covers_every_category() -> None:
    assert len(INVALID) >= 170
    cats = {c.category for c in INVALID}
    for want in (
        "types", "ranges", "sizes", "encodings", "yaml", "urls", "headers", "regexes",
        "references", "file-refs", "env", "scenario", "unknown-fields", "config-path",
    ):  # fmt: skip
        assert want in cats
    assert any(c.resource for c in INVALID)
    assert len(ACCEPTED) >= 10


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", INVALID, ids=[c.name for c in INVALID])
def test_check_rejects(case: Case, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _skip_if_root(case)
    if case.resource:
        sub_results: SubResults = request.getfixturevalue("sub_results")
        path, outcome = sub_results[(case.name, "check")]
        bound = SUB_TIME_BOUND
    else:
        path = materialize(case, tmp_path)
        outcome = run_inprocess(_argv("check", path), case_env(case))
        bound = CHECK_TIME_BOUND
    found = problems(outcome, path, case.field, bound)
    for line in case.lines:
        if not re.search(rf"\b{line}\b", outcome.err):
            found.append(f"error does not name line {line}: {outcome.err[:300]!r}")
    assert not found, f"check -c {case.name}: " + "; ".join(found)


SUBSET = [c for c in INVALID if c.subset]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", SUBSET, ids=[c.name for c in SUBSET])
def test_once_rejects(case: Case, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _skip_if_root(case)
    if case.resource:
        sub_results: SubResults = request.getfixturevalue("sub_results")
        path, outcome = sub_results[(case.name, "once")]
        bound = SUB_TIME_BOUND
    else:
        path = materialize(case, tmp_path)
        outcome = run_inprocess(_argv("once", path), case_env(case))
        bound = CHECK_TIME_BOUND
    found = problems(outcome, path, case.field, bound)
    assert not found, f"once -n 1 -c {case.name}: " + "; ".join(found)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", SUBSET, ids=[c.name for c in SUBSET])
def test_run_rejects(case: Case, sub_results: SubResults) -> None:
    _skip_if_root(case)
    path, outcome = sub_results[(case.name, "run")]
    found = problems(outcome, path, case.field, SUB_TIME_BOUND)
    assert not found, f"run --duration 2s -c {case.name}: " + "; ".join(found)


def _no_leak_no_traceback(outcome: Outcome) -> list[str]:
    both = outcome.out + outcome.err
    found = []
    if "Traceback" in both:
        found.append("traceback: " + outcome.err.strip().splitlines()[-1][:200])
    for secret in (SECRET, SECRET_PASS):
        if secret in both:
            found.append("secret leaked")
    if '"internal"' in both or "internal=" in both:
        found.append("an internal outcome")
    return found


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", ACCEPTED, ids=[c.name for c in ACCEPTED])
def test_accepted_checks_and_runs(
    case: Case, tmp_path: Path, target: tuple[ThreadServer, list[str]]
) -> None:
    srv, _ = target
    path = materialize(case, tmp_path, srv.url)
    env = case_env(case)
    checked = run_inprocess(["check", "-c", str(path)], env)
    found = [f"check exit {checked.rc}: {checked.err[:300]!r}"] if checked.rc != 0 else []
    found += _no_leak_no_traceback(checked)
    once = ["once", "-c", str(path), "-n", "1"]
    # in process for speed; a regex that could hang the interpreter runs in a subprocess
    ran = (
        run_subprocess(once, env, timeout=12) if "regex" in case.name else run_inprocess(once, env)
    )
    if ran.rc != 0:
        found.append(f"once exit {ran.rc}: {(ran.err or ran.out)[-300:]!r}")
    found += _no_leak_no_traceback(ran)
    assert not found, f"{case.name}: " + "; ".join(found)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", TOLERATED, ids=[c.name for c in TOLERATED])
def test_tolerated_accepted_or_cleanly_rejected(
    case: Case, tmp_path: Path, target: tuple[ThreadServer, list[str]]
) -> None:
    srv, _ = target
    path = materialize(case, tmp_path, srv.url)
    checked = run_inprocess(["check", "-c", str(path)], case_env(case))
    found = _no_leak_no_traceback(checked)
    if checked.rc == 2:
        found += problems(checked, path, "", CHECK_TIME_BOUND)
    elif checked.rc == 0:
        ran = run_inprocess(["once", "-c", str(path), "-n", "1"], case_env(case))
        if ran.rc not in (0, 1):
            found.append(f"check accepted it but once exits {ran.rc}: {ran.err[-300:]!r}")
        found += _no_leak_no_traceback(ran)
    else:
        found.append(f"check exit {checked.rc}")
    assert not found, f"{case.name}: " + "; ".join(found)


# ---------------------------------------------------------------- tracing secrets


class OtlpReceiver:
    """POST /v1/traces: keeps every request body (decompressed) and answers OTLP success."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/traces", self.traces)

    async def traces(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.headers.get("Content-Encoding", "") == "gzip":
            body = gzip.decompress(body)
        self.bodies.append(body)
        return web.Response(
            body=b"", content_type="application/x-protobuf"
        )  # empty ExportTraceServiceResponse

    def spans(self) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for body in self.bodies:
            req = ExportTraceServiceRequest()
            req.ParseFromString(body)
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        attrs = {a.key: str(a.value) for a in span.attributes}
                        attrs["_name"] = span.name
                        attrs["_status"] = span.status.message
                        out.append(attrs)
        return out


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "probes.yaml"
    path.write_text(text)
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_tracing_endpoint_password_never_printed(
    protocol: str, tmp_path: Path, target: tuple[ThreadServer, list[str]]
) -> None:
    srv, _ = target
    closed = free_port()
    endpoint = f"http://user:{SECRET_PASS}@127.0.0.1:{closed}"
    if protocol == "http/protobuf":
        endpoint += "/v1/traces"
    path = _write(
        tmp_path,
        f"tracing: {{enabled: true, endpoint: '{endpoint}', protocol: {protocol}, "
        "sample_ratio: 1.0}\n"
        "agent: {listen: '127.0.0.1:0'}\n"
        f"probes:\n  - {{name: t1, url: '{srv.url}/ok', interval: 300ms, timeout: 250ms}}\n",
    )
    results = tmp_path / "runs.jsonl"
    env = case_env(INVALID[0])
    ran = run_subprocess(
        ["run", "-c", str(path), "--duration", "3s", "--results", str(results),
         "--log-level", "debug"],
        env, timeout=20,
    )  # fmt: skip
    everything = ran.out + ran.err + (results.read_text() if results.exists() else "")
    assert "Traceback" not in everything, ran.err[-2000:]
    assert SECRET_PASS not in everything, [
        ln[:300] for ln in everything.splitlines() if SECRET_PASS in ln
    ]
    assert ran.rc in (0, 1), ran.err[-1000:]


@pytest.mark.timeout(60)
def test_scenario_secret_query_redacted_in_spans_results_logs(
    tmp_path: Path, target: tuple[ThreadServer, list[str]]
) -> None:
    srv, seen = target
    receiver = OtlpReceiver()
    with ThreadServer(receiver.app) as otlp:
        path = _write(
            tmp_path,
            "tracing: {enabled: true, endpoint: '"
            + otlp.url
            + "/v1/traces', protocol: http/protobuf, sample_ratio: 1.0}\n"
            "agent: {listen: '127.0.0.1:0'}\n"
            "probes:\n"
            "  - name: sc\n    kind: scenario\n    interval: 400ms\n    timeout: 300ms\n"
            "    steps:\n"
            f"      - name: login\n        url: '{srv.url}/ok?token=${{SECRET}}&n={{{{nonce}}}}'\n"
            f"      - name: read\n        url: '{srv.url}/missing?api_key=${{SECRET}}'\n"
            "        expect: {status: [418]}\n"
            f"  - name: plain\n    url: '{srv.url}/ok?token=${{SECRET}}&sig=${{SECRET}}'\n"
            "    interval: 400ms\n    timeout: 300ms\n",
        )
        results = tmp_path / "runs.jsonl"
        ran = run_subprocess(
            ["run", "-c", str(path), "--duration", "3s", "--results", str(results),
             "--log-level", "debug"],
            case_env(INVALID[0]), timeout=20,
        )  # fmt: skip
        time.sleep(0.3)
    assert any(SECRET in u for u in seen), "the target never saw the secret query: no runs?"
    raw = b"".join(receiver.bodies)
    spans = receiver.spans()
    assert spans, f"no spans reached the OTLP receiver; stderr: {ran.err[-1000:]}"
    assert SECRET.encode() not in raw, [s.get("url.full", "") for s in spans if SECRET in str(s)]
    urls = [s["url.full"] for s in spans if "url.full" in s]
    assert urls, "no span carries url.full"
    assert any("REDACTED" in u for u in urls), urls[:5]
    text = results.read_text() if results.exists() else ""
    assert text, "no results written"
    assert SECRET not in text
    assert SECRET not in ran.out + ran.err
    assert "Traceback" not in ran.out + ran.err


# ---------------------------------------------------------------- catastrophic regex


@pytest.mark.timeout(60)
def test_catastrophic_regex_does_not_starve_other_probes(
    tmp_path: Path, target: tuple[ThreadServer, list[str]]
) -> None:
    srv, _ = target
    path = _write(
        tmp_path,
        "agent: {listen: '127.0.0.1:0'}\n"
        "probes:\n"
        f"  - name: evil\n    url: '{srv.url}/aaa'\n    interval: 1s\n    timeout: 500ms\n"
        "    expect: {body_regex: '(a+)+$'}\n"
        f"  - name: healthy\n    url: '{srv.url}/healthy'\n    interval: 500ms\n"
        "    timeout: 400ms\n",
    )
    results = tmp_path / "runs.jsonl"
    ran = run_subprocess(
        ["run", "-c", str(path), "--duration", "6s", "--results", str(results)],
        case_env(INVALID[0]), timeout=15,
    )  # fmt: skip
    assert ran.rc is not None, "run --duration 6s did not end within 15 s (event loop stuck)"
    lines = [json.loads(ln) for ln in results.read_text().splitlines()] if results.exists() else []
    healthy = [r for r in lines if r.get("probe") == "healthy"]
    evil = [r for r in lines if r.get("probe") == "evil"]
    assert len(healthy) >= 9, f"healthy ran {len(healthy)} times in 6 s at 500 ms"
    assert all(r["outcome"] == "success" for r in healthy), {r["outcome"] for r in healthy}
    assert evil, "the evil probe never finished a run"
    assert all(r["outcome"] == "assertion_failed" for r in evil), {r["outcome"] for r in evil}
    assert "Traceback" not in ran.err


# ---------------------------------------------------------------- reload is all or nothing


def _metric(text: str, name: str) -> float | None:
    m = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


@pytest.mark.timeout(60)
def test_rejected_reload_is_not_half_applied(
    tmp_path: Path, target: tuple[ThreadServer, list[str]]
) -> None:

    srv, seen = target
    port = free_port()
    old = (
        f"agent: {{listen: '127.0.0.1:{port}'}}\nprobes:\n"
        f"  - {{name: a, url: '{srv.url}/reload-old', interval: 300ms, timeout: 200ms}}\n"
    )
    new = (
        f"agent: {{listen: '127.0.0.1:{port}'}}\nprobes:\n"
        f"  - {{name: a, url: '{srv.url}/reload-new', interval: 300ms, timeout: 200ms}}\n"
        f"  - {{name: b, url: '{srv.url}/reload-b', interval: {'9' * 400}s, timeout: 1s}}\n"
    )
    path = _write(tmp_path, old)
    results = tmp_path / "runs.jsonl"

    def scrape() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
                return str(r.read().decode())
        except OSError as exc:
            return f"unreachable: {exc}"

    def poll(done: Callable[[str], bool]) -> str:
        """Scrape until `done` holds (at most 100 tries, 0.1 s apart): no guessed sleeps."""
        text = scrape()
        for _ in range(100):
            if done(text):
                break
            time.sleep(0.1)
            text = scrape()
        return text

    with subprocess.Popen(
        [*PROBER, "run", "-c", str(path), "--results", str(results), "--duration", "20s"],
        env=case_env(INVALID[0]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        poll(lambda m: (_metric(m, "prober_probes_configured") or 0) >= 1)  # SIGHUP handled
        path.write_text(new)
        proc.send_signal(signal.SIGHUP)
        failure = 'prober_config_reloads_total{result="failure"}'
        metrics = poll(lambda m: failure in m and not m.split(failure)[1].startswith(" 0"))
        time.sleep(0.6)  # two intervals of probe a, had the new config been applied
        metrics = scrape()
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    text = (out + err).decode("utf-8", "replace")
    assert "Traceback" not in text, text[-1500:]
    assert not any("/reload-new" in u or "/reload-b" in u for u in seen), (
        "rejected or not, the new config must be all or nothing; it was partly applied"
    )
    assert _metric(metrics, "prober_config_last_reload_success") == 0, metrics[:300]
    assert _metric(metrics, "prober_probes_configured") == 1


# ---------------------------------------------------------------- memory after body_too_large


@pytest.mark.timeout(60)
def test_body_too_large_does_not_pile_up_memory(tmp_path: Path) -> None:
    cap = 8 * 1024 * 1024
    chunk = b"x" * (1024 * 1024)

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()  # chunked: no Content-Length, so the cap hits while reading
        await resp.prepare(request)
        try:
            for _ in range(12):
                await resp.write(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return resp

    app = web.Application()
    app.router.add_get("/big", big)
    port = free_port()
    with ThreadServer(app) as srv:
        path = _write(
            tmp_path,
            f"agent: {{listen: '127.0.0.1:{port}'}}\nprobes:\n"
            f"  - name: big\n    url: '{srv.url}/big'\n    interval: 200ms\n    timeout: 180ms\n"
            "    expect: {max_body_bytes: 8MiB}\n",
        )

        with subprocess.Popen(
            [*PROBER, "run", "-c", str(path), "--duration", "6s"],
            env=case_env(INVALID[0]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as proc:
            time.sleep(5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
                    metrics = r.read().decode()
            finally:
                proc.wait(timeout=15)
    rss = _metric(metrics, "process_resident_memory_bytes")
    runs = re.findall(
        r'prober_probe_runs_total\{[^}]*outcome="body_too_large"[^}]*\} (\S+)', metrics
    )
    assert runs, metrics[:500]
    assert sum(map(float, runs)) >= 10, runs
    assert rss is not None
    # one run in flight at a time: base (~100 MB) plus a few caps, not one cap per past run
    assert rss < 100 * 1024 * 1024 + 6 * cap, f"RSS {rss / 2**20:.0f} MiB after {runs} runs"


def test_line_bound_is_stated() -> None:
    assert LINE_BOUND == 1000
    assert set(ENV) >= {"SECRET"}
