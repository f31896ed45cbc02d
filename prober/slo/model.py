"""Rule groups as plain data, and the one YAML writer both output formats share.

A hand-written emitter rather than `yaml.dump`: the files carry comments (why
a rule is shaped the way it is), multi-line expressions as literal blocks, and
a fixed key order, and must come out byte-identical on every run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass(frozen=True)
class Rule:
    """A recording rule (`record`) or an alerting rule (`alert`)."""

    expr: str
    record: str = ""
    alert: str = ""
    for_: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    comment: str = ""

    def __post_init__(self) -> None:
        if bool(self.record) == bool(self.alert):
            raise ValueError("a rule has exactly one of record or alert")

    def data(self) -> dict[str, Any]:
        """The rule as Prometheus reads it, keys in the order they are written."""
        out: dict[str, Any] = {"record": self.record} if self.record else {"alert": self.alert}
        out["expr"] = self.expr
        if self.for_:
            out["for"] = self.for_
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class Group:
    name: str
    rules: tuple[Rule, ...]
    comment: str = ""

    def data(self) -> dict[str, Any]:
        return {"name": self.name, "rules": [r.data() for r in self.rules]}


def _reads_back(value: str) -> bool:
    try:
        return bool(yaml.safe_load(f"k: {value}") == {"k": value})
    except yaml.YAMLError:
        return False


def scalar(value: str) -> str:
    """A one-line string as a YAML scalar: plain if the YAML parser reads it back unchanged
    (not a number, bool, date, no `: ` or ` #`), else single-quoted (PromQL is full of
    double quotes), else double-quoted (JSON is valid YAML)."""
    if "\n" not in value and value == value.strip():
        if value and _reads_back(value):
            return value
        if "'" not in value:
            return f"'{value}'"
    return json.dumps(value)


def _comment(text: str, pad: str) -> list[str]:
    return [f"{pad}# {line}".rstrip() for line in text.splitlines()] if text else []


def _mapping(key: str, values: Mapping[str, str], pad: str) -> list[str]:
    return [f"{pad}{key}:", *render_mapping(values, len(pad) + 2)]


def _rule(rule: Rule, pad: str) -> list[str]:
    lines = _comment(rule.comment, pad)
    head = f"record: {scalar(rule.record)}" if rule.record else f"alert: {scalar(rule.alert)}"
    lines.append(f"{pad}- {head}")
    inner = pad + "  "
    if "\n" in rule.expr:
        lines.append(f"{inner}expr: |-")
        lines.extend(f"{inner}  {line}".rstrip() for line in rule.expr.splitlines())
    else:
        lines.append(f"{inner}expr: {scalar(rule.expr)}")
    if rule.for_:
        lines.append(f"{inner}for: {scalar(rule.for_)}")
    if rule.labels:
        lines.extend(_mapping("labels", rule.labels, inner))
    if rule.annotations:
        lines.extend(_mapping("annotations", rule.annotations, inner))
    return lines


def render_groups(groups: tuple[Group, ...], indent: int = 0) -> list[str]:
    """`groups:` and everything under it, as lines, indented by `indent` spaces."""
    pad = " " * indent
    lines = [f"{pad}groups:"]
    for group in groups:
        lines.extend(_comment(group.comment, pad + "  "))
        lines.append(f"{pad}  - name: {scalar(group.name)}")
        lines.append(f"{pad}    rules:")
        for rule in group.rules:
            lines.extend(_rule(rule, pad + "      "))
    return lines


def render_mapping(values: Mapping[str, str], indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}{scalar(k)}: {scalar(v)}" for k, v in values.items()]
