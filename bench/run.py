"""prober vs blackbox_exporter vs the loopback floor, side by side, on this machine.

    python bench/run.py [--quick] [--rates 100,500,1000,2000] [--repeats 3] [--no-pin]

Starts the simulated service (bench/service.py, fixed latency, access log) on
127.0.0.1, then for each rate, one after another:
  prober    `prober run` with RATE probes at a 1 s interval, --results;
  blackbox  prometheus-blackbox-exporter driven at RATE through /probe by loadgen.py;
  floor     loadgen.py fetching the service itself, fresh connection per request.
Each phase: start, warm up, measure a window of whole seconds (CPU from
/proc/PID/stat at its edges), stop by PID. Each rate is repeated (--repeats, tools
interleaved); the table shows the median of the repeats and their spread. The tool
under test runs alone on CPU 1, the service, the drivers and this script on CPU 0
(--no-pin: anywhere). Then `prober run` with 10,000 probes
for memory and /metrics render time. At the end the service's access log is
matched one to one with every reported latency. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import analysis as a
import procs as p

BLACKBOX = "prometheus-blackbox-exporter"
BLACKBOX_CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: {timeout}s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      valid_status_codes: [200]
"""
# prober-aiohttp: prober with `agent.http_client: aiohttp`, to show what the builtin client buys.
TOOLS = ("prober", "blackbox", "floor", "prober-aiohttp")
DEFAULT_TOOLS = ("prober", "blackbox", "floor")
COMPARABLE_SUCCESS = 0.9  # below this a tool's CPU per probe sent says little
GIVE_UP_SUCCESS = 0.5  # a tool answering fewer of its runs at a rate is not run at higher ones
OVERHEAD_OVER_FLOOR_MS = 0.5  # issue 20: overhead p99 within this of the floor, every repeat
LAG_P99_MS = 2.0  # issue 20: schedule lag p99 at most this, every repeat
CPU_SHARE = 1 / 3  # issue 20: CPU per probe at most this share of blackbox_exporter's
LIMIT_SHARE = 0.85  # a service or driver using this much of its core may be the limit
SERVICE_PATH = "/v1/users/canary/metadata"


class Settings:
    def __init__(self, args: argparse.Namespace) -> None:
        self.quick: bool = args.quick
        self.warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else 4.0)
        self.window = args.window if args.window is not None else (8.0 if args.quick else 30.0)
        self.interval = 1.0  # probes per rate = rate; planned runs are exact in whole seconds
        self.timeout = 0.9
        self.latency: float = args.latency
        self.render_probes: int = args.render_probes
        self.render_interval = 20.0
        self.render_scrapes = 8 if args.quick else 20
        self.prober_src: Path | None = args.prober_src
        self.scrape_every: float = args.scrape_every
        self.render_budget = 10.0 if args.quick else 60.0  # seconds of scrapes, at most
        self.repeats: int = args.repeats
        self.metrics: str = args.metrics
        # (the tool's CPUs, everyone else's): a deployed prober does not share its core with
        # the service it measures (docs: measurement.md, "Measure the tool on its own core")
        self.tool_cpus: frozenset[int] | None = None
        self.other_cpus: frozenset[int] | None = None
        available = os.sched_getaffinity(0)
        if not args.no_pin:
            if {0, 1} <= available:
                self.tool_cpus, self.other_cpus = frozenset({1}), frozenset({0})
            else:
                print("bench: CPUs 0 and 1 are not both available: not pinning", file=sys.stderr)


# --- phases ------------------------------------------------------------------------
def window_edges(ready: float, s: Settings) -> tuple[float, float]:
    t0 = math.ceil(ready + s.warmup)
    return float(t0), float(t0 + s.window)


def preemptions(pid: int) -> int:
    """Times the kernel took the CPU from the process while it could still run: each is
    a pause of the event loop that no code of prober's can avoid."""
    return a.proc_status_kb(p.read_status(pid), "nonvoluntary_ctxt_switches") or 0


