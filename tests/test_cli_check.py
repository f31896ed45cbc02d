"""`prober check -c FILE` as a real subprocess: summary and exit 0, or `error:` lines and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
TESTDATA = Path("tests") / "testdata" / "config"  # relative: cwd is the repo
SECRET = "sk-live-PROBERTEST-0123456789"
METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


def _check(
    *args: str, env: dict[str, str] | None = None, columns: int | None = 200
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UMS_", "PROBER_")) and k not in ("COLUMNS", "LINES")
    }
    if columns is not None:
        clean["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "prober.cli", "check", *args],
        cwd=REPO,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


BUNDLED_SUMMARY = [
    "ok probes.yaml: 4 probes, 1 SLO, region local, metrics on 127.0.0.1:9477",
    "  get-canary-metadata: GET 127.0.0.1:8089 every 15s, timeout 5s -> SLO user-metadata",
    "  put-canary-metadata: PUT 127.0.0.1:8089 every 15s, timeout 5s -> SLO user-metadata",
    "  canary-write-read: 3-step scenario 127.0.0.1:8089 every 30s, timeout 5s"
    " -> SLO user-metadata",
    "  healthz: GET 127.0.0.1:8089 every 10s, timeout 2s",
]


def test_check_accepts_the_bundled_config_and_lists_every_probe() -> None:
    result = _check("-c", "probes.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == BUNDLED_SUMMARY
    assert result.stderr == ""


def test_check_shows_the_region_flag_over_prober_region_and_the_target_from_ums_url() -> None:
    result = _check(
        "-c",
        "probes.yaml",
        "--region",
        "ap-south-1",
        env={"PROBER_REGION": "us-east-1", "UMS_URL": "https://ums.eu.example.com:8443"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        BUNDLED_SUMMARY[0].replace("region local", "region ap-south-1"),
        *(
            line.replace("127.0.0.1:8089", "ums.eu.example.com:8443")
            for line in BUNDLED_SUMMARY[1:]
        ),
    ]


def test_check_prints_one_line_per_probe_when_piped_without_columns() -> None:
    result = _check("-c", "probes.yaml", columns=None)
    assert result.stdout.splitlines() == BUNDLED_SUMMARY


@pytest.mark.parametrize(
    ("file", "lines"),
    [
        ("invalid-unknown-top-level-key.yaml", ["alerts: unknown field"]),
        (
            "invalid-env-var-missing-in-header.yaml",
            [
                "probes[0].headers.Authorization: environment variable UMS_TOKEN is not set "
                "(write ${UMS_TOKEN:-default} to give a default)"
            ],
        ),
        (
            "invalid-yaml-syntax.yaml",
            [
                "line 4 column 4, in probes.timeout: "
                "invalid YAML: did not find expected '-' indicator"
            ],
        ),
        ("does-not-exist.yaml", ["file not found"]),
        (
            "invalid-two-reference-problems.yaml",
            [
                "probes[0] (healthz).slo: unknown SLO 'nope' (known: user-metadata)",
                "probes[1] (healthz).name: duplicate probe name, first used by probes[0]",
            ],
        ),
        (
            "invalid-method.yaml",
            [f"probes[0] (healthz).method: unknown method 'FETCH': one of {METHODS}"],
        ),
        (
            "invalid-agent-not-a-mapping.yaml",
            ["agent: expected a mapping (region, listen, labels, ...)"],
        ),
        (
            "invalid-secret-file-not-utf8.yaml",
            [
                "probes[0].headers.Authorization: cannot read secret file "
                f"'{TESTDATA / 'not-utf8-token.bin'}': not UTF-8 text"
            ],
        ),
        (
            "invalid-scenario-duplicate-step-names.yaml",
            [
                "probes[0] (canary-rw).steps[1] (write).name: "
                "duplicate step name, first used by steps[0]"
            ],
        ),
    ],
    ids=[
        "an unknown top-level key",
        "a missing env var",
        "a YAML syntax error",
        "a file that does not exist",
        "two problems print two lines",
        "a mistake inside a probe prints only that mistake",
        "an agent section that is not a mapping",
        "a secret file that is not UTF-8",
        "a mistake in a scenario step names the probe and the step",
    ],
)
def test_check_prints_only_the_error_lines_and_exits_2(file: str, lines: list[str]) -> None:
    path = TESTDATA / file
    result = _check("-c", str(path))
    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "".join(f"error: {path}: {line}\n" for line in lines)


@pytest.mark.parametrize(
    "file",
    [
        "invalid-secret-with-unrelated-error.yaml",
        "invalid-secret-in-method.yaml",
    ],
    ids=[
        "a token set in the environment with an unrelated mistake",
        "a token echoed by the error about the method",
    ],
)
def test_check_never_prints_a_token_from_the_environment(file: str) -> None:
    path = TESTDATA / file
    result = _check("-c", str(path), env={"UMS_TOKEN": SECRET})
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}: probes[0] (get-canary)")
    assert SECRET not in result.stdout
    assert SECRET not in result.stderr
    assert "Traceback" not in result.stderr
