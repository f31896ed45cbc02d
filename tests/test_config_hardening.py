"""Issue 17 and 22: what `load_config` and `check` now refuse, warn about or report together."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from prober.config import ConfigError, Expect, ProbeConfig, load_config
from prober.config.envsubst import MAX_FILE_REF_BYTES
from prober.config.fields import MAX_LINE, MAX_SHOWN, bounded_line
from prober.config.regex import compile_regex
from prober.probes.assertions import compile_checks
from prober.probes.variables import render_regex

from .conftest import REPO

URL = "http://127.0.0.1:9/x"


def _errors(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "probes.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    prefix = f"{path}: "
    assert all(line.startswith(prefix) for line in info.value.lines), info.value.lines
    return [line.removeprefix(prefix) for line in info.value.lines]


def _probe(extra: str = "", url: str = URL) -> str:
    return f"probes:\n  - name: p\n    url: '{url}'\n{extra}"


# --- one pass over every problem, with suggestions (issue 22.6) -------------------------------


def test_a_typo_a_timeout_over_the_interval_and_an_unknown_slo_are_reported_together(
    tmp_path: Path,
) -> None:
    text = _probe("    expct: {status: 200}\n    timeout: 20s\n    interval: 10s\n    slo: apj\n")
    text = "slos:\n  - name: api\n" + text
    assert _errors(tmp_path, text) == [
        "probes[0] (p).expct: unknown field; did you mean expect?",
        "probes[0] (p).timeout: must be shorter than the interval (20s >= 10s)",
        "probes[0] (p).slo: unknown SLO 'apj' (known: api)",
    ]


def test_a_valid_probe_next_to_a_broken_one_still_gets_its_cross_field_checks(
    tmp_path: Path,
) -> None:
    text = (
        "probes:\n"
        f"  - {{name: a, url: '{URL}', method: FETCH}}\n"
        f"  - {{name: b, url: '{URL}', timeout: 30s}}\n"
        f"  - {{name: b, url: '{URL}'}}\n"
    )
    assert _errors(tmp_path, text) == [
        "probes[0] (a).method: unknown method 'FETCH': one of "
        "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
        "probes[1] (b).timeout: must be shorter than the interval "
        "(30s >= 15s from defaults.interval)",
        "probes[2] (b).name: duplicate probe name, first used by probes[1]",
    ]


def test_an_unset_variable_does_not_hide_the_other_problems_nor_echo_through_its_field(
    tmp_path: Path,
) -> None:
    text = (
        "probes:\n  - name: a\n    url: '${NOPE_URL}/x'\n    timeot: 1s\n"
        "    interval: 1s\n    timeout: 2s\n"
    )
    assert _errors(tmp_path, text) == [
        "probes[0].url: environment variable NOPE_URL is not set "
        "(write ${NOPE_URL:-default} to give a default)",
        "probes[0] (a).timeot: unknown field; did you mean timeout?",
        "probes[0] (a).timeout: must be shorter than the interval (2s >= 1s)",
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("agent: {listn: x}\n" + _probe(), "agent.listn: unknown field; did you mean listen?"),
        (
            _probe("    expect: {statuss: 200}\n"),
            "expect.statuss: unknown field; did you mean status?",
        ),
        (
            _probe("    tls: {verfy: false}\n"),
            "probes[0] (p).tls.verfy: unknown field; did you mean verify?",
        ),
        (
            "probes:\n  - name: s\n    kind: scenario\n    steps:\n"
            f"      - {{name: a, url: '{URL}', captur: {{}}}}\n",
            "probes[0] (s).steps[0] (a).captur: unknown field; did you mean capture?",
        ),
        (
            "slos:\n  - {name: s, alerting: {burn_windws: []}}\n" + _probe(),
            "slos[0] (s).alerting.burn_windws: unknown field; did you mean burn_windows?",
        ),
        (_probe("    zzzz: 1\n"), "probes[0] (p).zzzz: unknown field"),
    ],
    ids=["agent", "expect", "tls", "scenario step", "slo alerting", "nothing close"],
)
def test_an_unknown_field_suggests_the_nearest_valid_name(
    tmp_path: Path, text: str, line: str
) -> None:
    errors = _errors(tmp_path, text)
    assert any(e.endswith(line) for e in errors), errors
    if "did you mean" not in line:
        assert not any("did you mean" in e for e in errors)


# --- durations, sizes, numbers (issue 17.5) ----------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("    interval: " + "9" * 400 + "s\n", "interval"),
        ("    timeout: .inf\n", "timeout"),
        ("    expect: {max_body_bytes: " + "9" * 400 + "}\n", "expect.max_body_bytes"),
        ("    expect: {max_body_bytes: 2GiB}\n", "expect.max_body_bytes"),
    ],
    ids=["400 digits", "inf", "size 400 digits", "size 2GiB"],
)
def test_an_overflowing_duration_or_size_is_one_clean_line(
    tmp_path: Path, extra: str, field: str
) -> None:
    (line,) = _errors(tmp_path, _probe(extra))
    assert line.startswith(f"probes[0] (p).{field}: ")
    assert len(line) <= MAX_LINE + 40


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_nan_and_infinity_are_refused_in_every_number_field(tmp_path: Path, value: str) -> None:
    text = f"slos:\n  - name: s\n    alerting: {{traffic: {{spike_ratio: {value}}}}}\n" + _probe()
    (line,) = _errors(tmp_path, text)
    assert line.startswith("slos[0] (s).alerting.traffic.spike_ratio: ")


# --- TLS material is loaded at check time (issue 17.5) -----------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    leaf = ca.issue_cert("client.test")
    other = ca.issue_cert("other.test")
    files = {
        "ca": ca.cert_pem,
        "cert": leaf.cert_chain_pems[0],
        "key": leaf.private_key_pem,
        "other_key": other.private_key_pem,
    }
    paths = {}
    for name, blob in files.items():
        paths[name] = base / f"{name}.pem"
        blob.write_to_path(str(paths[name]))
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    paths["encrypted_key"] = base / "encrypted.pem"
    paths["encrypted_key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    paths["junk"] = base / "junk.pem"
    paths["junk"].write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    return paths


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ({"ca_file": "junk"}, "ca_file '{junk}' is not a PEM certificate (or bundle)"),
        ({"cert_file": "junk", "key_file": "key"}, "cert_file '{junk}' is not a PEM certificate"),
        (
            {"cert_file": "cert", "key_file": "other_key"},
            "key_file '{other_key}' is not the unencrypted PEM private key of cert_file",
        ),
        (
            {"cert_file": "cert", "key_file": "encrypted_key"},
            "key_file '{encrypted_key}' is not the unencrypted PEM private key of cert_file",
        ),
        ({"cert_file": "cert"}, "cert_file '{cert}' holds no private key: give key_file"),
    ],
    ids=["ca not a cert", "cert not a cert", "key of another cert", "encrypted key", "no key"],
)
def test_tls_files_that_are_not_usable_material_fail_check_naming_the_field(
    tmp_path: Path, pki: dict[str, Path], tls: dict[str, str], message: str
) -> None:
    fields = ", ".join(f"{k}: '{pki[v]}'" for k, v in tls.items())
    (line,) = _errors(tmp_path, _probe(f"    tls: {{{fields}}}\n"))
    assert line == "probes[0] (p).tls: " + message.format(**{k: str(v) for k, v in pki.items()})


def test_a_real_ca_and_client_certificate_pass(tmp_path: Path, pki: dict[str, Path]) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(
        _probe(
            f"    tls: {{ca_file: '{pki['ca']}', cert_file: '{pki['cert']}', "
            f"key_file: '{pki['key']}'}}\n",
            url="https://127.0.0.1:9/x",
        )
    )
    tls = load_config(path, env={}).probes[0].tls
    assert (tls.ca_file, tls.cert_file, tls.key_file) == (pki["ca"], pki["cert"], pki["key"])


# --- URLs, file references, headers (issue 17.8) -----------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::g]:80/x", "the host '::g' is not a valid IPv6 address"),
        (
            "http://ex ample.com/x",
            "the URL has a space, a line break or a control character: "
            "percent-encode it (a space is %20)",
        ),
        ("http://127.0.0.1:0/x", "port 0 is not a port to connect to: use 1-65535"),
        (
            "http://a..b/x",
            "the host 'a..b' is not a valid host name: letters, digits, '-', '_' and dots only",
        ),
    ],
    ids=["bad ipv6", "space in host", "port 0", "empty label"],
)
def test_a_url_that_could_never_be_requested_fails_check(
    tmp_path: Path, url: str, message: str
) -> None:
    assert _errors(tmp_path, _probe(url=url)) == [f"probes[0] (p).url: {message}"]


@pytest.mark.parametrize("url", ["http://[::1]:8080/x", "http://bücher.example/x", "http://a_b:1/"])
def test_ipv6_literals_idn_hosts_and_underscores_still_load(tmp_path: Path, url: str) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(_probe(url=url), encoding="utf-8")
    probe = load_config(path, env={}).probes[0]
    assert isinstance(probe, ProbeConfig)
    assert probe.url == url


def test_a_file_reference_over_the_bound_is_refused_and_never_reaches_a_header(
    tmp_path: Path,
) -> None:
    big = tmp_path / "token"
    big.write_bytes(b"t" * (MAX_FILE_REF_BYTES + 1))
    errors = _errors(tmp_path, _probe(f"    headers: {{X-Token: '${{file:{big}}}'}}\n"))
    assert errors == [
        f"probes[0].headers.X-Token: cannot read secret file '{big}': larger than 64 KiB"
    ]


def test_a_file_reference_at_the_bound_loads(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_bytes(b"t" * MAX_FILE_REF_BYTES)
    path = tmp_path / "probes.yaml"
    path.write_text(_probe(f"    headers: {{X-Token: '${{file:{token}}}'}}\n"))
    probe = load_config(path, env={}).probes[0]
    assert isinstance(probe, ProbeConfig)
    assert len(probe.headers["X-Token"]) == MAX_FILE_REF_BYTES


# --- bounded error lines (issue 17.7) ----------------------------------------------------------


def test_a_huge_value_is_elided_in_the_middle_and_the_line_stays_short() -> None:
    line = bounded_line("f.yaml: probes[0] (" + "n" * 50_000 + "): name: invalid name")
    head, _, rest = line.partition(": ")
    assert head == "f.yaml"
    assert "(" + "n" * (MAX_SHOWN - 21) + "…" + "n" * 17 + "): name" in rest
    assert rest.endswith("): name: invalid name")
    assert len(line) < 200


def test_a_line_of_many_short_words_is_cut_to_its_start_and_end() -> None:
    line = bounded_line("f.yaml: field: " + "ab " * 100_000 + "what is wrong")
    assert len(line) <= len("f.yaml: ") + MAX_LINE + 3
    assert line.endswith("what is wrong")
    assert " … " in line


def test_a_50k_probe_name_gives_one_short_error_line(tmp_path: Path) -> None:
    (line,) = _errors(tmp_path, f"probes:\n  - name: {'n' * 50_000}\n    url: '{URL}'\n")
    assert len(line) < 300
    assert line.endswith(": 1-64 of letters, digits, '_', '.', '-'")


# --- RE2 (issue 17.9) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expect", "field", "left_out"),
    [
        ("{body_regex: '(a)\\1'}", "expect.body_regex", "backreferences"),
        ("{body_not_regex: '(?=a)'}", "expect.body_not_regex", "lookaround"),
        ("{json: [{path: a, matches: '(?<!a)b'}]}", "expect.json[0].matches", "lookaround"),
    ],
)
def test_what_re2_cannot_express_is_refused_at_load_naming_the_field(
    tmp_path: Path, expect: str, field: str, left_out: str
) -> None:
    (line,) = _errors(tmp_path, _probe(f"    expect: {expect}\n"))
    assert line.startswith(f"probes[0] (p).{field}: invalid regex ")
    assert f"RE2 cannot express {left_out}" in line


def test_a_capture_regex_with_a_backreference_is_refused(tmp_path: Path) -> None:
    text = (
        "probes:\n  - name: s\n    kind: scenario\n    steps:\n"
        f"      - {{name: a, url: '{URL}', capture: {{v: {{regex: '(a)\\1'}}}}}}\n"
    )
    (line,) = _errors(tmp_path, text)
    assert line.startswith("probes[0] (s).steps[0] (a).capture.v.regex: invalid regex")


def test_a_catastrophic_pattern_matches_like_re_would_on_a_long_body() -> None:
    (check,) = compile_checks(Expect.model_validate({"body_regex": "(a+)+$"}))
    assert check(b"a" * 100_000 + b"!") == "body does not match /(a+)+$/"
    assert check(b"a" * 100_000) is None


def test_search_finds_a_match_anywhere_and_a_capture_takes_the_first_group() -> None:
    regex = compile_regex(r"id=(\w+)")
    assert regex.search("x id=abc y") is not None
    assert regex.capture("x id=abc y") == "abc"
    assert compile_regex(r"v\d").capture("a v2 b") == "v2"
    assert compile_regex("^$").search("") is not None  # an empty match is still a match


def test_a_variable_in_a_regex_matches_its_value_literally() -> None:
    regex = render_regex(r"^token=\{?{{v}}\}?$", {"v": "a.b*(c)[d]{2}"})
    assert regex.search("token=a.b*(c)[d]{2}") is not None
    assert regex.search("token=aXbbb(c)d{2}") is None


# --- literal credentials in headers (issue 22.7) ----------------------------------------------


def _check(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prober.cli", "check", "-c", str(path)],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_literal_token_in_a_credential_header_warns_without_the_value_and_exits_0(
    tmp_path: Path,
) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(
        "probes:\n"
        f"  - name: p\n    url: '{URL}'\n"
        "    headers: {Authorization: Bearer abc123-LITERAL, X-Api-Key: k-LITERAL-9,"
        " Accept: text/plain, X-From-Env: '${TOKEN}', X-Defaulted-Token: '${T:-demo-LITERAL}'}\n"
        "tracing: {headers: {X-Session-Token: sess-LITERAL}}\n"
    )
    done = _check(path, {"TOKEN": "from-env-LITERAL"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: {path}: probes[0] (p).headers.{name}: a literal credential in the file; "
        "write ${VAR} or ${file:PATH} to keep the secret out of it"
        for name in ("Authorization", "X-Api-Key")
    ] + [
        f"warning: {path}: tracing.headers.X-Session-Token: a literal credential in the file; "
        "write ${VAR} or ${file:PATH} to keep the secret out of it"
    ]
    assert "LITERAL" not in done.stderr + done.stdout.replace(str(path), "")


def test_the_bundled_probes_yaml_gets_no_literal_credential_warning() -> None:
    done = _check(REPO / "probes.yaml")
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr


def test_a_captured_variable_in_a_scenario_header_is_not_literal(tmp_path: Path) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(
        "probes:\n  - name: s\n    kind: scenario\n    steps:\n"
        f"      - {{name: a, url: '{URL}', capture: {{t: {{header: X-T}}}}}}\n"
        f"      - {{name: b, url: '{URL}', headers: {{Authorization: 'Bearer {{{{t}}}}'}}}}\n"
    )
    assert load_config(path, env={}).warnings == ()


# --- the CLI prints paths as text (issue 17.8) -------------------------------------------------


def test_a_config_path_with_rich_markup_characters_is_printed_as_written(tmp_path: Path) -> None:
    folder = tmp_path / "x[" / "]y[bold]"
    folder.mkdir(parents=True)
    path = folder / "[red]probes.yaml"  # the directory names hold the "[/]"
    path.write_text(_probe())
    done = _check(path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith(f"ok {path}: 1 probe")