def sample_cpu(pids: dict[str, int]) -> dict[str, str]:
    out = {"_system": Path("/proc/stat").read_text()}
    for name, pid in pids.items():
        try:
            out[name] = p.read_stat(pid)
        except OSError:
            out[name] = ""
    return out


def cpu_deltas(before: dict[str, str], after: dict[str, str]) -> dict[str, float]:
    """CPU seconds of each process in the window, and the whole machine's busy share."""
    out = {
        name: a.cpu_seconds(before[name], after[name], p.CLK_TCK)
        for name in before
        if name != "_system" and before[name] and after.get(name)
    }
    out["_busy"] = a.busy_fraction(before["_system"], after["_system"])
    return out


def scrape_until(url: str, t0: float, t1: float, every: float) -> list[float]:
    """Scrape like Prometheus would during the window: every `every` s from t0 + every / 2."""
    times: list[float] = []
    if every <= 0:
        return times
    at = t0 + every / 2
    while at < t1:
        p.sleep_until(at)
        try:
            _, seconds = p.scrape(url, timeout=max(1.0, t1 - time.time()))
        except OSError:
            seconds = math.nan
        times.append(seconds)
        at += every
    return times


def phase_prober(
    rate: int,
    s: Settings,
    rundir: Path,
    service: p.Child,
    url: str,
    *,
    tool: str = "prober",
    repeat: int = 0,
) -> dict[str, Any]:
    config = rundir / f"{tool}-{rate}-r{repeat}.yaml"
    results = rundir / f"{tool}-{rate}-r{repeat}.jsonl"
    client = "aiohttp" if tool == "prober-aiohttp" else "builtin"
    p.prober_config(
        config, url, probes=int(rate * s.interval), interval=s.interval, timeout=s.timeout,
        client=client, metrics=s.metrics,
    )  # fmt: skip
    child = p.start_prober(
        f"{tool}-{rate}-r{repeat}", config, results, rundir, prober_src=s.prober_src,
        cpus=s.tool_cpus,
    )  # fmt: skip
    try:
        port = p.wait_prober_port(child)
        pinned = {"tool": p.affinity(child.pid), "service": p.affinity(service.pid)}
        t0, t1 = window_edges(time.time(), s)
        pids = {"tool": child.pid, "service": service.pid}
        p.sleep_until(t0)
        before = sample_cpu(pids)
        preempted_before = preemptions(child.pid)
        scrapes = scrape_until(f"http://127.0.0.1:{port}/metrics", t0, t1, s.scrape_every)
        p.sleep_until(t1)
        after = sample_cpu(pids)
        preempted = preemptions(child.pid) - preempted_before
        metrics, _ = p.scrape(f"http://127.0.0.1:{port}/metrics", timeout=60)
        hwm = p.rss_kb(child.pid, "VmHWM")
        # Let runs planned before t1 finish (timeout < 1 s) before stopping.
        time.sleep(s.timeout + 0.3)
    finally:
        code = p.stop(child, timeout=15)
    reported: dict[str, float] = {}
    lags: list[float] = []
    bounds: list[float] = []
    started = ok = 0
    with results.open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            planned = r["time"] - r["lag"]
            if not t0 <= planned < t1:
                continue
            started += 1
            lags.append(r["lag"])
            if "error_bound_seconds" in r:  # prober's own bound (absent in older checkouts)
                bounds.append(r["error_bound_seconds"])
            if r["outcome"] == "success":
                ok += 1
                reported[r["run_id"]] = r["duration"]
    cpu = cpu_deltas(before, after)
    return {
        "tool": tool,
        "rate": rate,
        "repeat": repeat,
        "pinned": pinned,
        "error_bound_ms": a.summarize(bounds, scale=1000),
        "planned": a.planned_runs(int(rate * s.interval), s.interval, s.window),
        "started": started,
        "ok": ok,
        "reported": reported,
        "lags": lags,
        "cpu": cpu,
        "rss_peak_kb": hwm,
        "skipped_total": a.metric_sum(metrics, "prober_skipped_runs_total"),
        "scrape_ms": [x * 1000 for x in scrapes],
        "loop_lag_last": a.metric_sum(metrics, "prober_event_loop_lag_seconds"),
        "preempted_per_s": preempted / s.window,
        "exit_code": code,
    }


