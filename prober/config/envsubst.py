"""`${VAR}`, `${VAR:-default}` and `${file:PATH}` substitution over a parsed YAML tree.

Substitution runs on parsed values, never on the YAML text, so a token containing
`:` or `#` cannot change the document's structure. Values that land in headers,
bodies or URL userinfo are remembered as secrets so they can be scrubbed from
every error message and log line later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_REF = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Keys under which a substituted value is treated as a secret.
_SECRET_CONTEXT = ("headers", "body", "json", "password", "token", "secret")
# A `${file:…}` holds a token, a password or a small body: past this it is a mistake
# (a 50 MB file would land in every request's headers).
MAX_FILE_REF_BYTES = 64 * 1024


@dataclass
class Substitution:
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    secrets: set[str] = field(default_factory=set)


def substitute(tree: object, env: Mapping[str, str], base_dir: Path) -> tuple[object, Substitution]:
    """Return a copy of `tree` with every reference resolved, and what was learned."""
    result = Substitution()
    return _walk(tree, "", env, base_dir, result), result


def _walk(node: object, path: str, env: Mapping[str, str], base: Path, out: Substitution) -> object:
    if isinstance(node, str):
        return _expand(node, path, env, base, out)
    if isinstance(node, list):
        return [_walk(item, f"{path}[{i}]", env, base, out) for i, item in enumerate(node)]
    if isinstance(node, dict):
        return {
            key: _walk(value, f"{path}.{key}" if path else str(key), env, base, out)
            for key, value in node.items()
        }
    return node


def _expand(text: str, path: str, env: Mapping[str, str], base: Path, out: Substitution) -> str:
    if "$" not in text:
        return text
    secret = any(part in path.lower() for part in _SECRET_CONTEXT)

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group(1) is None:
            ref = match.string[match.start() :]
            out.errors.append((path, f"invalid reference {ref!r}: missing the closing '}}'"))
            return ""
        ref = match.group(1)
        value = _resolve(ref, path, env, base, out)
        if value is not None and secret and len(value) >= 4:
            out.secrets.add(value)
        return value or ""

    return _REF.sub(replace, text)


def _resolve(
    ref: str, path: str, env: Mapping[str, str], base: Path, out: Substitution
) -> str | None:
    if ref.startswith("file:"):
        file = Path(ref[5:])
        file = file if file.is_absolute() else base / file
        try:
            with file.open("rb") as f:  # bounded: /dev/zero or a log file is not a token
                data = f.read(MAX_FILE_REF_BYTES + 1)
            if len(data) > MAX_FILE_REF_BYTES:
                raise ValueError(f"larger than {MAX_FILE_REF_BYTES // 1024} KiB")
            value = data.decode("utf-8").rstrip("\r\n")
        except (OSError, ValueError) as exc:
            reason = (
                exc.strerror or type(exc).__name__
                if isinstance(exc, OSError)
                else "not UTF-8 text"
                if isinstance(exc, UnicodeDecodeError)
                else str(exc)
            )
            out.errors.append((path, f"cannot read secret file {str(file)!r}: {reason}"))
            return None
        out.secrets.add(value) if len(value) >= 4 else None
        return value
    name, sep, default = ref.partition(":-")
    if "${" in default:
        out.errors.append(
            (path, f"invalid reference '${{{ref}}}': a default cannot contain a reference")
        )
        return None
    if not _NAME.match(name):
        out.errors.append(
            (
                path,
                f"invalid reference '${{{ref}}}': "
                "use ${VAR}, ${VAR:-default} or ${file:PATH}",
            )
        )
        return None
    if name in env and (env[name] or not sep):
        return env[name]
    if sep:
        return default
    out.errors.append(
        (
            path,
            f"environment variable {name} is not set "
            f"(write ${{{name}:-default}} to give a default)",
        )
    )
    return None
