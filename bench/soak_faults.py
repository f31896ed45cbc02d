"""A fault soak (issue 17): `prober run` fed hostile bodies and hostile reloads, RSS watched.

    python bench/soak_faults.py [--seconds 40] [--scenarios bodies-builtin,bodies-aiohttp,...]
        [--prober-src /tmp/prober-old] [--out bench/results/soak-faults-X.json]

Each scenario starts its own `prober run` (uvloop, gc.freeze, as deployed) against a
target process on 127.0.0.1 and samples prober's RSS once a second:

- bodies-builtin / bodies-aiohttp: probes whose targets send 50 MiB bodies, with caps of
  16 MiB and 1 MiB, framed by Content-Length and chunked, through each HTTP client.
  Every run ends in body_too_large; what a run buffered must be freed by the next.
- alias-reloads: POST /-/reload every 200 ms, alternating a good config and a YAML file
  of nested aliases (6 levels of 8: 262,144 nodes once expanded, about 3 s to load and
  reject here), while /metrics is scraped. A moderate bomb: bounding alias expansion is
  the config loader's job (issue 17, config side); this checks the runtime around it.
- reload-storm: bursts of 20 concurrent POST /-/reload over three configs (two good, one
  that fails while it is built), with scrapes running throughout.

Reported per scenario: RSS at the end of the warm-up, at the end and its peak, the
reload and run counters, the slowest scrape. Every process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import analysis as a
import procs as p

MiB = 1024 * 1024
BODY = 50 * MiB
NINES = "9" * 400


# --- the target: 50 MiB bodies, two framings ---------------------------------------------
def serve(port: int) -> None:
    """The target process: /big?framing=declared|chunked sends BODY bytes; /ok says ok."""
    from aiohttp import web  # noqa: PLC0415 - only the target process needs the server

    piece = b"z" * (256 * 1024)

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        if request.query.get("framing") == "chunked":
            resp.enable_chunked_encoding()
        else:
            resp.content_length = BODY
        await resp.prepare(request)
        try:
            for _ in range(BODY // len(piece)):
                await resp.write(piece)
        except (ConnectionError, RuntimeError):
            pass  # the prober gave up at its cap
        return resp

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/ok", ok)
    print(json.dumps({"msg": "listening", "port": port}), flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- configs ------------------------------------------------------------------------------
def bodies_config(target: str, client: str) -> str:
    probes = []
    for cap in ("16MiB", "1MiB"):
        for framing in ("declared", "chunked"):
            name = f"big-{framing}-{cap.lower()}"
            probes.append(
                f"  - name: {name}\n    url: {target}/big?framing={framing}\n"
                f"    expect: {{max_body_bytes: {cap}}}\n"
            )
    return (
        f"agent: {{http_client: {client}}}\n"
        "defaults: {interval: 250ms, timeout: 240ms}\n"
        "probes:\n" + "".join(probes)
    )


def good_config(target: str, names: tuple[str, ...], interval: str = "100ms") -> str:
    probes = "".join(f"  - name: {n}\n    url: {target}/ok\n" for n in names)
    return f"defaults: {{interval: {interval}, timeout: 80ms}}\nprobes:\n{probes}"


def alias_config(target: str, levels: int = 6, width: int = 8) -> str:
    """A good config plus a nested-alias bomb where the schema does not expect it."""
    lines = ["bomb0: &b0 [x]"]
    for i in range(1, levels + 1):
        lines.append(f"bomb{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n" + good_config(target, ("kept",))


def building_fails_config(target: str) -> str:
    return (
        good_config(target, ("kept", "added"))
        + f"  - name: forever\n    url: {target}/ok\n"
        + (f"    interval: {NINES}s\n")
    )


# --- driving prober ---------------------------------------------------------------------------
class Sampler:
    """Samples prober's RSS (KiB) once a second in a thread until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), p.rss_kb(self.pid)))
            except (OSError, ValueError):
                return
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def at(self, t: float) -> int:
        return min(self.samples, key=lambda s: abs(s[0] - t))[1]


