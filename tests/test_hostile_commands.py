"""Issue 17: every hostile config of the corpus is refused by `once` and `run` as by `check`.

tests/test_hostile_configs.py sends every case through `check` and a subset through `once` and
`run` in subprocesses. Here each case that needs no resource limit also goes through `once` and
`run` in process: the config is refused at load, before any probe or listener starts, so a
case costs milliseconds. The same rules apply: exit 2, the path and the field named, no
traceback, bounded lines, no secret.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.corpus import INVALID, Case
from tests.hostile.harness import CHECK_TIME_BOUND, case_env, materialize, problems, run_inprocess

IN_PROCESS = [c for c in INVALID if not c.resource and c.kind != "unreadable"]


def _argv(command: str, path: Path) -> list[str]:
    if command == "once":
        return ["once", "-c", str(path), "-n", "1"]
    return ["run", "-c", str(path), "--duration", "1s", "--listen", "127.0.0.1:0"]


def test_the_in_process_share_of_the_corpus_is_most_of_it() -> None:
    assert len(IN_PROCESS) >= 150
    assert len({c.category for c in IN_PROCESS}) >= 14


@pytest.mark.timeout(120)
@pytest.mark.parametrize("command", ["once", "run"])
@pytest.mark.parametrize("case", IN_PROCESS, ids=[c.name for c in IN_PROCESS])
def test_once_and_run_refuse_every_hostile_config_like_check(
    case: Case, command: str, tmp_path: Path
) -> None:
    path = materialize(case, tmp_path)
    outcome = run_inprocess(_argv(command, path), case_env(case))
    found = problems(outcome, path, case.field, CHECK_TIME_BOUND)
    assert not found, f"{command} -c {case.name}: " + "; ".join(found)
