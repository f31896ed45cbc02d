"""Issue 22: what a new user of prober meets, written from the README and docs only.

Every test drives the real `prober` command against real servers on 127.0.0.1 (an aiohttp
service with one path per fault, a fake Prometheus HTTP API, the demo's simulated service)
and reads only what a user reads: the terminal, JSON output, the results file, the docs.

Names the fix will define are constants below, so they can be aligned with it.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from .newcomer.helpers import (
    DEMO_SH,
    README,
    REPO,
    Demo,
    Result,
    ThreadServer,
    clean_env,
    option_help,
    prometheus_app,
    quick_start_path_setup,
    read_results,
    readme_prober_commands,
    run_as_typed_after_quick_start,
    run_prober,
    run_prober_on_a_terminal,
    service_app,
    strings_in,
    top_errors,
)

# --- names the fix defines: align these with it -----------------------------------------------

#: `once -o json`, per probe: the most frequent error of its failed runs (a string, or an
#: object holding it, e.g. {"error": ..., "count": ...}); absent or null when none failed.
ONCE_TOP_ERROR = "top_error"
#: `once -o json`, per scenario probe: the step that failed most often (absent/null if none).
ONCE_FAILING_STEP = "failing_step"
#: results file (`--results`), scenario runs: the first failing step's name (absent/null/""
#: when every step passed) ...
RESULTS_STEP = "step"
#: ... and every step that ran, in order: [{name, duration_seconds, outcome}, ...].
RESULTS_STEPS = "steps"
STEP_NAME, STEP_DURATION, STEP_OUTCOME = "name", "duration_seconds", "outcome"
#: `report -o json`: some key containing this word says how much of the window has data.
REPORT_COVERAGE_KEY = "coverage"
#: `report` text and HTML: how they say how much of the window has data.
COVERAGE_WORDS = re.compile(
    r"\bcover(age|s|ed)\b|\bdata (for|since|from)\b|\bhas data\b|\bwith data\b", re.I
)
#: `report --html` with a single point in time, when it does not draw the point.
NOT_ENOUGH_DATA = "not enough data yet"
#: `run` that ran nothing: what it says.
NO_DATA = re.compile(r"\bno data\b", re.I)
#: `check` on a literal credential in `headers:`.
LITERAL_WARNING = re.compile(r"\bliteral\b|\bwarning\b", re.I)

LITERAL_TOKEN = "abc123s3cr3tLITERALtoken"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with ThreadServer(service_app) as server:
        yield server.url


# --- 1. `once`: why runs failed --------------------------------------------------------------


def failing_probes_config(url: str, key: str) -> str:
    return f"""
slos:
  - name: ums
    period: 30d
    availability: {{objective: 99.9}}
probes:
  - name: wrong-shape
    url: {url}/wrong-shape
    expect:
      json:
        - {{path: user_id, equals: canary}}
    slo: ums
  - name: mostly-503
    url: {url}/mixed?k={key}
    expect:
      json:
        - {{path: user_id, equals: canary}}
  - name: healthy
    url: {url}/ok