def phase_loadgen(
    tool: str, rate: int, s: Settings, rundir: Path, *, service: p.Child, url: str, repeat: int = 0
) -> dict[str, Any]:
    out = rundir / f"{tool}-{rate}-r{repeat}.jsonl"
    extra: list[p.Child] = []
    pids: dict[str, int] = {"service": service.pid}
    argv = [
        sys.executable, str(p.BENCH / "loadgen.py"), "--mode", tool, "--target", url,
        "--rate", str(rate), "--seconds", str(s.warmup + 1 + s.window + 0.5),
        "--timeout", str(s.timeout + 0.1), "--id-prefix", f"{tool[0]}{rate}r{repeat}",
        "--out", str(out),
    ]  # fmt: skip
    try:
        if tool == "blackbox":
            bb_config = rundir / "blackbox.yml"
            bb_config.write_text(BLACKBOX_CONFIG.format(timeout=s.timeout), encoding="utf-8")
            bb_port = p.free_port()
            bb = p.start(
                f"blackbox-{rate}-r{repeat}",
                [
                    BLACKBOX,
                    f"--config.file={bb_config}",
                    f"--web.listen-address=127.0.0.1:{bb_port}",
                    "--log.level=warn",
                ],
                rundir,
                cpus=s.tool_cpus,
            )
            extra.append(bb)
            p.wait_for_http(f"http://127.0.0.1:{bb_port}/metrics", 30)
            pids["tool"] = bb.pid
            argv += ["--blackbox", f"http://127.0.0.1:{bb_port}"]
        # blackbox's driver stands in for Prometheus: off the tool's CPU. The floor's load
        # generator is the tool under test itself (its client is the floor).
        gen_cpus = s.other_cpus if tool == "blackbox" else s.tool_cpus
        gen = p.start(f"loadgen-{tool}-{rate}-r{repeat}", argv, rundir, cpus=gen_cpus)
        extra.append(gen)
        pinned = {"loadgen": p.affinity(gen.pid), "service": p.affinity(service.pid)}
        if "tool" in pids:
            pinned["tool"] = p.affinity(pids["tool"])
        start = p.wait_for_json_line(gen, gen.stdout, lambda d: "start" in d, 30)
        pids["loadgen"] = gen.pid
        t0, t1 = window_edges(float(start["start"]), s)
        p.sleep_until(t0)
        before = sample_cpu(pids)
        p.sleep_until(t1)
        after = sample_cpu(pids)
        hwm = p.rss_kb(pids["tool"], "VmHWM") if "tool" in pids else 0
        gen.proc.wait(timeout=s.timeout + 30)
    finally:
        for child in reversed(extra):
            p.stop(child)
    reported: dict[str, float] = {}
    lags: list[float] = []
    started = ok = 0
    with out.open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if not t0 <= r["planned"] < t1:
                continue
            started += 1
            lags.append(r["lag"])
            if r["ok"] and r["latency"] is not None:
                ok += 1
                reported[r["id"]] = r["latency"]
    return {
        "tool": tool,
        "rate": rate,
        "repeat": repeat,
        "pinned": pinned,
        "planned": int(rate * s.window),
        "started": started,
        "ok": ok,
        "reported": reported,
        "lags": lags,
        "cpu": cpu_deltas(before, after),
        "rss_peak_kb": hwm,
    }


def phase_render(
    s: Settings, rundir: Path, url: str, interval: float, settle: float, *, metrics: str
) -> dict[str, Any]:
    """Many probes at `interval`; RSS and /metrics render time after `settle` seconds.

    Scrapes are bounded in count (render_scrapes) and in time (render_budget).
    """
    n = s.render_probes
    name = f"prober-render-{n}-{interval:.0f}s-{metrics}"
    config = rundir / f"{name}.yaml"
    p.prober_config(config, url, probes=n, interval=interval, timeout=2.0, metrics=metrics)
    t_start = time.monotonic()
    child = p.start_prober(name, config, None, rundir, prober_src=s.prober_src, cpus=s.tool_cpus)
    try:
        port = p.wait_prober_port(child, timeout=180)
        startup = time.monotonic() - t_start
        rss_ready = p.rss_kb(child.pid)
        time.sleep(settle)
        rss_before = p.rss_kb(child.pid)
        times: list[float] = []
        body = ""
        budget_end = time.monotonic() + s.render_budget
        while len(times) < s.render_scrapes and (not times or time.monotonic() < budget_end):
            body, seconds = p.scrape(f"http://127.0.0.1:{port}/metrics", timeout=120)
            times.append(seconds)
            time.sleep(0.25)
        rss_after = p.rss_kb(child.pid)
        hwm = p.rss_kb(child.pid, "VmHWM")
        stat = p.read_stat(child.pid)
    finally:
        p.stop(child, timeout=15)
    return {
        "probes": n,
        "metrics": metrics,
        "interval_s": interval,
        "startup_s": startup,
        "rss_ready_mb": rss_ready / 1024,
        "rss_before_scrapes_mb": rss_before / 1024,
        "rss_after_scrapes_mb": rss_after / 1024,
        "rss_peak_mb": hwm / 1024,
        "cpu_s_total": a.proc_cpu_ticks(stat) / p.CLK_TCK,
        "render_ms": a.summarize(times, scale=1000),
        "render_ms_median": a.percentile(times, 50) * 1000,
        "body_kb": len(body.encode()) / 1024,
        "samples": sum(1 for line in body.splitlines() if line and not line.startswith("#")),
        "runs_total": a.metric_sum(body, "prober_probe_runs_total"),
    }


# --- report ------------------------------------------------------------------------
def read_access_log(path: Path) -> tuple[dict[str, float], set[str]]:
    def entries() -> Iterable[tuple[str, float]]:
        with path.open(encoding="utf-8") as f:
            for line in f:
                e = json.loads(line)
                if e["status"] == 200:
                    yield e["request_id"], e["handling"]

    return a.index_handled(entries())


def finish_phase(
    raw: dict[str, Any], handled: dict[str, float], dupes: set[str], s: Settings
) -> dict[str, Any]:
    m = a.match(raw["reported"], handled, len(dupes & raw["reported"].keys()))
    runs = raw["started"]
    cpu = raw["cpu"]
    out: dict[str, Any] = {
        k: raw[k] for k in ("tool", "rate", "repeat", "planned", "started", "ok")
    }
    out.update(
        achieved_rate=a.rate(runs, s.window),
        success=a.fraction(raw["ok"], raw["planned"]),
        overhead_ms=a.summarize(m.overheads, scale=1000),
        unmatched=m.unmatched_reported,
        duplicates=m.duplicates,
        lag_ms=a.summarize(raw["lags"], scale=1000),
        cpu_s_per_1000={k: a.per_thousand(v, runs) for k, v in cpu.items() if k != "_busy"},
        # the machine: busy share of both cores, and the part no process of the bench used
        box_busy=cpu["_busy"],
        others_busy=cpu["_busy"]
        - sum(v for k, v in cpu.items() if k != "_busy") / (s.window * (os.cpu_count() or 1)),
        rss_peak_mb=raw["rss_peak_kb"] / 1024,
    )
    for key in (
        "skipped_total", "loop_lag_last", "exit_code", "scrape_ms", "preempted_per_s",
        "error_bound_ms", "pinned",
    ):  # fmt: skip
        if key in raw:
            out[key] = raw[key]
    return out


def fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


SATURATED = 0.9  # both cores this busy: every figure of the phase is the machine's, not the tool's


def saturated(phase: dict[str, Any]) -> bool:
    return bool(phase["box_busy"] >= SATURATED)


def spread(ph: dict[str, Any], key: str, sub: str) -> str:
    """A figure as the median of the repeats, with their min-max when there were several."""
    value = fmt(ph[key][sub])
    lo, hi = ph.get("spread", {}).get(key, {}).get(sub, (None, None))
    if ph.get("repeats", 1) < 2 or lo is None:
        return value
    return f"{value} ({fmt(lo)}-{fmt(hi)})"


