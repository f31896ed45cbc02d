"""The `probes:` section: HTTP probes, scenarios and their steps, expectations, TLS."""

from __future__ import annotations

import ssl
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator
from yarl import URL

from ..redact import safe_url
from .fields import (
    HEADER_NAME_RE,
    HTTP_METHODS,
    MAX_HEADERS,
    MAX_STEPS,
    MAX_URL,
    SHARED_EXPECT,
    TARGET_RE,
    TEMPLATE_RE,
    Duration,
    Size,
    StatusSet,
    Strict,
    check_json_path,
    check_name,
    host_problem,
    printable,
)
from .regex import Regex


class JSONAssertion(Strict):
    """One check on a field of a JSON body, addressed as `a.b[0].c`."""

    path: str = Field(min_length=1)
    equals: Any = None
    exists: bool | None = None
    matches: Regex | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_json_path(value)

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


class Expect(Strict):
    status: StatusSet = ((200, 299),)
    json_fields: tuple[JSONAssertion, ...] = Field(default=(), alias="json")
    body_regex: Regex | None = None
    body_not_regex: Regex | None = None
    max_body_bytes: Size = 1024 * 1024

    def status_ok(self, code: int) -> bool:
        return any(low <= code <= high for low, high in self.status)


class TLS(Strict):
    verify: bool = True
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None

    @model_validator(mode="after")
    def _files(self) -> TLS:
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file")
        stamps = []
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {str(path)!r} does not exist or is not a file")
            if path is not None and path.stat().st_size > MAX_TLS_FILE_BYTES:
                raise ValueError(f"{name} {str(path)!r} is larger than 1 MiB: not a PEM file")
            stamp = path.stat() if path is not None else None
            stamps.append((path, stamp.st_mtime_ns, stamp.st_size) if stamp else None)
        if problem := _tls_problem(*stamps):
            raise ValueError(problem)
        return self


MAX_TLS_FILE_BYTES = 1024 * 1024


def _no_password() -> bytes:
    raise ValueError("encrypted")  # the agent has no way to ask: refuse instead of prompting


@lru_cache(maxsize=256)  # keyed on (path, mtime, size): ten thousand probes share one CA
def _tls_problem(
    ca: tuple[Path, int, int] | None,
    cert: tuple[Path, int, int] | None,
    key: tuple[Path, int, int] | None,
) -> str | None:
    """Load the files as the agent will, into an SSLContext: `check` passes only what runs."""
    ctx = ssl.create_default_context()
    if ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(ca[0]))
        except (ssl.SSLError, OSError, ValueError):
            return f"ca_file {str(ca[0])!r} is not a PEM certificate (or bundle)"
    if cert is not None:
        try:
            ssl.create_default_context().load_verify_locations(cafile=str(cert[0]))
        except (ssl.SSLError, OSError, ValueError):
            return f"cert_file {str(cert[0])!r} is not a PEM certificate"
        try:
            ctx.load_cert_chain(str(cert[0]), str(key[0]) if key else None, _no_password)
        except (ssl.SSLError, OSError, ValueError):
            if key is None:
                return f"cert_file {str(cert[0])!r} holds no private key: give key_file"
            return f"key_file {str(key[0])!r} is not the unencrypted PEM private key of cert_file"
    return None


def _host_label(url: URL) -> str:
    host = url.host or ""
    host = f"[{host}]" if ":" in host else host
    return host if url.is_default_port() else f"{host}:{url.port}"


class RequestConfig(Strict):
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
        shared = info.context.get(SHARED_EXPECT) if isinstance(info.context, dict) else None
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
        if len(value) > MAX_URL:  # the URL may hold a secret: described, not shown
            raise ValueError(f"the URL is {len(value)} characters long, at most {MAX_URL}")
        bare = TEMPLATE_RE.sub("x", value)
        if "{{" in bare:
            raise ValueError(
                "'{{' that does not start a {{variable}} "
                "(a name of letters, digits and '_', closed by '}}')"
            )
        if any(ch.isspace() or not ch.isprintable() for ch in bare):
            raise ValueError(
                "the URL has a space, a line break or a control character: "
                "percent-encode it (a space is %20)"
            )
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
            shown = printable(safe_url(value)) if url.host else repr(printable(safe_url(value)))
            raise ValueError(
                f"must be an absolute http:// or https:// URL with a host, got {shown}"
            )
        if problem := host_problem(url.raw_host or ""):
            raise ValueError(f"the host {printable(url.raw_host or '')!r} {problem}")
        if url.explicit_port == 0:
            raise ValueError("port 0 is not a port to connect to: use 1-65535")
        return value

    @field_validator("headers")
    @classmethod
    def _header_syntax(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers, got {len(value)}")
        for name, text in value.items():
            if not HEADER_NAME_RE.match(name):
                raise ValueError(
                    f"invalid header name {printable(name)!r}: "
                    "letters, digits and !#$%&'*+-.^_`|~ only"
                )
            if any(ch in text for ch in "\r\n\0"):  # the value may be a secret: not shown
                raise ValueError(f"header {name}: the value has a line break or a NUL byte")
            if any((ch != "\t" and not " " <= ch <= "\xff") or ch == "\x7f" for ch in text):
                raise ValueError(
                    f"header {name}: the value has a control character or a character "
                    "beyond Latin-1, which HTTP/1.1 cannot send"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RequestConfig:
        if self.body is not None and "json_body" in self.model_fields_set:
            raise ValueError("give body or json, not both")
        if URL(TEMPLATE_RE.sub("x", self.url)).user is not None and any(
            h.lower() == "authorization" for h in self.headers
        ):
            raise ValueError("url has credentials and headers has Authorization: use one of them")
        return self


class _Scheduled(Strict):
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
        return check_name(value)

    @field_validator("target")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and not TARGET_RE.match(value):
            raise ValueError(
                f"invalid target {value!r}: a short name, 1-128 of letters, digits, '_.:-'"
            )
        return value


class ProbeConfig(RequestConfig, _Scheduled):
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


class Capture(Strict):
    """Where a step finds a value for later steps: a JSON field, a header, a regex group."""

    json_path: str | None = Field(default=None, alias="json")
    header: str | None = None
    regex: Regex | None = None

    @field_validator("json_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else check_json_path(value)

    @model_validator(mode="after")
    def _one_source(self) -> Capture:
        if sum(x is not None for x in (self.json_path, self.header, self.regex)) != 1:
            raise ValueError("give exactly one of json, header or regex")
        return self


class StepConfig(RequestConfig):
    name: str
    capture: dict[str, Capture] = Field(default_factory=dict)
    always_run: bool = False  # cleanup: runs even after an earlier step failed
    timeout: Duration | None = None  # always_run steps only: their own time budget

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

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
