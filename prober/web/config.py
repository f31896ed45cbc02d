"""TLS and basic auth for prober's own endpoints, from a Prometheus exporter-toolkit web config.

The file has the format every Prometheus exporter reads with `--web.config.file`:

    tls_server_config:
      cert_file: server.pem          # relative paths are relative to this file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional mTLS
      client_ca_file: clients-ca.pem
      min_version: TLS12
    http_server_config:
      headers: {X-Content-Type-Options: nosniff}
    basic_auth_users:
      prometheus: $2y$10$...          # bcrypt, e.g. `htpasswd -nBC 10 prometheus`

Everything is checked when the file is loaded; any mistake is one line naming the
file and the field. Options prober cannot honour (Go cipher-suite and curve names,
RequestClientCert, rate_limit, inline keys) are refused rather than ignored, so a
file never silently gives less protection than its author asked for. Like
exporter-toolkit, prober follows the file: a rotated certificate or a changed password
applies to the next connection or request, without a restart.

Password checks run bcrypt in a worker thread, one at a time, and cache the verdict
(keyed by an HMAC, never the password), so a scrape never stalls the event loop
that runs the probes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import logging
import os
import re
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from aiohttp import web

log = logging.getLogger("prober.web")

# Paths served without authentication: liveness must not depend on a password.
OPEN_PATHS = frozenset({"/healthz"})
REALM = 'Basic realm="prober", charset="UTF-8"'

_TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users")
_TLS_KEYS = (
    "cert_file",
    "key_file",
    "client_ca_file",
    "client_ca",
    "client_auth_type",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
)
_HTTP_KEYS = ("http2", "headers")
# exporter-toolkit keys prober refuses instead of ignoring: why, in a few words.
_UNSUPPORTED = {
    "rate_limit": "not supported by prober",
    "tls_server_config.cert": "not supported by prober: use cert_file",
    "tls_server_config.key": "not supported by prober: use key_file",
    "tls_server_config.cipher_suites": (
        "not supported by prober: Python's TLS defaults apply "
        "(min_version: TLS13 restricts ciphers to TLS 1.3 ones)"
    ),
    "tls_server_config.curve_preferences": "not supported by prober",
}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# The response headers exporter-toolkit lets a web config set, and their allowed values.
_EXTRA_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BCRYPT = re.compile(r"^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$")


class WebConfigError(Exception):
    """A web config that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class WebConfig:
    path: Path
    ssl: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    allowed_sans: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # the certificate, key and CA files it was built from

    @property
    def scheme(self) -> str:
        return "https" if self.ssl is not None else "http"


