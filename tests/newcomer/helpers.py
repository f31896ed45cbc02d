"""Black-box helpers: the `prober` command as a process, real local servers, doc parsing.

Nothing here imports prober: everything goes through the command line, the files it writes
and the documents a new user reads.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

REPO = Path(__file__).resolve().parent.parent.parent
README = REPO / "README.md"
DEMO_SH = REPO / "scripts" / "demo.sh"
VENV_BIN = Path(sys.executable).parent


def prober_argv() -> list[str]:
    """The `prober` console script installed next to this Python, as a user runs it."""
    script = VENV_BIN / "prober"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "prober.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without prober's own variables and with a wide, colourless terminal."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UMS_", "PROBER_", "OTEL_")) and k not in ("COLUMNS", "LINES")
    }
    env.update({"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"})
    env.update(extra)
    return env


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + "\n" + self.err


def run_prober(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 40
) -> Result:
    proc = subprocess.run(
        [*prober_argv(), *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_prober_on_a_terminal(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 40
) -> Result:
    """Run with stdout and stderr on a pseudo-terminal (as typed in a shell); both merged."""
    master, slave = pty.openpty()
    environment = env if env is not None else clean_env()
    environment = {**environment, "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [*prober_argv(), *args],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child side closed
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")
    return Result(code, text, "")


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def top_errors(results: list[dict[str, Any]]) -> dict[str, str]:
    """The most frequent `error` per probe in a results file (failed runs only)."""
    per_probe: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in results:
        if line.get("error"):
            per_probe[line["probe"]][line["error"]] += 1
    return {probe: counts.most_common(1)[0][0] for probe, counts in per_probe.items()}


def strings_in(value: Any) -> list[str]:
    """Every string inside a JSON value (a field may be a string or an object)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


# --- real servers on 127.0.0.1, each on its own event loop in a thread --------------------


class ThreadServer:
    """An aiohttp app on a free 127.0.0.1 port, served from a background thread."""

    def __init__(self, make_app: Callable[[], web.Application]) -> None:
        self._make_app = make_app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> str:
        runner = web.AppRunner(
            self._make_app(), access_log=None, handle_signals=False, shutdown_timeout=0.2
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        return f"http://127.0.0.1:{runner.addresses[0][1]}"


def service_app() -> web.Application:
    """The service under test, with one path per kind of fault."""
    counters: collections.Counter[str] = collections.Counter()

    async def ok(request: web.Request) -> web.StreamResponse:
        return web.json_response({"user_id": "canary", "metadata": {"version": 7}})

    async def wrong_shape(request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": "canary", "meta": {}})

    async def unavailable(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "overloaded"}, status=503)

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return web.json_response({"user_id": "canary"})

    async def mixed(request: web.Request) -> web.StreamResponse:
        """Two runs in three get a 503, the third a body of the wrong shape."""
        key = request.query.get("k", "")
        counters[key] += 1
        if counters[key] % 3:
            return await unavailable(request)
        return await wrong_shape(request)

    async def no_content(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    app = web.Application()
    for path, handler in {
        "/ok": ok,
        "/wrong-shape": wrong_shape,
        "/503": unavailable,
        "/slow": slow,
        "/mixed": mixed,
        "/scenario/write": ok,
        "/scenario/read-ok": ok,
        "/scenario/read-503": unavailable,
        "/scenario/cleanup": no_content,
    }.items():
        app.router.add_route("*", path, handler)
    return app


def prometheus_app(data_since: float) -> web.Application:
    """A fake Prometheus HTTP API holding a couple of minutes of data (since `data_since`).

    Every recorded series has one region and a single point in time: 30% of runs bad, none
    slow. Range queries return that one point (at the range's end); no alert is firing.
    """

    def value(query: str) -> str:
        if "slo_data_seconds" in query:  # seconds with data, summed: the coverage query
            return f"{max(time.time() - data_since, 0.0):.3f}"
        if "count_over_time" in query:
            return "1"
        if "timestamp" in query:
            return f"{data_since:.3f}"
        for name, v in (
            ("bad_runs", "0.3"),
            ("slow_runs", "0"),
            ("success_runs", "0.7"),
            ("runs", "1"),
        ):
            if name in query:
                return v
        return "1"

    async def params(request: web.Request) -> dict[str, str]:
        found = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            found.update({k: str(v) for k, v in form.items()})
        return found

    async def query(request: web.Request) -> web.StreamResponse:
        p = await params(request)
        at = float(p.get("time", time.time()))
        q = p.get("query", "")
        result = [] if "ALERTS" in q else [{"metric": {"region": "local"}, "value": [at, value(q)]}]
        return web.json_response(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    async def query_range(request: web.Request) -> web.StreamResponse:
        p = await params(request)
        end = float(p.get("end", time.time()))
        q = p.get("query", "")
        result = (
            [] if "ALERTS" in q else [{"metric": {"region": "local"}, "values": [[end, value(q)]]}]
        )
        return web.json_response(
            {"status": "success", "data": {"resultType": "matrix", "result": result}}
        )

    async def buildinfo(request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "success", "data": {"version": "2.45.0"}})

    async def anything(request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "success", "data": []})

    app = web.Application()
    app.router.add_route("*", "/api/v1/query", query)
    app.router.add_route("*", "/api/v1/query_range", query_range)
    app.router.add_route("*", "/api/v1/status/buildinfo", buildinfo)
    app.router.add_route("*", "/{tail:.*}", anything)
    return app


# --- the demo's simulated service, as `prober demo` starts it ----------------------------


class Demo:
    """`prober demo` with a healthy service on a free port, bounded, stopped with SIGTERM."""

    def __init__(self, duration: str = "120s") -> None:
        self.duration = duration
        self.service_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Demo:
        self._proc = subprocess.Popen(
            [
                *prober_argv(),
                "demo",
                "--duration",
                self.duration,
                "--service-port",
                "0",
                "--listen",
                "127.0.0.1:0",
                "--error-rate",
                "0",
                "--log-level",
                "error",
            ],
            cwd=REPO,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], 20)
        assert ready, "prober demo printed nothing within 20 s"
        first = self._proc.stdout.readline()
        found = re.search(r"service (http://127\.0\.0\.1:\d+)", first)
        assert found, f"no service URL in the demo's first line: {first!r}"
        self.service_url = found.group(1)
        # Keep the pipe drained so the live table never blocks the demo.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        for _ in self._proc.stdout:
            pass

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


