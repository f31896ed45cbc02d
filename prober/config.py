"""Typed model of probes.yaml, and `load_config`, which turns any mistake into one clear line.

Everything is validated and compiled here, at load time: durations, regexes,
status ranges, URLs and cross references. A running agent never meets a config
error; a bad reload is refused before it replaces the running config.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import SequenceEndEvent, SequenceStartEvent
from yaml.nodes import Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver
from yarl import URL

from . import conventions as c
from .envsubst import substitute
from .redact import Redactor
from .units import format_duration, parse_duration, parse_size

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]

# Series guard: a config may not make unbounded or oversized series (see SECURITY.md).
MAX_PROBES = 10_000  # the size bench/ measures memory and /metrics render time at
MAX_STEPS = 20
MAX_STATIC_LABELS = 10
MAX_LABEL_VALUE = 128

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an RFC 9110 token
_TARGET_RE = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,128}$")
_USERINFO = re.compile(r"[^/@]*@")
_STATUS_RANGE = re.compile(r"^([1-5])xx$|^(\d{3})-(\d{3})$|^(\d{3})$")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
RESERVED_LABELS = frozenset(
    {
        c.L_PROBE,
        c.L_TARGET,
        c.L_REGION,
        c.L_SLO,
        c.L_OUTCOME,
        c.L_CODE,
        c.L_PHASE,
        c.L_STEP,
        c.L_REASON,
        c.L_LE,
        "job",
        "instance",
    }
)
# Query parameters whose values are replaced wherever a URL is shown.
DEFAULT_SECRET_QUERY_PARAMS = (
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "password",
    "secret",
    "sig",
    "signature",
)


try:  # libyaml's parser when PyYAML was built with it: ten times faster on large configs
    from yaml._yaml import CParser as _Events
except ImportError:  # pragma: no cover - the pure-Python parser, as yaml.SafeLoader has
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Events(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


_CONSTRUCTED = "tag:prober,2024:constructed"  # private: a sequence already turned into data


class _ConstructedNode(SequenceNode):
    """The top-level `probes` list, built item by item while it was parsed."""


def _constructed(loader: SafeConstructor, node: Node) -> Any:
    if not isinstance(node, _ConstructedNode):  # someone wrote the private tag
        raise ConstructorError(None, None, f"unknown tag {node.tag!r}", node.start_mark)
    return node.value


class _StreamingLoader(_Events, Composer, SafeConstructor, Resolver):
    """PyYAML's safe loader on libyaml's parser, building `probes` one item at a time.

    The stock loader composes the whole document into nodes (with two marks each)
    before it constructs any data: for 10,000 probes that is some 45 MB of nodes,
    freed right after but leaving the heap fragmented for the life of the process.
    Here each item of the top-level `probes` list is composed and constructed on its
    own, so only one probe's nodes exist at a time; the result is the same data.
    """

    def __init__(self, stream: str) -> None:
        _Events.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0

    yaml_constructors: ClassVar[dict[Any, Any]] = {
        **SafeConstructor.yaml_constructors,
        _CONSTRUCTED: _constructed,
    }
    get_single_node = Composer.get_single_node  # the Python composer: it can be steered

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if (
                self._depth == 2  # a value of the root mapping
                and isinstance(index, ScalarNode)
                and index.value == "probes"
                and self.check_event(SequenceStartEvent)
            ):
                event: Any = self.peek_event()
                if event.anchor is None and event.tag in (None, "!"):
                    return self._compose_constructed(parent, index)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _compose_constructed(self, parent: Node | None, index: Node) -> Node:
        self.descend_resolver(parent, index)
        start: Any = self.get_event()
        node = _ConstructedNode(_CONSTRUCTED, [], start.start_mark, start.end_mark)
        while not self.check_event(SequenceEndEvent):
            item = self.compose_node(node, len(node.value))
            node.value.append(self.construct_document(item))
        end: Any = self.get_event()
        node.end_mark = end.end_mark
        self.ascend_resolver()
        return node


def load_yaml(text: str) -> Any:
    """`yaml.safe_load(text)` at a fraction of the peak memory for a long `probes` list."""
    loader = _StreamingLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class ConfigError(Exception):
    """A config that cannot be used. `lines` are complete, one-line messages."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _compile_regex(value: object) -> re.Pattern[str]:
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):
        raise ValueError(f"regex must be a string, got {value!r}")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from None


