"""Sharding: rendezvous hashing of probe names, the per-shard limit, `--shard`, `prober shards`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from prober import conventions as c
from prober.agent import Agent
from prober.cli import main
from prober.config import MAX_PROBES, ConfigError, Shard, load_config, parse_config, parse_shard
from prober.config.load import for_shard
from prober.config.shard import GOLDEN, MASK64, MIX1, MIX2, name_hash, shard_of
from prober.telemetry.exposition import render

ROOT = Path(__file__).resolve().parents[1]


# --- the hash, vectorised for a million names --------------------------------------------------
def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (multiplication wraps modulo 2**64)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(MIX1)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(MIX2)
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def _seed(index: int) -> np.uint64:
    value = _mix(np.array([(index + 1) * GOLDEN & MASK64], dtype=np.uint64))[0]
    return np.uint64(value)


def numpy_shards(hashes: np.ndarray, total: int) -> np.ndarray:
    """shard_of for every hash at once: the argmax of the scores, ties to the lower index."""
    best = np.zeros(len(hashes), dtype=np.int64)
    best_score = _mix(hashes ^ _seed(0))
    for index in range(1, total):
        score = _mix(hashes ^ _seed(index))
        wins = score > best_score
        best[wins] = index
        best_score = np.where(wins, score, best_score)
    return best


NAMES = [f"ums-{region}-user-{i}-metadata" for region in ("a", "b") for i in range(500_000)]


@pytest.fixture(scope="module")
def hashes() -> np.ndarray:
    return np.fromiter((name_hash(n) for n in NAMES), dtype=np.uint64, count=len(NAMES))


@pytest.fixture(scope="module")
def over_100(hashes: np.ndarray) -> np.ndarray:
    return numpy_shards(hashes, 100)


def test_the_vectorised_hash_is_the_agents_own_shard_of(hashes: np.ndarray) -> None:
    sample = range(0, len(NAMES), 997)
    for total in (1, 2, 3, 7, 100, 101):
        vectorised = numpy_shards(hashes[list(sample)], total)
        assert [shard_of(NAMES[i], total) for i in sample] == vectorised.tolist()


def test_a_million_probes_spread_over_100_shards_within_a_few_percent(
    over_100: np.ndarray,
) -> None:
    counts = np.bincount(over_100, minlength=100)
    mean = len(NAMES) / 100
    assert counts.sum() == len(NAMES)  # every probe in exactly one shard
    # Binomial(1e6, 1/100): sd ~ 99.5 per shard, the busiest ~2.5 sd above the mean.
    assert counts.max() / mean < 1.05, f"busiest shard {counts.max()} vs mean {mean}"
    assert counts.min() / mean > 0.95, f"idlest shard {counts.min()} vs mean {mean}"


def test_going_from_100_to_101_shards_moves_about_one_percent_and_only_to_the_new_shard(
    hashes: np.ndarray, over_100: np.ndarray
) -> None:
    before, after = over_100, numpy_shards(hashes, 101)
    moved = before != after
    assert set(after[moved].tolist()) == {100}, "a probe moved between two old shards"
    fraction = moved.mean()
    assert 0.008 < fraction < 0.012, f"moved {fraction:.4%}, expected about 1/101"


def test_the_assignment_does_not_depend_on_the_python_hash_seed() -> None:
    code = (
        "from prober.config.shard import shard_of;"
        "print([shard_of(f'probe-{i}', 7) for i in range(200)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for seed in ("1", "2", "random")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == str([shard_of(f"probe-{i}", 7) for i in range(200)])


# --- --shard values --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("3", "expected INDEX/TOTAL"),
        ("a/3", "expected INDEX/TOTAL"),
        ("-1/3", "expected INDEX/TOTAL"),
        ("3/3", "must be below TOTAL 3"),
        ("0/0", "TOTAL must be 1 to 1000"),
        ("0/1001", "TOTAL must be 1 to 1000"),
    ],
)
def test_a_bad_shard_is_refused_with_one_line_and_exit_2(
    text: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "-c", str(ROOT / "probes.yaml"), f"--shard={text}"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert reason in err
    assert "--shard" in err
    with pytest.raises(ValueError, match=reason):
        parse_shard(text)


def test_a_bad_prober_shard_variable_is_refused_with_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROBER_SHARD", "2/2")
    with pytest.raises(SystemExit) as exited:
        main(["run", "-c", str(ROOT / "probes.yaml")])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "error: PROBER_SHARD: INDEX counts from 0 and must be below TOTAL 2, got 2\n"
    )


# --- filtering configs -----------------------------------------------------------------------
def _probes(n: int) -> list[dict[str, Any]]:
    return [{"name": f"p{i}", "url": "http://127.0.0.1:9/"} for i in range(n)]


def _scenario(name: str) -> dict[str, Any]:
    steps = [{"name": s, "url": f"http://127.0.0.1:9/{s}"} for s in ("write", "read", "cleanup")]
    return {"name": name, "kind": "scenario", "steps": steps}


def test_every_probe_runs_in_exactly_one_shard_and_scenarios_whole() -> None:
    doc = {"probes": [*_probes(40), _scenario("flow-a"), _scenario("flow-b")]}
    whole = parse_config(doc, "t.yaml", {}, Path("."))
    for total in (1, 2, 3, 5):
        parts = [
            parse_config(doc, "t.yaml", {}, Path("."), shard=Shard(i, total)) for i in range(total)
        ]
        names = [p.name for part in parts for p in part.probes]
        assert sorted(names) == sorted(p.name for p in whole.probes)  # none lost, none twice
        for i, part in enumerate(parts):
            assert part.shard == Shard(i, total)
            assert all(shard_of(p.name, total) == i for p in part.probes)
            for p in part.probes:
                if p.kind == "scenario":
                    assert [s.name for s in p.steps] == ["write", "read", "cleanup"]


@pytest.fixture(scope="module")
def big_fleet() -> Any:
    """30,000 probes: three agents' worth, validated once as a whole file."""
    return parse_config({"probes": _probes(30_000)}, "fleet.yaml", {}, Path("."), fleet=True)