"""


@pytest.fixture(scope="module")
def once_table(service: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    base = tmp_path_factory.mktemp("once-table")
    config = write(base / "probes.yaml", failing_probes_config(service, "table"))
    results = base / "runs.jsonl"
    return run_prober("once", "-c", str(config), "-n", "6", "--results", str(results)), results


@pytest.fixture(scope="module")
def once_json(
    service: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Result, dict[str, Any], Path]:
    base = tmp_path_factory.mktemp("once-json")
    config = write(base / "probes.yaml", failing_probes_config(service, "json"))
    results = base / "runs.jsonl"
    result = run_prober(
        "once", "-c", str(config), "-n", "6", "-o", "json", "--results", str(results)
    )
    assert result.code == 1, result.both
    return result, json.loads(result.out), results


def test_the_once_table_shows_the_most_frequent_error_of_each_failing_probe(
    once_table: tuple[Result, Path],
) -> None:
    result, results = once_table
    assert result.code == 1, result.both
    expected = top_errors(read_results(results))
    assert set(expected) == {"wrong-shape", "mostly-503"}, expected
    # The wrong-shape probe's reason is the JSON assertion, not just `assertion_failed=6`.
    assert "user_id" in expected["wrong-shape"]
    for probe, error in expected.items():
        rows = [line for line in result.out.splitlines() if probe in line]
        assert any(error in row for row in rows), (
            f"the table does not show {probe}'s most frequent error {error!r}:\n{result.out}"
        )


def test_once_json_gives_the_most_frequent_error_of_each_probe(
    once_json: tuple[Result, dict[str, Any], Path],
) -> None:
    _, report, results = once_json
    expected = top_errors(read_results(results))
    probes = {p["probe"]: p for p in report["probes"]}
    for probe, error in expected.items():
        assert ONCE_TOP_ERROR in probes[probe], f"{probe}: no {ONCE_TOP_ERROR!r} in {probes[probe]}"
        assert error in strings_in(probes[probe][ONCE_TOP_ERROR]), probes[probe][ONCE_TOP_ERROR]
    # Two runs in three were 503s: the most frequent error is the status, not the JSON one.
    assert "503" in " ".join(strings_in(probes["mostly-503"][ONCE_TOP_ERROR]))
    assert probes["healthy"].get(ONCE_TOP_ERROR) in (None, "", {})


def verbose_config(url: str, tmp: Path) -> Path:
    return write(
        tmp / "probes.yaml",
        f"""
probes:
  - name: refused
    url: http://127.0.0.1:{closed_port()}/v1
  - name: too-slow
    url: {url}/slow
    timeout: 300ms
  - name: unavailable
    url: {url}/503
  - name: healthy
    url: {url}/ok
""",
    )


def assert_every_failed_run_is_printed(result: Result, results: Path) -> None:
    runs = read_results(results)
    failed = [r for r in runs if r["outcome"] != "success"]
    assert {r["probe"] for r in failed} == {"refused", "too-slow", "unavailable"}, runs
    assert len(failed) == 9, runs
    lines = result.both.splitlines()
    for run in failed:
        printed = [line for line in lines if run["run_id"] in line]
        assert printed, f"failed run {run['run_id']} ({run['probe']}) not printed:\n{result.both}"
        assert any(run["error"] in line for line in printed), (run, printed)


def test_once_verbose_prints_every_failed_run_when_piped(service: str, tmp_path: Path) -> None:
    results = tmp_path / "runs.jsonl"
    config = verbose_config(service, tmp_path)
    result = run_prober("once", "-c", str(config), "-n", "3", "-v", "--results", str(results))
    assert result.code == 1, result.both
    assert_every_failed_run_is_printed(result, results)


def test_once_verbose_prints_every_failed_run_on_a_terminal(service: str, tmp_path: Path) -> None:
    results = tmp_path / "runs.jsonl"
    config = verbose_config(service, tmp_path)
    result = run_prober_on_a_terminal(
        "once", "-c", str(config), "-n", "3", "-v", "--results", str(results)
    )
    assert result.code == 1, result.both
    assert_every_failed_run_is_printed(result, results)


# --- 2. the commands a new user is told to type work as typed -------------------------------


def test_the_quick_start_says_how_to_get_prober_on_the_path() -> None:
    """README's commands start with a bare `prober`, but the quick start installs it into
    .venv/bin only: the quick start must put it on PATH (activate, export PATH, pipx...), or
    scripts/demo.sh must install it somewhere already on PATH."""
    bare = [c for c in readme_prober_commands() if c.startswith("prober ")]
    if not bare:
        return  # the README spells out the path itself
    demo_installs_on_path = re.search(
        r"\.local/bin|pipx\s+install|pip(3)?\s+install\s+--user", DEMO_SH.read_text()
    )
    assert quick_start_path_setup() or demo_installs_on_path, (
        "README tells users to type `prober ...`, but nothing in the quick start puts prober "
        "on PATH"
    )


CHEAP = re.compile(r"^(\S*/)?prober\s+(check|once|rules)\b")


def cheap_readme_commands() -> list[str]:
    text = README.read_text()
    inline = re.findall(r"`((?:\S*/)?prober [^`]+)`", text)
    found = [c for c in [*readme_prober_commands(), *inline] if CHEAP.match(c)]
    return list(dict.fromkeys(found))


@pytest.fixture(scope="module")
def demo_service() -> Iterator[str]:
    with Demo(duration="180s") as demo:
        yield demo.service_url


def repo_copy(tmp: Path) -> Path:
    """A working directory like the repository's: the bundled config and committed rules."""
    shutil.copy(REPO / "probes.yaml", tmp / "probes.yaml")
    shutil.copytree(REPO / "rules", tmp / "rules")
    return tmp


