"""Scenario regexes under RE2: `{{var}}` values match literally; a huge value fails the step."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from prober.config import Config
from prober.conventions import Outcome
from prober.model import ProbeResult, RunContext
from prober.probes.scenario import ScenarioProbe
from prober.probes.session import SessionPool

from .conftest import ServerFactory, make_config, routes


@pytest.fixture
async def sessions() -> AsyncIterator[SessionPool]:
    pool = SessionPool()
    yield pool
    await pool.close()


async def _run(config: Config, sessions: SessionPool) -> ProbeResult:
    probe = ScenarioProbe(config.probes[0], config, sessions)  # type: ignore[arg-type]
    now = time.monotonic()
    return await probe.run(RunContext("r1", now, now, time.time()))


def _chain(base: str, expect: dict[str, object]) -> Config:
    return make_config(
        [
            {
                "name": "chain",
                "kind": "scenario",
                "steps": [
                    {
                        "name": "get",
                        "url": f"{base}/value",
                        "capture": {"v": {"json": "v"}},
                        "expect": {"max_body_bytes": "8MiB"},
                    },
                    {"name": "echo", "url": f"{base}/echo", "expect": expect},
                ],
            }
        ]
    )


@pytest.mark.parametrize(
    ("value", "echo", "outcome"),
    [
        ("a.b*(c)", "id=a.b*(c);", Outcome.SUCCESS),
        ("a.b*(c)", "id=aXbbb(c);", Outcome.CONSISTENCY),
    ],
    ids=["the value itself", "what the value would match as a pattern"],
)
async def test_a_captured_value_in_a_body_regex_matches_only_literally(
    http_server: ServerFactory, sessions: SessionPool, value: str, echo: str, outcome: Outcome
) -> None:
    async def get_value(_: web.Request) -> web.Response:
        return web.json_response({"v": value})

    async def get_echo(_: web.Request) -> web.Response:
        return web.Response(text=echo)

    base = await http_server(routes(value=get_value, echo=get_echo))
    result = await _run(_chain(base, {"body_regex": "id={{v}};"}), sessions)
    assert result.outcome is outcome, result.error


async def test_a_captured_value_too_large_for_re2_fails_the_step_without_showing_it(
    http_server: ServerFactory, sessions: SessionPool
) -> None:
    huge = "SECRETISH" * 300_000

    async def get_value(_: web.Request) -> web.Response:
        return web.json_response({"v": huge})

    async def get_echo(_: web.Request) -> web.Response:
        return web.Response(text="short")

    base = await http_server(routes(value=get_value, echo=get_echo))
    config = _chain(base, {"body_regex": "{{v}}"})
    result = await _run(config, sessions)
    assert result.step == "echo"
    assert result.outcome in (Outcome.ASSERTION_FAILED, Outcome.CONSISTENCY)
    assert "too large to compile" in result.error
    assert "SECRETISH" not in result.error
