"""Keeping secrets out of every string prober writes: logs, errors, results, spans."""

from __future__ import annotations

from collections.abc import Iterable

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


def one_line(text: str, limit: int = MAX_ERROR) -> str:
    """An error fit for a log line, a results line and a span status: one line, bounded.

    Call it on redacted text only: cutting first could leave half a secret unrecognised.
    """
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def safe_url(url: str | URL, secret_params: Iterable[str] = (), keep_query: bool = False) -> str:
    """A URL fit to show: no userinfo; query values of secret parameters replaced.

    With keep_query False (logs, results) the query is dropped entirely; with it
    True (span `url.full`), keys stay and only secret values are replaced.
    """
    parsed = url if isinstance(url, URL) else URL(url)
    parsed = parsed.with_user(None).with_fragment(None)
    if not keep_query or not parsed.query:
        return str(parsed.with_query(None))
    secret = {p.lower() for p in secret_params}
    query = [(k, REDACTED if k.lower() in secret else v) for k, v in parsed.query.items()]
    return str(parsed.with_query(query))
