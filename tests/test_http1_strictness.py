"""The strictness corpus (tests/http1_corpus.py) against the builtin client in use.

Each reply is written by a raw asyncio server on 127.0.0.1, whole and in 7-byte pieces.
RFC-required rejections must end in an error with one short line; RFC-valid messages must
parse to the exact body; the cases the RFCs leave open are pinned to what this client
does (llhttp, issue 20), so a change of behaviour is seen, and bench/README.md's table
stays true.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from yarl import URL

from prober.conventions import Outcome
from prober.probes import http1
from prober.probes.http1 import Exchange, Prepared

from .http1_corpus import CORPUS, MAX_HEAD, Case
from .test_http1 import Recorder, StaticResolver

pytestmark = pytest.mark.both_loops
RawServer = Callable[..., Awaitable[str]]

# What the client does where the RFCs allow either (bench/README.md, "Parser A/B")
EITHER_ACCEPTED = frozenset(
    {
        "status 999",
        "malformed chunk extension",
        "space after the chunk size",
        "a chunk extension over 8 KiB",
        "chunked twice",
    }
)


def _cases(verdict: str) -> list[Case]:
    return [c for c in CORPUS if c.verdict == verdict]


async def _fetch(raw_server: RawServer, case: Case, piece: int) -> Exchange:
    url = URL(await raw_server(Recorder(case.reply, piece)))
    prepared = Prepared(url / "x", case.method, {}, None)
    return await http1.send(prepared, {}, resolver=StaticResolver(), limit=3.0, max_body=64 * 1024)


def _pieces(case: Case) -> list[int]:
    return [65536, 7] if len(case.reply) < 2048 else [65536]


def _assert_refused(ex: Exchange) -> None:
    assert ex.outcome in (Outcome.PROTOCOL_ERROR, Outcome.BODY_TOO_LARGE), ex
    assert ex.body == b""
    assert ex.error
    assert len(ex.error) < 120
    assert "\n" not in ex.error
    assert "Error(" not in ex.error, "no exception repr"


def _assert_clean_headers(ex: Exchange) -> None:
    for name, value in (ex.headers or {}).items():
        assert not any(ch in value for ch in "\r\n\0"), f"{name}: {value!r}"


@pytest.mark.parametrize(
    ("case", "piece"),
    [(c, p) for c in _cases("reject") for p in _pieces(c)],
    ids=[f"{c.name} / {p}" for c in _cases("reject") for p in _pieces(c)],
)
async def test_an_invalid_response_is_refused_with_one_short_line(
    raw_server: RawServer, case: Case, piece: int
) -> None:
    _assert_refused(await _fetch(raw_server, case, piece))


@pytest.mark.parametrize(
    ("case", "piece"),
    [(c, p) for c in _cases("accept") for p in _pieces(c)],
    ids=[f"{c.name} / {p}" for c in _cases("accept") for p in _pieces(c)],
)
async def test_a_valid_response_parses_to_its_exact_body(
    raw_server: RawServer, case: Case, piece: int
) -> None:
    ex = await _fetch(raw_server, case, piece)
    assert ex.outcome is None, ex.error
    assert ex.body == case.body
    assert ex.code is not None
    _assert_clean_headers(ex)


@pytest.mark.parametrize("case", _cases("either"), ids=[c.name for c in _cases("either")])
async def test_where_the_rfcs_allow_either_the_client_does_what_the_bench_table_says(
    raw_server: RawServer, case: Case
) -> None:
    ex = await _fetch(raw_server, case, 65536)
    if case.name in EITHER_ACCEPTED:
        assert ex.outcome is None, ex.error
        assert ex.body == case.body
        _assert_clean_headers(ex)
    else:
        _assert_refused(ex)


async def test_a_long_head_in_one_read_is_capped_like_one_in_pieces(
    raw_server: RawServer,
) -> None:
    """The head cap is counted on the bytes fed, whatever the reads: a head just past it
    arriving whole is refused, and one just under it with a body in the same read parses."""
    pad = b"HTTP/1.1 200 OK\r\nX-Pad: "
    over = pad + b"a" * (MAX_HEAD - len(pad)) + b"\r\nContent-Length: 2\r\n\r\nok"
    under = pad + b"a" * (MAX_HEAD - len(pad) - 64) + b"\r\nContent-Length: 2\r\n\r\nok"
    ex = await _fetch(raw_server, Case("over", over, "reject", ""), 1 << 20)
    assert ex.error.endswith(f"response head over {MAX_HEAD // 1024} KiB")
    ex = await _fetch(raw_server, Case("under", under, "accept", ""), 1 << 20)
    assert (ex.outcome, ex.body) == (None, b"ok")


def test_the_corpus_cap_is_the_clients() -> None:
    assert MAX_HEAD == http1.MAX_HEAD
    names = [c.name for c in CORPUS]
    assert len(names) == len(set(names))
    assert {c.name for c in _cases("either")} >= EITHER_ACCEPTED


async def test_the_parser_is_released_with_the_exchange(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser holds the protocol's bound methods; release() breaks that cycle."""
    made: list[http1._Response] = []

    class Kept(http1._Response):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

    monkeypatch.setattr(http1, "_Response", Kept)
    await _fetch(raw_server, CORPUS[0], 65536)
    assert made[0].parser is http1._RELEASED
