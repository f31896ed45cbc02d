"""Durations and sizes as written in probes.yaml: tables of exact results, then properties."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prober.config.units import MAX_DURATION, MAX_SIZE, format_duration, parse_duration, parse_size

BAD_DURATION = "use a number and a unit (ms, s, m, h, d, w), e.g. '15s'"
NO_UNIT = "duration must be a string with a unit like '15s', '250ms', '1m', got"
BAD_SIZE = "use bytes or a unit (KiB, MiB, KB, MB), e.g. '1MiB'"
MS, S, M, H, D, W = 0.001, 1, 60, 3600, 86400, 604800


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("15s", 15),
        ("1m", 60),
        ("1h", 3600),
        ("1d", 86400),
        ("1w", 604800),
        ("30d", 30 * 86400),
        ("1m30s", 90),
        ("1h0m", 3600),
        ("1.5s", 1.5),
        ("2h30m15s500ms", 2 * 3600 + 30 * 60 + 15.5),
        (" 15s ", 15),
    ],
    ids=[
        "milliseconds",
        "seconds",
        "minutes",
        "hours",
        "days",
        "weeks",
        "a 30 day SLO period",
        "minutes and seconds combine",
        "a zero part is allowed when the total is positive",
        "a decimal number of seconds",
        "four units combine",
        "surrounding spaces are ignored",
    ],
)
def test_parse_duration_reads_every_unit_and_combination(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (15, f"{NO_UNIT} 15"),
        (1.5, f"{NO_UNIT} 1.5"),
        (True, f"{NO_UNIT} True"),
        (None, f"{NO_UNIT} None"),
        ("15", f"invalid duration '15': {BAD_DURATION}"),
        ("15 s", f"invalid duration '15 s': {BAD_DURATION}"),
        ("1m 30s", f"invalid duration '1m 30s': {BAD_DURATION}"),
        ("1x", f"invalid duration '1x': {BAD_DURATION}"),
        ("-1s", f"invalid duration '-1s': {BAD_DURATION}"),
        ("", f"invalid duration '': {BAD_DURATION}"),
        ("s", f"invalid duration 's': {BAD_DURATION}"),
        (".5s", f"invalid duration '.5s': {BAD_DURATION}"),
        ("1e3s", f"invalid duration '1e3s': {BAD_DURATION}"),
        ("15S", f"invalid duration '15S': {BAD_DURATION}"),
        ("0s", "duration '0s' must be greater than zero"),
        ("0ms0s", "duration '0ms0s' must be greater than zero"),
    ],
    ids=[
        "a bare integer is ambiguous",
        "a bare float is ambiguous",
        "a boolean",
        "null",
        "a number in a string without unit",
        "a space before the unit",
        "a space between parts",
        "an unknown unit",
        "a negative duration",
        "an empty string",
        "a unit without a number",
        "a number without a leading digit",
        "scientific notation",
        "an upper-case unit",
        "zero",
        "zero in two parts",
    ],
)
def test_parse_duration_refuses_bad_input_with_an_exact_message(
    value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("200ms", 0.2),
        ("300ms", 0.3),
        ("500ms", 0.5),
        ("350ms", 0.35),  # 350 * 0.001 would be 0.35000000000000003
        ("700ms", 0.7),  # 700 * 0.001 would be 0.7000000000000001
    ],
    ids=["200ms", "300ms", "500ms", "350ms", "700ms"],
)
def test_a_whole_number_of_milliseconds_is_the_nearest_float_so_bucket_bounds_are_exact(
    text: str, seconds: float
) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (90, "1m30s"),
        (0.25, "250ms"),
        (1.5, "1s500ms"),
        (3600, "1h"),
        (86400, "1d"),
        (30 * 86400, "4w2d"),
        (604801, "1w1s"),
        (0.0015, "2ms"),
        (59.9999, "1m"),
    ],
    ids=[
        "largest units first",
        "milliseconds alone",
        "seconds and milliseconds",
        "an hour",
        "a day",
        "30 days as weeks and days",
        "zero parts are left out",
        "rounded to the millisecond",
        "rounding carries into the next unit",
    ],
)
def test_format_duration_writes_the_shortest_prometheus_style_text(
    seconds: float, text: str
) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0, -1, -0.001], ids=["zero", "negative", "negative ms"])
def test_format_duration_refuses_a_duration_that_is_not_positive(seconds: float) -> None:
    with pytest.raises(ValueError, match=r"^duration must be positive$"):
        format_duration(seconds)


def test_format_duration_never_writes_an_empty_string_for_a_positive_duration() -> None:
    text = format_duration(parse_duration("0.4ms"))
    assert text == "0.4ms"


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("1MiB", 1024**2),
        ("64KiB", 64 * 1024),
        ("10KB", 10_000),
        ("10 KB", 10_000),
        ("2MB", 2_000_000),
        ("1GB", 10**9),
        ("1GiB", 1024**3),
        ("512B", 512),
        ("512", 512),
        (512, 512),
        (" 2MiB ", 2 * 1024**2),
    ],
    ids=[
        "mebibytes",
        "kibibytes",
        "kilobytes are decimal",
        "a space before the unit is allowed",
        "megabytes are decimal",
        "gigabytes",
        "gibibytes",
        "explicit bytes",
        "a number in a string is bytes",
        "an integer is bytes",
        "surrounding spaces are ignored",
    ],
)
def test_parse_size_reads_bytes_and_units(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1 potato", f"invalid size '1 potato': {BAD_SIZE}"),
        ("1.5MiB", f"invalid size '1.5MiB': {BAD_SIZE}"),
        ("1mib", f"invalid size '1mib': {BAD_SIZE}"),
        ("-1KiB", f"invalid size '-1KiB': {BAD_SIZE}"),
        ("0", f"invalid size '0': {BAD_SIZE}"),
        ("", f"invalid size '': {BAD_SIZE}"),
        (1.5, f"invalid size 1.5: {BAD_SIZE}"),
        (None, f"invalid size None: {BAD_SIZE}"),
        (0, "size must be greater than zero"),
        (-1, "size must be greater than zero"),
        (True, "size must be bytes or a string like '1MiB', got True"),
    ],
    ids=[
        "an unknown unit",
        "a fraction",
        "a unit in the wrong case",
        "a negative size in a string",
        "zero in a string",
        "an empty string",
        "a float",
        "null",
        "zero",
        "a negative integer",
        "a boolean",
    ],
)
def test_parse_size_refuses_bad_input_with_an_exact_message(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_size(value)


# --- properties ------------------------------------------------------------------------------

_canonical_parts = st.tuples(
    st.integers(0, 520),  # weeks: ten years
    st.integers(0, 6),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999),
).filter(any)


def _canonical(parts: tuple[int, ...]) -> str:
    return "".join(
        f"{n}{u}" for n, u in zip(parts, ("w", "d", "h", "m", "s", "ms"), strict=True) if n
    )


@settings(deadline=None)  # a slow CI machine is not a counterexample
@given(_canonical_parts)
def test_a_canonical_duration_survives_parse_then_format_unchanged(parts: tuple[int, ...]) -> None:
    text = _canonical(parts)
    assert format_duration(parse_duration(text)) == text


@settings(deadline=None)  # a slow CI machine is not a counterexample
@given(st.integers(min_value=1, max_value=10 * 52 * 7 * 86_400_000))
def test_any_whole_number_of_milliseconds_survives_format_then_parse(ms: int) -> None:
    seconds = ms / 1000
    parsed = parse_duration(format_duration(seconds))
    assert math.isclose(parsed, seconds, rel_tol=1e-12)
    assert round(parsed * 1000) == ms


@settings(deadline=None)  # a slow CI machine is not a counterexample
@given(st.sampled_from(["ms", "s", "m", "h", "d", "w"]), st.data())
def test_one_number_and_one_unit_is_that_many_units(unit: str, data: st.DataObject) -> None:
    factor = {"ms": MS, "s": S, "m": M, "h": H, "d": D, "w": W}[unit]
    most = min(10**6, int(MAX_DURATION / factor))  # up to the ten-year bound
    count = data.draw(st.integers(min_value=1, max_value=most))
    assert math.isclose(parse_duration(f"{count}{unit}"), count * factor, rel_tol=1e-12)


@settings(deadline=None)  # a slow CI machine is not a counterexample
@given(
    st.sampled_from(
        [("", 1), ("B", 1), ("KB", 1000), ("KiB", 1024), ("MB", 10**6), ("MiB", 2**20)]
    ),
    st.data(),
)
def test_a_size_is_its_number_times_its_unit(unit: tuple[str, int], data: st.DataObject) -> None:
    suffix, factor = unit
    count = data.draw(st.integers(min_value=1, max_value=MAX_SIZE // factor))  # up to 1 GiB
    assert parse_size(f"{count}{suffix}") == count * factor


@pytest.mark.parametrize(
    "text",
    ["1" * 400 + "s", "inf", "nan", "infs", "1e400s", "9999999999999w", "3661d"],
    ids=["400 digits", "inf", "nan", "inf seconds", "exponent", "13 digits", "past ten years"],
)
def test_a_duration_that_is_too_long_or_not_a_number_is_a_clean_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"^(invalid duration|duration .* is too long)"):
        parse_duration(text)


@pytest.mark.parametrize(
    "value",
    ["1" * 400, "1" * 400 + "MiB", 10**400, "2GiB", MAX_SIZE + 1],
    ids=["400 digits", "400 digits MiB", "huge int", "2GiB", "one byte past 1GiB"],
)
def test_a_size_past_one_gib_is_a_clean_value_error(value: object) -> None:
    with pytest.raises(ValueError, match=r"^(invalid size|size .* is too large: at most 1GiB)"):
        parse_size(value)


def test_format_duration_refuses_infinity_and_nan() -> None:
    for seconds in (math.inf, math.nan):
        with pytest.raises(ValueError, match=r"^duration must be"):
            format_duration(seconds)
