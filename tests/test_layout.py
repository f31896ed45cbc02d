"""The package layout is the design: each package imports only the packages below it.

The rules are the ones each `__init__.py` states; this test reads every import in
`prober/` (module level, inside functions and under TYPE_CHECKING alike) and checks them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "prober"
SHARED = "shared"  # conventions, model, redact, generated, the package itself

# package -> the packages it may import (itself and the shared vocabulary always).
ALLOWED: dict[str, set[str]] = {
    SHARED: set(),
    "config": set(),
    "probes": {"config"},
    "telemetry": {"config"},
    "console": {"config"},
    "agent": {"config", "probes", "telemetry", "console"},
    "web": {"config", "agent", "telemetry"},
    "slo": {"config"},
    "dashboards": {"config", "slo"},
    "report": {"config", "slo"},
    "demo": {"config", "agent", "web", "telemetry", "console", "slo"},
    "cli": {
        "config",
        "probes",
        "telemetry",
        "console",
        "agent",
        "web",
        "slo",
        "dashboards",
        "report",
        "demo",
    },
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    if module == "prober.__main__":  # `python -m prober` is the command line
        return "cli"
    parts = module.split(".")
    if len(parts) == 1 or (PACKAGE / f"{parts[1]}.py").exists():
        return SHARED
    return parts[1]


def imports_of(path: Path) -> set[str]:
    """Every prober module `path` imports, relative imports resolved."""
    module = module_name(path)
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "prober"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "prober":
                continue
            found.add(target)
            for alias in node.names:  # `from . import conventions`: a module, not a name
                if (PACKAGE.parent / target.replace(".", "/") / f"{alias.name}.py").exists():
                    found.add(f"{target}.{alias.name}")
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))
EDGES = {module_name(p): imports_of(p) for p in SOURCES}


def test_every_module_belongs_to_a_package_with_rules() -> None:
    assert {package_of(m) for m in EDGES} <= set(ALLOWED)


@pytest.mark.parametrize("module", sorted(EDGES), ids=str)
def test_a_module_imports_only_what_its_package_may(module: str) -> None:
    own = package_of(module)
    allowed = ALLOWED[own] | {own, SHARED}
    wrong = sorted(t for t in EDGES[module] if package_of(t) not in allowed)
    assert wrong == [], f"{module} ({own}) may not import {wrong}"


def test_nothing_outside_the_cli_imports_the_cli() -> None:
    users = sorted(
        m
        for m, targets in EDGES.items()
        if package_of(m) != "cli" and any(package_of(t) == "cli" for t in targets)
    )
    assert users == []


def test_the_packages_form_no_import_cycle() -> None:
    """Package A importing B and B importing A (even through others) is a cycle."""
    graph: dict[str, set[str]] = {p: set() for p in ALLOWED}
    for module, targets in EDGES.items():
        graph[package_of(module)] |= {package_of(t) for t in targets} - {package_of(module)}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, f"cycle: {' -> '.join([*trail, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for package in sorted(graph):
        if package not in state:
            visit(package, [])


def test_the_checker_sees_a_forbidden_import() -> None:
    """The rules would catch a probe that imported a sink."""
    assert "agent" not in ALLOWED["probes"]
    assert package_of("prober.agent.sinks") == "agent"
    assert package_of("prober.conventions") == SHARED
    assert "prober.config.load" in EDGES["prober.config"]


def test_every_package_says_what_it_owns_and_must_never_import() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "never" in doc.lower(), (
            f"{init.relative_to(PACKAGE.parent)}: say what it never imports"
        )
