"""Field types, limits and checks shared by every section of probes.yaml."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from .. import conventions as c
from .units import parse_duration, parse_size

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]

# Series guard: a config may not make unbounded or oversized series (see SECURITY.md).
MAX_PROBES = 10_000  # the size bench/ measures memory and /metrics render time at
MAX_STEPS = 20
MAX_STATIC_LABELS = 10
MAX_LABEL_VALUE = 128
MAX_URL = 8192  # characters: what common servers accept in a request line
MAX_HEADERS = 100  # per request

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an RFC 9110 token
TARGET_RE = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,128}$")
_HOST_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?$")
_STATUS_RANGE = re.compile(r"^([1-5])xx$|^(\d{3})-(\d{3})$|^(\d{3})$")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
RESERVED_LABELS = frozenset(
    {
        c.L_PROBE,
        c.L_TARGET,
        c.L_REGION,
        c.L_SLO,
        c.L_OUTCOME,
        c.L_CODE,
        c.L_PHASE,
        c.L_STEP,
        c.L_REASON,
        c.L_LE,
        "job",
        "instance",
    }
)
# Query parameters whose values are replaced wherever a URL is shown.
DEFAULT_SECRET_QUERY_PARAMS = (
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "password",
    "secret",
    "sig",
    "signature",
)


def printable(text: str) -> str:
    """`text` with control characters and line breaks escaped: a message stays one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


MAX_SHOWN = 80  # characters of one value (a word, a quoted string) in an error line
MAX_LINE = 400  # characters of a whole error line
_LONG_WORD = re.compile(rf"\S{{{MAX_SHOWN + 1},}}")


def bounded_line(line: str) -> str:
    """`line` as one short printable line: a 50 MB probe name must not make a 100 MB message.

    After the file name (kept whole: the OS bounds it), every value longer than
    MAX_SHOWN keeps its start and end around an ellipsis, and what is left keeps at
    most MAX_LINE characters: its start (the field) and its end (what is wrong).
    Applied after redaction, so a secret is replaced whole before anything is cut.
    """
    line = printable(line)
    head, sep, rest = line.partition(": ")
    if not sep or len(head) > 4096:
        head, sep, rest = "", "", line
    if len(rest) <= MAX_SHOWN:
        return line
    rest = _LONG_WORD.sub(lambda m: f"{m[0][: MAX_SHOWN - 20]}…{m[0][-19:]}", rest)
    if len(rest) > MAX_LINE:
        rest = f"{rest[: MAX_LINE // 2]} … {rest[-(MAX_LINE // 2 - 3) :]}"
    return f"{head}{sep}{rest}"


class ConfigError(Exception):
    """A config that cannot be used. `lines` are complete, one-line messages, bounded."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = [bounded_line(line) for line in lines]
        super().__init__("\n".join(self.lines))


class Strict(BaseModel):
    # inf and nan pass `gt`/`le` bounds or compare false everywhere: never a setting.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


def _parse_status(value: object) -> tuple[tuple[int, int], ...]:
    items = value if isinstance(value, list) else [value]
    ranges = []
    for raw in items:
        item = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
        m = _STATUS_RANGE.match(item) if isinstance(item, str) else None
        if not m:
            raise ValueError(
                f"invalid status {item!r}: use a code (200), a class (2xx) or a range (200-299)"
            )
        if m.group(1):
            low, high = int(m.group(1)) * 100, int(m.group(1)) * 100 + 99
        elif m.group(2):
            low, high = int(m.group(2)), int(m.group(3))
        else:
            low = high = int(m.group(4))
        if not (100 <= low <= high <= 599):
            raise ValueError(
                f"invalid status {item!r}: codes are 100-599 and a range goes low-high"
            )
        ranges.append((low, high))
    if not ranges:
        raise ValueError(
            "list at least one status: use a code (200), a class (2xx) or a range (200-299)"
        )
    return tuple(ranges)


StatusSet = Annotated[tuple[tuple[int, int], ...], BeforeValidator(_parse_status)]


TEMPLATE_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def host_problem(raw_host: str) -> str | None:
    """What is wrong with a URL's host (IDNA-encoded, as yarl's `raw_host`), or None.

    yarl accepts `[::g]` and `a b` as hosts; the request would fail on every run.
    """
    if ":" in raw_host:
        try:
            ipaddress.IPv6Address(raw_host.split("%", 1)[0])
        except ValueError:
            return "is not a valid IPv6 address"
        return None
    if len(raw_host) > 253 or not _HOSTNAME_RE.match(raw_host):
        return "is not a valid host name: letters, digits, '-', '_' and dots only"
    return None


# A JSON path: `a.b[0].c`, names without dots or brackets, indexes in brackets.
_JSON_STEP = r"(?:[^.\[\]]+|\[\d{1,9}\])"
JSON_PATH_RE = re.compile(rf"^{_JSON_STEP}(?:\.[^.\[\]]+|\[\d{{1,9}}\])*$")


def check_json_path(value: str) -> str:
    if not JSON_PATH_RE.match(value):
        raise ValueError(
            f"invalid JSON path {value!r}: names joined by '.', indexes in brackets, "
            "e.g. 'metadata.tags[0]'"
        )
    return value


SHARED_EXPECT = "shared_expect"  # validation context: Expect -> the one instance to use


def check_name(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(f"invalid name {value!r}: 1-64 of letters, digits, '_', '.', '-'")
    return value
