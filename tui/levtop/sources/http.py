"""A shared aiohttp session for the non-exchange sources, and JSON fetching with clear errors."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from levtop import __version__
from levtop.sources.errors import FetchError, MalformedPayload, retry_after_seconds

USER_AGENT = f"levtop/{__version__}"


def new_session(timeout_s: float = 20.0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


async def get_json(session: aiohttp.ClientSession, url: str, params: dict[str, str] | None = None) -> Any:
    async with session.get(url, params=params) as response:
        body = await response.read()
        if response.status in (418, 429):
            wait = retry_after_seconds(response.headers)
            after = f", Retry-After {wait:g}s" if wait is not None else ""
            raise FetchError(f"rate limited (HTTP {response.status}{after})", ban_s=wait if wait is not None else 60.0)
        if response.status >= 400:
            raise FetchError(f"HTTP {response.status} {response.reason or ''}".strip())
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"malformed JSON ({len(body)} bytes): {exc}") from None