def table(phases: list[dict[str, Any]]) -> str:
    head = (
        "| rate/s | tool | achieved/s | success | overhead p50 / p95 / p99 / max ms | "
        "lag p50 / p99 / max ms | CPU s/1k probes | peak RSS MB | loadgen CPU s/1k | "
        "service CPU s/1k | box busy (others) | /metrics scrape ms | error bound p99 ms |"
    )
    rows = [head, "|" + "---|" * 13]
    for ph in phases:
        o, cpu = ph["overhead_ms"], ph["cpu_s_per_1000"]
        lag_note = "" if ph["tool"].startswith("prober") else " (driver)"
        bound = spread(ph, "error_bound_ms", "p99") if "error_bound_ms" in ph else "–"
        rows.append(
            f"| {ph['rate']} | {ph['tool']} | {fmt(ph['achieved_rate'], 0)} | "
            f"{fmt(ph['success'] * 100, 2)}% | "
            f"{fmt(o['p50'])} / {fmt(o['p95'])} / {spread(ph, 'overhead_ms', 'p99')} / "
            f"{spread(ph, 'overhead_ms', 'max')} | "
            f"{fmt(ph['lag_ms']['p50'])} / {spread(ph, 'lag_ms', 'p99')} / "
            f"{spread(ph, 'lag_ms', 'max')}{lag_note} | "
            f"{fmt(cpu.get('tool'), 3)} | {fmt(ph['rss_peak_mb'] or None, 1)} | "
            f"{fmt(cpu.get('loadgen'), 3)} | {fmt(cpu.get('service'), 3)} | "
            f"{ph['box_busy'] * 100:.0f}% ({ph['others_busy'] * 100:.0f}%)"
            f"{' **saturated**' if saturated(ph) else ''} | "
            f"{' '.join(fmt(x, 0) for x in ph.get('scrape_ms', [])) or '–'} | {bound} |"
        )
    return "\n".join(rows)


def worst(ph: dict[str, Any], key: str, sub: str) -> float:
    """A tail figure's worst repeat: the goals hold in every repeat, not just the median."""
    lo_hi = ph.get("spread", {}).get(key, {}).get(sub)
    return float(lo_hi[1]) if lo_hi and lo_hi[1] is not None else float(ph[key][sub])


def misses(pr: dict[str, Any], fl: dict[str, Any] | None) -> list[str]:
    """Why prober's phase at a rate is past its ceiling (issue 20's criteria); [] if it is not."""
    out = []
    if pr["ok"] < pr["planned"]:
        out.append(f"success {pr['ok']}/{pr['planned']}")
    if pr["skipped_total"] or pr["started"] < pr["planned"]:
        out.append(f"{pr['planned'] - pr['started']} run(s) not started")
    overhead = worst(pr, "overhead_ms", "p99")
    if fl is None:
        out.append("no floor measured at this rate")
    elif overhead > fl["overhead_ms"]["p99"] + OVERHEAD_OVER_FLOOR_MS:
        out.append(f"overhead p99 {overhead:.2f} ms vs floor {fl['overhead_ms']['p99']:.2f} ms")
    lag = worst(pr, "lag_ms", "p99")
    if lag > LAG_P99_MS:
        out.append(f"lag p99 {lag:.2f} ms")
    return out


def limits(ph: dict[str, Any]) -> str:
    """Which helper process was near a full core: then it, not the tool, may be the limit."""
    cpu = ph["cpu_s_per_1000"]
    busy = [
        f"the {who} used {cpu[who] * ph['rate'] / 1000:.0%} of its core"
        for who in ("service", "loadgen")
        if cpu.get(who) is not None and cpu[who] * ph["rate"] / 1000 >= LIMIT_SHARE
    ]
    return f" ({'; '.join(busy)})" if busy else ""


