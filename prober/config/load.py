"""`load_config`: read, parse, substitute, validate; every mistake becomes one clear line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yarl import URL

from ..redact import Redactor
from .checks import check_references, iter_requests
from .envsubst import substitute
from .fields import SHARED_EXPECT, TEMPLATE_RE, ConfigError, printable
from .model import Config
from .openslo import expand_slos
from .probes import PROBE_KIND_TAGS
from .yaml_loader import load_yaml


def load_config(
    path: str | Path, env: Mapping[str, str] | None = None, region: str | None = None
) -> Config:
    """Read, substitute, validate. Raises ConfigError with one line per problem."""
    env = os.environ if env is None else env
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{name}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([f"{name}: cannot read: {reason}"]) from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{name}: {where}invalid YAML: {problem}"]) from None
    return parse_config(raw, name, env, path.parent, region)


def parse_config(
    raw: object, name: str, env: Mapping[str, str], base_dir: Path, region: str | None = None
) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError([f"{name}: expected a mapping with 'probes' at the top level"])
    tree, subst = substitute(raw, env, base_dir)
    redactor = Redactor(subst.secrets)
    if subst.errors:
        raise ConfigError([f"{name}: {p}: {redactor(m)}" for p, m in subst.errors])
    assert isinstance(tree, dict)
    agent = tree.get("agent") or {}
    if not isinstance(agent, dict):
        raise ConfigError([f"{name}: agent: expected a mapping (region, listen, labels, ...)"])
    agent = dict(agent)
    if region or env.get("PROBER_REGION"):
        agent["region"] = region or env["PROBER_REGION"]
    tree["agent"] = agent
    expand_slos(tree, name, base_dir)  # `slos: [{openslo: [files]}]`: native SLOConfigs
    probes = tree.get("probes")
    for probe in probes if isinstance(probes, list) else []:
        tls = probe.get("tls") if isinstance(probe, dict) else None
        if isinstance(tls, dict):
            for key in ("ca_file", "cert_file", "key_file"):
                if isinstance(tls.get(key), str):
                    tls[key] = str(base_dir / tls[key])
    try:
        config = Config.model_validate(
            {**tree, "source": name, "redactor": redactor}, context={SHARED_EXPECT: {}}
        )
    except ValidationError as exc:
        raise ConfigError([format_error(name, tree, e, redactor) for e in exc.errors()]) from None
    # URL userinfo is a secret wherever it came from.
    for request in iter_requests(config):
        url = URL(TEMPLATE_RE.sub("x", request.url))
        for part in (url.password, url.user):
            if part and len(part) >= 4:
                redactor.add(part)
        for header in request.headers.values():
            if len(header) >= 4 and not TEMPLATE_RE.fullmatch(header):
                redactor.add(header)
    errors = check_references(config)
    if errors:
        raise ConfigError([f"{name}: {redactor(line)}" for line in errors])
    return config


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "missing required field",
}


def format_error(name: str, tree: dict[str, Any], error: Any, redactor: Redactor) -> str:
    loc: tuple[str | int, ...] = error["loc"]
    parts: list[str] = []
    node: Any = tree
    after_index = False
    for item in loc:
        if after_index and item in PROBE_KIND_TAGS:  # the union's tag, not a field
            after_index = False
            continue
        after_index = isinstance(item, int)
        if isinstance(item, int):
            label = f"[{item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                label += f" ({printable(node['name'])})"
            parts.append(label)
        else:
            if item.startswith(("function-", "json-or-")):
                continue
            parts.append(f".{printable(item)}" if parts else printable(item))
            node = node.get(item) if isinstance(node, dict) else None
    field = "".join(parts) or "(top level)"
    message = _MESSAGES.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing" and loc == ("probes",):
        message = "missing required field: list at least one probe"
    if error["type"] == "union_tag_invalid":
        field += ".kind"
        message = f"unknown kind {error['ctx']['tag']!r}: use http or scenario"
    return f"{name}: {field}: {redactor(message)}"
