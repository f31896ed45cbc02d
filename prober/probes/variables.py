"""Run-time `{{variables}}` of scenario steps: built-ins, and values captured by earlier steps.

`${VAR}` is resolved once at load; `{{var}}` on every run. A string that is exactly
one `{{var}}` takes the variable's own value (so a captured number compares equal
to a number); anywhere else the value is written into the text.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..config import TEMPLATE_RE
from ..config.regex import Regex, escape


def builtins(run_id: str, region: str, probe: str) -> dict[str, Any]:
    return {
        "nonce": secrets.token_hex(8),
        "uuid": str(uuid.uuid4()),
        "timestamp": int(time.time()),
        "run_id": run_id,
        "region": region,
        "probe": probe,
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(text: str, variables: Mapping[str, Any]) -> str:
    return TEMPLATE_RE.sub(lambda m: _text(variables[m.group(1)]), text)


def render_value(value: Any, variables: Mapping[str, Any]) -> Any:
    """Substitute through JSON-like data; a lone `{{var}}` keeps the variable's type."""
    if isinstance(value, str):
        whole = TEMPLATE_RE.fullmatch(value)
        return variables[whole.group(1)] if whole else render(value, variables)
    if isinstance(value, list):
        return [render_value(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, variables) for k, v in value.items()}
    return value


def render_regex(pattern: str, variables: Mapping[str, Any]) -> Regex:
    """A regex with variables: their values match literally (RE2-escaped), never as syntax."""
    return Regex(TEMPLATE_RE.sub(lambda m: escape(_text(variables[m.group(1)])), pattern))


def references(value: Any) -> set[str]:
    """Every variable a piece of config refers to."""
    if isinstance(value, str):
        return set(TEMPLATE_RE.findall(value))
    if isinstance(value, Regex):
        return set(TEMPLATE_RE.findall(value.pattern))
    if isinstance(value, list | tuple):
        return set().union(*(references(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return references(list(value.values()))
    return set()
