"""Keeping secrets out of every string prober writes: logs, errors, results, spans."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from yarl import URL

REDACTED = "REDACTED"


class Redactor:
    """Replaces known secret values (header values, tokens, userinfo) in free text.

    Secrets are learned at config load; every error message that leaves a probe
    run passes through here, since exception texts can echo URLs and headers.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._ordered: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets.add(secret)
            # Longest first, so a secret containing another is replaced whole.
            self._ordered = sorted(self._secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __len__(self) -> int:
        return len(self._secrets)


MAX_ERROR = 300
_BARE_USERINFO = re.compile(r"^[^/?#@]*@")


def one_line(text: str, limit: int = MAX_ERROR) -> str:
    """An error fit for a log line, a results line and a span status: one line, bounded.

    Call it on redacted text only: cutting first could leave half a secret unrecognised.
    """
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def safe_url(url: str | URL, secret_params: Iterable[str] = (), keep_query: bool = False) -> str:
    """A URL fit to show anywhere (logs, errors, results, span attributes, reports).

    No userinfo, no fragment; with keep_query False the query is dropped entirely, with
    it True (span `url.full`) keys stay and values of secret parameters are replaced.
    The rest is kept as written: a scenario template (`{{var}}`) still reads as one.
    Every place prober renders a URL goes through here.
    """
    text = str(url)
    try:
        parts = urlsplit(text)
        if not parts.netloc and "@" in text:  # no `//` (`user:pw@host/x`): drop up to the `@`
            parts = urlsplit(_BARE_USERINFO.sub("", text, count=1))
    except ValueError:  # not a URL at all (`http://[::g`): keep what is surely not secret
        scheme, sep, rest = text.partition("://")
        rest = rest.split("?", 1)[0].split("#", 1)[0]
        return f"{scheme}{sep}{_BARE_USERINFO.sub('', rest, count=1)}" if sep else "<not a URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = ""
    if keep_query and parts.query:
        secret = {p.lower() for p in secret_params}
        query = "&".join(
            f"{key}={REDACTED}" if sep and unquote_plus(key).lower() in secret else f"{key}{sep}{v}"
            for key, sep, v in (item.partition("=") for item in parts.query.split("&"))
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_secrets(url: str | URL, secret_params: Iterable[str] = ()) -> list[str]:
    """The secret parts of a URL, as written and decoded: userinfo and the values of
    secret query parameters. Templates (`{{var}}`) and values under 4 characters are
    left out: the first are not values yet, the second would garble every message."""
    parts = urlsplit(str(url))
    userinfo = parts.netloc.rpartition("@")[0]
    found = [*userinfo.split(":", 1)] if userinfo else []
    secret = {p.lower() for p in secret_params}
    for item in parts.query.split("&") if parts.query else ():
        key, sep, value = item.partition("=")
        if sep and unquote_plus(key).lower() in secret:
            found.append(value)
    out: list[str] = []
    for value in found:
        for form in (value, unquote_plus(value)):
            if len(form) >= 4 and "{{" not in form and form not in out:
                out.append(form)
    return out


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with each of `secrets` (longest first) replaced: for the few values known
    only to one probe or one run, such as a rendered URL's secret query values."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text