def assert_runs_as_typed(command: str, service_url: str, tmp: Path) -> None:
    # PROBER_REGION keeps this run's canary writes apart from the demo's own.
    env = clean_env(UMS_URL=service_url, PROBER_REGION="newcomer")
    result = run_as_typed_after_quick_start(command, repo_copy(tmp), env)
    assert "command not found" not in result.err, (
        f"`{command}` does not run as typed after the quick start:\n{result.err}"
    )
    assert result.code == 0, f"`{command}` exited {result.code}:\n{result.both}"


@pytest.mark.parametrize("command", cheap_readme_commands())
def test_a_readme_command_runs_as_typed_after_the_quick_start(
    command: str, demo_service: str, tmp_path: Path
) -> None:
    assert_runs_as_typed(command, demo_service, tmp_path)


def test_the_commands_the_demo_ends_with_run_as_typed_after_the_quick_start(
    demo_service: str, tmp_path: Path
) -> None:
    result = run_prober(
        "demo",
        "--duration",
        "2s",
        "--service-port",
        "0",
        "--listen",
        "127.0.0.1:0",
        "--error-rate",
        "0",
        timeout=30,
    )
    assert result.code == 0, result.both
    last = [line for line in result.out.splitlines() if line.strip()][-1]
    suggested = [c for c in re.findall(r"`([^`]+)`", last) if CHEAP.match(c)]
    assert suggested, f"the demo's last line suggests no command to try: {last!r}"
    for command in suggested:
        workdir = tmp_path / re.sub(r"\W+", "_", command)
        workdir.mkdir()
        assert_runs_as_typed(command, demo_service, workdir)


# --- 4. a bounded run that ran nothing is not a verdict --------------------------------------


@pytest.fixture(scope="module")
def run_without_data(service: str, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """The issue's own command: the bundled config for 3 s, whose first slots all fall later."""
    base = repo_copy(tmp_path_factory.mktemp("no-data"))
    results = base / "runs.jsonl"
    result = run_prober(
        "run", "-c", "probes.yaml", "--duration", "3s", "--listen", "127.0.0.1:0",
        "--results", str(results), cwd=base, env=clean_env(UMS_URL=service),
    )  # fmt: skip
    assert read_results(results) == [], "precondition: no probe was due within 3 s"
    return result


def test_a_bounded_run_that_ran_nothing_says_so_and_exits_with_its_own_code(
    run_without_data: Result,
) -> None:
    result = run_without_data
    assert NO_DATA.search(result.both), f"no 'no data' in the output:\n{result.both}"
    assert "every objective held" not in result.both
    assert result.code not in (0, 1, 2), f"exit {result.code} reads as a verdict or usage"


def test_the_readme_exit_code_table_documents_the_no_data_code(run_without_data: Result) -> None:
    rows = re.findall(r"^\|\s*(\d+)\s*\|(.*)\|\s*$", README.read_text(), flags=re.M)
    documented = {int(code): meaning for code, meaning in rows}
    assert run_without_data.code in documented, (run_without_data.code, documented)
    assert NO_DATA.search(documented[run_without_data.code]), documented


# --- 5. prober report ------------------------------------------------------------------------


def test_a_refused_plain_http_prometheus_is_reported_without_ssl_noise() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = run_prober("report", "--prometheus", url, "-c", "probes.yaml", timeout=30)
    assert result.code == 2, result.both
    assert "Traceback" not in result.both
    assert f"127.0.0.1:{url.rsplit(':', 1)[1]}" in result.err
    assert "ssl" not in result.err.lower(), result.err


@pytest.fixture(scope="module")
def young_prometheus() -> Iterator[str]:
    """A Prometheus that has held prober's series for two minutes."""
    with ThreadServer(lambda: prometheus_app(time.time() - 120)) as server:
        yield server.url


def test_report_on_two_minutes_of_data_says_how_much_of_the_window_has_data(
    young_prometheus: str,
) -> None:
    result = run_prober("report", "--prometheus", young_prometheus, "-c", "probes.yaml")
    assert "Traceback" not in result.both
    assert result.code in (0, 1), result.both
    assert COVERAGE_WORDS.search(result.out), (
        f"a 30d report on 2 minutes of data does not say how much of the window has data:\n"
        f"{result.out}"
    )


def find_keys(value: Any, word: str) -> list[Any]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if word in k]
        return found + [x for v in value.values() for x in find_keys(v, word)]
    if isinstance(value, list):
        return [x for v in value for x in find_keys(v, word)]
    return []


