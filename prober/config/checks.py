"""Checks across fields: names, timeouts against intervals, SLO references, scenario variables."""

from __future__ import annotations

import json

from .fields import TEMPLATE_RE
from .model import Config
from .probes import RequestConfig, ScenarioConfig, StepConfig
from .units import format_duration


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
        interval, timeout = config.interval(probe), config.timeout(probe)
        if isinstance(probe, ScenarioConfig):
            errors.extend(_check_scenario(where, probe, timeout, interval))
        elif timeout >= interval:
            errors.append(
                f"{where}.timeout: must be shorter than the interval "
                f"({format_duration(timeout)}{'' if probe.timeout else ' from defaults.timeout'}"
                f" >= {format_duration(interval)}"
                f"{'' if probe.interval else ' from defaults.interval'})"
            )
        if probe.slo is not None and probe.slo not in slo_names:
            known = ", ".join(sorted(slo_names)) or "none defined"
            errors.append(f"{where}.slo: unknown SLO {probe.slo!r} (known: {known})")
    slo_seen: set[str] = set()
    for i, slo in enumerate(config.slos):
        if slo.name in slo_seen:
            errors.append(f"slos[{i}] ({slo.name}).name: duplicate SLO name")
        slo_seen.add(slo.name)
        names = [w.name for w in slo.alerting.burn_windows]
        if len(set(names)) != len(names):
            errors.append(f"slos[{i}] ({slo.name}).alerting.burn_windows: duplicate window name")
    return errors
