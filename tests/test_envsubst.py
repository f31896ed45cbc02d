"""`${VAR}`, `${VAR:-default}`, `$$` and `${file:PATH}` over a parsed YAML tree."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prober.config.envsubst import Substitution, substitute

HOW = "use ${VAR}, ${VAR:-default} or ${file:PATH}"
ENV = {"A": "a", "B": "b", "EMPTY": "", "HOST": "ums.example.com", "TOKEN": "tok-0123456789"}


def _one(
    text: str, env: dict[str, str] | None = None, base: Path = Path()
) -> tuple[str, Substitution]:
    """Substitute a single value, found at `headers.X`."""
    tree, subst = substitute({"headers": {"X": text}}, ENV if env is None else env, base)
    assert isinstance(tree, dict)
    value = tree["headers"]["X"]
    assert isinstance(value, str)
    return value, subst


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("${A}", "a"),
        ("${A}${B}", "ab"),
        ("x${A}y${A}z", "xayaz"),
        ("Bearer ${TOKEN}", "Bearer tok-0123456789"),
        ("${MISSING:-x:y}", "x:y"),
        ("${MISSING:-http://h:8080/p}", "http://h:8080/p"),
        ("${MISSING:-}", ""),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY}", ""),
        ("${A:-unused}", "a"),
        ("$$", "$"),
        ("$${A}", "${A}"),
        ("$$$$", "$$"),
        ("$$${A}", "$a"),
        ("cost $5", "cost $5"),
        ("$A", "$A"),
        ("^ok$", "^ok$"),
        ("no references", "no references"),
    ],
    ids=[
        "one variable",
        "adjacent references",
        "the same variable twice",
        "a reference inside text",
        "a default containing ':'",
        "a default that is a URL",
        "an empty default",
        "an empty value takes the default, as in the shell",
        "an empty value without default is kept",
        "a set value ignores the default",
        "$$ is a literal $",
        "$${A} is the literal text ${A}",
        "$$$$ is two literal $",
        "an escaped $ followed by a reference",
        "a $ before a digit is untouched",
        "a $ without braces is untouched",
        "a regex anchor is untouched",
        "text without $ is returned as is",
    ],
)
def test_a_value_is_substituted_exactly(text: str, result: str) -> None:
    value, subst = _one(text)
    assert value == result
    assert subst.errors == []


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("${1X}", [f"invalid reference '${{1X}}': {HOW}"]),
        ("${}", [f"invalid reference '${{}}': {HOW}"]),
        ("${A B}", [f"invalid reference '${{A B}}': {HOW}"]),
        ("${A-x}", [f"invalid reference '${{A-x}}': {HOW}"]),
        ("${A:=x}", [f"invalid reference '${{A:=x}}': {HOW}"]),
        (
            "${NOPE}",
            ["environment variable NOPE is not set (write ${NOPE:-default} to give a default)"],
        ),
        (
            "${NOPE1}-${NOPE2}",
            [
                "environment variable NOPE1 is not set (write ${NOPE1:-default} to give a default)",
                "environment variable NOPE2 is not set (write ${NOPE2:-default} to give a default)",
            ],
        ),
    ],
    ids=[
        "a name starting with a digit",
        "an empty name",
        "a space in the name",
        "the shell's ${A-x} form",
        "the shell's ${A:=x} form",
        "a variable that is not set",
        "two missing variables give two errors",
    ],
)
def test_a_bad_reference_is_an_error_naming_the_field(text: str, errors: list[str]) -> None:
    _, subst = _one(text)
    assert subst.errors == [("headers.X", e) for e in errors]


def test_an_unclosed_reference_is_an_error_not_literal_text() -> None:
    _, subst = _one("Bearer ${UMS_TOKEN")
    assert subst.errors == [
        ("headers.X", "invalid reference '${UMS_TOKEN': missing the closing '}'")
    ]


def test_a_reference_nested_in_a_default_is_an_error_not_a_stray_brace() -> None:
    _, subst = _one("${A:-${B}}")
    assert subst.errors == [
        ("headers.X", "invalid reference '${A:-${B}': a default cannot contain a reference")
    ]


def test_a_substituted_value_is_never_expanded_again() -> None:
    value, subst = _one("${A}", env={"A": "${B}$$", "B": "b"})
    assert value == "${B}$$"
    assert subst.errors == []


def test_the_error_path_follows_lists_and_mappings() -> None:
    tree = {"probes": [{"name": "x", "url": "u"}, {"name": "y", "headers": {"Auth": "${NOPE}"}}]}
    _, subst = substitute(tree, {}, Path())
    assert [path for path, _ in subst.errors] == ["probes[1].headers.Auth"]


def test_keys_and_non_string_values_are_left_alone_and_the_input_is_not_modified() -> None:
    tree: dict[str, object] = {"${A}": {"n": 1, "f": 1.5, "b": True, "none": None, "s": "${A}"}}
    before = copy.deepcopy(tree)
    result, subst = substitute(tree, ENV, Path())
    assert result == {"${A}": {"n": 1, "f": 1.5, "b": True, "none": None, "s": "a"}}
    assert tree == before
    assert subst.errors == []


# --- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "learned"),
    [
        (("headers", "Authorization"), True),
        (("body",), True),
        (("json", "password"), True),
        (("agent", "api_token"), True),
        (("url",), False),
        (("name",), False),
    ],
    ids=[
        "a header value is a secret",
        "a body is a secret",
        "a json body value is a secret",
        "a key naming a token is a secret",
        "a url host is not a secret",
        "a name is not a secret",
    ],
)
def test_a_value_is_remembered_as_a_secret_by_where_it_lands(
    path: tuple[str, ...], learned: bool
) -> None:
    tree: object = "${TOKEN}"
    for key in reversed(path):
        tree = {key: tree}
    _, subst = substitute(tree, ENV, Path())
    assert ("tok-0123456789" in subst.secrets) is learned


def test_a_value_shorter_than_four_characters_is_not_remembered() -> None:
    _, subst = _one("${A}", env={"A": "abc"})
    assert subst.secrets == set()


def test_a_file_reference_reads_relative_to_the_base_and_strips_the_line_end(
    tmp_path: Path,
) -> None:
    (tmp_path / "token").write_text("file-secret-42\r\n", encoding="utf-8")
    tree, subst = substitute({"url": "http://h/?k=${file:token}"}, {}, tmp_path)
    assert tree == {"url": "http://h/?k=file-secret-42"}
    assert subst.secrets == {"file-secret-42"}  # a file is a secret wherever it is used
    assert subst.errors == []


def test_a_file_reference_takes_an_absolute_path_as_is(tmp_path: Path) -> None:
    secret = tmp_path / "abs-token"
    secret.write_text("abs-secret-42\n", encoding="utf-8")
    value, subst = _one(f"${{file:{secret}}}", base=Path("/nonexistent"))
    assert value == "abs-secret-42"
    assert subst.errors == []


def test_an_unreadable_file_is_an_error_naming_the_field_and_the_file(tmp_path: Path) -> None:
    value, subst = _one("${file:missing}", base=tmp_path)
    assert value == ""
    assert subst.errors == [
        (
            "headers.X",
            f"cannot read secret file '{tmp_path / 'missing'}': No such file or directory",
        )
    ]


# --- properties ---------------------------------------------------------------------------


@settings(deadline=None)  # a slow CI machine is not a counterexample
@given(st.text())
def test_doubling_every_dollar_gives_back_the_literal_text(text: str) -> None:
    value, subst = _one(text.replace("$", "$$"))
    assert value == text
    assert subst.errors == []


@settings(deadline=None)  # a slow CI machine is not a counterexample
@given(st.text(), st.text(), st.text())
def test_any_value_is_inserted_verbatim_between_any_literal_text(
    before: str, value: str, after: str
) -> None:
    literal = before.replace("$", "$$"), after.replace("$", "$$")
    result, subst = _one(f"{literal[0]}${{V}}{literal[1]}", env={"V": value})
    assert result == before + value + after
    assert subst.errors == []