def test_report_json_on_two_minutes_of_data_says_how_much_of_the_window_has_data(
    young_prometheus: str,
) -> None:
    result = run_prober(
        "report", "--prometheus", young_prometheus, "-c", "probes.yaml", "-o", "json"
    )
    assert result.code in (0, 1), result.both
    coverage = [
        v
        for v in find_keys(json.loads(result.out), REPORT_COVERAGE_KEY)
        if isinstance(v, int | float)
    ]
    assert coverage, f"no numeric {REPORT_COVERAGE_KEY!r} in the JSON report"
    # Two minutes of a 30-day window, as a fraction or a percentage: far from complete.
    assert all(0 <= v < 1 for v in coverage), coverage


def draws_a_point(svg: str) -> bool:
    if re.search(r"<(circle|ellipse|use)\b", svg):
        return True
    for points in re.findall(r'<polyline[^>]*\bpoints="([^"]*)"', svg):
        if len(points.split()) >= 2:
            return True
    return bool(re.search(r'<path[^>]*\bd="M[^"]*[LCQ]', svg))


@pytest.fixture(scope="module")
def html_report(young_prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    page = tmp_path_factory.mktemp("html") / "slo-report.html"
    result = run_prober(
        "report", "--prometheus", young_prometheus, "-c", "probes.yaml", "--html", str(page)
    )
    assert result.code in (0, 1), result.both
    return page.read_text()


def test_the_html_report_on_two_minutes_of_data_says_how_much_of_the_window_has_data(
    html_report: str,
) -> None:
    text = re.sub(r"<style.*?</style>|<[^>]+>", " ", html_report, flags=re.S)
    assert COVERAGE_WORDS.search(text), "the page does not say how much of the window has data"


def test_the_html_report_with_one_timestamp_draws_points_or_says_not_enough_data_yet(
    html_report: str,
) -> None:
    charts = re.findall(r"<svg\b.*?</svg>", html_report, flags=re.S)
    blank = [c for c in charts if "<polyline" in c and not draws_a_point(c)]
    assert not blank or NOT_ENOUGH_DATA in html_report, (
        f"{len(blank)} of {len(charts)} charts are empty axes, and the page does not say "
        f"{NOT_ENOUGH_DATA!r}"
    )


# --- 6. config validation in one pass ---------------------------------------------------------


def test_check_reports_every_problem_of_a_config_in_one_pass(tmp_path: Path) -> None:
    config = write(
        tmp_path / "probes.yaml",
        """
probes:
  - name: a
    url: http://127.0.0.1:8089/v1
    interval: 1s
    timeout: 2s
    expct:
      status: [200]
    slo: nope
""",
    )
    result = run_prober("check", "-c", str(config))
    assert result.code == 2, result.both
    lines = result.both.splitlines()
    assert any("expct" in line for line in lines), result.both
    assert any("shorter than the interval" in line for line in lines), result.both
    assert any("unknown SLO" in line and "nope" in line for line in lines), result.both


def test_an_unknown_field_suggests_the_nearest_name(tmp_path: Path) -> None:
    config = write(
        tmp_path / "probes.yaml",
        "probes:\n  - name: a\n    url: http://127.0.0.1:8089/v1\n    expct: {status: [200]}\n",
    )
    result = run_prober("check", "-c", str(config))
    assert result.code == 2, result.both
    line = next((ln for ln in result.both.splitlines() if "expct" in ln), "")
    assert re.search(r"did you mean\W+expect\b", line), result.both


# --- 7. a literal token in headers ------------------------------------------------------------


def test_check_warns_about_a_literal_token_in_headers_without_printing_it(
    tmp_path: Path,
) -> None:
    config = write(
        tmp_path / "probes.yaml",
        f"""
probes:
  - name: a
    url: http://127.0.0.1:8089/v1
    headers:
      Authorization: Bearer {LITERAL_TOKEN}
""",
    )
    result = run_prober("check", "-c", str(config))
    assert result.code == 0, result.both
    warnings = [ln for ln in result.both.splitlines() if LITERAL_WARNING.search(ln)]
    assert any("Authorization" in ln for ln in warnings), result.both
    assert LITERAL_TOKEN not in result.both
    assert LITERAL_TOKEN[:8] not in result.both


def test_check_does_not_warn_about_a_header_taken_from_the_environment(tmp_path: Path) -> None:
    config = write(
        tmp_path / "probes.yaml",
        """
probes:
  - name: a
    url: http://127.0.0.1:8089/v1
    headers:
      Authorization: Bearer ${NEWCOMER_TOKEN}
""",
    )
    result = run_prober("check", "-c", str(config), env=clean_env(NEWCOMER_TOKEN=LITERAL_TOKEN))
    assert result.code == 0, result.both
    assert not LITERAL_WARNING.search(result.both), result.both
    assert LITERAL_TOKEN not in result.both


# --- 8. scenario results: the failing step as a field -----------------------------------------


def scenario_config(url: str, tmp: Path) -> Path:
    def scenario(name: str, read: str) -> str:
        return f"""
  - name: {name}
    kind: scenario
    steps:
      - {{name: write, method: PUT, url: "{url}/scenario/write", expect: {{status: [200]}}}}
      - {{name: read, url: "{url}/scenario/{read}", expect: {{status: [200]}}}}
      - name: cleanup
        method: DELETE
        url: {url}/scenario/cleanup
        always_run: true
        expect: {{status: [204]}}
"""

    return write(
        tmp / "probes.yaml",
        "probes:" + scenario("read-fails", "read-503") + scenario("all-good", "read-ok"),
    )


@pytest.fixture(scope="module")
def scenario_runs(
    service: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    base = tmp_path_factory.mktemp("scenario")
    results = base / "runs.jsonl"
    result = run_prober(
        "once", "-c", str(scenario_config(service, base)), "-n", "2", "-o", "json",
        "--results", str(results),
    )  # fmt: skip
    assert result.code == 1, result.both
    return json.loads(result.out), read_results(results)


def test_results_lines_name_the_failing_step_in_a_field(
    scenario_runs: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    _, runs = scenario_runs
    failed = [r for r in runs if r["probe"] == "read-fails"]
    good = [r for r in runs if r["probe"] == "all-good"]
    assert len(failed) == 2, runs
    assert len(good) == 2, runs
    for run in failed:
        assert run.get(RESULTS_STEP) == "read", run
    for run in good:
        assert run.get(RESULTS_STEP) in (None, ""), run


def test_results_lines_give_each_steps_duration_and_outcome(
    scenario_runs: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    _, runs = scenario_runs
    for run in runs:
        steps = run.get(RESULTS_STEPS)
        assert isinstance(steps, list), run
        assert [s[STEP_NAME] for s in steps] == ["write", "read", "cleanup"], steps
        for step in steps:
            assert isinstance(step[STEP_DURATION], float | int), step
            assert step[STEP_DURATION] >= 0, step
            # README: an always_run cleanup is timed as its own step, outside the run's
            # duration; every other step lies within it.
            if step[STEP_NAME] != "cleanup":
                assert step[STEP_DURATION] <= run["duration"], (step, run["duration"])
        outcomes = {s[STEP_NAME]: s[STEP_OUTCOME] for s in steps}
        expected_read = "http_status" if run["probe"] == "read-fails" else "success"
        assert outcomes == {"write": "success", "read": expected_read, "cleanup": "success"}


def test_once_json_names_the_failing_step_in_a_field(
    scenario_runs: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    report, _ = scenario_runs
    probes = {p["probe"]: p for p in report["probes"]}
    assert probes["read-fails"].get(ONCE_FAILING_STEP) == "read", probes["read-fails"]
    assert probes["all-good"].get(ONCE_FAILING_STEP) in (None, ""), probes["all-good"]


def test_once_json_gives_per_step_durations(
    scenario_runs: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    report, _ = scenario_runs
    for probe in report["probes"]:
        steps = probe["steps"]
        assert list(steps) == ["write", "read", "cleanup"], steps
        for step in steps.values():
            durations = [v for k, v in step.items() if k.endswith("_seconds")]
            assert durations, step
            assert all(isinstance(d, float) and d >= 0 for d in durations), step


# --- 9. small things --------------------------------------------------------------------------


def test_once_json_prints_objectives_rounded(
    once_json: tuple[Result, dict[str, Any], Path],
) -> None:
    result, report, _ = once_json
    objectives = next(p["objectives"] for p in report["probes"] if p["probe"] == "wrong-shape")
    assert objectives["availability"] == 0.999
    long = [
        number
        for number in re.findall(r"-?\d+\.\d+(?:[eE][-+]?\d+)?", result.out)
        if -Decimal(number).as_tuple().exponent > 9  # type: ignore[operator]
    ]
    assert not long, f"unrounded numbers in once -o json: {long}"


@pytest.fixture(scope="module")
def busy_run(service: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """Three seconds of `run` with fast intervals, text logs, and a results file."""
    base = tmp_path_factory.mktemp("busy")
    config = write(
        base / "probes.yaml",
        f"""
probes:
  - {{name: refused, url: "http://127.0.0.1:{closed_port()}/v1", interval: 200ms, timeout: 100ms}}
  - {{name: unavailable, url: "{service}/503", interval: 100ms, timeout: 80ms}}
  - {{name: healthy, url: "{service}/ok", interval: 100ms, timeout: 80ms}}
""",
    )
    results = base / "runs.jsonl"
    result = run_prober(
        "run", "-c", str(config), "--duration", "3s", "--listen", "127.0.0.1:0",
        "--results", str(results), "--log-format", "text",
    )  # fmt: skip
    assert result.code == 1, result.both
    return result, results


def test_results_files_hold_no_negative_lag(busy_run: tuple[Result, Path]) -> None:
    _, results = busy_run
    runs = read_results(results)
    assert len(runs) > 20, len(runs)
    negative = [r["lag"] for r in runs if r["lag"] < 0]
    assert not negative, f"{len(negative)} of {len(runs)} runs have a negative lag: {negative[:5]}"


def test_text_logs_never_show_code_none(busy_run: tuple[Result, Path]) -> None:
    result, _ = busy_run
    refused = [ln for ln in result.err.splitlines() if "connection refused" in ln.lower()]
    assert refused, result.err[:2000]
    assert "code=None" not in result.err, refused[0]
    assert "None" not in " ".join(refused), refused[0]


@pytest.mark.parametrize("command", ["run", "check", "once", "demo", "rules", "dashboards"])
def test_help_says_the_config_defaults_to_probes_yaml(command: str) -> None:
    result = run_prober(command, "--help")
    assert result.code == 0, result.both
    _, description = option_help(result.out, "-c")
    assert re.search(r"default\W.*probes\.yaml", description, re.I), description


def test_rules_help_says_where_it_writes_by_default() -> None:
    _, description = option_help(run_prober("rules", "--help").out, "-o")
    assert "default" in description.lower(), description


@pytest.mark.parametrize("command", ["run", "demo"])
def test_log_level_help_says_what_it_accepts_and_its_default(command: str) -> None:
    flags, description = option_help(run_prober(command, "--help").out, "--log-level")
    for level in ("debug", "info", "warning", "error"):
        assert level in flags + " " + description
    assert "default" in description.lower(), (flags, description)


def test_once_output_help_says_what_it_accepts() -> None:
    _, description = option_help(run_prober("once", "--help").out, "-o")
    assert "table" in description, description
    assert "json" in description, description