def test_a_30000_probe_config_is_valid_and_runs_as_shards_of_at_most_the_agent_limit(
    big_fleet: Any,
) -> None:
    assert len(big_fleet.probes) == 30_000
    for total in (4, 5):
        sizes = [len(for_shard(big_fleet, Shard(i, total)).probes) for i in range(total)]
        assert sum(sizes) == 30_000
        assert max(sizes) <= MAX_PROBES


def test_the_agent_limit_applies_to_the_probes_one_agent_runs(big_fleet: Any) -> None:
    with pytest.raises(ConfigError) as whole:
        for_shard(big_fleet, None)
    assert whole.value.lines == [
        "fleet.yaml: probes: at most 10000 probes per agent, got 30000 "
        "(each probe has its own series: split the config across agents)"
    ]
    with pytest.raises(ConfigError) as halves:
        for_shard(big_fleet, Shard(0, 2))
    (line,) = halves.value.lines
    assert line.startswith("fleet.yaml: probes: at most 10000 probes per agent, got 1")
    assert "in shard 0/2" in line
    assert "across more shards" in line


# --- the agent -------------------------------------------------------------------------------
def _write(path: Path, names: list[str]) -> Path:
    probes = [{"name": n, "url": "http://127.0.0.1:9/", "interval": "1h"} for n in names]
    path.write_text(yaml.safe_dump({"agent": {"region": "r1"}, "probes": probes}))
    return path


