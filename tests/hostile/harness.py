"""Running prober on hostile configs: materialising cases, in-process and subprocess calls."""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import stat
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.hostile.corpus import ENV, SECRET, SECRET_PASS, Case, Text

LINE_BOUND = 1000  # characters per output line, for error output
MAX_ERROR_LINES = 50  # one line per problem; no hostile case has more problems than this
MAX_STDERR = 64 * 1024
MEM_LIMIT = 1 << 30  # RLIMIT_AS for subprocesses: 1 GiB
SUB_TIMEOUT = 15.0
CHECK_TIME_BOUND = 10.0
PROBER = [sys.executable, "-c", "import sys; from prober.cli import main; sys.exit(main())"]


@dataclass
class Outcome:
    rc: int | None  # None: killed after the timeout
    out: str
    err: str
    elapsed: float


def _bytes(text: Text, fill: Mapping[str, str]) -> bytes:
    if callable(text):
        return text()
    if isinstance(text, bytes):
        for key, val in fill.items():
            text = text.replace(key.encode(), val.encode())
        return text
    for key, val in fill.items():
        text = text.replace(key, val)
    return text.encode()


def materialize(case: Case, root: Path, url: str = "http://127.0.0.1:9") -> Path:
    """Write the case's files under ``root``; return the path to pass as ``-c``."""
    root.mkdir(parents=True, exist_ok=True)
    files = root / "files"
    files.mkdir(exist_ok=True)
    hostport = url.split("://", 1)[1]
    fill = {"@DIR@": str(files), "@URL_HOSTPORT@": hostport, "@URL@": url}
    for name, content in case.files.items():
        (files / name).write_bytes(_bytes(content, fill))
    if case.kind == "dir":
        (root / "conf.d").mkdir(exist_ok=True)
        return root / "conf.d"
    if case.kind == "missing":
        return root / "does-not-exist.yaml"
    if case.kind == "devzero":
        return Path("/dev/zero")
    if case.kind == "urandom":
        return Path("/dev/urandom")
    if case.kind == "fifo":
        fifo = root / "probes.fifo"
        if not fifo.exists():
            os.mkfifo(fifo)
        return fifo
    path = root / "probes.yaml"
    if case.kind == "markup":
        (root / "x[").mkdir(exist_ok=True)
        path = root / "x[" / "]probes.yaml"
    path.write_bytes(_bytes(case.text, fill))
    if case.kind == "unreadable":
        path.chmod(0)
    assert stat.S_ISREG(path.stat().st_mode)
    return path


def case_env(case: Case) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROBER_"))}
    env.update(ENV)
    env.update(case.env)
    return env


def run_inprocess(argv: list[str], env: Mapping[str, str]) -> Outcome:
    """Call prober.cli.main(argv) with the given environment; capture its output."""
    from prober.cli import main  # noqa: PLC0415  (imported lazily: only in-process runs need it)

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    rc: int | None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                ret = main(argv)
                rc = ret if isinstance(ret, int) else 0
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                err.write(traceback.format_exc())
                rc = 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Outcome(rc, out.getvalue(), err.getvalue(), time.monotonic() - start)


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT, MEM_LIMIT))
    os.setsid()


def run_subprocess(
    argv: list[str],
    env: Mapping[str, str],
    timeout: float = SUB_TIMEOUT,
    cwd: Path | None = None,
    preexec: Callable[[], None] | None = _limit,
) -> Outcome:
    start = time.monotonic()
    with subprocess.Popen(
        [*PROBER, *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        preexec_fn=preexec,  # noqa: PLW1509  (RLIMIT_AS must be set in the child)
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
            rc: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            rc = None
    return Outcome(
        rc,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        time.monotonic() - start,
    )


def problems(outcome: Outcome, path: Path, field: str, time_bound: float) -> list[str]:
    """Everything wrong with how a hostile config was rejected (empty: rejected properly)."""

    found: list[str] = []
    both = outcome.out + outcome.err
    if outcome.rc is None:
        found.append(f"did not finish within {SUB_TIMEOUT:.0f}s (killed)")
    elif outcome.rc != 2:
        found.append(f"exit code {outcome.rc}, expected 2")
    if outcome.elapsed > time_bound:
        found.append(f"took {outcome.elapsed:.1f}s > {time_bound:.0f}s")
    if "Traceback" in both:
        last = [ln for ln in outcome.err.splitlines() if ln.strip()][-1:] or [""]
        found.append("traceback: " + last[0][:200])
    for secret in (SECRET, SECRET_PASS):
        if secret in both:
            i = both.index(secret)
            found.append(f"secret leaked: ...{both[max(0, i - 80) : i]!r}")
    if outcome.rc is not None and str(path) not in outcome.err:
        found.append(f"stderr does not name the config path: {outcome.err[:200]!r}")
    long_lines = [ln for ln in both.splitlines() if len(ln) > LINE_BOUND]
    if long_lines:
        found.append(
            f"{len(long_lines)} line(s) over {LINE_BOUND} chars (max {max(map(len, long_lines))})"
        )
    if len(outcome.err) > MAX_STDERR:
        found.append(f"stderr is {len(outcome.err)} bytes")
    err_lines = [ln for ln in outcome.err.splitlines() if ln.strip()]
    if len(err_lines) > MAX_ERROR_LINES:
        found.append(f"{len(err_lines)} stderr lines")
    # The field must be named by the message, not found in the path (tmp dirs carry test names).
    message = outcome.err.replace(str(path), "<config>")
    if outcome.rc == 2 and field and not re.search(field, message, re.IGNORECASE):
        found.append(f"error does not name /{field}/: {outcome.err[:300]!r}")
    return found
