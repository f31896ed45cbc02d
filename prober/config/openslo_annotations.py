"""prober's settings that OpenSLO has no field for, as `prober.dev/` annotations.

Generic over the pydantic models: every leaf field of an SLOConfig (or a BurnWindow)
that is not mapped onto an OpenSLO field becomes `prober.dev/<path>`, the path dotted,
underscores written as dashes (`alerting.traffic.drop_ratio` ->
`prober.dev/alerting.traffic.drop-ratio`). Only values that differ from the default are
written; an absent annotation reads back as the default. A setting added to the models
later is carried without a change here.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .openslo_spec import ANNOTATION_PREFIX
from .units import format_duration, parse_duration

# Leaves with an OpenSLO field of their own (or a structure of their own: burn windows).
SLO_MAPPED = frozenset(
    {
        "name",
        "description",
        "period",
        "availability.objective",
        "availability.bad_outcomes",
        "latency.objective",
        "latency.threshold",
        "alerting.burn_windows",
    }
)
WINDOW_MAPPED = frozenset(
    {"name", "budget_percent", "long_window", "short_window", "severity", "action"}
)
SHORT_WINDOW = f"{ANNOTATION_PREFIX}short-window"
BURN_WINDOW = f"{ANNOTATION_PREFIX}burn-window"


def key(path: str) -> str:
    return ANNOTATION_PREFIX + path.replace("_", "-")


def _is_duration(annotation: Any) -> bool:
    """Whether a field's type is (or wraps) fields.Duration."""
    for meta in getattr(annotation, "__metadata__", ()):
        if getattr(getattr(meta, "func", None), "__name__", "") == parse_duration.__name__:
            return True
    return any(_is_duration(arg) for arg in typing.get_args(annotation))


def _is_structured(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, typing.Annotated):
        return any(_is_structured(a) for a in typing.get_args(annotation))
    return origin in (tuple, list, dict, set, frozenset)


def _text(value: Any, field: FieldInfo) -> str:
    if _is_duration(field.annotation) or any(
        getattr(getattr(m, "func", None), "__name__", "") == parse_duration.__name__
        for m in field.metadata
    ):
        return format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value if not isinstance(value, tuple) else list(value))


def flatten(model: BaseModel, mapped: frozenset[str], prefix: str = "") -> dict[str, str]:
    """`prober.dev/<path>` -> text for every unmapped leaf whose value is not the default."""
    out: dict[str, str] = {}
    for name, field in type(model).model_fields.items():
        path = f"{prefix}{name}"
        if path in mapped:
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out |= flatten(value, mapped, f"{path}.")
        elif value != field.get_default(call_default_factory=True):
            out[key(path)] = _text(value, field)
    return out


def field_at(model: type[BaseModel], path: list[str]) -> FieldInfo | None:
    """The field at a path through nested models, or None."""
    field = model.model_fields.get(path[0])
    if field is None or len(path) == 1:
        return field
    for arg in (field.annotation, *typing.get_args(field.annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return field_at(arg, path[1:])
    return None


def unflatten(
    annotations: dict[str, str], model: type[BaseModel], mapped: frozenset[str], special: set[str]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The nested settings the `prober.dev/` annotations give, and (key, problem) for the rest.

    Annotations of other prefixes belong to other tools and are left alone; `special`
    keys are read by the caller.
    """
    tree: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for k, text in annotations.items():
        if not k.startswith(ANNOTATION_PREFIX) or k in special:
            continue
        path = k.removeprefix(ANNOTATION_PREFIX).replace("-", "_")
        field = field_at(model, path.split("."))
        if path in mapped or field is None:
            errors.append((k, "unknown prober annotation (see docs/openslo.md)"))
            continue
        value: Any = text
        if _is_structured(field.annotation):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                errors.append((k, f"expected a JSON list or mapping, got {text!r}"))
                continue
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree, errors
