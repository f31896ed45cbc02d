"""Profile `prober run` under load with py-spy and print the hot spots.

    python bench/profile.py [--rate 1000] [--seconds 20] [--scrape-every 0] [--svg FILE]

Starts the simulated service and prober (RATE probes at 1 s), waits for the
warm-up, samples prober with `py-spy record` (raw collapsed stacks, and a flame
graph with --svg), then prints the functions with the most samples: "self" is
where the CPU was, "total" includes what they called. Needs py-spy
(`pip install py-spy`) and ptrace rights (root here). Stops everything by PID.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import procs as p


def roots(text: str, depth: int = 3) -> Counter[str]:
    """Samples by the first `depth` frames: which thread or entry point the time went to."""
    out: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if stack and count_text.isdigit():
            out[" > ".join(short(f) for f in stack.split(";")[:depth])] += int(count_text)
    return out


def parse_collapsed(text: str) -> tuple[Counter[str], Counter[str], int]:
    """py-spy raw output ("frame;frame;... count" per line) to self and total counts."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    n = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        n += count
        frames = stack.split(";")
        self_counts[frames[-1]] += count
        for frame in set(frames):
            total_counts[frame] += count
    return self_counts, total_counts, n


def short(frame: str) -> str:
    """`func (path/to/module.py:123)` -> `func (module.py)`: lines merged per function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--scrape-every", type=float, default=0.0, help="scrape /metrics (0: no)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--svg", type=Path, help="also write a flame graph here")
    parser.add_argument("--prober-src", type=Path)
    args = parser.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    rundir = Path(tempfile.mkdtemp(prefix="prober-profile-"))
    prober: p.Child | None = None
    service, port = p.start_service(rundir, 0.02, None, lean=True)
    stop_scraping = threading.Event()
    try:
        config = rundir / "profile.yaml"
        url = f"http://127.0.0.1:{port}/v1/users/canary/metadata"
        p.prober_config(config, url, probes=args.rate, interval=1.0, timeout=0.9)
        prober = p.start_prober(
            "prober", config, rundir / "results.jsonl", rundir, prober_src=args.prober_src
        )
        mport = p.wait_prober_port(prober)
        time.sleep(args.warmup)

        def scraper() -> None:
            while not stop_scraping.wait(args.scrape_every):
                p.scrape(f"http://127.0.0.1:{mport}/metrics", timeout=60)

        if args.scrape_every > 0:
            threading.Thread(target=scraper, daemon=True).start()
        raw = rundir / "profile.txt"

        def spy(fmt: str, out: Path) -> None:
            cmd = [pyspy, "record", "--pid", str(prober.pid), "--duration",
                   str(int(args.seconds)), "--rate", "250", "--nonblocking",
                   "--format", fmt, "--output", str(out)]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True, timeout=args.seconds + 60)

        spy("raw", raw)
        if args.svg:
            spy("flamegraph", args.svg)
    finally:
        stop_scraping.set()
        if prober is not None:
            p.stop(prober)
        p.stop(service)
    text = raw.read_text()
    self_counts, total_counts, n = parse_collapsed(text)
    merged_self: Counter[str] = Counter()
    merged_total: Counter[str] = Counter()
    for frame, count in self_counts.items():
        merged_self[short(frame)] += count
    for frame, count in total_counts.items():
        merged_total[short(frame)] = max(merged_total[short(frame)], count)
    print(f"{n} samples over {args.seconds:.0f} s at {args.rate} probes/s\n")
    print(f"{'self %':>7} {'total %':>8}  function")
    for frame, count in merged_self.most_common(args.top):
        print(f"{100 * count / n:7.1f} {100 * merged_total[frame] / n:8.1f}  {frame}")
    print(f"\n{'total %':>8}  function (inclusive, top)")
    for frame, count in merged_total.most_common(args.top):
        print(f"{100 * count / n:8.1f}  {frame}")
    print("\nwhere the samples start (first frames)")
    for stack, count in roots(text).most_common(8):
        print(f"{100 * count / n:8.1f}  {stack}")
    shutil.rmtree(rundir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
