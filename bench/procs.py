"""Process plumbing shared by run.py and soak.py: start, wait for, read and stop by PID.

Every child's output goes to a file (a pipe nobody drains would stall it), and
every child is stopped by its own PID: SIGTERM, then SIGKILL after a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import analysis

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    files: list[Any] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None


def start(
    name: str,
    argv: Sequence[str],
    logdir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    cpus: AbstractSet[int] | None = None,
) -> Child:
    """Start `argv`; with `cpus`, on those CPUs only, set before exec so every thread the
    program starts (Go's, Python's) inherits the mask."""
    out_path, err_path = logdir / f"{name}.out", logdir / f"{name}.err"
    out, err = out_path.open("wb"), err_path.open("wb")
    full_env = {**os.environ, **(env or {})}
    mask = frozenset(cpus) if cpus else None
    proc = subprocess.Popen(
        list(argv),
        stdout=out,
        stderr=err,
        stdin=subprocess.DEVNULL,
        env=full_env,
        cwd=cwd,
        preexec_fn=(lambda: os.sched_setaffinity(0, mask)) if mask else None,  # noqa: PLW1509 - run.py is single-threaded
    )
    return Child(name, proc, out_path, err_path, [out, err])


def stop(child: Child, timeout: float = 10.0) -> int | None:
    """SIGTERM the child by PID, wait, SIGKILL if it is still there. Returns its exit code."""
    try:
        if child.alive():
            os.kill(child.pid, signal.SIGTERM)
            try:
                child.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(
                    f"bench: {child.name} ({child.pid}) ignored SIGTERM: killing", file=sys.stderr
                )
                os.kill(child.pid, signal.SIGKILL)
                child.proc.wait(5)
    except ProcessLookupError:
        pass
    finally:
        for f in child.files:
            f.close()
    return child.proc.returncode


def wait_for_json_line(
    child: Child, path: Path, accept: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """Poll a child's output file for a JSON line that `accept`s; fail if it dies or stalls."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        for line in lines[seen:]:
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                if isinstance(data, dict) and accept(data):
                    return data
        seen = max(seen, len(lines) - 1)  # the last line may still be incomplete
        if not child.alive():
            raise RuntimeError(
                f"{child.name} exited with {child.proc.returncode}: "
                f"{child.stderr.read_text(errors='replace')[-2000:]}"
            )
        time.sleep(0.05)
    raise TimeoutError(f"{child.name}: no expected line in {path} after {timeout}s")


def wait_for_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                resp.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_stat(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text()


def read_status(pid: int) -> str:
    return Path(f"/proc/{pid}/status").read_text()


def rss_kb(pid: int, key: str = "VmRSS") -> int:
    return analysis.proc_status_kb(read_status(pid), key) or 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def scrape(url: str, timeout: float = 10.0) -> tuple[str, float]:
    """GET url; returns (body, seconds the request took)."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body = resp.read().decode()
    return body, time.perf_counter() - t0


def put_json(url: str, data: Mapping[str, Any], timeout: float = 5.0) -> Any:
    req = urllib.request.Request(
        url,
        data=json.dumps(data).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


def start_service(
    logdir: Path,
    latency: float,
    access_log: Path | None,
    name: str = "service",
    *,
    cpus: AbstractSet[int] | None = None,
    lean: bool = False,
) -> tuple[Child, int]:
    argv = [sys.executable, str(BENCH / "service.py"), "--latency", str(latency)]
    if lean:
        argv.append("--lean")
    if access_log is not None:
        argv += ["--access-log", str(access_log)]
    child = start(name, argv, logdir, cpus=cpus)
    line = wait_for_json_line(child, child.stdout, lambda d: "port" in d, 30)
    return child, int(line["port"])


def prober_config(
    path: Path,
    url: str,
    *,
    probes: int,
    interval: float,
    timeout: float,
    extra: str = "",
    client: str = "builtin",
    metrics: str = "full",
) -> None:
    """A config of `probes` identical GET probes at one interval (status 200 expected)."""
    lines = [
        "agent:",
        "  region: bench",
        *([f"  http_client: {client}"] if client != "builtin" else []),  # older trees lack it
        *([f"  metrics: {metrics}"] if metrics != "full" else []),
        "defaults:",
        f"  interval: {interval}s",
        f"  timeout: {timeout}s",
        "probes:",
    ]
    for i in range(probes):
        lines += [f"  - name: p{i:05d}", f"    url: {url}", "    expect: {status: [200]}"]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")


def start_prober(
    name: str,
    config: Path,
    results: Path | None,
    logdir: Path,
    *,
    prober_src: Path | None = None,
    extra_args: Sequence[str] = (),
    cpus: AbstractSet[int] | None = None,
) -> Child:
    """`prober run` (on uvloop), /metrics on a free loopback port: see wait_prober_port."""
    argv = [
        sys.executable,
        "-m",
        "prober.cli",
        "run",
        "-c",
        str(config),
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",  # info level: the "serving /metrics" line gives the port
        *extra_args,
    ]
    if results is not None:
        argv += ["--results", str(results)]
    env = {"PYTHONPATH": str(prober_src)} if prober_src else {}
    return start(name, argv, logdir, env=env, cwd=prober_src or REPO, cpus=cpus)


def wait_prober_port(child: Child, timeout: float = 120) -> int:
    line = wait_for_json_line(
        child, child.stderr, lambda d: d.get("msg") == "serving /metrics", timeout
    )
    return int(line["port"])


def affinity(pid: int) -> list[int]:
    """The CPUs `pid` may run on (to record that pinning took), [] once it is gone."""
    try:
        return sorted(os.sched_getaffinity(pid))
    except OSError:
        return []