Regex = Annotated[re.Pattern[str], BeforeValidator(_compile_regex)]


def _parse_status(value: object) -> tuple[tuple[int, int], ...]:
    items = value if isinstance(value, list) else [value]
    ranges = []
    for raw in items:
        item = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
        m = _STATUS_RANGE.match(item) if isinstance(item, str) else None
        if not m:
            raise ValueError(
                f"invalid status {item!r}: use a code (200), a class (2xx) or a range (200-299)"
            )
        if m.group(1):
            low, high = int(m.group(1)) * 100, int(m.group(1)) * 100 + 99
        elif m.group(2):
            low, high = int(m.group(2)), int(m.group(3))
        else:
            low = high = int(m.group(4))
        if not (100 <= low <= high <= 599):
            raise ValueError(
                f"invalid status {item!r}: codes are 100-599 and a range goes low-high"
            )
        ranges.append((low, high))
    if not ranges:
        raise ValueError(
            "list at least one status: use a code (200), a class (2xx) or a range (200-299)"
        )
    return tuple(ranges)


StatusSet = Annotated[tuple[tuple[int, int], ...], BeforeValidator(_parse_status)]


class JSONAssertion(_Strict):
    """One check on a field of a JSON body, addressed as `a.b[0].c`."""

    path: str = Field(min_length=1)
    equals: Any = None
    exists: bool | None = None
    matches: Regex | None = None

    @model_validator(mode="after")
    def _one_check(self) -> JSONAssertion:
        given = [
            self.exists is not None,
            self.matches is not None,
            "equals" in self.model_fields_set,
        ]
        if sum(given) != 1:
            raise ValueError("give exactly one of equals, exists or matches")
        return self


class Expect(_Strict):
    status: StatusSet = ((200, 299),)
    json_fields: tuple[JSONAssertion, ...] = Field(default=(), alias="json")
    body_regex: Regex | None = None
    body_not_regex: Regex | None = None
    max_body_bytes: Size = 1024 * 1024

    def status_ok(self, code: int) -> bool:
        return any(low <= code <= high for low, high in self.status)


class TLS(_Strict):
    verify: bool = True
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None

    @model_validator(mode="after")
    def _files(self) -> TLS:
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {str(path)!r} does not exist or is not a file")
        return self