def load_web_config(path: str | Path) -> WebConfig:
    """Read and check a web config file; raises WebConfigError (one line) on any mistake."""
    path = Path(path)
    name = str(path)

    def fail(where: str, problem: str) -> WebConfigError:
        return WebConfigError(f"{name}: {where}: {problem}" if where else f"{name}: {problem}")

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fail("", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise fail("", f"cannot read: {reason}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise fail("", f"{where}invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if raw is None:
        return WebConfig(path)  # an empty file: plain HTTP, no auth (as exporter-toolkit)
    doc = _mapping(raw, "", fail, "a mapping (tls_server_config, basic_auth_users, ...)")
    _known_keys(doc, "", _TOP_KEYS, fail)
    tls = _mapping(doc.get("tls_server_config") or {}, "tls_server_config", fail)
    _known_keys(tls, "tls_server_config", _TLS_KEYS, fail)
    http = _mapping(doc.get("http_server_config") or {}, "http_server_config", fail)
    _known_keys(http, "http_server_config", _HTTP_KEYS, fail)
    if "http2" in http and not isinstance(http["http2"], bool):
        raise fail("http_server_config.http2", "expected true or false")
    headers = _headers(http.get("headers"), fail)
    users = _users(doc.get("basic_auth_users"), fail)
    context, sans, files = _tls(tls, path.parent, fail)
    return WebConfig(path, context, users, headers, sans, files)


Fail = Callable[[str, str], WebConfigError]


def _mapping(value: object, where: str, fail: Fail, what: str = "a mapping") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(where, f"expected {what}, got {type(value).__name__}")
    return value


def _known_keys(doc: Mapping[Any, Any], where: str, known: Collection[str], fail: Fail) -> None:
    for key in doc:
        here = f"{where}.{key}" if where else str(key)
        if here in _UNSUPPORTED:
            raise fail(here, _UNSUPPORTED[here])
        if key not in known:
            raise fail(f"{where}.{_shown(key)}" if where else _shown(key), "unknown field")


def _shown(key: object) -> str:
    """A key as written when it is plain, else its repr: a message stays one line."""
    return key if isinstance(key, str) and _PLAIN_KEY.match(key) else repr(key)


def _string(tls: Mapping[str, Any], key: str, fail: Fail) -> str:
    value = tls.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise fail(f"tls_server_config.{key}", "expected a string")
    return value


def _headers(value: object, fail: Fail) -> dict[str, str]:
    if value is None:
        return {}
    headers = _mapping(value, "http_server_config.headers", fail)
    for key, text in headers.items():
        where = f"http_server_config.headers.{_shown(key)}"
        if key not in _EXTRA_HEADERS:
            raise fail(
                where, f"header cannot be configured: one of {', '.join(sorted(_EXTRA_HEADERS))}"
            )
        if not isinstance(text, str) or "\n" in text or "\r" in text:
            raise fail(where, "expected a one-line string")
        allowed = _EXTRA_HEADERS[key]
        if allowed and text not in allowed:
            raise fail(where, f"expected one of {', '.join(allowed)}, got {text!r}")
    return dict(headers)


def _users(value: object, fail: Fail) -> dict[str, bytes]:
    if value is None:
        return {}
    users = _mapping(value, "basic_auth_users", fail, "a mapping of user names to bcrypt hashes")
    out: dict[str, bytes] = {}
    for user, hashed in users.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise fail("basic_auth_users", f"invalid user name {user!r}: a string without ':'")
        # The hash is never shown: it is enough to brute-force a weak password offline.
        if not isinstance(hashed, str) or not _BCRYPT.match(hashed):
            raise fail(
                f"basic_auth_users.{_shown(user)}",
                f"not a bcrypt hash (make one with: htpasswd -nBC 10 {_shown(user)})",
            )
        out[user] = hashed.encode()
    return out


def _tls(
    tls: Mapping[str, Any], base: Path, fail: Fail
) -> tuple[ssl.SSLContext | None, tuple[str, ...], tuple[str, ...]]:
    cert = _string(tls, "cert_file", fail)
    key = _string(tls, "key_file", fail)
    ca_file = _string(tls, "client_ca_file", fail)
    ca_text = _string(tls, "client_ca", fail)
    auth = _string(tls, "client_auth_type", fail)
    if not (cert or key or ca_file or ca_text or auth):
        return None, (), ()  # no TLS settings: plain HTTP, as exporter-toolkit
    if not cert:
        raise fail("tls_server_config", "missing cert_file")
    if not key:
        raise fail("tls_server_config", "missing key_file")
    if auth in _UNVERIFIED_CLIENT_AUTH:
        raise fail(
            "tls_server_config.client_auth_type",
            f"{auth} is not supported by prober: it would accept a client certificate "
            "without verifying it; use VerifyClientCertIfGiven or RequireAndVerifyClientCert",
        )
    if auth and auth not in _CLIENT_AUTH:
        raise fail(
            "tls_server_config.client_auth_type",
            f"invalid value {auth!r}: one of {', '.join(_CLIENT_AUTH)}",
        )
    verify = _CLIENT_AUTH.get(auth or "NoClientCert", ssl.CERT_NONE)
    if (ca_file or ca_text) and verify == ssl.CERT_NONE:
        raise fail(
            "tls_server_config",
            "client_ca_file is set but client_auth_type is not: "
            "use RequireAndVerifyClientCert or VerifyClientCertIfGiven",
        )
    if verify != ssl.CERT_NONE and not (ca_file or ca_text):
        raise fail("tls_server_config", f"client_auth_type {auth} needs client_ca_file")
    sans = tls.get("client_allowed_sans")
    if sans is not None:
        if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
            raise fail("tls_server_config.client_allowed_sans", "expected a list of strings")
        if verify != ssl.CERT_REQUIRED:
            raise fail(
                "tls_server_config.client_allowed_sans",
                "needs client_auth_type RequireAndVerifyClientCert",
            )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = _version(tls, "min_version", ssl.TLSVersion.TLSv1_2, fail)
    context.maximum_version = _version(tls, "max_version", ssl.TLSVersion.MAXIMUM_SUPPORTED, fail)
    prefer = tls.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise fail("tls_server_config.prefer_server_cipher_suites", "expected true or false")
    if prefer:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    cert_path, key_path = _file(base, cert, "cert_file", fail), _file(base, key, "key_file", fail)
    files = [cert_path, key_path]
    try:
        # A password of "" makes an encrypted key fail here instead of prompting on a tty.
        context.load_cert_chain(cert_path, key_path, password="")
    except ssl.SSLError as exc:
        raise fail(
            "tls_server_config",
            f"cannot use cert_file and key_file: {exc.reason or 'not a PEM certificate and key'}"
            " (are they PEM, unencrypted, and a matching pair?)",
        ) from None
    if verify != ssl.CERT_NONE:
        context.verify_mode = verify
        try:
            if ca_file:
                files.append(_file(base, ca_file, "client_ca_file", fail))
                context.load_verify_locations(cafile=files[-1])
            else:
                context.load_verify_locations(cadata=ca_text)
        except (ssl.SSLError, ValueError) as exc:
            which = "client_ca_file" if ca_file else "client_ca"
            reason = getattr(exc, "reason", None) or "no PEM certificates found"
            raise fail(
                f"tls_server_config.{which}", f"cannot load CA certificates: {reason}"
            ) from None
    return context, tuple(sans or ()), tuple(files)


def _version(
    tls: Mapping[str, Any], key: str, default: ssl.TLSVersion, fail: Fail
) -> ssl.TLSVersion:
    value = tls.get(key)
    if value is None:
        return default
    if value not in _TLS_VERSIONS:
        raise fail(
            f"tls_server_config.{key}",
            f"unknown TLS version {value!r}: one of {', '.join(_TLS_VERSIONS)}",
        )
    return _TLS_VERSIONS[value]


def _file(base: Path, name: str, key: str, fail: Fail) -> str:
    path = Path(name) if Path(name).is_absolute() else base / name
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise fail(
            f"tls_server_config.{key}", f"cannot read {str(path)!r}: {exc.strerror}"
        ) from None
    return str(path)


class BasicAuth:
    """Checks basic-auth credentials against bcrypt hashes without blocking the loop."""

    def __init__(self, users: Mapping[str, bytes], cache_size: int = 256) -> None:
        self._users = dict(users)
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._cache_size = cache_size
        self._key = os.urandom(32)  # cache keys are HMACs: no password kept in memory
        self._one_at_a_time = asyncio.Semaphore(1)
        rounds = max((int(h[4:6]) for h in self._users.values()), default=10)
        self._decoy_rounds = rounds
        self._decoy: bytes | None = None

    async def check(self, user: str, password: str) -> bool:
        hashed = self._users.get(user)
        known = hashed is not None
        digest = hmac.new(
            self._key, b"\0".join((user.encode(), hashed or b"", password.encode())), hashlib.sha256
        ).digest()
        verdict = self._cache.get(digest)
        if verdict is not None:
            self._cache.move_to_end(digest)
            return verdict
        async with self._one_at_a_time:  # bcrypt is CPU-heavy: never more than one core
            verdict = await asyncio.to_thread(self._verify, hashed, password.encode())
        verdict = verdict and known
        self._cache[digest] = verdict
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return verdict

    def _verify(self, hashed: bytes | None, password: bytes) -> bool:
        if hashed is None:  # an unknown user costs as much as a known one: no user enumeration
            if self._decoy is None:
                self._decoy = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(self._decoy_rounds))
            hashed = self._decoy
        try:
            return bcrypt.checkpw(password, hashed)
        except ValueError:  # e.g. a password longer than bcrypt's 72 bytes
            return False


def parse_basic(header: str) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _peer_sans(request: web.Request) -> set[str]:
    if request.transport is None:
        return set()
    cert = request.transport.get_extra_info("peercert") or {}
    return {str(value) for _, value in cert.get("subjectAltName", ())}


RECHECK_SECONDS = 1.0  # how often the files are looked at (a stat each), at most


def _stamp(config: WebConfig) -> tuple[tuple[int, int], ...]:
    stamps = []
    for name in (str(config.path), *config.files):
        try:
            st = os.stat(name)
        except OSError:
            stamps.append((-1, -1))
        else:
            stamps.append((st.st_mtime_ns, st.st_size))
    return tuple(stamps)


class LiveWebConfig:
    """The web config as it is on disk now, as exporter-toolkit reads it: the file and the
    TLS files it names are looked at (at most once a second) and re-read when they change,
    so a rotated certificate or a changed password applies without a restart. A broken
    new version is logged and the last good one stays. TLS cannot be turned on or off
    without a restart: the listener is HTTPS or HTTP from the start.
    """

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.auth = BasicAuth(config.users) if config.users else None
        self._stamp = _stamp(config)
        self._checked = time.monotonic()

    def current(self) -> WebConfig:
        now = time.monotonic()
        if now - self._checked < RECHECK_SECONDS:
            return self.config
        self._checked = now
        stamp = _stamp(self.config)
        if stamp == self._stamp:
            return self.config
        self._stamp = stamp  # a broken version is reported once, not every second
        try:
            new = load_web_config(self.config.path)
        except WebConfigError as exc:
            log.error("web config not reloaded, the last good one stays: %s", exc)
            return self.config
        if (new.ssl is None) != (self.config.ssl is None):
            log.warning("web config: turning TLS on or off needs a restart; TLS unchanged")
            new = dataclasses.replace(new, ssl=self.config.ssl)
        if new.users != self.config.users:
            self.auth = BasicAuth(new.users) if new.users else None
        self.config = new
        self._stamp = _stamp(new)
        log.info("web config reloaded: %s", new.path)
        return new

    def sni_callback(self, conn: ssl.SSLObject, _name: str | None, ctx: ssl.SSLContext) -> None:
        """Called at each TLS handshake: hand it the current certificate and settings."""
        current = self.current().ssl
        if current is not None and current is not ctx:
            conn.context = current


def install(
    app: web.Application, config: WebConfig, open_paths: Collection[str] = OPEN_PATHS
) -> LiveWebConfig:
    """Add the web config's headers, client SAN check and basic auth to `app`; they follow
    the file as it changes (see LiveWebConfig)."""
    live = LiveWebConfig(config)
    if config.ssl is not None:  # the listener's context: every handshake starts with it
        config.ssl.sni_callback = live.sni_callback

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        current = live.current()
        if current.allowed_sans and not (set(current.allowed_sans) & _peer_sans(request)):
            raise web.HTTPForbidden(text="client certificate not allowed\n")
        auth = live.auth
        if auth is not None and request.path not in open_paths:
            credentials = parse_basic(request.headers.get("Authorization", ""))
            if credentials is None or not await auth.check(*credentials):
                raise web.HTTPUnauthorized(
                    text="Unauthorized\n", headers={"WWW-Authenticate": REALM}
                )
        return await handler(request)

    async def add_headers(_: web.Request, response: web.StreamResponse) -> None:
        for key, value in live.config.headers.items():
            response.headers[key] = value

    app.middlewares.append(guard)
    app.on_response_prepare.append(add_headers)
    return live
