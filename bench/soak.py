"""A bounded soak: prober at a high probe rate for N minutes while the service misbehaves.

    python bench/soak.py [--minutes 30] [--rate 500] [--out bench/results/soak-X.json]

The simulated service (bench/service.py) cycles through faults set live with
PUT /-/faults: healthy, a latency spike (some runs time out), an error burst
(half the requests 503), stale reads (read-after-write scenarios fail). prober
runs RATE single-request probes plus 10 write/read/cleanup scenarios, all at a
1 s interval, with a results file. Every --every seconds the soak samples
prober's RSS, open fds and threads from /proc; every --scrape-every seconds it
scrapes /metrics like Prometheus would (runs, skips, in-flight runs, loop lag).
It reports the slopes (MB/hour, fds/hour) after the warm-up, and whether the
counters add up to the runs the schedule planned. Stops by itself; every
process it started is stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import analysis as a
import procs as p

STAGES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("healthy", {"latency": 0.02, "jitter": 0.0, "error_rate": 0.0, "stale_reads": False}),
    ("latency spike", {"latency": 0.3, "jitter": 0.8, "error_rate": 0.0, "stale_reads": False}),
    ("healthy", {"latency": 0.02, "jitter": 0.0, "error_rate": 0.0, "stale_reads": False}),
    ("error burst", {"latency": 0.02, "jitter": 0.0, "error_rate": 0.5, "stale_reads": False}),
    ("healthy", {"latency": 0.02, "jitter": 0.0, "error_rate": 0.0, "stale_reads": False}),
    ("stale reads", {"latency": 0.02, "jitter": 0.0, "error_rate": 0.0, "stale_reads": True}),
)
SCENARIOS = 10


def scenario_yaml(base: str, count: int) -> str:
    out = []
    for i in range(count):
        user = f"{base}/v1/users/soak-{i}/metadata"
        out.append(
            f"""  - name: s{i:02d}
    kind: scenario
    timeout: 0.6s
    steps:
      - name: write
        method: PUT
        url: {user}
        json: {{nonce: "{{{{nonce}}}}"}}
        expect: {{status: [200]}}
      - name: read
        url: {user}
        expect:
          status: [200]
          json:
            - {{path: metadata.nonce, equals: "{{{{nonce}}}}"}}
      - name: cleanup
        method: DELETE
        url: {user}
        always_run: true
        timeout: 0.3s
        expect: {{status: [204, 404]}}
