"""aioresponses 0.7.9 on aiohttp 3.14: a small test-side shim.

aiohttp 3.14 (which carries a security fix we want) added a required keyword
`stream_writer` to ClientResponse.__init__; aioresponses builds responses without
it and fails with "missing 1 required keyword-only argument: 'stream_writer'"
(aioresponses issue 289). Rather than pinning aiohttp back, mocked responses are
built from a subclass that supplies a writer whose upload is already finished.

Note: aioresponses replaces ClientSession._request, so aiohttp's trace hooks
never fire under it: phase timings are tested against real servers only.
"""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse
from aioresponses import aioresponses
from yarl import URL


class _UploadDone:
    output_size = 0


class CompatClientResponse(ClientResponse):
    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _UploadDone())
        super().__init__(method, url, **kwargs)


class compat_aioresponses(aioresponses):
    """aioresponses whose mocked responses construct on aiohttp 3.14."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", CompatClientResponse)
        super().add(*args, **kwargs)
