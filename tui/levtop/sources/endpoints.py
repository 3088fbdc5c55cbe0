"""Where each source lives, and how to point it elsewhere (a proxy, a testnet, the simulator).

Every base URL levtop talks to is the venue's real one with only its scheme, host and port
swapped: the paths stay the venue's own, so one server that serves the real paths (the
simulator) can stand in for every venue at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

WS_SCHEMES = frozenset({"ws", "wss"})

# The real origins (scheme://host[:port]) of every source, REST and websocket, as ccxt 4.5.90 and
# the HTTP sources use them. Paths are not part of an origin: they never change.
REAL_ORIGINS: dict[str, dict[str, tuple[str, ...]]] = {
    "binance": {
        "rest": ("https://fapi.binance.com", "https://api.binance.com"),
        "ws": ("wss://fstream.binance.com", "wss://stream.binance.com:9443"),
    },
    "bybit": {"rest": ("https://api.bybit.com",), "ws": ("wss://stream.bybit.com",)},
    "okx": {"rest": ("https://www.okx.com",), "ws": ("wss://ws.okx.com:443",)},
    "fear_greed": {"rest": ("https://api.alternative.me",), "ws": ()},
    "stablecoins": {"rest": ("https://stablecoins.llama.fi",), "ws": ()},
}

# The real URLs of the HTTP (non-ccxt) sources, with their paths.
FEAR_GREED_URL = "https://api.alternative.me/fng/"
STABLECOINS_URL = "https://stablecoins.llama.fi/stablecoincharts/all"


def real_base_urls() -> dict[str, dict[str, tuple[str, ...]]]:
    """The real origins per source (``binance``, ``bybit``, ``okx``, ``fear_greed``,
    ``stablecoins``), split into ``rest`` and ``ws``. A copy: callers may change it."""
    return {venue: dict(kinds) for venue, kinds in REAL_ORIGINS.items()}


def _parse_base(base: str, what: str) -> tuple[str, str]:
    parts = urlsplit(base)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"{what} must be scheme://host[:port], got {base!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{what} must carry no path, query or fragment (only scheme, host and port are swapped), got {base!r}")
    return parts.scheme, parts.netloc


def point_url(url: str, rest_base: str, ws_base: str) -> str:
    """``url`` with its scheme, host and port taken from ``ws_base`` when it is a websocket URL
    (ws/wss) and from ``rest_base`` otherwise; path, query and fragment kept.

    Templates such as ccxt's ``https://api.{hostname}/...`` work too: the whole host is replaced,
    placeholder included."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    if parts.scheme.lower() in WS_SCHEMES:
        scheme, netloc = _parse_base(ws_base, "ws_base")
    else:
        scheme, netloc = _parse_base(rest_base, "rest_base")
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def _point_tree(node: Any, rest_base: str, ws_base: str) -> Any:
    if isinstance(node, str):
        return point_url(node, rest_base, ws_base) if "://" in node else node
    if isinstance(node, dict):
        return {key: _point_tree(value, rest_base, ws_base) for key, value in node.items()}
    if isinstance(node, list):
        return [_point_tree(value, rest_base, ws_base) for value in node]
    if isinstance(node, tuple):
        return tuple(_point_tree(value, rest_base, ws_base) for value in node)
    return node


def point_exchange(exchange: Any, rest_base: str, ws_base: str) -> None:
    """Rewrite every URL in a ccxt exchange's ``urls['api']`` (REST and websocket, at any depth)
    so that only scheme, host and port change.

    Call it before the first request: ccxt builds every request URL from ``urls['api']``. ccxt.pro
    websocket clients are cached per URL, so pointing an exchange that has open streams leaves
    those streams where they were."""
    _parse_base(rest_base, "rest_base")
    _parse_base(ws_base, "ws_base")
    urls = getattr(exchange, "urls", None)
    if not isinstance(urls, dict) or "api" not in urls:
        raise ValueError(f"{type(exchange).__name__} has no urls['api'] to point")
    urls["api"] = _point_tree(urls["api"], rest_base, ws_base)


def api_origins(exchange: Any) -> set[str]:
    """The distinct ``scheme://host[:port]`` of every URL in a ccxt exchange's ``urls['api']``,
    ``{hostname}`` templates resolved with the exchange's ``hostname``."""
    origins: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str) and "://" in node:
            hostname = getattr(exchange, "hostname", None) or ""
            parts = urlsplit(node.replace("{hostname}", hostname))
            origins.add(f"{parts.scheme}://{parts.netloc}")
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(getattr(exchange, "urls", {}).get("api", {}))
    return origins
