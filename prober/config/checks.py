"""Checks across fields: names, timeouts against intervals, SLO references, scenario variables."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .agent import Defaults
from .fields import SHARED_EXPECT, TEMPLATE_RE, printable
from .model import Config
from .probes import AnyProbe, RequestConfig, ScenarioConfig, StepConfig
from .units import format_duration, parse_duration


def iter_requests(config: Config) -> list[RequestConfig]:
    """Every HTTP request the config describes: probes and scenario steps."""
    out: list[RequestConfig] = []
    for probe in config.probes:
        out.extend(probe.steps if isinstance(probe, ScenarioConfig) else [probe])
    return out


# Variables every scenario run has; captures add more.
BUILTIN_VARIABLES = ("nonce", "uuid", "timestamp", "run_id", "region", "probe")


def _step_templates(step: StepConfig) -> list[tuple[str, str]]:
    """(field, text) of every place in a step where {{variables}} are substituted."""
    places = [("url", step.url)]
    places += [(f"headers.{k}", v) for k, v in step.headers.items()]
    if step.body is not None:
        places.append(("body", step.body))
    if "json_body" in step.model_fields_set:
        places.append(("json", json.dumps(step.json_body)))
    for i, a in enumerate(step.expect.json_fields):
        if isinstance(a.equals, str):
            places.append((f"expect.json[{i}].equals", a.equals))
        if a.matches is not None:
            places.append((f"expect.json[{i}].matches", a.matches.pattern))
    for name in ("body_regex", "body_not_regex"):
        pattern = getattr(step.expect, name)
        if pattern is not None:
            places.append((f"expect.{name}", pattern.pattern))
    return places


def _check_scenario(
    where: str, probe: ScenarioConfig, timeout: float, interval: float
) -> list[str]:
    errors: list[str] = []
    known = set(BUILTIN_VARIABLES)
    later: dict[str, int] = {}
    for i, step in enumerate(probe.steps):
        for var in step.capture:
            later.setdefault(var, i)
    seen_steps: dict[str, int] = {}
    for i, step in enumerate(probe.steps):
        at = f"{where}.steps[{i}] ({step.name})"
        if step.name in seen_steps:
            errors.append(
                f"{at}.name: duplicate step name, first used by steps[{seen_steps[step.name]}]"
            )
        seen_steps.setdefault(step.name, i)
        for place, text in _step_templates(step):
            if "{{" in TEMPLATE_RE.sub("", text):
                errors.append(
                    f"{at}.{place}: '{{{{' that does not start a {{{{variable}}}} "
                    "(a name of letters, digits and '_', closed by '}}')"
                )
            for var in TEMPLATE_RE.findall(text):
                if var in known:
                    continue
                if later.get(var) == i:
                    errors.append(
                        f"{at}.{place}: variable {var!r} is captured by this same step; "
                        "only later steps can use it"
                    )
                elif var in later:
                    errors.append(
                        f"{at}.{place}: variable {var!r} is captured by a later step, "
                        f"steps[{later[var]}] ({probe.steps[later[var]].name})"
                    )
                else:
                    errors.append(
                        f"{at}.{place}: unknown variable {var!r} "
                        f"(known here: {', '.join(sorted(known))})"
                    )
        for var in step.capture:
            if var in BUILTIN_VARIABLES:
                errors.append(f"{at}.capture.{var}: {var!r} is a built-in variable")
            known.add(var)
    cleanup = sum(s.timeout or 0.0 for s in probe.steps if s.always_run)
    if timeout + cleanup >= interval:
        spent = format_duration(timeout) + ("" if probe.timeout else " from defaults.timeout")
        rule = "must be shorter than the interval"
        if cleanup:
            spent += f" + {format_duration(cleanup)}"
            rule = f"timeout plus always_run step timeouts {rule}"
        errors.append(
            f"{where}.timeout: {rule} ({spent} >= {format_duration(interval)}"
            f"{'' if probe.interval else ' from defaults.interval'})"
        )
    return errors


def _timeout_error(
    where: str, timeout: float, interval: float, own_timeout: bool, own_interval: bool
) -> str:
    return (
        f"{where}.timeout: must be shorter than the interval "
        f"({format_duration(timeout)}{'' if own_timeout else ' from defaults.timeout'}"
        f" >= {format_duration(interval)}"
        f"{'' if own_interval else ' from defaults.interval'})"
    )


def _unknown_slo(where: str, slo: str, slo_names: set[str]) -> str:
    known = ", ".join(sorted(slo_names)) or "none defined"
    return f"{where}.slo: unknown SLO {slo!r} (known: {known})"


def _check_probe(
    where: str, probe: AnyProbe, defaults: Defaults, slo_names: set[str] | None
) -> list[str]:
    errors: list[str] = []
    interval = probe.interval or defaults.interval
    timeout = probe.timeout or defaults.timeout
    if isinstance(probe, ScenarioConfig):
        errors.extend(_check_scenario(where, probe, timeout, interval))
    elif timeout >= interval:
        errors.append(
            _timeout_error(where, timeout, interval, bool(probe.timeout), bool(probe.interval))
        )
    if slo_names is not None and probe.slo is not None and probe.slo not in slo_names:
        errors.append(_unknown_slo(where, probe.slo, slo_names))
    return errors


def check_references(config: Config) -> list[str]:
    errors: list[str] = []
    seen: dict[str, int] = {}
    slo_names = {s.name for s in config.slos}
    for i, probe in enumerate(config.probes):
        where = f"probes[{i}] ({probe.name})"
        if probe.name in seen:
            errors.append(
                f"{where}.name: duplicate probe name, first used by probes[{seen[probe.name]}]"
            )
        seen.setdefault(probe.name, i)
        errors.extend(_check_probe(where, probe, config.defaults, slo_names))
    slo_seen: set[str] = set()
    for i, slo in enumerate(config.slos):
        if slo.name in slo_seen:
            errors.append(f"slos[{i}] ({slo.name}).name: duplicate SLO name")
        slo_seen.add(slo.name)
        names = [w.name for w in slo.alerting.burn_windows]
        if len(set(names)) != len(names):
            errors.append(f"slos[{i}] ({slo.name}).alerting.burn_windows: duplicate window name")
    return errors


_PROBE: TypeAdapter[AnyProbe] = TypeAdapter(AnyProbe)


def _duration(value: object) -> float | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None


def check_raw(tree: dict[str, Any]) -> list[str]:
    """The checks across fields, on a config that failed validation: on what is usable.

    So one `check` shows a typo, a timeout longer than its interval and an unknown SLO
    together, not one after another. Each probe is validated on its own; a probe that
    fails is checked on its raw timeout, interval and slo where those are valid.
    """
    try:
        defaults: Defaults | None = Defaults.model_validate(tree.get("defaults") or {})
    except ValidationError:
        defaults = None  # its errors are shown; comparisons against it would guess
    slos = tree.get("slos")
    slos = slos if isinstance(slos, list) else []
    slo_names: set[str] | None = {
        s["name"] for s in slos if isinstance(s, dict) and isinstance(s.get("name"), str)
    }
    if not isinstance(tree.get("slos", []), list) or any(
        not (isinstance(s, dict) and isinstance(s.get("name"), str)) for s in slos
    ):
        slo_names = None  # an SLO without a readable name: "unknown SLO" could be wrong
    probes = tree.get("probes")
    errors: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(probes if isinstance(probes, list) else []):
        if not isinstance(raw, dict):
            continue
        name = raw.get("name")
        where = f"probes[{i}]" + (f" ({printable(name)})" if isinstance(name, str) else "")
        if isinstance(name, str):
            if name in seen:
                errors.append(
                    f"{where}.name: duplicate probe name, first used by probes[{seen[name]}]"
                )
            seen.setdefault(name, i)
        try:
            probe = _PROBE.validate_python(raw, context={SHARED_EXPECT: {}})
        except ValidationError:
            probe = None
        if probe is not None:
            if defaults is not None:
                errors.extend(_check_probe(where, probe, defaults, slo_names))
            continue
        timeout, interval = _duration(raw.get("timeout")), _duration(raw.get("interval"))
        if defaults is not None and raw.get("kind", "http") == "http":
            timeout = timeout if "timeout" in raw else defaults.timeout
            interval = interval if "interval" in raw else defaults.interval
        if timeout is not None and interval is not None and timeout >= interval:
            own_timeout, own_interval = "timeout" in raw, "interval" in raw
            errors.append(_timeout_error(where, timeout, interval, own_timeout, own_interval))
        slo = raw.get("slo")
        if slo_names is not None and isinstance(slo, str) and slo not in slo_names:
            errors.append(_unknown_slo(where, slo, slo_names))
    return errors


# Headers whose value is a credential: README says never to write one literally.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
CREDENTIAL_WORDS = ("token", "secret", "key", "password")


def is_credential_header(name: str) -> bool:
    lower = name.lower()
    return lower in CREDENTIAL_HEADERS or any(word in lower for word in CREDENTIAL_WORDS)


def literal_credentials(tree: dict[str, Any]) -> list[str]:
    """Warnings for credential headers written literally (no `${VAR}`, `${file:}`, `{{var}}`).

    Runs on the tree before substitution, so `Bearer ${TOKEN:-demo}` is not literal.
    A warning names the header, never its value.
    """
    places: list[tuple[str, object]] = []
    probes = tree.get("probes")
    for i, probe in enumerate(probes if isinstance(probes, list) else []):
        if not isinstance(probe, dict):
            continue
        name = probe.get("name")
        where = f"probes[{i}]" + (f" ({printable(name)})" if isinstance(name, str) else "")
        places.append((where, probe.get("headers")))
        steps = probe.get("steps")
        for j, step in enumerate(steps if isinstance(steps, list) else []):
            if isinstance(step, dict):
                step_name = step.get("name")
                label = f" ({printable(step_name)})" if isinstance(step_name, str) else ""
                places.append((f"{where}.steps[{j}]{label}", step.get("headers")))
    tracing = tree.get("tracing")
    if isinstance(tracing, dict):
        places.append(("tracing", tracing.get("headers")))
    warnings = []
    for where, headers in places:
        for header, value in headers.items() if isinstance(headers, dict) else ():
            if (
                isinstance(header, str)
                and is_credential_header(header)
                and isinstance(value, str)
                and value.strip()
                and "${" not in value
                and not TEMPLATE_RE.search(value)
            ):
                warnings.append(
                    f"{where}.headers.{printable(header)}: a literal credential in the file; "
                    "write ${VAR} or ${file:PATH} to keep the secret out of it"
                )
    return warnings