def post_reload(base: str) -> int:
    """The status of one POST /-/reload; 0 when it did not answer within 30 s."""
    req = urllib.request.Request(f"{base}/-/reload", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


async def scrape_loop(base: str, stop: threading.Event, stats: dict[str, float]) -> None:
    """Scrapes every 100 ms; records the slowest and the failed (over 10 s) ones."""
    while not stop.is_set():
        try:
            _, seconds = await asyncio.to_thread(p.scrape, f"{base}/metrics")
        except OSError:
            stats["failed_scrapes"] += 1
        else:
            stats["scrapes"] += 1
            stats["slowest_scrape_s"] = max(stats["slowest_scrape_s"], round(seconds, 3))
        await asyncio.sleep(0.1)


Driver = Callable[[str, Path, str, float], Any]


async def drive_nothing(base: str, config: Path, target: str, seconds: float) -> None:
    await asyncio.sleep(seconds)


async def drive_alias_reloads(base: str, config: Path, target: str, seconds: float) -> None:
    good, bomb = good_config(target, ("kept",)), alias_config(target)
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline and i < 10_000:
        await asyncio.to_thread(config.write_text, bomb if i % 2 else good)
        await asyncio.to_thread(post_reload, base)
        i += 1
        await asyncio.sleep(0.2)
    await asyncio.to_thread(config.write_text, good)
    await asyncio.to_thread(post_reload, base)


async def drive_storm(base: str, config: Path, target: str, seconds: float) -> None:
    variants = [
        good_config(target, ("kept", "b")),
        building_fails_config(target),
        good_config(target, ("kept", "c", "d"), interval="150ms"),
    ]
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline and i < 2_000:
        await asyncio.to_thread(config.write_text, variants[i % 3])
        await asyncio.gather(*(asyncio.to_thread(post_reload, base) for _ in range(20)))
        i += 1
        await asyncio.sleep(0.1)
    await asyncio.to_thread(config.write_text, variants[0])
    await asyncio.to_thread(post_reload, base)


SCENARIOS: dict[str, tuple[Callable[[str], str], Driver]] = {
    "bodies-builtin": (lambda t: bodies_config(t, "builtin"), drive_nothing),
    "bodies-aiohttp": (lambda t: bodies_config(t, "aiohttp"), drive_nothing),
    "alias-reloads": (lambda t: good_config(t, ("kept",)), drive_alias_reloads),
    "reload-storm": (lambda t: good_config(t, ("kept", "b")), drive_storm),
}


async def one(
    name: str, target: str, tmp: Path, *, seconds: float, warmup: float, src: Path
) -> dict[str, Any]:
    make_config, drive = SCENARIOS[name]
    config = tmp / f"{name}.yaml"
    config.write_text(make_config(target))
    port = p.free_port()
    base = f"http://127.0.0.1:{port}"
    prober = p.start(
        f"prober-{name}",
        [sys.executable, "-m", "prober.cli", "run", "-c", str(config), "--listen",
         f"127.0.0.1:{port}", "--web.enable-lifecycle", "--log-level", "warning"],
        tmp, cwd=src,
    )  # fmt: skip
    sampler: Sampler | None = None
    try:
        p.wait_for_http(f"{base}/ready", 30)
        sampler = Sampler(prober.pid)
        await asyncio.sleep(warmup)
        t0 = time.monotonic()
        stop = threading.Event()
        stats = {"scrapes": 0.0, "failed_scrapes": 0.0, "slowest_scrape_s": 0.0}
        scraper = asyncio.create_task(scrape_loop(base, stop, stats))
        await drive(base, config, target, seconds)
        await asyncio.sleep(2)  # let the last reload's runs happen
        stop.set()
        await scraper
        t1 = time.monotonic()
        text, _ = p.scrape(f"{base}/metrics")
    finally:
        if sampler is not None:
            sampler.stop()
        code = p.stop(prober)
    assert sampler is not None
    rss = [kb for t, kb in sampler.samples if t >= t0]
    outcomes: dict[str, float] = {}
    for labels, v in a.metric_samples(text, "prober_probe_runs_total"):
        outcomes[labels["outcome"]] = outcomes.get(labels["outcome"], 0) + v
    return {
        "scenario": name,
        "seconds": round(t1 - t0, 1),
        "rss_mib_after_warmup": round(sampler.at(t0) / 1024, 1),
        "rss_mib_mid": round(sampler.at((t0 + t1) / 2) / 1024, 1),
        "rss_mib_end": round(sampler.at(t1) / 1024, 1),
        "rss_mib_peak": round(max(rss) / 1024, 1),
        "runs_by_outcome": outcomes,
        "reloads_success": a.metric_sum(text, "prober_config_reloads_total", result="success"),
        "reloads_failure": a.metric_sum(text, "prober_config_reloads_total", result="failure"),
        **stats,
        "exit_code": code,
        "tracebacks": prober.stderr.read_text().count("Traceback"),
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="soak-faults-") as tmpdir:
        tmp = Path(tmpdir)
        port = p.free_port()
        target = p.start(
            "target", [sys.executable, str(Path(__file__)), "serve", "--port", str(port)], tmp
        )
        try:
            p.wait_for_http(f"http://127.0.0.1:{port}/ok", 30)
            out = []
            for name in args.scenarios.split(","):
                result = await one(
                    name, f"http://127.0.0.1:{port}", tmp,
                    seconds=args.seconds, warmup=5.0, src=args.prober_src,
                )  # fmt: skip
                print(json.dumps(result), flush=True)
                out.append(result)
            return out
        finally:
            p.stop(target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    serve_p = sub.add_parser("serve")
    serve_p.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--prober-src", type=Path, default=p.REPO,
        help="run `python -m prober.cli` from this checkout (e.g. an older commit, to compare)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.cmd == "serve":
        serve(args.port)
        return 0
    results = asyncio.run(main_async(args))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