"""
        )
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=500, help="single-request probes per second")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between /proc samples")
    parser.add_argument("--scrape-every", type=float, default=15.0, help="seconds between scrapes")
    parser.add_argument("--stage-seconds", type=float, default=60.0, help="seconds per fault")
    parser.add_argument("--warmup", type=float, help="seconds left out of the slopes")
    parser.add_argument("--prober-src", type=Path, help="run prober from this source tree")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the raw files")
    args = parser.parse_args()
    total = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(120.0, total * 0.2)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = args.out or p.BENCH / "results" / f"soak-{stamp}.json"
    rundir = Path(tempfile.mkdtemp(prefix="prober-soak-"))
    print(f"soak: raw files in {rundir}", file=sys.stderr)

    service, port = p.start_service(rundir, 0.02, None)
    prober: p.Child | None = None
    samples: list[dict[str, Any]] = []
    scrapes: list[dict[str, Any]] = []
    stages: list[tuple[float, str]] = []
    base = f"http://127.0.0.1:{port}"
    n_probes = args.rate + SCENARIOS
    try:
        config = rundir / "soak.yaml"
        p.prober_config(
            config, f"{base}/v1/users/canary/metadata", probes=args.rate, interval=1.0, timeout=0.9,
            extra=scenario_yaml(base, SCENARIOS),
        )  # fmt: skip
        results = rundir / "results.jsonl"
        prober = p.start_prober("prober-soak", config, results, rundir, prober_src=args.prober_src)
        mport = p.wait_prober_port(prober)
        metrics_url = f"http://127.0.0.1:{mport}/metrics"
        t_start = time.monotonic()
        deadline = t_start + total
        next_sample = next_scrape = next_stage = t_start
        stage_i = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if not prober.alive():
                raise RuntimeError(f"prober exited with {prober.proc.returncode} during the soak")
            if now >= next_stage:
                name, faults = STAGES[stage_i % len(STAGES)]
                p.put_json(f"{base}/-/faults", faults)
                stages.append((now - t_start, name))
                stage_i += 1
                next_stage += args.stage_seconds
            if now >= next_sample:
                status = p.read_status(prober.pid)
                samples.append(
                    {
                        "t": now - t_start,
                        "stage": stages[-1][1] if stages else "",
                        "rss_kb": a.proc_status_kb(status, "VmRSS"),
                        "hwm_kb": a.proc_status_kb(status, "VmHWM"),
                        "threads": int(
                            next(
                                x for x in status.splitlines() if x.startswith("Threads:")
                            ).split()[1]
                        ),
                        "fds": p.open_fds(prober.pid),
                        "cpu_s": a.proc_cpu_ticks(p.read_stat(prober.pid)) / p.CLK_TCK,
                    }
                )
                next_sample += args.every
            if now >= next_scrape:
                body, seconds = p.scrape(metrics_url, timeout=60)
                scrapes.append(
                    {
                        "t": time.monotonic() - t_start,
                        "render_s": seconds,
                        "runs": a.metric_sum(body, "prober_probe_runs_total"),
                        "skipped": a.metric_sum(body, "prober_skipped_runs_total"),
                        "inflight": a.metric_sum(body, "prober_inflight"),
                        "loop_lag": a.metric_sum(body, "prober_event_loop_lag_seconds"),
                        "dropped": a.metric_sum(body, "prober_results_dropped_total"),
                        "success": a.metric_sum(body, "prober_probe_runs_total", outcome="success"),
                    }
                )
                next_scrape += args.scrape_every
            time.sleep(
                max(0.0, min(next_sample, next_scrape, next_stage, deadline) - time.monotonic())
            )
    finally:
        if prober is not None:
            p.stop(prober, timeout=15)
        p.stop(service)
    lines = sum(1 for _ in (rundir / "results.jsonl").open(encoding="utf-8"))
    summary = summarize(samples, scrapes, warmup, n_probes, lines)
    summary["meta"] = {
        "started": stamp,
        "minutes": args.minutes,
        "rate": args.rate,
        "probes": n_probes,
        "stage_seconds": args.stage_seconds,
        "stages": [s[0] for s in STAGES],
        "warmup_s": warmup,
        "prober_src": str(args.prober_src or p.REPO),
    }
    summary["samples"] = samples
    summary["scrapes"] = scrapes
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    md = report_md(summary)
    out_path.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    print(f"soak: {out_path}", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(rundir, ignore_errors=True)
    return 0


def summarize(
    samples: list[dict[str, Any]],
    scrapes: list[dict[str, Any]],
    warmup: float,
    n_probes: int,
    result_lines: int,
) -> dict[str, Any]:
    steady = [s for s in samples if s["t"] >= warmup]
    ts = [s["t"] for s in steady]
    out: dict[str, Any] = {
        "rss_mb_first": steady[0]["rss_kb"] / 1024 if steady else math.nan,
        "rss_mb_last": steady[-1]["rss_kb"] / 1024 if steady else math.nan,
        "rss_mb_max": max((s["rss_kb"] for s in samples), default=0) / 1024,
        "hwm_mb": samples[-1]["hwm_kb"] / 1024 if samples else math.nan,
        "rss_mb_per_hour": a.per_hour(ts, [s["rss_kb"] / 1024 for s in steady]),
        "fds_per_hour": a.per_hour(ts, [float(s["fds"]) for s in steady]),
        "fds_min_max": [
            min((s["fds"] for s in steady), default=0),
            max((s["fds"] for s in steady), default=0),
        ],
        "threads_min_max": [
            min((s["threads"] for s in steady), default=0),
            max((s["threads"] for s in steady), default=0),
        ],
        "cpu_s_per_1000": math.nan,
    }
    # Open fds follow the connections in flight, which follow the fault of the moment (a
    # latency spike holds hundreds open): compare like with like, healthy samples only.
    healthy = [s for s in steady if s.get("stage") == "healthy"]
    hts = [s["t"] for s in healthy]
    out["healthy_rss_mb_per_hour"] = a.per_hour(hts, [s["rss_kb"] / 1024 for s in healthy])
    out["healthy_fds_per_hour"] = a.per_hour(hts, [float(s["fds"]) for s in healthy])
    out["healthy_fds_min_max"] = [
        min((s["fds"] for s in healthy), default=0),
        max((s["fds"] for s in healthy), default=0),
    ]
    sc = [s for s in scrapes if s["t"] >= warmup]
    if len(sc) >= 2:
        first, last = sc[0], sc[-1]
        dt = last["t"] - first["t"]
        done = (last["runs"] + last["skipped"] + last["inflight"]) - (
            first["runs"] + first["skipped"] + first["inflight"]
        )
        planned = n_probes * dt  # 1 s interval
        out.update(
            window_s=dt,
            planned_runs=planned,
            runs_plus_skipped=done,
            counted_over_planned=done / planned if planned else math.nan,
            # each probe may sit on either side of a scrape instant: +/- one run per probe,
            # and a scrape is itself a few tenths of a second long
            counters_consistent=a.counters_consistent(done, 0, 0, planned, tolerance=2 * n_probes),
            skipped=last["skipped"] - first["skipped"],
            skipped_fraction=(last["skipped"] - first["skipped"]) / planned if planned else 0,
            runs_success_fraction=(last["success"] - first["success"])
            / max(1.0, last["runs"] - first["runs"]),
            inflight_max=max(s["inflight"] for s in sc),
            loop_lag_max_s=max(s["loop_lag"] for s in sc),
            results_dropped=last["dropped"],
            render_s=a.summarize([s["render_s"] for s in sc]),
            runs_total_last=last["runs"],
        )
        cpu = [s for s in steady if first["t"] <= s["t"] <= last["t"]]
        if len(cpu) >= 2:
            out["cpu_s_per_1000"] = a.per_thousand(
                cpu[-1]["cpu_s"] - cpu[0]["cpu_s"], round(n_probes * (cpu[-1]["t"] - cpu[0]["t"]))
            )
    out["results_file_lines"] = result_lines
    return out


def report_md(s: dict[str, Any]) -> str:
    m = s["meta"]
    r = s.get("render_s", {})
    return "\n".join(
        [
            f"Soak {m['started']}: {m['minutes']:g} min, {m['probes']} probes at 1 s "
            f"({m['rate']} single-request + {SCENARIOS} scenarios), faults cycling every "
            f"{m['stage_seconds']:g} s: {', '.join(m['stages'])}; slopes after "
            f"{m['warmup_s']:.0f} s.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| RSS (MB) first / last / max after warm-up | {s['rss_mb_first']:.1f} / "
            f"{s['rss_mb_last']:.1f} / {s['rss_mb_max']:.1f} (peak {s['hwm_mb']:.1f}) |",
            f"| RSS slope | {s['rss_mb_per_hour']:+.2f} MB/hour |",
            f"| open fds min / max, slope | {s['fds_min_max'][0]} / {s['fds_min_max'][1]}, "
            f"{s['fds_per_hour']:+.1f} fds/hour |",
            f"| healthy stages only: RSS slope, fds min / max, fds slope | "
            f"{s.get('healthy_rss_mb_per_hour', math.nan):+.2f} MB/hour, "
            f"{s.get('healthy_fds_min_max', [0, 0])[0]} / {s.get('healthy_fds_min_max', [0, 0])[1]}"
            f", {s.get('healthy_fds_per_hour', math.nan):+.1f} fds/hour |",
            f"| threads min / max | {s['threads_min_max'][0]} / {s['threads_min_max'][1]} |",
            f"| in-flight runs, max at a scrape | {s.get('inflight_max', math.nan):.0f} |",
            f"| runs + skipped vs planned | {s.get('runs_plus_skipped', math.nan):.0f} / "
            f"{s.get('planned_runs', math.nan):.0f} = "
            f"{s.get('counted_over_planned', math.nan):.4f} "
            f"({'consistent' if s.get('counters_consistent') else 'NOT consistent'}) |",
            f"| skipped runs | {s.get('skipped', math.nan):.0f} "
            f"({s.get('skipped_fraction', math.nan) * 100:.2f}% of planned) |",
            f"| success fraction of runs (faults included) | "
            f"{s.get('runs_success_fraction', math.nan) * 100:.2f}% |",
            f"| loop lag gauge, max at a scrape | {s.get('loop_lag_max_s', math.nan) * 1000:.0f}"
            " ms |",
            f"| results file lines / runs_total at last scrape / dropped | "
            f"{s['results_file_lines']} / {s.get('runs_total_last', math.nan):.0f} / "
            f"{s.get('results_dropped', math.nan):.0f} |",
            f"| /metrics scrape p50 / max | {r.get('p50', math.nan) * 1000:.0f} / "
            f"{r.get('max', math.nan) * 1000:.0f} ms |",
            f"| CPU per 1,000 planned runs | {s['cpu_s_per_1000']:.3f} s |",
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
