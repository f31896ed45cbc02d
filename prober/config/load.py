"""`load_config`: read, parse, substitute, validate; every mistake becomes one clear line."""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from yarl import URL

from ..redact import Redactor
from .checks import check_raw, check_references, iter_requests, literal_credentials
from .envsubst import substitute
from .fields import MAX_PROBES, SHARED_EXPECT, TEMPLATE_RE, ConfigError, printable
from .model import Config
from .openslo import expand_slos
from .probes import PROBE_KIND_TAGS, ProbeConfig, ScenarioConfig
from .shard import Shard, select
from .yaml_loader import YAMLFileError, load_yaml_file


def load_config(
    path: str | Path,
    env: Mapping[str, str] | None = None,
    region: str | None = None,
    shard: Shard | None = None,
    *,
    fleet: bool = False,
) -> Config:
    """Read, substitute, validate, keep the shard's probes. ConfigError: one line per problem.

    fleet=True: the whole file, for commands that run no probe (rules, shards), without
    the per-agent probe limit, which a config for many shards exceeds.
    """
    env = os.environ if env is None else env
    return parse_config(
        read_config(path), str(path), env, Path(path).parent, region, shard=shard, fleet=fleet
    )


def read_config(path: str | Path) -> object:
    """The parsed YAML of a config file, within the loader's bounds (size, depth, aliases).

    Blocking: the agent's reload calls it off the event loop, then `parse_config`.
    """
    try:
        return load_yaml_file(path)
    except YAMLFileError as exc:
        raise ConfigError([f"{path}: {exc.reason}"]) from None


def parse_config(
    raw: object,
    name: str,
    env: Mapping[str, str],
    base_dir: Path,
    region: str | None = None,
    *,
    shard: Shard | None = None,
    fleet: bool = False,
) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError([f"{name}: expected a mapping with 'probes' at the top level"])
    warnings = tuple(f"{name}: {line}" for line in literal_credentials(raw))
    tree, subst = substitute(raw, env, base_dir)
    redactor = Redactor(subst.secrets)
    # A reference that did not resolve is reported, and validation goes on without it:
    # one `check` shows every problem. Errors under an unresolved value would only echo it.
    lines = [f"{name}: {p}: {redactor(m)}" for p, m in subst.errors]
    unresolved = tuple(p for p, _ in subst.errors)
    assert isinstance(tree, dict)
    agent = tree.get("agent") or {}
    if not isinstance(agent, dict):
        lines.append(f"{name}: agent: expected a mapping (region, listen, labels, ...)")
        raise ConfigError(lines)
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
    if "shard" in tree:  # a Config field, but the command line's, not the file's
        raise ConfigError(
            [f"{name}: shard: unknown field (the shard is prober run --shard or PROBER_SHARD)"]
        )
    try:
        config = Config.model_validate(
            {**tree, "source": name, "redactor": redactor, "warnings": warnings},
            context={SHARED_EXPECT: {}},
        )
    except ValidationError as exc:
        lines += [
            format_error(name, tree, e, redactor)
            for e in exc.errors()
            if not _under(e["loc"], unresolved)
        ]
        lines += [f"{name}: {redactor(line)}" for line in check_raw(tree)]
        raise ConfigError(lines) from None
    # URL userinfo is a secret wherever it came from.
    for request in iter_requests(config):
        url = URL(TEMPLATE_RE.sub("x", request.url))
        for part in (url.password, url.user):
            if part and len(part) >= 4:
                redactor.add(part)
        for header in request.headers.values():
            if len(header) >= 4 and not TEMPLATE_RE.fullmatch(header):
                redactor.add(header)
    lines += [f"{name}: {redactor(line)}" for line in check_references(config)]
    if lines:
        raise ConfigError(lines)
    return config if fleet else for_shard(config, shard)


def for_shard(config: Config, shard: Shard | None) -> Config:
    """The config with only the shard's probes, held to the per-agent probe limit."""
    probes = config.probes
    if shard is not None:
        probes = select(probes, [p.name for p in probes], shard)
    if len(probes) > MAX_PROBES:
        where, fix = (f" in shard {shard}", "more shards") if shard else ("", "agents")
        raise ConfigError(
            [
                f"{config.source}: probes: at most {MAX_PROBES} probes per agent, got "
                f"{len(probes)}{where} (each probe has its own series: split the config "
                f"across {fix})"
            ]
        )
    if shard is None:
        return config
    return config.model_copy(update={"probes": probes, "shard": shard})


def _fields(loc: tuple[str | int, ...]) -> Iterator[str | int]:
    """A validation error's location as the user wrote it: list indexes and field names,
    without pydantic's union tags (`http` after an index) and validator names."""
    after_index = False
    for item in loc:
        if after_index and item in PROBE_KIND_TAGS:  # the union's tag, not a field
            after_index = False
            continue
        after_index = isinstance(item, int)
        if isinstance(item, str) and item.startswith(("function-", "json-or-")):
            continue
        yield item


def _under(loc: tuple[str | int, ...], paths: tuple[str, ...]) -> bool:
    """Whether a validation error's location lies at or under one of envsubst's paths."""
    if not paths:
        return False
    text = ""
    for item in _fields(loc):
        if isinstance(item, int):
            text += f"[{item}]"
        else:
            text += f".{item}" if text else item
    return any(text == p or text.startswith((p + ".", p + "[")) for p in paths)


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "missing required field",
}


def format_error(name: str, tree: dict[str, Any], error: Any, redactor: Redactor) -> str:
    loc: tuple[str | int, ...] = error["loc"]
    parts: list[str] = []
    node: Any = tree
    for item in _fields(loc):
        if isinstance(item, int):
            label = f"[{item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                label += f" ({printable(node['name'])})"
            parts.append(label)
        else:
            parts.append(f".{printable(item)}" if parts else printable(item))
            node = node.get(item) if isinstance(node, dict) else None
    field = "".join(parts) or "(top level)"
    message = _MESSAGES.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden" and (close := _nearest_field(loc)):
        message += f"; did you mean {close}?"
    if error["type"] == "missing" and loc == ("probes",):
        message = "missing required field: list at least one probe"
    if error["type"] == "union_tag_invalid":
        field += ".kind"
        message = f"unknown kind {error['ctx']['tag']!r}: use http or scenario"
    return f"{name}: {field}: {redactor(message)}"


_INTERNAL_FIELDS = frozenset({"source", "redactor", "warnings"})


def _nearest_field(loc: tuple[str | int, ...]) -> str | None:
    """The valid field name closest to the unknown one at `loc`: `expct` -> `expect`."""
    model = _model_at(loc[:-1])
    if model is None or not isinstance(loc[-1], str):
        return None
    names = [
        field.alias or key
        for key, field in model.model_fields.items()
        if key not in _INTERNAL_FIELDS
    ]
    close = difflib.get_close_matches(loc[-1], names, n=1, cutoff=0.6)
    return close[0] if close else None


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class whose fields the mapping at `loc` holds, following the annotations."""
    tp: Any = Config
    for item in loc:
        tp = _unwrap(tp)
        if item in PROBE_KIND_TAGS and _is_union(tp):
            tp = ProbeConfig if item == "http" else ScenarioConfig
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(item, str):
            field = next((f for k, f in tp.model_fields.items() if item in (k, f.alias)), None)
            if field is None:
                return None
            tp = field.annotation
        elif typing.get_origin(tp) in (tuple, list) and isinstance(item, int):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _unwrap(tp: Any) -> Any:
    """Annotated[X, ...] -> X; X | None -> X; a union of several models stays a union."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif _is_union(tp):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp
