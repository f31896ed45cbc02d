"""Every invalid config in testdata/config/invalid-*.yaml, with the exact lines it must produce.

blackbox_exporter style: one small file per mistake, one table of exact messages.
Each line is `<file>: <field path>: <problem>`; the file is shown as it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from prober.config import ConfigError, load_config

TESTDATA = Path(__file__).parent / "testdata" / "config"
SECRET = "sk-live-PROBERTEST-0123456789"
METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
BAD_DURATION = "use a number and a unit (ms, s, m, h, d, w), e.g. '15s'"
BAD_URL = "must be an absolute http:// or https:// URL with a host, got"
BAD_STATUS_SYNTAX = "use a code (200), a class (2xx) or a range (200-299)"
BAD_STATUS_RANGE = "codes are 100-599 and a range goes low-high"
BUILTINS = "nonce, probe, region, run_id, timestamp, uuid"
OUTCOMES = (
    "'success', 'http_status', 'assertion_failed', 'timeout', 'connect_refused', "
    "'connect_error', 'protocol_error', 'dns_error', 'tls_error', 'body_too_large', "
    "'consistency' or 'internal'"
)


@dataclass(frozen=True)
class Case:
    file: str
    # Each line without the leading "<file>: "; "<dir>" stands for the testdata folder.
    lines: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return TESTDATA / self.file

    def expected(self) -> list[str]:
        return [f"{self.path}: {line.replace('<dir>', str(TESTDATA))}" for line in self.lines]


CASES: dict[str, Case] = {
    "unknown top-level key": Case(
        "invalid-unknown-top-level-key.yaml",
        ("alerts: unknown field",),
    ),
    "unknown probe key (typo timout)": Case(
        "invalid-unknown-probe-key.yaml",
        ("probes[0] (healthz).timout: unknown field; did you mean timeout?",),
    ),
    "missing url": Case(
        "invalid-missing-url.yaml",
        ("probes[0] (healthz).url: missing required field",),
    ),
    "duplicate probe names": Case(
        "invalid-duplicate-probe-names.yaml",
        ("probes[2] (healthz).name: duplicate probe name, first used by probes[0]",),
    ),
    "invalid probe name": Case(
        "invalid-probe-name.yaml",
        (
            "probes[0] (health check).name: invalid name 'health check': "
            "1-64 of letters, digits, '_', '.', '-'",
        ),
    ),
    "timeout equal to interval, both explicit": Case(
        "invalid-timeout-equals-interval.yaml",
        ("probes[0] (healthz).timeout: must be shorter than the interval (10s >= 10s)",),
    ),
    "timeout inherited from defaults not shorter than the probe's interval": Case(
        "invalid-timeout-from-defaults.yaml",
        (
            "probes[0] (healthz).timeout: must be shorter than the interval "
            "(5s from defaults.timeout >= 5s)",
        ),
    ),
    "defaults timeout longer than defaults interval": Case(
        "invalid-defaults-timeout-longer-than-interval.yaml",
        (
            "probes[0] (healthz).timeout: must be shorter than the interval "
            "(30s from defaults.timeout >= 15s from defaults.interval)",
        ),
    ),
    "duration as a bare number": Case(
        "invalid-duration-bare-number.yaml",
        (
            "probes[0] (healthz).interval: duration must be a string with a unit like "
            "'15s', '250ms', '1m', got 15",
        ),
    ),
    "duration with a space before the unit": Case(
        "invalid-duration-space-before-unit.yaml",
        (f"probes[0] (healthz).interval: invalid duration '15 s': {BAD_DURATION}",),
    ),
    "duration with an unknown unit": Case(
        "invalid-duration-unknown-unit.yaml",
        (f"probes[0] (healthz).timeout: invalid duration '1x': {BAD_DURATION}",),
    ),
    "negative duration": Case(
        "invalid-duration-negative.yaml",
        (f"defaults.timeout: invalid duration '-1s': {BAD_DURATION}",),
    ),
    "zero duration": Case(
        "invalid-duration-zero.yaml",
        ("probes[0] (healthz).interval: duration '0s' must be greater than zero",),
    ),
    "ftp url": Case(
        "invalid-url-ftp-scheme.yaml",
        (f"probes[0] (healthz).url: {BAD_URL} ftp://files.example.com/healthz",),
    ),
    "url without a host": Case(
        "invalid-url-no-host.yaml",
        (f"probes[0] (healthz).url: {BAD_URL} 'http:///healthz'",),
    ),
    "relative url": Case(
        "invalid-url-relative-path.yaml",
        (f"probes[0] (healthz).url: {BAD_URL} '/healthz'",),
    ),
    "url with a password and a bad scheme hides the userinfo": Case(
        "invalid-url-userinfo-password.yaml",
        (f"probes[0] (healthz).url: {BAD_URL} ftp://files.example.com/healthz",),
    ),
    "url with a password and an empty host": Case(
        "invalid-url-userinfo-password-empty-host.yaml",
        ("probes[0] (healthz).url: not a valid URL",),
    ),
    "url with a password and no scheme hides the userinfo": Case(
        "invalid-url-no-scheme-with-password.yaml",
        (f"probes[0] (healthz).url: {BAD_URL} 'ums.example.com/healthz'",),
    ),
    "url credentials and an Authorization header": Case(
        "invalid-url-credentials-and-authorization.yaml",
        (
            "probes[0] (get-canary): url has credentials and headers has Authorization: "
            "use one of them",
        ),
        env={"UMS_TOKEN": SECRET},
    ),
    "tracing endpoint with a password and a bad scheme": Case(
        "invalid-tracing-endpoint-with-password.yaml",
        (
            "tracing.endpoint: must be an http:// or https:// URL, "
            "got 'grpc://collector.example.com:4317'",
        ),
    ),
    "missing env var in a header": Case(
        "invalid-env-var-missing-in-header.yaml",
        (
            "probes[0].headers.Authorization: environment variable UMS_TOKEN is not set "
            "(write ${UMS_TOKEN:-default} to give a default)",
        ),
    ),
    "unreadable secret file": Case(
        "invalid-secret-file-unreadable.yaml",
        (
            "probes[0].headers.Authorization: cannot read secret file "
            "'<dir>/no-such-token.txt': No such file or directory",
        ),
    ),
    "secret file that is not UTF-8": Case(
        "invalid-secret-file-not-utf8.yaml",
        (
            "probes[0].headers.Authorization: cannot read secret file "
            "'<dir>/not-utf8-token.bin': not UTF-8 text",
        ),
    ),
    "invalid reference syntax": Case(
        "invalid-env-reference-syntax.yaml",
        ("probes[0].url: invalid reference '${1X}': use ${VAR}, ${VAR:-default} or ${file:PATH}",),
    ),
    "invalid body_regex": Case(
        "invalid-body-regex.yaml",
        (
            'probes[0] (healthz).expect.body_regex: invalid regex \'"status":\\\\s*("ok"\': '
            "missing )",
        ),
    ),
    "invalid regex in a json matches": Case(
        "invalid-json-matches-regex.yaml",
        ("probes[0] (get-canary).expect.json[1].matches: invalid regex '[0-9': missing ]",),
    ),
    "json assertion with two checks": Case(
        "invalid-json-assertion-two-checks.yaml",
        ("probes[0] (get-canary).expect.json[0]: give exactly one of equals, exists or matches",),
    ),
    "json assertion with no check": Case(
        "invalid-json-assertion-no-check.yaml",
        ("probes[0] (get-canary).expect.json[0]: give exactly one of equals, exists or matches",),
    ),
    "status 600": Case(
        "invalid-status-600.yaml",
        (f"probes[0] (healthz).expect.status: invalid status '600': {BAD_STATUS_RANGE}",),
    ),
    "status range of classes": Case(
        "invalid-status-class-range.yaml",
        (f"probes[0] (healthz).expect.status: invalid status '2xx-3xx': {BAD_STATUS_SYNTAX}",),
    ),
    "status word": Case(
        "invalid-status-word.yaml",
        (f"probes[0] (healthz).expect.status: invalid status 'abc': {BAD_STATUS_SYNTAX}",),
    ),
    "reversed status range": Case(
        "invalid-status-reversed-range.yaml",
        (f"probes[0] (healthz).expect.status: invalid status '299-200': {BAD_STATUS_RANGE}",),
    ),
    "empty status list": Case(
        "invalid-status-empty.yaml",
        (f"probes[0] (healthz).expect.status: list at least one status: {BAD_STATUS_SYNTAX}",),
    ),
    "unknown method": Case(
        "invalid-method.yaml",
        (f"probes[0] (healthz).method: unknown method 'FETCH': one of {METHODS}",),
    ),
    "body and json both set": Case(
        "invalid-body-and-json.yaml",
        ("probes[0] (put-canary): give body or json, not both",),
    ),
    "unknown slo reference": Case(
        "invalid-unknown-slo-reference.yaml",
        ("probes[0] (healthz).slo: unknown SLO 'user-metdata' (known: user-metadata)",),
    ),
    "duplicate slo": Case(
        "invalid-duplicate-slo.yaml",
        ("slos[1] (user-metadata).name: duplicate SLO name",),
    ),
    "availability objective of 100": Case(
        "invalid-objective-100.yaml",
        ("slos[0] (user-metadata).availability.objective: Input should be less than 100",),
    ),
    "latency objective of 0": Case(
        "invalid-objective-0.yaml",
        ("slos[0] (user-metadata).latency.objective: Input should be greater than 0",),
    ),
    "negative availability objective": Case(
        "invalid-objective-negative.yaml",
        ("slos[0] (user-metadata).availability.objective: Input should be greater than 0",),
    ),
    "bad_outcomes containing success": Case(
        "invalid-bad-outcomes-success.yaml",
        ("slos[0] (user-metadata).availability.bad_outcomes: success cannot be a bad outcome",),
    ),
    "bad_outcomes containing an unknown outcome": Case(
        "invalid-bad-outcomes-unknown.yaml",
        (f"slos[0] (user-metadata).availability.bad_outcomes[1]: Input should be {OUTCOMES}",),
    ),
    "burn window short not shorter than long": Case(
        "invalid-burn-window-short-not-shorter.yaml",
        (
            "slos[0] (user-metadata).alerting.burn_windows[0] (fast): "
            "short_window must be shorter than long_window",
        ),
    ),
    "static label named probe (reserved)": Case(
        "invalid-label-reserved.yaml",
        ("agent.labels: label 'probe' is set by prober and cannot be overridden",),
    ),
    "invalid static label name": Case(
        "invalid-label-name.yaml",
        (
            "agent.labels: invalid label name 'team-name': "
            "use letters, digits and '_', not starting with a digit or '__'",
        ),
    ),
    "listen address without a port": Case(
        "invalid-listen.yaml",
        ("agent.listen: invalid listen address 'localhost': use host:port, e.g. 127.0.0.1:9477",),
    ),
    "listen port out of range": Case(
        "invalid-listen-port-out-of-range.yaml",
        (
            "agent.listen: invalid listen address '127.0.0.1:99999': "
            "use host:port, e.g. 127.0.0.1:9477",
        ),
    ),
    "agent that is not a mapping": Case(
        "invalid-agent-not-a-mapping.yaml",
        ("agent: expected a mapping (region, listen, labels, ...)",),
    ),
    "a header value that would inject a header": Case(
        "invalid-header-value-line-break.yaml",
        ("probes[0] (healthz).headers: header X-A: the value has a line break or a NUL byte",),
    ),
    "a header name with a space": Case(
        "invalid-header-name.yaml",
        (
            "probes[0] (healthz).headers: invalid header name 'X Bad': "
            "letters, digits and !#$%&'*+-.^_`|~ only",
        ),
    ),
    "unknown HTTP client": Case(
        "invalid-agent-http-client.yaml",
        ("agent.http_client: Input should be 'builtin' or 'aiohttp'",),
    ),
    "unknown metrics mode": Case(
        "invalid-agent-metrics.yaml",
        ("agent.metrics: Input should be 'full' or 'lean'",),
    ),
    "error bound alert above 1s": Case(
        "invalid-agent-error-bound-alert.yaml",
        ("agent.error_bound_alert: must be at most 1s (the histogram's last bucket), got 2s",),
    ),
    "empty probes list": Case(
        "invalid-probes-empty.yaml",
        ("probes: list at least one probe",),
    ),
    "no probes key": Case(
        "invalid-probes-missing.yaml",
        ("probes: missing required field: list at least one probe",),
    ),
    "yaml syntax error": Case(
        "invalid-yaml-syntax.yaml",
        ("line 4 column 4, in probes.timeout: invalid YAML: did not find expected '-' indicator",),
    ),
    "top level is a list": Case(
        "invalid-top-level-list.yaml",
        ("expected a mapping with 'probes' at the top level",),
    ),
    "file not found": Case(
        "does-not-exist.yaml",
        ("file not found",),
    ),
    "tls key_file without cert_file": Case(
        "invalid-tls-key-without-cert.yaml",
        ("probes[0] (healthz).tls: key_file needs cert_file",),
    ),
    "unknown probe kind grpc": Case(
        "invalid-probe-kind-unknown.yaml",
        ("probes[0] (get-canary).kind: unknown kind 'grpc': use http or scenario",),
    ),
    "variable in a plain http probe": Case(
        "invalid-http-probe-variable.yaml",
        (
            "probes[0] (get-canary).url: variable 'nonce' is only filled in by scenario steps; "
            "a kind: http probe would send it as written",
        ),
    ),
    "scenario with no steps": Case(
        "invalid-scenario-no-steps.yaml",
        ("probes[0] (canary-rw).steps: list at least one step",),
    ),
    "unknown variable in a step url": Case(
        "invalid-scenario-unknown-variable.yaml",
        (
            "probes[0] (canary-rw).steps[0] (read).url: unknown variable 'user' "
            f"(known here: {BUILTINS})",
        ),
    ),
    "variable captured by a later step used in an earlier header": Case(
        "invalid-scenario-variable-captured-later.yaml",
        (
            "probes[0] (canary-rw).steps[0] (write).headers.If-Match: variable 'version' "
            "is captured by a later step, steps[1] (read)",
        ),
    ),
    "variable captured by the step that uses it": Case(
        "invalid-scenario-variable-captured-by-same-step.yaml",
        (
            "probes[0] (canary-rw).steps[0] (write).url: variable 'version' "
            "is captured by this same step; only later steps can use it",
        ),
    ),
    "variable in the url host": Case(
        "invalid-scenario-variable-in-host.yaml",
        (
            "probes[0] (canary-rw).steps[0] (read).url: variable 'region' is in the host: "
            "variables can only be used in the path and query",
        ),
    ),
    "duplicate step names": Case(
        "invalid-scenario-duplicate-step-names.yaml",
        (
            "probes[0] (canary-rw).steps[1] (write).name: "
            "duplicate step name, first used by steps[0]",
        ),
    ),
    "capture named like the built-in nonce": Case(
        "invalid-scenario-capture-builtin-name.yaml",
        ("probes[0] (canary-rw).steps[0] (write).capture.nonce: 'nonce' is a built-in variable",),
    ),
    "capture with two sources": Case(
        "invalid-scenario-capture-two-sources.yaml",
        (
            "probes[0] (canary-rw).steps[0] (write).capture.version: "
            "give exactly one of json, header or regex",
        ),
    ),
    "timeout on a step that is not always_run": Case(
        "invalid-scenario-timeout-not-always-run.yaml",
        (
            "probes[0] (canary-rw).steps[0] (write): "
            "timeout is for always_run steps; others share the probe's timeout",
        ),
    ),
    "scenario timeout plus cleanup timeout not shorter than the interval": Case(
        "invalid-scenario-cleanup-timeout-reaches-interval.yaml",
        (
            "probes[0] (canary-rw).timeout: timeout plus always_run step timeouts must be "
            "shorter than the interval (8s + 2s >= 10s)",
        ),
    ),
    "scenario timeout inherited from defaults not shorter than its interval": Case(
        "invalid-scenario-timeout-from-defaults.yaml",
        (
            "probes[0] (canary-rw).timeout: must be shorter than the interval "
            "(5s from defaults.timeout >= 5s)",
        ),
    ),
    "tls ca_file that does not exist": Case(
        "invalid-tls-ca-file-missing.yaml",
        (
            "probes[0] (healthz).tls: ca_file '/nonexistent/prober/ca.pem' "
            "does not exist or is not a file",
        ),
    ),
    "max_body_bytes 1 potato": Case(
        "invalid-max-body-bytes.yaml",
        (
            "probes[0] (healthz).expect.max_body_bytes: invalid size '1 potato': "
            "use bytes or a unit (KiB, MiB, KB, MB), e.g. '1MiB'",
        ),
    ),
    "two field problems give two lines": Case(
        "invalid-two-problems.yaml",
        (
            f"probes[0] (healthz).method: unknown method 'FETCH': one of {METHODS}",
            f"probes[1] (get-canary).timeout: invalid duration '1x': {BAD_DURATION}",
        ),
    ),
    "two reference problems give two lines": Case(
        "invalid-two-reference-problems.yaml",
        (
            "probes[0] (healthz).slo: unknown SLO 'nope' (known: user-metadata)",
            "probes[1] (healthz).name: duplicate probe name, first used by probes[0]",
        ),
    ),
    "secret echoed by a bad method is redacted": Case(
        "invalid-secret-in-method.yaml",
        (f"probes[0] (get-canary).method: unknown method 'REDACTED': one of {METHODS}",),
        env={"UMS_TOKEN": SECRET},
    ),
    "secret in a header with an unrelated mistake": Case(
        "invalid-secret-with-unrelated-error.yaml",
        ("probes[0] (get-canary).timeout: must be shorter than the interval (3s >= 2s)",),
        env={"UMS_TOKEN": SECRET},
    ),
}


def _params() -> list[object]:
    return [pytest.param(case, id=name) for name, case in CASES.items()]


def _load_error(case: Case) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(case.path, env=case.env)
    return info.value


def test_the_table_covers_every_invalid_fixture_file() -> None:
    on_disk = {p.name for p in TESTDATA.glob("invalid-*.yaml")}
    in_table = {case.file for case in CASES.values()}
    assert on_disk == in_table - {"does-not-exist.yaml"}
    assert len(on_disk) >= 25


@pytest.mark.parametrize("case", _params())
def test_an_invalid_config_starts_with_its_exact_messages(case: Case) -> None:
    exc = _load_error(case)
    expected = case.expected()
    assert exc.lines[: len(expected)] == expected


@pytest.mark.parametrize("case", _params())
def test_an_invalid_config_reports_exactly_its_own_problems_and_nothing_else(case: Case) -> None:
    exc = _load_error(case)
    assert len(exc.lines) == len(case.lines), exc.lines
    assert exc.lines == case.expected()


@pytest.mark.parametrize("case", _params())
def test_every_message_is_one_line_that_starts_with_the_file_it_came_from(case: Case) -> None:
    exc = _load_error(case)
    for line in exc.lines:
        assert "\n" not in line
        assert line.startswith(f"{case.path}: ")
    assert str(exc) == "\n".join(exc.lines)


def test_the_file_is_shown_as_the_caller_wrote_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(TESTDATA)
    with pytest.raises(ConfigError) as info:
        load_config("invalid-duplicate-slo.yaml", env={})
    assert info.value.lines == [
        "invalid-duplicate-slo.yaml: slos[1] (user-metadata).name: duplicate SLO name"
    ]


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("url with a password and a bad scheme hides the userinfo", "hunter2-ftp-pass"),
        ("url with a password and an empty host", "hunter2-nohost-pass"),
        ("url with a password and no scheme hides the userinfo", "hunter2-noscheme-pass"),
        ("tracing endpoint with a password and a bad scheme", "hunter2-otlp-pass"),
        ("url credentials and an Authorization header", "hunter2-both-pass"),
        ("url credentials and an Authorization header", SECRET),
        ("secret echoed by a bad method is redacted", SECRET),
        ("secret in a header with an unrelated mistake", SECRET),
    ],
    ids=[
        "ftp scheme",
        "empty host",
        "no scheme",
        "otlp endpoint",
        "url password beside an Authorization header",
        "header token beside url credentials",
        "token echoed in the method",
        "token with an unrelated mistake",
    ],
)
def test_a_password_or_token_never_appears_in_any_message(name: str, secret: str) -> None:
    case = CASES[name]
    assert secret in case.path.read_text() or secret in case.env.values()
    exc = _load_error(case)
    assert not [line for line in exc.lines if secret in line]
    assert secret not in str(exc)


def test_a_missing_env_var_names_the_field_and_the_variable_but_no_other_value() -> None:
    case = CASES["missing env var in a header"]
    with pytest.raises(ConfigError) as info:
        load_config(case.path, env={"UMS_URL": "http://ums.internal", "OTHER_TOKEN": SECRET})
    (line,) = info.value.lines
    assert "headers.Authorization" in line
    assert "UMS_TOKEN" in line
    assert SECRET not in line


def test_a_secret_file_that_is_not_utf8_is_a_config_error_not_a_crash() -> None:
    with pytest.raises(ConfigError):
        load_config(CASES["secret file that is not UTF-8"].path, env={})


def test_an_agent_section_that_is_not_a_mapping_is_a_config_error_not_a_crash() -> None:
    with pytest.raises(ConfigError):
        load_config(CASES["agent that is not a mapping"].path, env={})