TEMPLATE_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def printable(text: str) -> str:
    """`text` with control characters and line breaks escaped: a message stays one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


_SHARED_EXPECT = "shared_expect"  # validation context: Expect -> the one instance to use


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(f"invalid name {value!r}: 1-64 of letters, digits, '_', '.', '-'")
    return value


def _host_label(url: URL) -> str:
    host = url.host or ""
    host = f"[{host}]" if ":" in host else host
    return host if url.is_default_port() else f"{host}:{url.port}"


class _Request(_Strict):
    """The HTTP options shared by a probe and a scenario step."""

    method: str = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = Field(default=None, alias="json")
    expect: Expect = Expect()

    @field_validator("expect")
    @classmethod
    def _shared_expect(cls, value: Expect, info: ValidationInfo) -> Expect:
        """One Expect object for all requests that expect the same, e.g. status 200.

        Thousands of probes usually check alike; each copy cost some 600 bytes. Only
        status, regex and size checks are shared: JSON `equals` values compare loosely
        (1 == 1.0 == true) though they are shown as written.
        """
        shared = info.context.get(_SHARED_EXPECT) if isinstance(info.context, dict) else None
        if shared is None or value.json_fields:
            return value
        return shared.setdefault(value, value)  # type: ignore[no-any-return]

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value.upper() not in HTTP_METHODS:
            raise ValueError(f"unknown method {value!r}: one of {', '.join(HTTP_METHODS)}")
        return value.upper()

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        authority = rest.split("/", 1)[0].split("?", 1)[0]
        for part, text in (("scheme", scheme if sep else ""), ("host", authority)):
            if m := TEMPLATE_RE.search(text):
                raise ValueError(
                    f"variable {m.group(1)!r} is in the {part}: "
                    "variables can only be used in the path and query"
                )
        try:
            url = URL(TEMPLATE_RE.sub("x", value))
        except (ValueError, TypeError):
            raise ValueError("not a valid URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            bare = _USERINFO.sub("", value.split("?", maxsplit=1)[0], count=1)
            shown = printable(str(url.with_user(None).with_query(None))) if url.host else repr(bare)
            raise ValueError(
                f"must be an absolute http:// or https:// URL with a host, got {shown}"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _header_syntax(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME_RE.match(name):
                raise ValueError(
                    f"invalid header name {printable(name)!r}: "
                    "letters, digits and !#$%&'*+-.^_`|~ only"
                )
            if any(ch in text for ch in "\r\n\0"):  # the value may be a secret: not shown
                raise ValueError(f"header {name}: the value has a line break or a NUL byte")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> _Request:
        if self.body is not None and "json_body" in self.model_fields_set:
            raise ValueError("give body or json, not both")
        if URL(TEMPLATE_RE.sub("x", self.url)).user is not None and any(
            h.lower() == "authorization" for h in self.headers
        ):
            raise ValueError("url has credentials and headers has Authorization: use one of them")
        return self


class _Scheduled(_Strict):
    """What every kind of probe has: identity, schedule, transport, SLO."""

    name: str
    target: str | None = Field(
        default=None, description="bounded `target` label; default host[:port]"
    )
    interval: Duration | None = None
    timeout: Duration | None = None
    tls: TLS = TLS()
    connection: Literal["fresh", "keepalive"] = "fresh"
    slo: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("target")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and not _TARGET_RE.match(value):
            raise ValueError(
                f"invalid target {value!r}: a short name, 1-128 of letters, digits, '_.:-'"
            )
        return value


class ProbeConfig(_Request, _Scheduled):
    """A single HTTP request per run."""

    kind: Literal["http"] = "http"

    @field_validator("url", "headers")
    @classmethod
    def _no_variables(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        for text in [value] if isinstance(value, str) else value.values():
            if m := TEMPLATE_RE.search(text):
                raise ValueError(
                    f"variable {m.group(1)!r} is only filled in by scenario steps; "
                    "a kind: http probe would send it as written"
                )
        return value

    @cached_property
    def target_label(self) -> str:
        return self.target or _host_label(URL(self.url))


class Capture(_Strict):
    """Where a step finds a value for later steps: a JSON field, a header, a regex group."""

    json_path: str | None = Field(default=None, alias="json")
    header: str | None = None
    regex: Regex | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Capture:
        if sum(x is not None for x in (self.json_path, self.header, self.regex)) != 1:
            raise ValueError("give exactly one of json, header or regex")
        return self


class StepConfig(_Request):
    name: str
    capture: dict[str, Capture] = Field(default_factory=dict)
    always_run: bool = False  # cleanup: runs even after an earlier step failed
    timeout: Duration | None = None  # always_run steps only: their own time budget

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @model_validator(mode="after")
    def _timeout_only_for_cleanup(self) -> StepConfig:
        if self.timeout is not None and not self.always_run:
            raise ValueError("timeout is for always_run steps; others share the probe's timeout")
        return self


class ScenarioConfig(_Scheduled):
    """Ordered HTTP steps run as one probe run, sharing variables."""

    kind: Literal["scenario"]
    steps: tuple[StepConfig, ...]

    @field_validator("steps")
    @classmethod
    def _some_steps(cls, value: tuple[StepConfig, ...]) -> tuple[StepConfig, ...]:
        if not value:  # not min_length: its message would repeat after every step error
            raise ValueError("list at least one step")
        if len(value) > MAX_STEPS:
            raise ValueError(f"at most {MAX_STEPS} steps, got {len(value)}")
        return value

    @cached_property
    def target_label(self) -> str:
        return self.target or _host_label(URL(TEMPLATE_RE.sub("x", self.steps[0].url)))


def _probe_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "http"))
    return str(getattr(value, "kind", "http"))


AnyProbe = Annotated[
    Annotated[ProbeConfig, Tag("http")] | Annotated[ScenarioConfig, Tag("scenario")],
    Discriminator(_probe_kind),
]
PROBE_KIND_TAGS = frozenset({"http", "scenario"})


class AvailabilitySLO(_Strict):
    objective: float = Field(default=99.9, gt=0, lt=100, description="percent of good runs")
    bad_outcomes: tuple[c.Outcome, ...] = c.DEFAULT_BAD_OUTCOMES

    @field_validator("bad_outcomes")
    @classmethod
    def _no_success(cls, value: tuple[c.Outcome, ...]) -> tuple[c.Outcome, ...]:
        if c.Outcome.SUCCESS in value:
            raise ValueError("success cannot be a bad outcome")
        if not value:
            raise ValueError("list at least one bad outcome")
        return tuple(sorted(set(value), key=c.ALL_OUTCOMES.index))


class LatencySLO(_Strict):
    objective: float = Field(default=95.0, gt=0, lt=100, description="percent of successful runs")
    threshold: Duration = 0.2


class BurnWindow(_Strict):
    """One multi-window burn-rate alert: `budget_percent` of the budget spent in `long_window`."""

    name: str
    budget_percent: float = Field(gt=0, le=100)
    long_window: Duration
    short_window: Duration
    severity: str = Field(pattern=r"^[a-z]+$")
    action: str = ""

    @model_validator(mode="after")
    def _windows(self) -> BurnWindow:
        if self.short_window >= self.long_window:
            raise ValueError("short_window must be shorter than long_window")
        return self


# The seed's policy: 2% of the budget in 1 h pages, 5% in 24 h opens a ticket.
DEFAULT_BURN_WINDOWS = tuple(
    BurnWindow.model_validate(w)
    for w in (
        {
            "name": "fast",
            "budget_percent": 2,
            "long_window": "1h",
            "short_window": "5m",
            "severity": "critical",
            "action": "page",
        },
        {
            "name": "slow",
            "budget_percent": 5,
            "long_window": "24h",
            "short_window": "2h",
            "severity": "warning",
            "action": "ticket",
        },
    )
)


class TrafficAlert(_Strict):
    """Probe volume against the same window a week earlier."""

    window: Duration = 3600
    drop_ratio: float = Field(default=0.5, gt=0, lt=1)
    # The seed's "200% spike" read as an increase of 200%: now > 3x last week.
    spike_ratio: float = Field(default=3.0, gt=1)
    min_runs: int = Field(default=10, ge=1, description="ignore weeks with fewer runs than this")


class Alerting(_Strict):
    burn_windows: tuple[BurnWindow, ...] = DEFAULT_BURN_WINDOWS
    p99_threshold: Duration = 0.5
    p99_for: Duration = 300
    budget_policy_spent_percent: float = Field(default=80, gt=0, le=100)
    traffic: TrafficAlert = TrafficAlert()
    absent_for: Duration = 300
    runbook_url: str = ""
    dashboard_url: str = ""


class SLOConfig(_Strict):
    name: str
    description: str = ""
    period: Duration = 30 * 86400
    availability: AvailabilitySLO = AvailabilitySLO()
    latency: LatencySLO | None = LatencySLO()
    alerting: Alerting = Alerting()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)


class Defaults(_Strict):
    interval: Duration = 15.0
    timeout: Duration = 5.0


class AgentConfig(_Strict):
    region: str | None = None
    listen: str = c.DEFAULT_LISTEN
    labels: dict[str, str] = Field(default_factory=dict)
    request_id_header: str = c.DEFAULT_REQUEST_ID_HEADER
    max_concurrency: int | None = Field(default=None, ge=1)
    # builtin: plain-http probes on fresh connections use prober's own lean HTTP/1.1 client
    # (half the CPU per run, timed in the socket callbacks); aiohttp: every request by aiohttp.
    http_client: Literal["builtin", "aiohttp"] = "builtin"
    secret_query_params: tuple[str, ...] = DEFAULT_SECRET_QUERY_PARAMS

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _NAME_RE.match(value):
            raise ValueError(f"invalid region {value!r}: 1-64 of letters, digits, '_', '.', '-'")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_STATIC_LABELS:
            raise ValueError(f"at most {MAX_STATIC_LABELS} static labels, got {len(value)}")
        for name, text in value.items():
            if len(text) > MAX_LABEL_VALUE:
                raise ValueError(
                    f"the value of {name!r} is {len(text)} characters, at most {MAX_LABEL_VALUE}"
                )
            if not text.isprintable():
                raise ValueError(f"the value of {name!r} must be printable text on one line")
        for name in value:
            if not _LABEL_NAME_RE.match(name) or name.startswith("__"):
                raise ValueError(
                    f"invalid label name {name!r}: "
                    "use letters, digits and '_', not starting with a digit or '__'"
                )
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is set by prober and cannot be overridden")
        return value


class TracingConfig(_Strict):
    """OpenTelemetry export. Unset endpoint/headers fall back to OTEL_EXPORTER_OTLP_* env."""

    enabled: bool = False
    endpoint: str | None = None
    protocol: Literal["grpc", "http/protobuf"] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    sample_ratio: float = Field(default=1.0, ge=0, le=1)
    propagate: bool = True  # send W3C traceparent/tracestate with every probe request
    max_queue: int = Field(default=2048, ge=1)
    batch_size: int = Field(default=512, ge=1)
    export_interval: Duration = 2.0
    export_timeout: Duration = 5.0

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            url = URL(value)
            if url.scheme not in ("http", "https") or not url.host:
                shown = url.with_user(None).with_query(None) if url.host else value
                bare = _USERINFO.sub("", str(shown), count=1)
                raise ValueError(f"must be an http:// or https:// URL, got {bare!r}")
        return value


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid listen address {value!r}: use host:port, e.g. 127.0.0.1:9477")
    return host.strip("[]") or "0.0.0.0", int(port)


class Config(_Strict):
    agent: AgentConfig = AgentConfig()
    defaults: Defaults = Defaults()
    slos: tuple[SLOConfig, ...] = ()
    tracing: TracingConfig = TracingConfig()
    probes: tuple[AnyProbe, ...]
    # Filled by load_config, not by the user.
    source: str = Field(default="<memory>", exclude=True)
    redactor: Redactor = Field(default_factory=Redactor, exclude=True)

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    @field_validator("probes")
    @classmethod
    def _some_probes(cls, value: tuple[AnyProbe, ...]) -> tuple[AnyProbe, ...]:
        if not value:
            raise ValueError("list at least one probe")
        if len(value) > MAX_PROBES:
            raise ValueError(
                f"at most {MAX_PROBES} probes per agent, got {len(value)} "
                "(each probe has its own series: split the config across agents)"
            )
        return value

    @property
    def region(self) -> str:
        return self.agent.region or "local"

    def interval(self, probe: ProbeConfig | ScenarioConfig) -> float:
        return probe.interval or self.defaults.interval

    def timeout(self, probe: ProbeConfig | ScenarioConfig) -> float:
        return probe.timeout or self.defaults.timeout

    def slo(self, name: str | None) -> SLOConfig | None:
        return next((s for s in self.slos if s.name == name), None)

    @property
    def duration_buckets(self) -> tuple[float, ...]:
        """Default buckets plus every threshold an SLO or alert compares against."""
        extra = set()
        for slo in self.slos:
            extra.add(slo.alerting.p99_threshold)
            if slo.latency:
                extra.add(slo.latency.threshold)
        return tuple(sorted(set(c.DURATION_BUCKETS) | extra))


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
    probes = tree.get("probes")
    for probe in probes if isinstance(probes, list) else []:
        tls = probe.get("tls") if isinstance(probe, dict) else None
        if isinstance(tls, dict):
            for key in ("ca_file", "cert_file", "key_file"):
                if isinstance(tls.get(key), str):
                    tls[key] = str(base_dir / tls[key])
    try:
        config = Config.model_validate(
            {**tree, "source": name, "redactor": redactor}, context={_SHARED_EXPECT: {}}
        )
    except ValidationError as exc:
        raise ConfigError([_format_error(name, tree, e, redactor) for e in exc.errors()]) from None
    # URL userinfo is a secret wherever it came from.
    for request in iter_requests(config):
        url = URL(TEMPLATE_RE.sub("x", request.url))
        for part in (url.password, url.user):
            if part and len(part) >= 4:
                redactor.add(part)
        for header in request.headers.values():
            if len(header) >= 4 and not TEMPLATE_RE.fullmatch(header):
                redactor.add(header)
    errors = _check_references(config)
    if errors:
        raise ConfigError([f"{name}: {redactor(line)}" for line in errors])
    return config


def iter_requests(config: Config) -> list[_Request]:
    """Every HTTP request the config describes: probes and scenario steps."""
    out: list[_Request] = []
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


def _check_references(config: Config) -> list[str]:
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


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "missing required field",
}


def _format_error(name: str, tree: dict[str, Any], error: Any, redactor: Redactor) -> str:
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