# --- reading the docs -----------------------------------------------------------------------


def code_blocks(
    markdown: str, languages: tuple[str, ...] = ("sh", "bash", "shell", "")
) -> list[str]:
    blocks = re.findall(r"^```([A-Za-z]*)\n(.*?)^```", markdown, flags=re.M | re.S)
    return [body for lang, body in blocks if lang in languages]


def section(markdown: str, title: str) -> str:
    """The text of a `## title` section, up to the next `## `."""
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, flags=re.M | re.S)
    return found.group(1) if found else ""


def shell_commands(block: str) -> Iterator[str]:
    """Commands of a shell code block: continuations joined, trailing comments removed."""
    joined = re.sub(r"\\\n\s*", " ", block)
    for line in joined.splitlines():
        command = re.sub(r"\s+#.*$", "", line).strip()
        if command and not command.startswith("#"):
            yield command


def readme_prober_commands() -> list[str]:
    """Every command in README.md's shell blocks whose program is `prober`."""
    text = README.read_text()
    return [
        command
        for block in code_blocks(text)
        for command in shell_commands(block)
        if re.match(r"(\S*/)?prober\s", command)
    ]


PATH_SETUP = re.compile(
    r"(^|[\s;&])(source|\.)\s+\S*\.venv/bin/activate\b|export\s+PATH=|\bpipx\s+install\b"
    r"|\bpip(3)?\s+install\s+--user\b|\.local/bin\b|\balias\s+prober="
)


def quick_start_path_setup() -> list[str]:
    """Shell lines in README's quick start that put `prober` on PATH (activate, export...)."""
    quick = section(README.read_text(), "Quick start")
    return [
        command
        for block in code_blocks(quick)
        for command in shell_commands(block)
        if PATH_SETUP.search(command)
    ]


def path_without_prober() -> str:
    """The caller's PATH minus every directory holding a `prober` (a fresh shell's PATH)."""
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    keep = [d for d in keep if not (Path(d) / "prober").exists()]
    for essential in ("/usr/local/bin", "/usr/bin", "/bin"):
        if essential not in keep:
            keep.append(essential)
    return os.pathsep.join(keep)


def run_as_typed_after_quick_start(
    command: str, cwd: Path, env: dict[str, str], timeout: float = 60
) -> Result:
    """Run `command` in bash as a new user would after the quick start: a fresh shell in the
    repository, the quick start's PATH setup lines (if any), then the command in `cwd`."""
    bash = shutil.which("bash") or "/bin/bash"
    setup = quick_start_path_setup()
    script = "\n".join([f"cd {REPO}", *setup, f"cd {cwd}", command])
    environment = {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}
    environment["PATH"] = path_without_prober()
    proc = subprocess.run(
        [bash, "--noprofile", "--norc", "-c", script],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def option_help(help_text: str, flag: str) -> tuple[str, str]:
    """(the option's flag line, its description) from argparse `--help` output."""
    lines = help_text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not line.startswith("  -"):
            continue
        parts = re.split(r"\s{2,}", stripped, maxsplit=1)
        head = parts[0]
        first_desc = parts[1] if len(parts) > 1 else ""
        flags = [f.split(" ")[0] for f in head.split(", ")]
        if flag not in flags:
            continue
        desc = [first_desc] if first_desc else []
        for follow in lines[i + 1 :]:
            if not follow.startswith("    ") or follow.strip().startswith("-"):
                break
            desc.append(follow.strip())
        return head, " ".join(desc)
    raise AssertionError(f"{flag} not in help:\n{help_text}")
