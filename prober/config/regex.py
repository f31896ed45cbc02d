"""Regexes in probes.yaml, compiled with RE2: matching time is linear in the body's length.

Python's `re` backtracks: `(a+)+$` against a 30-byte body of `a`s and one `b` runs for
minutes, so a config (or a hostile response) could stall the agent. RE2 guarantees
linear time by leaving out what needs backtracking: backreferences and lookaround
are refused when the config is loaded. Matching is otherwise as before: `search`,
anywhere in the text. Small differences from `re`: `\\d`, `\\w` and `\\s` are ASCII, and
`$` does not match before a trailing newline (use `\\n?$`).
"""

from __future__ import annotations

import re
from typing import Any

import re2
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would write every refused pattern to stderr itself


class Regex:
    """A compiled RE2 pattern; equal to another with the same text, so `Expect` can be shared."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        try:
            self._compiled: Any = re2.compile(pattern, _OPTIONS)
        except re2.error as exc:
            raise ValueError(_reason(pattern, exc)) from None
        except (TypeError, UnicodeError):  # a lone surrogate cannot be UTF-8
            raise ValueError(f"invalid regex {pattern!r}: not valid text") from None
        self.pattern = pattern

    @property
    def groups(self) -> int:
        return int(self._compiled.groups)

    def search(self, text: str) -> Any:
        """Like `re.Pattern.search`: a match object (always true) or None."""
        return self._compiled.search(text)

    def capture(self, text: str) -> str | None:
        """The first group (or the whole match) found anywhere in `text`, else None."""
        match = self._compiled.search(text)
        if match is None:
            return None
        return str(match.group(1) if self.groups else match.group(0))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regex) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            compile_regex, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    def __str__(self) -> str:
        return self.pattern


def compile_regex(value: object) -> Regex:
    if isinstance(value, Regex):
        return value
    if not isinstance(value, str):
        raise ValueError(f"regex must be a string, got {value!r}")
    return Regex(value)


def escape(text: str) -> str:
    """`text` as an RE2 pattern that matches exactly it."""
    return str(re2.escape(text))


def _reason(pattern: str, exc: Exception) -> str:
    detail = exc.args[0] if exc.args else ""
    detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    detail = detail.removesuffix(f": {pattern}")  # RE2 quotes the part it stopped at
    if re.match(r"invalid escape sequence: \\[1-9]", detail):
        left_out = "backreferences"
    elif re.search(r"\(\?<?[=!]", detail):
        left_out = "lookaround"
    else:
        return f"invalid regex {pattern!r}: {detail}"
    return (
        f"invalid regex {pattern!r}: RE2 cannot express {left_out} ({detail}); "
        "prober matches in linear time: rewrite it without them"
    )
