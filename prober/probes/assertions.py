"""Body assertions, compiled once per probe and run after the clock has stopped."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..config import Expect, JSONAssertion

_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
MISSING = object()
Check = Callable[[bytes], str | None]  # returns a failure reason, or None when it holds


def parse_path(path: str) -> tuple[str | int, ...]:
    """`'metadata.tags[0]'` -> ('metadata', 'tags', 0)."""
    tokens: list[str | int] = []
    for m in _PATH_TOKEN.finditer(path):
        tokens.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return tuple(tokens)


def lookup(doc: Any, path: tuple[str | int, ...]) -> Any:
    node = doc
    for token in path:
        if isinstance(token, int):
            if not isinstance(node, list) or not -len(node) <= token < len(node):
                return MISSING
        elif not isinstance(node, dict) or token not in node:
            return MISSING
        node = node[token]
    return node


def _shown(value: Any) -> str:
    # Not cut here: the probe redacts the whole message first, then makes it one short line
    # (redact.one_line), so a secret is never cut in half before it can be recognised.
    return json.dumps(value, ensure_ascii=True) if not isinstance(value, str) else repr(value)


def _json_check(assertion: JSONAssertion) -> Callable[[Any], str | None]:
    path = parse_path(assertion.path)
    name = assertion.path

    if assertion.exists is not None:
        want = assertion.exists

        def exists(doc: Any) -> str | None:
            present = lookup(doc, path) is not MISSING
            if present == want:
                return None
            return f"json {name}: expected {'present' if want else 'absent'}"

        return exists
    if assertion.matches is not None:
        pattern = assertion.matches

        def matches(doc: Any) -> str | None:
            value = lookup(doc, path)
            if value is MISSING:
                return f"json {name}: missing"
            text = value if isinstance(value, str) else json.dumps(value)
            return None if pattern.search(text) else f"json {name}: {_shown(value)} does not match"

        return matches
    expected = assertion.equals

    def equals(doc: Any) -> str | None:
        value = lookup(doc, path)
        if value is MISSING:
            return f"json {name}: missing"
        return (
            None
            if value == expected
            else f"json {name}: got {_shown(value)}, want {_shown(expected)}"
        )

    return equals


def compile_checks(expect: Expect) -> tuple[Check, ...]:
    """Every body check of `expect`, in a cheap order: regexes, then one JSON parse."""
    checks: list[Check] = []
    if expect.body_regex is not None:
        regex = expect.body_regex

        def body_regex(body: bytes) -> str | None:
            text = body.decode("utf-8", errors="replace")
            return None if regex.search(text) else f"body does not match /{regex.pattern}/"

        checks.append(body_regex)
    if expect.body_not_regex is not None:
        not_regex = expect.body_not_regex

        def body_not_regex(body: bytes) -> str | None:
            text = body.decode("utf-8", errors="replace")
            return f"body matches /{not_regex.pattern}/" if not_regex.search(text) else None

        checks.append(body_not_regex)
    if expect.json_fields:
        json_checks = [_json_check(a) for a in expect.json_fields]

        def json_body(body: bytes) -> str | None:
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError):
                return "body is not valid JSON"
            for check in json_checks:
                if (reason := check(doc)) is not None:
                    return reason
            return None

        checks.append(json_body)
    return tuple(checks)