def goals(phases: list[dict[str, Any]], render: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 20's goals, each with what this run measured."""
    by = {(ph["tool"], ph["rate"]): ph for ph in phases}
    rates = sorted({ph["rate"] for ph in phases})
    out: list[dict[str, Any]] = []

    ceiling, first_miss = 0, ""
    for r in rates:
        pr = by.get(("prober", r))
        if pr is None:
            continue
        why = misses(pr, by.get(("floor", r)))
        out.append(
            {
                "goal": f"{r}/s: 100% success, no skipped run, overhead p99 within "
                f"{OVERHEAD_OVER_FLOOR_MS} ms of the floor and lag p99 <= {LAG_P99_MS:.0f} ms, "
                "in every repeat",
                "measured": ("; ".join(why) if why else "all held") + limits(pr),
                "met": not why,
                "phases": [("prober", r), ("floor", r)],
            }
        )
        if why and not first_miss:
            first_miss = f"first missed at {r}/s: {'; '.join(why)}{limits(pr)}"
        if not why and not first_miss:
            ceiling = r
    bb_rates = sorted(r for (tool, r) in by if tool == "blackbox")
    if ceiling or first_miss:
        answered = [r for r in bb_rates if by["blackbox", r]["ok"] == by["blackbox", r]["planned"]]
        bb_ceiling = max(answered, default=0)
        above = [r for r in bb_rates if r > bb_ceiling]
        bb_text = (
            f"blackbox_exporter answered every probe up to {bb_ceiling}/s"
            + (
                f", {by['blackbox', above[0]]['success']:.1%} at {above[0]}/s"
                + limits(by["blackbox", above[0]])
                if above
                else " (its ceiling is above the rates run)"
            )
            if bb_rates
            else "blackbox_exporter not run"
        )
        pr_text = f"prober {ceiling}/s" + (
            f" ({first_miss})" if first_miss else " (every rate run)"
        )
        out.append(
            {
                "goal": "prober's ceiling at least twice blackbox_exporter's",
                "measured": f"{pr_text}; {bb_text}",
                "met": bool(bb_rates) and bb_ceiling > 0 and ceiling >= 2 * bb_ceiling,
            }
        )
    for r in rates:
        pr, bb = by.get(("prober", r)), by.get(("blackbox", r))
        if pr and bb and bb["success"] >= COMPARABLE_SUCCESS:  # else it did not do the work
            ratio = pr["cpu_s_per_1000"].get("tool", math.nan) / bb["cpu_s_per_1000"].get(
                "tool", math.nan
            )
            out.append(
                {
                    "goal": f"CPU/probe <= 1/3 of blackbox's at {r}/s",
                    "measured": f"ratio {ratio:.2f} ({pr['cpu_s_per_1000']['tool']:.3f} vs "
                    f"{bb['cpu_s_per_1000']['tool']:.3f} s per 1,000 probes)",
                    "met": bool(ratio <= CPU_SHARE),
                    "phases": [("prober", r), ("blackbox", r)],
                }
            )
    for kind, rr in (render or {}).items():
        if not kind.startswith("populated"):
            continue
        lean = rr["metrics"] == "lean"
        target_ms = 100 if lean else 300
        if lean:
            out.append(
                {
                    "goal": f"<= 100 MB RSS with {rr['probes']} probes ({kind})",
                    "measured": f"{rr['rss_peak_mb']:.1f} MB peak "
                    f"({rr['rss_before_scrapes_mb']:.1f} MB before the first scrape)",
                    "met": bool(rr["rss_peak_mb"] <= 100),
                }
            )
        out.append(
            {
                "goal": f"/metrics scrape <= {target_ms} ms with {rr['probes']} probes ({kind})",
                "measured": f"{rr['render_ms_median']:.1f} ms median, {rr['samples']} samples",
                "met": bool(rr["render_ms_median"] <= target_ms),
            }
        )
    for g in out:
        involved = [by[k] for k in g.pop("phases", []) if k in by]
        if any(saturated(ph) for ph in involved):
            g["measured"] += " (machine saturated: not conclusive)"
    return out


def report_md(result: dict[str, Any]) -> str:
    meta = result["meta"]
    pinning = (
        f"tool pinned to CPU {','.join(map(str, meta['pin']['tool']))}, service and drivers "
        f"to CPU {','.join(map(str, meta['pin']['others']))}"
        if meta["pin"]
        else "not pinned"
    )
    lines = [
        f"Run {meta['started']} ({'quick' if meta['quick'] else 'full'}): service latency "
        f"{meta['latency_ms']} ms, window {meta['window_s']} s per phase, "
        f"{meta['cores']} cores, {meta['python']}, blackbox {meta['blackbox_version']}, "
        f"prober {meta['git']}; {pinning}; each figure the median of {meta['repeats']} "
        "repeat(s), tails with their min-max in brackets.",
        "",
        table(result["phases"]),
        "",
    ]
    for kind, r in (result.get("render") or {}).items():
        lines += [
            f"{kind}: {r['probes']} probes at a {r['interval_s']:.0f} s interval: startup "
            f"{r['startup_s']:.1f} s, RSS {r['rss_ready_mb']:.1f} MB ready, "
            f"{r['rss_before_scrapes_mb']:.1f} MB before scrapes, {r['rss_peak_mb']:.1f} MB "
            f"peak; /metrics {r['body_kb']:.0f} KiB, {r['samples']} samples, render p50 "
            f"{r['render_ms']['p50']:.1f} ms, max {r['render_ms']['max']:.1f} ms "
            f"({r['render_ms']['n']} scrapes).",
            "",
        ]
    preempted = [
        f"{ph['tool']} at {ph['rate']}/s: {ph['preempted_per_s']:.0f}"
        for ph in result["phases"]
        if "preempted_per_s" in ph
    ]
    if preempted:
        lines += ["Preemptions per second (involuntary context switches): "
                  + "; ".join(preempted) + ".", ""]  # fmt: skip
    lines += ["| goal | measured | met |", "|---|---|---|"]
    lines += [
        f"| {g['goal']} | {g['measured']} | {'yes' if g['met'] else 'NO'} |"
        for g in result["goals"]
    ]
    return "\n".join(lines) + "\n"


def git_state(src: Path) -> str:
    """The commit the measured prober came from, and whether its tree had local changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--", "prober"],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" + local changes" if dirty else "")


def blackbox_version() -> str:
    try:
        out = subprocess.run(
            [BLACKBOX, "--version"], check=False, capture_output=True, text=True, timeout=10
        )
    except OSError:
        return "not installed"
    text = out.stdout + out.stderr
    return text.split("version", 1)[1].split()[0] if "version" in text else "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 2 minutes instead of 10")
    parser.add_argument("--rates", help="probes per second, comma-separated")
    parser.add_argument(
        "--tools", default=",".join(DEFAULT_TOOLS), help=f"subset of {','.join(TOOLS)}"
    )
    parser.add_argument("--out", type=Path, help="summary JSON (a .md table is written beside)")
    parser.add_argument("--latency", type=float, default=0.02, help="service latency, seconds")
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--window", type=float, help="seconds measured per phase")
    parser.add_argument("--render-probes", type=int, default=10_000, help="0: skip that phase")
    parser.add_argument(
        "--scrape-every",
        type=float,
        default=15.0,
        help="scrape prober's /metrics this often during its window, as Prometheus would (0: off)",
    )
    parser.add_argument("--prober-src", type=Path, help="run prober from this source tree")
    parser.add_argument(
        "--repeats", type=int, default=3, help="windows per tool and rate; tails are their median"
    )
    parser.add_argument(
        "--metrics",
        choices=("full", "lean"),
        default="full",
        help="prober's agent.metrics (lean: no per-phase histograms)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin (default: the tool alone on CPU 1; service, drivers and bench on CPU 0)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the raw files")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    s = Settings(args)
    if s.other_cpus is not None:
        os.sched_setaffinity(0, s.other_cpus)  # this script scrapes and samples: off the tool's CPU
    rates = [
        int(r)
        for r in (
            args.rates or ("100,1000,2000" if s.quick else "100,500,1000,1500,2000,2500,3000")
        ).split(",")
    ]
    tools = [t for t in args.tools.split(",") if t]
    bad = set(tools) - set(TOOLS)
    if bad:
        parser.error(f"unknown tool(s): {', '.join(sorted(bad))}")
    bb_version = blackbox_version()
    if "blackbox" in tools and shutil.which(BLACKBOX) is None:
        print(
            f"bench: {BLACKBOX} not found (apt-get install -y {BLACKBOX}): skipping it",
            file=sys.stderr,
        )
        tools.remove("blackbox")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = args.out or p.BENCH / "results" / f"{stamp}-{'quick' if s.quick else 'full'}.json"
    rundir = Path(tempfile.mkdtemp(prefix="prober-bench-"))
    access_log = rundir / "access.jsonl"
    print(f"bench: raw files in {rundir}", file=sys.stderr)
    began = time.monotonic()
    raws: list[dict[str, Any]] = []
    render = None
    service, port = p.start_service(rundir, s.latency, access_log, cpus=s.other_cpus, lean=True)
    try:
        url = f"http://127.0.0.1:{port}{SERVICE_PATH}"
        active = list(tools)
        for rate in rates:
            for k in range(s.repeats):  # tools interleaved: a noisy minute hits them all alike
                for tool in active:
                    t = time.monotonic()
                    if tool.startswith("prober"):
                        raw = phase_prober(rate, s, rundir, service, url, tool=tool, repeat=k)
                    else:
                        raw = phase_loadgen(
                            tool, rate, s, rundir, service=service, url=url, repeat=k
                        )
                    raws.append(raw)
                    print(
                        f"bench: {tool} at {rate}/s, repeat {k + 1}/{s.repeats}: "
                        f"{raw['started']}/{raw['planned']} started, {raw['ok']} ok "
                        f"({time.monotonic() - t:.0f} s)",
                        file=sys.stderr,
                    )
            for tool in list(active):  # past its saturation a tool only slows the run down
                done = [r for r in raws if r["tool"] == tool and r["rate"] == rate]
                if sum(r["ok"] for r in done) < GIVE_UP_SUCCESS * sum(r["planned"] for r in done):
                    active.remove(tool)
                    print(f"bench: {tool} saturated at {rate}/s: not run above", file=sys.stderr)
        if s.render_probes and "prober" in tools:
            populated = s.render_interval, s.render_interval + 2
            render = {
                # configured, barely running: 10,000 probes an hour
                "idle": phase_render(s, rundir, url, 3600.0, 5.0, metrics="full"),
                # every probe has run once: every series of every probe exists, in both modes
                "populated, full": phase_render(s, rundir, url, *populated, metrics="full"),
                "populated, lean": phase_render(s, rundir, url, *populated, metrics="lean"),
            }
            for kind, r in render.items():
                print(
                    f"bench: render {kind}: {r['render_ms_median']:.1f} ms, "
                    f"{r['rss_peak_mb']:.1f} MB",
                    file=sys.stderr,
                )
    finally:
        p.stop(service)
    handled, dupes = read_access_log(access_log)
    windows = [finish_phase(raw, handled, dupes, s) for raw in raws]
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for w in windows:
        grouped.setdefault((w["tool"], w["rate"]), []).append(w)
    phases = [a.combine_repeats(group) for group in grouped.values()]
    result: dict[str, Any] = {
        "meta": {
            "started": stamp,
            "quick": s.quick,
            "seconds": round(time.monotonic() - began, 1),
            "latency_ms": s.latency * 1000,
            "window_s": s.window,
            "warmup_s": s.warmup,
            "interval_s": s.interval,
            "timeout_s": s.timeout,
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "blackbox_version": bb_version,
            "prober_src": str(s.prober_src or p.REPO),
            "git": git_state(s.prober_src or p.REPO),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "repeats": s.repeats,
            "metrics": s.metrics,
            "pin": {"tool": sorted(s.tool_cpus), "others": sorted(s.other_cpus)}
            if s.tool_cpus is not None and s.other_cpus is not None
            else None,
        },
        "phases": phases,
        "windows": windows,
        "render": render,
    }
    result["goals"] = goals(phases, render)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    md = report_md(result)
    out_path.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    print(f"bench: {out_path} ({result['meta']['seconds']} s)", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(rundir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