async def test_a_reload_keeps_the_shard_filter(tmp_path: Path) -> None:
    shard = Shard(1, 3)
    path = _write(tmp_path / "p.yaml", [f"p{i}" for i in range(30)])
    async with Agent(load_config(path, shard=shard), config_path=path) as agent:
        assert set(agent.probes) == {f"p{i}" for i in range(30) if shard_of(f"p{i}", 3) == 1}
        _write(path, [f"p{i}" for i in range(10, 60)])
        assert await agent.reload()
        expected = {f"p{i}" for i in range(10, 60) if shard_of(f"p{i}", 3) == 1}
        assert expected
        assert set(agent.probes) == expected
        assert agent.config.shard == shard


async def test_only_build_info_says_which_shard_the_agent_runs(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.yaml", [f"p{i}" for i in range(12)])
    async with Agent(load_config(path, shard=Shard(2, 4)), config_path=path) as agent:
        text = render(agent.metrics, inflight=0, state=agent.health, version="t").decode()
    labelled = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if c.L_SHARD in sample.labels:
                labelled.add(sample.name)
                assert sample.labels[c.L_SHARD] == "2"
                assert sample.labels[c.L_SHARDS] == "4"
    assert labelled == {c.BUILD_INFO}


# --- prober shards ---------------------------------------------------------------------------
@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    doc = {"probes": [*_probes(25), _scenario("flow")]}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_prober_shards_json_is_the_assignment_the_agents_use(
    fleet_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["shards", "-c", str(fleet_file), "--total", "3", "-o", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    for entry in plan["shards"]:
        agent = load_config(fleet_file, env={}, shard=Shard(entry["index"], 3))
        assert entry["probes"] == [p.name for p in agent.probes]
        assert entry["count"] == len(agent.probes)
    assert sum(e["count"] for e in plan["shards"]) == 26


def test_prober_shards_prints_a_table_of_probe_and_shard(
    fleet_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["shards", "-c", str(fleet_file), "--total", "2"]) == 0
    out = capsys.readouterr().out
    assert "flow" in out
    assert f"{shard_of('flow', 2)}/2" in out
    assert "probes per shard" in out


def test_prober_shards_exits_2_when_a_shard_would_exceed_the_agent_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump({"probes": _probes(MAX_PROBES + 500)}))
    assert main(["shards", "-c", str(path), "--total", "1", "-o", "json"]) == 2
    assert "shard 0/1 would run 10500 probes, at most 10000" in capsys.readouterr().err


def test_prober_check_with_a_shard_validates_the_file_and_counts_the_shards_probes(
    fleet_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owned = [f"p{i}" for i in range(25) if shard_of(f"p{i}", 4) == 3]
    owned += ["flow"] if shard_of("flow", 4) == 3 else []
    assert main(["check", "-c", str(fleet_file), "--shard", "3/4"]) == 0
    out = capsys.readouterr().out
    assert f"{len(owned)} probe" in out
    assert "in shard 3/4" in out
    listed = [line.split(":")[0].strip() for line in out.splitlines()[1:]]
    assert sorted(listed) == sorted(owned)


def test_the_shard_comes_from_the_command_line_never_from_the_file() -> None:
    doc = {"shard": {"index": 0, "total": 2}, "probes": _probes(3)}
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, "t.yaml", {}, Path("."))
    assert caught.value.lines == [
        "t.yaml: shard: unknown field (the shard is prober run --shard or PROBER_SHARD)"
    ]


def test_rules_dashboards_and_report_read_a_fleet_file_beyond_one_agents_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Commands that run no probe take the whole file a sharded fleet shares."""
    slo = {"name": "ums", "availability": {"objective": 99.9}}
    doc = {"slos": [slo], "probes": [{**p, "slo": "ums"} for p in _probes(MAX_PROBES + 1)]}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["rules", "-c", str(path), "-o", str(tmp_path / "rules")]) == 0
    assert main(["dashboards", "-c", str(path), "-o", str(tmp_path / "dash")]) == 0
    assert (tmp_path / "rules" / "prober-rules.yml").exists()
    assert list((tmp_path / "dash").glob("*.json"))
    assert "at most" not in capsys.readouterr().err
