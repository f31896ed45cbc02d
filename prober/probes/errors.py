"""Map what went wrong in a request to one bounded outcome and a one-line reason."""

from __future__ import annotations

import errno
import socket
import ssl

import aiohttp

from ..conventions import Outcome
from ..redact import safe_url


def classify(exc: BaseException) -> tuple[Outcome, str]:
    """The outcome a failed request earns. Order matters: aiohttp's classes nest."""
    if isinstance(exc, TimeoutError):  # includes aiohttp's Server/ConnectionTimeoutError
        return Outcome.TIMEOUT, "timed out"
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or _caused_by(exc, socket.gaierror):
        return Outcome.DNS_ERROR, f"DNS resolution failed: {_os_reason(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return Outcome.TLS_ERROR, f"certificate verification failed: {_ssl_reason(exc)}"
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)) or _caused_by(exc, ssl.SSLError):
        return Outcome.TLS_ERROR, f"TLS handshake failed: {_ssl_reason(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if (
            isinstance(exc.os_error, ConnectionRefusedError)
            or exc.os_error.errno == errno.ECONNREFUSED
        ):
            return Outcome.CONNECT_REFUSED, "connection refused"
        return Outcome.CONNECT_ERROR, f"connect failed: {_os_reason(exc)}"
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return Outcome.PROTOCOL_ERROR, f"connection closed mid-response: {type(exc).__name__}"
    if isinstance(exc, aiohttp.ClientResponseError):  # unparsable status line or headers
        return Outcome.PROTOCOL_ERROR, f"invalid HTTP response: {exc.message}"
    if isinstance(exc, (aiohttp.ClientOSError, ConnectionError, OSError)):
        return Outcome.CONNECT_ERROR, f"socket error: {_os_reason(exc)}"
    if isinstance(exc, aiohttp.InvalidURL):  # its text is the whole URL, secrets and all
        return Outcome.PROTOCOL_ERROR, f"{type(exc).__name__}: {safe_url(str(exc.url))}"
    if isinstance(exc, aiohttp.NonHttpUrlClientError):  # likewise (its only argument)
        return Outcome.PROTOCOL_ERROR, f"{type(exc).__name__}: {safe_url(str(exc))}"
    if isinstance(exc, aiohttp.ClientError):
        return Outcome.PROTOCOL_ERROR, f"{type(exc).__name__}: {exc}"
    return Outcome.INTERNAL, f"{type(exc).__name__}: {exc}"


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:
        if isinstance(cur, kind) or isinstance(getattr(cur, "os_error", None), kind):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


def _os_reason(exc: BaseException) -> str:
    err = getattr(exc, "os_error", exc)
    if isinstance(err, OSError) and err.strerror:
        return str(err.strerror)
    return str(err) or type(err).__name__


def _ssl_reason(exc: BaseException) -> str:
    cert_error = getattr(exc, "certificate_error", None)
    if isinstance(cert_error, ssl.SSLCertVerificationError):
        return str(cert_error.verify_message or cert_error.reason)
    err = getattr(exc, "os_error", exc)
    if isinstance(err, ssl.SSLError) and err.reason:
        return str(err.reason)
    return str(err) or type(err).__name__
