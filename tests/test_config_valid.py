"""Configs that load: bundled example, scenarios, defaults, substitution, region, targets,
buckets, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from prober import conventions as c
from prober.config import Capture, Config, ProbeConfig, ScenarioConfig, iter_requests, load_config
from prober.redact import REDACTED

REPO = Path(__file__).parent.parent
TESTDATA = Path(__file__).parent / "testdata" / "config"
BUNDLED = REPO / "probes.yaml"
PACKAGED = REPO / "prober" / "data" / "probes.yaml"
TOKEN = "sk-live-PROBERTEST-0123456789"
FILE_TOKEN = "file-token-0123456789"  # the content of testdata/config/token.txt


def _load(name: str, **env: str) -> Config:
    return load_config(TESTDATA / name, env=env)


def _http(probe: ProbeConfig | ScenarioConfig) -> ProbeConfig:
    assert isinstance(probe, ProbeConfig), f"{probe.name} is a {probe.kind} probe"
    return probe


def _scenario(probe: ProbeConfig | ScenarioConfig) -> ScenarioConfig:
    assert isinstance(probe, ScenarioConfig), f"{probe.name} is a {probe.kind} probe"
    return probe


def _named(config: Config, name: str) -> ProbeConfig | ScenarioConfig:
    return next(p for p in config.probes if p.name == name)


# --- the bundled example ------------------------------------------------------------------


def test_the_packaged_probes_yaml_is_a_byte_identical_copy_of_the_repo_one() -> None:
    assert PACKAGED.read_bytes() == BUNDLED.read_bytes()


@pytest.mark.parametrize("path", [BUNDLED, PACKAGED], ids=["repo probes.yaml", "packaged copy"])
def test_the_bundled_config_loads_with_no_environment_at_all(path: Path) -> None:
    config = load_config(path, env={})
    assert [p.name for p in config.probes] == [
        "get-canary-metadata",
        "put-canary-metadata",
        "canary-write-read",
        "healthz",
    ]
    assert [p.kind for p in config.probes] == ["http", "http", "scenario", "http"]
    assert config.region == "local"
    assert config.agent.listen == "127.0.0.1:9477"
    assert config.agent.labels == {"team": "identity"}
    assert [s.name for s in config.slos] == ["user-metadata"]
    slo = config.slos[0]
    assert slo.availability.objective == 99.9
    assert slo.latency is not None
    assert (slo.latency.objective, slo.latency.threshold) == (95.0, 0.2)
    assert slo.period == 30 * 86400


def test_the_bundled_config_points_at_the_demo_service_by_default() -> None:
    config = load_config(BUNDLED, env={})
    get, put, health = (
        _http(_named(config, n)) for n in ("get-canary-metadata", "put-canary-metadata", "healthz")
    )
    assert get.url == "http://127.0.0.1:8089/v1/users/canary/metadata"
    assert get.headers == {"Authorization": "Bearer demo-token"}
    assert (get.method, put.method, health.method) == ("GET", "PUT", "GET")
    assert put.json_body == {"display_name": "Canary", "locale": "en-GB"}
    assert put.expect.status == ((200, 204),)
    assert get.expect.max_body_bytes == 64 * 1024
    assert [a.path for a in get.expect.json_fields] == ["user_id", "metadata.version"]
    assert health.expect.body_regex is not None
    assert health.expect.body_regex.search('{"status": "ok"}')
    assert {p.target_label for p in config.probes} == {"127.0.0.1:8089"}
    assert [p.slo for p in config.probes] == ["user-metadata"] * 3 + [None]


def test_the_bundled_config_takes_url_and_token_from_the_environment() -> None:
    config = load_config(BUNDLED, env={"UMS_URL": "https://ums.eu.example.com", "UMS_TOKEN": TOKEN})
    requests = iter_requests(config)
    assert [r.url for r in requests] == [
        "https://ums.eu.example.com/v1/users/canary/metadata",
        "https://ums.eu.example.com/v1/users/canary/metadata",
        # the scenario's 3 steps
        "https://ums.eu.example.com/v1/users/canary-rw-{{region}}/metadata",
        "https://ums.eu.example.com/v1/users/canary-rw-{{region}}/metadata",
        "https://ums.eu.example.com/v1/users/canary-rw-{{region}}/metadata",
        "https://ums.eu.example.com/healthz",
    ]
    assert [r.headers.get("Authorization") for r in requests] == [f"Bearer {TOKEN}"] * 5 + [None]
    assert {p.target_label for p in config.probes} == {"ums.eu.example.com"}


def test_the_bundled_scenario_and_healthz_override_the_defaults_the_others_inherit() -> None:
    config = load_config(BUNDLED, env={})
    assert [(config.interval(p), config.timeout(p)) for p in config.probes] == [
        (15.0, 5.0),
        (15.0, 5.0),
        (30.0, 5.0),
        (10.0, 2.0),
    ]


# --- scenarios ----------------------------------------------------------------------------


def test_the_bundled_scenario_writes_reads_back_and_always_cleans_up_in_3_steps() -> None:
    probe = _scenario(_named(load_config(BUNDLED, env={}), "canary-write-read"))
    write, read, cleanup = probe.steps
    assert [(s.name, s.method) for s in probe.steps] == [
        ("write", "PUT"),
        ("read", "GET"),
        ("cleanup", "DELETE"),
    ]
    assert {s.url for s in probe.steps} == {
        "http://127.0.0.1:8089/v1/users/canary-rw-{{region}}/metadata"
    }
    assert (probe.interval, probe.timeout, probe.slo) == (30.0, 5.0, "user-metadata")
    assert write.json_body == {"display_name": "Canary RW", "nonce": "{{nonce}}"}
    assert write.capture == {"version": Capture(json="metadata.version")}
    assert [(a.path, a.equals) for a in read.expect.json_fields] == [
        ("metadata.nonce", "{{nonce}}"),
        ("metadata.version", "{{version}}"),
    ]
    assert cleanup.expect.status == ((204, 204), (404, 404))


def test_only_the_bundled_cleanup_step_always_runs_and_it_has_its_own_2s_timeout() -> None:
    probe = _scenario(_named(load_config(BUNDLED, env={}), "canary-write-read"))
    assert [(s.always_run, s.timeout) for s in probe.steps] == [
        (False, None),
        (False, None),
        (True, 2.0),
    ]


def test_the_bundled_scenario_captures_version_from_the_json_field_metadata_version() -> None:
    probe = _scenario(_named(load_config(BUNDLED, env={}), "canary-write-read"))
    (capture,) = probe.steps[0].capture.values()
    assert (capture.json_path, capture.header, capture.regex) == ("metadata.version", None, None)
    assert [list(s.capture) for s in probe.steps] == [["version"], [], []]


def test_a_step_captures_from_a_json_field_a_header_or_a_regex_group() -> None:
    probe = _scenario(_named(_load("valid-scenario.yaml"), "first-step-host-and-port"))
    etag, id_, version = (probe.steps[0].capture[v] for v in ("etag", "id", "version"))
    assert (etag.json_path, etag.header, etag.regex) == (None, "ETag", None)
    assert id_.regex is not None
    assert id_.regex.search('{"id": "u-42"}') is not None
    assert (version.json_path, version.header, version.regex) == ("metadata.version", None, None)


def test_an_always_run_step_without_a_timeout_shares_the_probe_timeout() -> None:
    config = _load("valid-scenario.yaml")
    probe = _scenario(_named(config, "first-step-host-and-port"))
    assert (probe.steps[-1].always_run, probe.steps[-1].timeout) == (True, None)
    assert (config.interval(probe), config.timeout(probe)) == (30.0, 5.0)


@pytest.mark.parametrize(
    ("name", "kind", "target"),
    [
        ("first-step-host-and-port", "scenario", "ums.example.com:8443"),
        ("first-step-default-port", "scenario", "ums.example.com"),
        ("explicit-target", "scenario", "ums-eu"),
        ("http-written-out", "http", "ums.example.com"),
    ],
    ids=[
        "a scenario's target is its first step's host and port, whatever later steps call",
        "the first step's default port is dropped and its host lower-cased",
        "an explicit target wins over the first step's url",
        "kind http written out is a plain probe with the host as target",
    ],
)
def test_a_scenario_target_label_is_the_first_step_host_and_port_unless_given(
    name: str, kind: str, target: str
) -> None:
    probe = _named(_load("valid-scenario.yaml"), name)
    assert (probe.kind, probe.target_label) == (kind, target)


def test_the_bundled_scenario_target_follows_ums_url_like_the_other_probes() -> None:
    config = load_config(BUNDLED, env={"UMS_URL": "https://ums.eu.example.com:8443"})
    probe = _named(config, "canary-write-read")
    assert probe.target_label == "ums.eu.example.com:8443"


# --- defaults --------------------------------------------------------------------------------


def test_a_minimal_config_gets_every_documented_default() -> None:
    config = _load("valid-minimal.yaml")
    (probe,) = (_http(p) for p in config.probes)
    assert (config.interval(probe), config.timeout(probe)) == (15.0, 5.0)
    assert (probe.interval, probe.timeout) == (None, None)
    assert probe.method == "GET"
    assert probe.expect.status == ((200, 299),)
    assert probe.expect.max_body_bytes == 1024 * 1024
    assert probe.connection == "fresh"
    assert probe.tls.verify is True
    assert config.slos == ()
    assert config.region == "local"
    assert config.agent.listen == c.DEFAULT_LISTEN
    assert config.agent.request_id_header == "X-Request-Id"


@pytest.mark.parametrize(
    ("name", "interval", "timeout"),
    [
        ("inherits-both", 30.0, 3.0),
        ("own-interval", 10.0, 3.0),
        ("own-timeout", 30.0, 1.5),
        ("own-both", 90.0, 45.0),
    ],
    ids=[
        "a probe without interval or timeout inherits both from defaults",
        "a probe's own interval wins and the default timeout still applies",
        "a probe's own timeout wins and the default interval still applies",
        "a probe's own interval and timeout both win",
    ],
)
def test_interval_and_timeout_fall_back_to_defaults_one_by_one(
    name: str, interval: float, timeout: float
) -> None:
    config = _load("valid-defaults.yaml")
    probe = _named(config, name)
    assert (config.interval(probe), config.timeout(probe)) == (interval, timeout)


# --- substitution ------------------------------------------------------------------------


def test_substitution_fills_env_vars_defaults_escapes_and_files() -> None:
    config = _load(
        "valid-substitution.yaml", UMS_URL="http://ums-eu.internal:9000", UMS_TOKEN=TOKEN
    )
    (probe,) = (_http(p) for p in config.probes)
    assert probe.url == "http://ums-eu.internal:9000/v1/users/canary/metadata"
    assert probe.headers == {
        "Authorization": f"Bearer {TOKEN}",
        "X-Deploy-Slot": "blue:green",  # ${VAR:-default} whose default contains ':'
        "X-Price": "costs $5",  # $$ is a literal $
        "X-Template": "${NOT_EXPANDED}",  # $${...} is not a reference
        "X-File-Token": FILE_TOKEN,  # ${file:...} relative to the config, newline stripped
    }
    assert probe.expect.body_regex is not None
    assert probe.expect.body_regex.pattern == "^ok$"
    assert config.region == "eu-west-1"


def test_a_set_env_var_replaces_the_default_of_a_reference() -> None:
    config = _load(
        "valid-substitution.yaml",
        UMS_URL="http://ums",
        UMS_TOKEN=TOKEN,
        DEPLOY_SLOT="green",
        DEPLOY_REGION="us-east-1",
    )
    assert _http(config.probes[0]).headers["X-Deploy-Slot"] == "green"
    assert config.region == "us-east-1"


def test_a_substituted_value_is_not_substituted_again() -> None:
    config = _load("valid-substitution.yaml", UMS_URL="http://ums", UMS_TOKEN="${HOME}$$")
    assert _http(config.probes[0]).headers["Authorization"] == "Bearer ${HOME}$$"


# --- region precedence -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "env", "argument", "expected"),
    [
        ("valid-region.yaml", {}, None, "eu-west-1"),
        ("valid-region.yaml", {"PROBER_REGION": "us-east-1"}, None, "us-east-1"),
        ("valid-region.yaml", {"PROBER_REGION": "us-east-1"}, "ap-south-1", "ap-south-1"),
        ("valid-region.yaml", {}, "ap-south-1", "ap-south-1"),
        ("valid-region.yaml", {"PROBER_REGION": ""}, None, "eu-west-1"),
        ("valid-minimal.yaml", {}, None, "local"),
        ("valid-minimal.yaml", {"PROBER_REGION": "us-east-1"}, None, "us-east-1"),
    ],
    ids=[
        "the file's region applies when nothing overrides it",
        "PROBER_REGION overrides the file",
        "the region argument overrides PROBER_REGION and the file",
        "the region argument overrides the file",
        "an empty PROBER_REGION is ignored",
        "with no region anywhere the region is local",
        "PROBER_REGION applies when the file has no agent section",
    ],
)
def test_region_precedence_is_argument_then_prober_region_then_file_then_local(
    file: str, env: dict[str, str], argument: str | None, expected: str
) -> None:
    config = load_config(TESTDATA / file, env=env, region=argument)
    assert config.region == expected
    assert config.agent.region == (None if expected == "local" else expected)


# --- target label --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("plain-host", "ums.example.com"),
        ("https-default-port-written", "ums.example.com"),
        ("https-other-port", "ums.example.com:8443"),
        ("http-on-443", "ums.example.com:443"),
        ("explicit-target", "ums-eu"),
        ("ipv6-with-port", "[::1]:8089"),
        ("ipv6-default-port", "[2001:db8::1]"),
        ("credentials-query-and-fragment", "ums.example.com"),
        ("upper-case-host", "ums.example.com"),
    ],
    ids=[
        "the target is the host when the port is the scheme's default",
        "an explicit default port is dropped",
        "a non-default port is kept as host:port",
        "port 443 on http is not the default and is kept",
        "an explicit target wins over the url",
        "an IPv6 host is bracketed and keeps its port",
        "an IPv6 host on the default port is bracketed alone",
        "userinfo, query and fragment never reach the target",
        "the host is lower-cased",
    ],
)
def test_the_target_label_is_derived_from_the_url_unless_given(name: str, target: str) -> None:
    config = _load("valid-targets.yaml")
    assert _named(config, name).target_label == target


# --- histogram buckets --------------------------------------------------------------------


def test_duration_buckets_contain_the_seed_thresholds_exactly() -> None:
    buckets = load_config(BUNDLED, env={}).duration_buckets
    assert 0.2 in buckets
    assert 0.5 in buckets
    assert list(buckets) == sorted(set(buckets))


def test_duration_buckets_gain_every_custom_slo_and_p99_threshold() -> None:
    config = _load("valid-slo-thresholds.yaml")
    buckets = config.duration_buckets
    assert {0.2, 0.3, 0.5, 1.2} <= set(buckets)
    assert set(c.DURATION_BUCKETS) <= set(buckets)
    assert list(buckets) == sorted(set(buckets))


def test_a_350ms_slo_threshold_is_the_bucket_bound_0_35_exactly() -> None:
    buckets = _load("valid-slo-thresholds.yaml").duration_buckets
    assert 0.35 in buckets
    assert [b for b in buckets if b != round(b, 9)] == []


# --- status ranges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ranges", "accepted", "refused"),
    [
        ("default-status", ((200, 299),), [200, 204, 299], [199, 300, 404]),
        ("class-scalar", ((200, 299),), [200, 250], [300, 500]),
        ("range", ((200, 204),), [200, 204], [205, 299]),
        ("not-found-expected", ((404, 404),), [404], [200, 403, 405]),
        (
            "mixed",
            ((200, 200), (300, 399), (404, 404), (500, 503)),
            [200, 301, 404, 503],
            [201, 400, 504],
        ),
    ],
    ids=[
        "no status means any 2xx",
        "a class written as a scalar means the whole class",
        "a quoted range is inclusive at both ends",
        "a single code such as 404 can be the expected one",
        "codes, classes and ranges mix in one list",
    ],
)
def test_expected_status_accepts_exactly_its_codes(
    name: str, ranges: tuple[tuple[int, int], ...], accepted: list[int], refused: list[int]
) -> None:
    config = _load("valid-status.yaml")
    probe = _http(_named(config, name))
    assert probe.expect.status == ranges
    assert [code for code in accepted if probe.expect.status_ok(code)] == accepted
    assert [code for code in refused if probe.expect.status_ok(code)] == []


# --- secrets -------------------------------------------------------------------------------


def _secrets_config() -> Config:
    return _load(
        "valid-secrets.yaml",
        UMS_HOST="ums-eu.internal.example",
        UMS_PASSWORD="pw-s3cr3t-42",
        UMS_TOKEN=TOKEN,
    )


@pytest.mark.parametrize(
    "secret",
    [TOKEN, f"Token {TOKEN}", "pw-s3cr3t-42", FILE_TOKEN],
    ids=[
        "a header value from an env var",
        "a whole header value",
        "a url password",
        "a value read with file:",
    ],
)
def test_the_redactor_learns_every_secret_in_the_config(secret: str) -> None:
    redact = _secrets_config().redactor
    assert redact(f"GET failed: sent {secret}!") == f"GET failed: sent {REDACTED}!"


def test_a_substituted_url_host_is_not_treated_as_a_secret() -> None:
    config = _secrets_config()
    assert config.probes[0].target_label == "ums-eu.internal.example"
    text = "connect to ums-eu.internal.example:443 failed"
    assert config.redactor(text) == text


def test_a_config_without_secrets_redacts_nothing() -> None:
    config = _load("valid-minimal.yaml")
    assert len(config.redactor) == 0
    assert config.redactor("http://127.0.0.1:8089/healthz") == "http://127.0.0.1:8089/healthz"


# --- tls files --------------------------------------------------------------------------------


def test_a_tls_ca_file_given_as_an_absolute_path_loads() -> None:
    config = _load("valid-tls-absolute.yaml", TESTDATA=str(TESTDATA))
    tls = config.probes[0].tls
    assert tls.ca_file == TESTDATA / "ca.pem"
    assert (tls.verify, tls.server_name) == (True, "ums.example.com")


def test_a_relative_tls_ca_file_is_found_next_to_the_config_like_file_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _load("valid-tls-relative.yaml")
    ca_file = config.probes[0].tls.ca_file
    assert ca_file is not None
    assert ca_file.samefile(TESTDATA / "ca.pem")


# --- shared expectations ------------------------------------------------------------------


def test_requests_that_expect_the_same_share_one_expect_and_json_checks_stay_apart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(
        "probes:\n"
        "  - {name: a, url: 'http://x/1', expect: {status: [200]}}\n"
        "  - {name: b, url: 'http://x/2', expect: {status: 200}}\n"
        "  - {name: c, url: 'http://x/3', expect: {status: [201]}}\n"
        "  - {name: j1, url: 'http://x/4', expect: {json: [{path: a, equals: 1}]}}\n"
        "  - {name: j2, url: 'http://x/5', expect: {json: [{path: a, equals: true}]}}\n"
        "  - name: s\n"
        "    kind: scenario\n"
        "    steps: [{name: one, url: 'http://x/6', expect: {status: [200]}}]\n",
        encoding="utf-8",
    )
    config = load_config(path, env={})
    a, b, c, j1, j2 = (_http(_named(config, n)).expect for n in ("a", "b", "c", "j1", "j2"))
    step = _scenario(_named(config, "s")).steps[0].expect
    assert a is b
    assert a is step
    assert c is not a
    assert c.status == ((201, 201),)
    assert j1 is not j2  # 1 == True in Python, but the check shows what was written
    assert j1.json_fields[0].equals == 1
    assert j2.json_fields[0].equals is True
