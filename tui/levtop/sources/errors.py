"""What can go wrong when fetching, in words a trader can read on a status bar."""

from __future__ import annotations

import asyncio
import json
import socket
import sys


class FetchError(Exception):
    """A failed fetch: a one-line ``message`` and, for bans, how long to stay away."""

    def __init__(self, message: str, ban_s: float | None = None):
        super().__init__(message)
        self.message = message
        self.ban_s = ban_s


class MalformedPayload(FetchError):
    """The venue answered, but not with what its API documents; nothing is stored."""


class NotListed(Exception):
    """The venue does not offer this asset or endpoint: N/A, not an error to retry."""


def retry_after_seconds(headers: object) -> float | None:
    """The Retry-After header in seconds, if present and numeric."""
    if not headers:
        return None
    try:
        items = headers.items()  # type: ignore[attr-defined]
    except AttributeError:
        return None
    for key, value in items:
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _short(text: str, limit: int = 140) -> str:
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def connection_reason(exc: BaseException) -> str | None:
    """What went wrong at the network level, read from the exception chain ccxt wraps."""
    aiohttp = sys.modules.get("aiohttp")
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 8:
        seen += 1
        if isinstance(cause, socket.gaierror):
            return "cannot resolve the host name"
        if aiohttp is not None:
            dns_error = getattr(aiohttp, "ClientConnectorDNSError", None)
            if dns_error is not None and isinstance(cause, dns_error):
                return f"cannot resolve {cause.host}"
            if isinstance(cause, aiohttp.ClientConnectorError):
                where = f"{cause.host}:{cause.port}"
                os_error = cause.os_error
                if isinstance(os_error, ConnectionRefusedError) or "Connect call failed" in str(os_error):
                    return f"connection refused by {where}"
                if isinstance(os_error, socket.gaierror):
                    return f"cannot resolve {cause.host}"
                return f"cannot connect to {where} ({getattr(os_error, 'strerror', None) or os_error})"
            if isinstance(cause, aiohttp.ServerDisconnectedError):
                return "the server closed the connection"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        cause = cause.__cause__ or cause.__context__
    return None


def classify(exc: BaseException, headers: object = None) -> FetchError:
    """Turn any exception from a fetch into a FetchError with a readable message."""
    if isinstance(exc, FetchError):
        return exc
    ccxt = sys.modules.get("ccxt")
    if ccxt is not None:
        if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
            wait = retry_after_seconds(headers)
            code = "418/429" if isinstance(exc, ccxt.DDoSProtection) else "429"
            after = f", Retry-After {wait:g}s" if wait is not None else ""
            return FetchError(f"rate limited (HTTP {code}{after})", ban_s=wait if wait is not None else 60.0)
        if isinstance(exc, ccxt.RequestTimeout):
            return FetchError("timed out")
        if isinstance(exc, ccxt.NetworkError):
            reason = connection_reason(exc)
            if reason:
                return FetchError(reason)
            what = "exchange unavailable" if isinstance(exc, ccxt.ExchangeNotAvailable) else "network error"
            return FetchError(f"{what}: {_short(exc, 100)}")
        if isinstance(exc, ccxt.BadResponse):
            return MalformedPayload(f"malformed response: {_short(exc, 100)}")
        if isinstance(exc, ccxt.BadSymbol):
            return FetchError(f"unknown symbol: {_short(exc, 100)}")
        if isinstance(exc, ccxt.BaseError):
            return FetchError(f"{type(exc).__name__}: {_short(exc, 100)}")
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None:
        if isinstance(exc, aiohttp.ClientResponseError):
            if exc.status in (418, 429):
                wait = retry_after_seconds(exc.headers)
                after = f", Retry-After {wait:g}s" if wait is not None else ""
                return FetchError(f"rate limited (HTTP {exc.status}{after})", ban_s=wait if wait is not None else 60.0)
            return FetchError(f"HTTP {exc.status} {exc.message}".strip())
        if isinstance(exc, aiohttp.ClientConnectionError):
            return FetchError(connection_reason(exc) or f"connection failed: {_short(exc, 100)}")
        if isinstance(exc, aiohttp.ClientPayloadError):
            return MalformedPayload(f"truncated response: {_short(exc, 100)}")
        if isinstance(exc, aiohttp.ClientError):
            return FetchError(f"network error: {_short(exc, 100)}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return FetchError("timed out")
    if isinstance(exc, json.JSONDecodeError):
        return MalformedPayload(f"malformed JSON: {_short(exc, 100)}")
    if isinstance(exc, (KeyError, TypeError, ValueError, IndexError, AttributeError)):
        return MalformedPayload(f"unexpected payload ({type(exc).__name__}: {_short(exc, 80)})")
    if isinstance(exc, OSError):
        return FetchError(connection_reason(exc) or f"connection failed: {_short(exc, 100)}")
    return FetchError(f"{type(exc).__name__}: {_short(exc, 100)}")
