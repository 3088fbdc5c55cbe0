"""Settings: defaults, the TOML file in the platformdirs config dir, validation.

The file lives at ``platformdirs.user_config_path("levtop") / "config.toml"`` unless the
environment variable ``LEVTOP_CONFIG`` names another. A missing file means defaults. Any
invalid content raises ``ConfigError`` with one line naming the file, the key (or line) and what
was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import re
import shlex
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import platformdirs

from levtop.errors import UserError
from levtop.model import VENUES, is_valid_asset
from levtop.redact import looks_secret, redact
from levtop.thresholds import DEFAULT_MIN_DURATION_MS, SIGNAL_NAMES as ALERT_SIGNALS, Thresholds

log = logging.getLogger(__name__)

CONFIG_ENV = "LEVTOP_CONFIG"
DATA_ENV = "LEVTOP_DATA_DIR"


class ConfigError(UserError):
    """The config file is not valid; the message is one line.

    Messages quote the offending value, which may be a URL with a token: it is masked, because
    the line goes to stderr, notifications and the log."""

    def __init__(self, message: str):
        super().__init__(redact(message))


# Each source keeps its real paths under a base URL, so a proxy, a testnet or `levtop sim`
# can stand in by changing only scheme, host and port.
DEFAULT_SOURCES: dict[str, dict[str, str]] = {
    "binance": {
        "rest": "https://fapi.binance.com",
        "ws": "wss://fstream.binance.com",
        "spot": "https://api.binance.com",
    },
    "bybit": {"rest": "https://api.bybit.com", "ws": "wss://stream.bybit.com"},
    "okx": {"rest": "https://www.okx.com", "ws": "wss://ws.okx.com:8443"},
    "fear_greed": {"url": "https://api.alternative.me"},
    "stablecoins": {"url": "https://stablecoins.llama.fi"},
}
WS_KEYS = {"ws"}

DEFAULT_POLL_S: dict[str, float] = {
    # Batch funding + mark price (Binance premiumIndex, Bybit tickers, OKX funding-rate).
    "tickers": 60.0,
    # Current open interest (per symbol on Binance, batch elsewhere).
    "open_interest": 60.0,
    # OI and long/short history: the venues publish 5-minute points.
    "history": 300.0,
    # Funding settles every 8h (4h or 1h on some symbols).
    "funding_history": 3600.0,
    # Hourly perp and spot candles (the volume panel): one new bar an hour, so one poll an hour;
    # each poll re-reads the bar in progress, so a closed hour is final within an hour.
    "candles": 3600.0,
    # Both are daily series.
    "fear_greed": 3600.0,
    "stablecoins": 3600.0,
}


@dataclass(frozen=True)
class StoreSettings:
    retention_days: float = 90.0
    flush_interval_s: float = 60.0
    dir: Path | None = None


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]``: which changes alert (after holding ``min_duration_ms`` of data time) and
    where they go. The bell and the notification are the TUI's; ``desktop``, ``webhooks`` and
    ``command`` are delivered by the TUI and by ``levtop watch --alerts``."""

    min_duration_ms: int = DEFAULT_MIN_DURATION_MS
    phases: bool = True
    signals: tuple[str, ...] = ()
    bell: bool = True
    notification: bool = True
    desktop: bool = False
    webhooks: tuple[str, ...] = ()
    command: tuple[str, ...] = ()

    @property
    def external(self) -> bool:
        """Whether anything is delivered outside the TUI."""
        return self.desktop or bool(self.webhooks) or bool(self.command)

    def to_toml_dict(self) -> dict[str, Any]:
        from levtop.timeparse import format_duration

        return {
            "min_duration": format_duration(self.min_duration_ms) if self.min_duration_ms else "0s",
            "phases": self.phases,
            "signals": list(self.signals),
            "bell": self.bell,
            "notification": self.notification,
            "desktop": self.desktop,
            "webhooks": list(self.webhooks),
            "command": list(self.command),
        }


@dataclass(frozen=True)
class Config:
    path: Path
    assets: tuple[str, ...] = ("BTC", "ETH", "SOL")
    venues: tuple[str, ...] = VENUES
    theme: str = "levtop-dark"
    poll_s: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_POLL_S))
    store: StoreSettings = StoreSettings()
    thresholds: Thresholds = Thresholds()
    alerts: AlertSettings = AlertSettings()
    sources: dict[str, dict[str, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_SOURCES.items()}
    )
    exists: bool = False
    # Problems that do not stop levtop (a secret in a file others can read): the CLI prints them,
    # the app shows them as notifications.
    warnings: tuple[str, ...] = ()

    @property
    def data_dir(self) -> Path:
        env = os.environ.get(DATA_ENV)
        if env:
            return Path(env)
        if self.store.dir is not None:
            return self.store.dir
        return platformdirs.user_data_path("levtop")

    def to_toml_dict(self) -> dict[str, Any]:
        thresholds = {
            f.name: getattr(self.thresholds, f.name)
            for f in dataclasses.fields(Thresholds)
            if f.name != "oi_ceiling_usd"
        }
        store: dict[str, Any] = {
            "retention_days": self.store.retention_days,
            "flush_interval_s": self.store.flush_interval_s,
        }
        if self.store.dir is not None:
            store["dir"] = str(self.store.dir)
        return {
            "assets": list(self.assets),
            "venues": list(self.venues),
            "theme": self.theme,
            "poll": dict(self.poll_s),
            "store": store,
            "thresholds": thresholds,
            "oi_ceiling_usd": dict(self.thresholds.oi_ceiling_usd),
            "sources": {k: dict(v) for k, v in self.sources.items()},
            "alerts": self.alerts.to_toml_dict(),
        }


def config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return platformdirs.user_config_path("levtop") / "config.toml"


# ---------------------------------------------------------------------------------------------
# Validation


class _Checker:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"config error in {self.path}: {key}: {message}")

    def table(self, key: str, value: Any) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {_describe(value)}")
        return value

    def known_keys(self, prefix: str, table: dict, known: list[str]) -> None:
        for key in table:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else f"; known keys: {', '.join(known)}"
                raise self.fail(f"{prefix}{key}", f"unknown key{suggestion}")

    def number(self, key: str, value: Any, low: float | None = None, high: float | None = None,
               low_open: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"expected a number, got {_describe(value)}")
        if not math.isfinite(value):
            raise self.fail(key, f"expected a finite number, got {value}")
        if low is not None and (value < low or (low_open and value == low)):
            bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
            raise self.fail(key, f"expected a number {bound}, got {value:g}")
        if high is not None and value > high:
            raise self.fail(key, f"expected a number at most {high:g}, got {value:g}")
        return float(value)

    def string(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {_describe(value)}")
        return value

    def string_list(self, key: str, value: Any, item: Callable[[str, str], str]) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of strings, got {_describe(value)}")
        out: list[str] = []
        for i, element in enumerate(value):
            text = item(f"{key}[{i}]", self.string(f"{key}[{i}]", element))
            if text in out:
                raise self.fail(key, f"'{text}' is listed twice")
            out.append(text)
        if not out:
            raise self.fail(key, "expected at least one entry, got an empty list")
        return tuple(out)

    def boolean(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_describe(value)}")
        return value

    def asset(self, key: str, value: str) -> str:
        if value == "*" or not is_valid_asset(value):
            raise self.fail(key, f"expected an asset symbol in upper case like 'BTC', got '{value}'")
        return value

    def venue(self, key: str, value: str) -> str:
        if value not in VENUES:
            raise self.fail(key, f"unknown venue '{value}'; expected one of {', '.join(VENUES)}")
        return value

    def base_url(self, key: str, value: Any, websocket: bool) -> str:
        text = self.string(key, value)
        schemes = ("ws", "wss") if websocket else ("http", "https")
        parts = urlsplit(text)
        example = "wss://host[:port]" if websocket else "https://host[:port]"
        try:
            port_ok = parts.port is None or 0 < parts.port < 65536
        except ValueError:
            port_ok = False
        if (
            parts.scheme not in schemes
            or not parts.hostname
            or not port_ok
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username
        ):
            raise self.fail(key, f"expected a base URL like {example} (no path), got '{text}'")
        return text.rstrip("/")


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)
    shown = repr(value) if not isinstance(value, (list, dict)) else ""
    return f"{kind} {shown}".strip() if len(shown) < 40 else kind


_THRESHOLD_RULES: dict[str, tuple[float | None, float | None, bool]] = {
    # name: (low, high, low is exclusive)
    "funding_neutral_low": (-0.01, 0.01, False),
    "funding_neutral_high": (-0.01, 0.01, False),
    "funding_overheated": (-0.01, 0.01, False),
    "stablecoin_inflow_7d": (-1.0, 1.0, False),
    "stablecoin_outflow_7d": (-1.0, 1.0, False),
    "sentiment_fear_max": (0.0, 100.0, False),
    "sentiment_greed_above": (0.0, 100.0, False),
    "flush_oi_drop_24h": (0.0, 1.0, True),
    "flush_oi_drop_72h": (0.0, 1.0, True),
    "oi_ceiling_peak_fraction": (0.0, 10.0, True),
    "phase_purifying_from_days": (0.0, None, False),
    # The liquidation baselines take whole hourly and daily buckets: under a day there is no
    # daily bucket for the flush scan, and a few minutes leave no hourly one.
    "liquidations_baseline_days": (1.0, None, False),
}

_ORDERINGS: list[tuple[str, str]] = [
    ("funding_neutral_low", "funding_neutral_high"),
    ("funding_neutral_high", "funding_overheated"),
    ("oi_rebuild_good_24h", "oi_rebuild_warn_24h"),
    ("oi_rebuild_good_72h", "oi_rebuild_warn_72h"),
    ("stablecoin_outflow_7d", "stablecoin_inflow_7d"),
    ("sentiment_fear_max", "sentiment_greed_above"),
    ("long_short_extreme_low", "long_short_balanced_low"),
    ("long_short_balanced_low", "long_short_balanced_high"),
    ("long_short_balanced_high", "long_short_extreme_high"),
    ("liquidations_elevated", "liquidations_cascade"),
    ("phase_purifying_from_days", "phase_purifying_to_days"),
]


_ALERT_KEYS = ["min_duration", "phases", "signals", "bell", "notification", "desktop", "webhooks", "command"]


def _alerts(check: _Checker, table: dict) -> AlertSettings:
    from levtop.timeparse import parse_duration

    check.known_keys("alerts.", table, _ALERT_KEYS)
    base = AlertSettings()
    min_duration = base.min_duration_ms
    if "min_duration" in table:
        raw = table["min_duration"]
        if not isinstance(raw, str):
            raise check.fail("alerts.min_duration",
                             f"expected a duration like \"15m\", \"1h\" or \"0s\", got {_describe(raw)}")
        text = raw.strip()
        if re.fullmatch(r"0\s*[smhdw]?", text):
            min_duration = 0
        else:
            try:
                min_duration = parse_duration(text)
            except UserError:
                raise check.fail("alerts.min_duration",
                                 f"expected a duration like \"15m\", \"1h\" or \"0s\", got '{text}'") from None

    def items(key: str, item: Callable[[str, str], str]) -> tuple[str, ...]:
        # Like string_list, but an empty list is fine: nothing of that kind.
        value = table.get(key, [])
        if value == []:
            return ()
        return check.string_list(f"alerts.{key}", value, item)

    def signal(key: str, value: str) -> str:
        if value not in ALERT_SIGNALS:
            hint = difflib.get_close_matches(value, ALERT_SIGNALS, n=1)
            suggestion = f"did you mean '{hint[0]}'?" if hint else f"expected one of {', '.join(ALERT_SIGNALS)}"
            raise check.fail(key, f"unknown signal '{value}'; {suggestion}")
        return value

    def webhooks() -> tuple[str, ...]:
        # A webhook URL is a secret: errors name its index and what is wrong, never the URL.
        raw = table.get("webhooks", [])
        if not isinstance(raw, list):
            shown = "a string" if isinstance(raw, str) else _describe(raw)
            raise check.fail("alerts.webhooks", f"expected a list of URLs, got {shown}")
        urls: list[str] = []
        for i, value in enumerate(raw):
            key = f"alerts.webhooks[{i}]"
            if not isinstance(value, str):
                raise check.fail(key, f"expected a URL string, got {_describe(value)}")
            url = value.strip()
            parts = urlsplit(url)
            try:
                port_ok = parts.port is None or 0 < parts.port < 65536
            except ValueError:
                port_ok = False
            if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
                what = f"scheme '{parts.scheme}'" if parts.scheme not in ("http", "https") else "no valid host or port"
                raise check.fail(key, f"expected an http:// or https:// URL with a host, got one with {what}"
                                 if parts.scheme else "expected an http:// or https:// URL, got no scheme")
            if url in urls:
                raise check.fail(key, f"the same URL as alerts.webhooks[{urls.index(url)}]")
            urls.append(url)
        return tuple(urls)

    def argument(key: str, value: str) -> str:
        if "\0" in value:
            raise check.fail(key, "expected no NUL character in a command argument")
        return value

    command: tuple[str, ...] = ()
    if "command" in table:
        raw = table["command"]
        if isinstance(raw, str):
            raise check.fail("alerts.command", f"expected an argument list like [\"/path/to/script\", \"--flag\"] "
                                               f"(no shell), got {_describe(raw)}")
        if raw != []:
            if not isinstance(raw, list):
                raise check.fail("alerts.command", f"expected a list of strings, got {_describe(raw)}")
            command = tuple(argument(f"alerts.command[{i}]", check.string(f"alerts.command[{i}]", v))
                            for i, v in enumerate(raw))
            if not command[0].strip():
                raise check.fail("alerts.command[0]", "expected the program to run, got an empty string")
    return AlertSettings(
        min_duration_ms=min_duration,
        phases=check.boolean("alerts.phases", table.get("phases", base.phases)),
        signals=items("signals", signal),
        bell=check.boolean("alerts.bell", table.get("bell", base.bell)),
        notification=check.boolean("alerts.notification", table.get("notification", base.notification)),
        desktop=check.boolean("alerts.desktop", table.get("desktop", base.desktop)),
        webhooks=webhooks(),
        command=command,
    )


def _thresholds(check: _Checker, table: dict, ceilings: dict[str, float]) -> Thresholds:
    names = [f.name for f in dataclasses.fields(Thresholds) if f.name != "oi_ceiling_usd"]
    check.known_keys("thresholds.", table, names)
    values: dict[str, float] = {}
    for name, raw in table.items():
        low, high, low_open = _THRESHOLD_RULES.get(name, (0.0, None, True))
        values[name] = check.number(f"thresholds.{name}", raw, low, high, low_open)
    th = dataclasses.replace(Thresholds(), **values, oi_ceiling_usd=dict(ceilings))
    for lower, upper in _ORDERINGS:
        if getattr(th, lower) >= getattr(th, upper):
            key = upper if upper in values else lower
            raise check.fail(
                f"thresholds.{key}",
                f"expected {lower} ({getattr(th, lower):g}) < {upper} ({getattr(th, upper):g})",
            )
    return th


def parse_config(data: dict, path: Path) -> Config:
    check = _Checker(path)
    top_keys = ["assets", "venues", "theme", "poll", "store", "thresholds", "oi_ceiling_usd", "sources", "alerts"]
    check.known_keys("", data, top_keys)
    base = Config(path=path, exists=True)

    assets = base.assets
    if "assets" in data:
        assets = check.string_list("assets", data["assets"], check.asset)
    venues = base.venues
    if "venues" in data:
        venues = check.string_list("venues", data["venues"], check.venue)
    theme = base.theme
    if "theme" in data:
        theme = check.string("theme", data["theme"]).strip()
        if not theme:
            raise check.fail("theme", "expected a theme name, got an empty string")

    poll = dict(DEFAULT_POLL_S)
    poll_table = check.table("poll", data.get("poll", {}))
    check.known_keys("poll.", poll_table, list(DEFAULT_POLL_S))
    for key, raw in poll_table.items():
        poll[key] = check.number(f"poll.{key}", raw, 1.0, 86400.0)

    store_table = check.table("store", data.get("store", {}))
    check.known_keys("store.", store_table, ["retention_days", "flush_interval_s", "dir"])
    store = StoreSettings(
        retention_days=check.number("store.retention_days", store_table.get("retention_days", 90.0), 1.0, 3650.0),
        flush_interval_s=check.number("store.flush_interval_s", store_table.get("flush_interval_s", 60.0), 1.0, 3600.0),
        dir=Path(check.string("store.dir", store_table["dir"])).expanduser() if "dir" in store_table else None,
    )

    ceilings_table = check.table("oi_ceiling_usd", data.get("oi_ceiling_usd", {}))
    ceilings: dict[str, float] = {}
    for asset, raw in ceilings_table.items():
        key = f"oi_ceiling_usd.{asset}"
        check.asset(key, asset)
        ceilings[asset] = check.number(key, raw, 0.0, None, low_open=True)
    thresholds = _thresholds(check, check.table("thresholds", data.get("thresholds", {})), ceilings)

    sources = {k: dict(v) for k, v in DEFAULT_SOURCES.items()}
    sources_table = check.table("sources", data.get("sources", {}))
    check.known_keys("sources.", sources_table, list(DEFAULT_SOURCES))
    for name, raw in sources_table.items():
        table = check.table(f"sources.{name}", raw)
        check.known_keys(f"sources.{name}.", table, list(DEFAULT_SOURCES[name]))
        for key, url in table.items():
            sources[name][key] = check.base_url(f"sources.{name}.{key}", url, websocket=key in WS_KEYS)

    alerts = _alerts(check, check.table("alerts", data.get("alerts", {})))

    return Config(
        path=path, assets=assets, venues=venues, theme=theme, poll_s=poll, store=store,
        thresholds=thresholds, sources=sources, alerts=alerts, exists=True,
    )


def _string_values(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string in parsed TOML, with its dotted key (``sources.okx.rest``, ``assets[1]``)."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for name, inner in value.items():
            yield from _string_values(inner, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _string_values(inner, f"{key}[{index}]")


def exposed_secret_warning(path: Path, data: dict) -> str | None:
    """One line when the file holds something that looks like a secret (a URL with a token, a
    webhook) and its mode lets other users read or change it."""
    if os.name != "posix":
        return None  # Windows guards files with ACLs, which mode bits do not show
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    # A webhook URL is a credential whatever it looks like: whoever has it can post (an ntfy
    # topic, a path token made of plain words).
    keys = [key for key, value in _string_values(data)
            if looks_secret(value) or re.fullmatch(r"alerts\.webhooks\[\d+\]", key)]
    if not keys:
        return None
    return (f"{path} holds what looks like a secret ({', '.join(keys)}) and other users can access it "
            f"(mode {mode:04o}): run chmod 600 {shlex.quote(str(path))}")


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def load_config(path: Path | None = None) -> Config:
    """The settings in force: defaults, overridden by the file when it exists."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path=path, exists=False)
    except IsADirectoryError:
        raise ConfigError(f"config error in {path}: is a directory, expected a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"config error in {path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config error in {path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = _TOML_POSITION.search(message)
        if where:
            message = message[: where.start()]
            raise ConfigError(
                f"config error in {path}: line {where.group(1)}, column {where.group(2)}: invalid TOML: {message}"
            ) from None
        raise ConfigError(f"config error in {path}: invalid TOML: {message}") from None
    warning = exposed_secret_warning(path, data)
    warnings = (warning,) if warning else ()
    for text in warnings:
        log.warning(text)
    try:
        config = parse_config(data, path)
    except ConfigError as err:
        # levtop rejects the file, but the secret in it is exposed all the same: say both.
        err.warnings = warnings
        raise
    return dataclasses.replace(config, warnings=warnings)


# ---------------------------------------------------------------------------------------------
# Writing TOML (for `levtop config show`): the settings are scalars, lists and one level of
# tables, so a small writer is enough.


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def dump_toml(data: dict[str, Any]) -> str:
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for key, value in scalars.items():
        lines.append(f"{_toml_key(key)} = {_toml_value(value)}")

    def emit(prefix: str, table: dict[str, Any]) -> None:
        inner_scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        inner_tables = {k: v for k, v in table.items() if isinstance(v, dict)}
        if inner_scalars or not inner_tables:
            lines.append("")
            lines.append(f"[{prefix}]")
            for key, value in inner_scalars.items():
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in inner_tables.items():
            emit(f"{prefix}.{_toml_key(key)}", value)

    for key, value in tables.items():
        emit(_toml_key(key), value)
    return "\n".join(lines).lstrip("\n") + "\n"


def save_setting(path: Path, key: str, value: Any) -> None:
    """Set one top-level key in the config file, keeping the rest of it (comments included).

    The file is validated with the new value before it replaces the old one, atomically.
    """
    import tomlkit

    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    except (OSError, tomlkit.exceptions.TOMLKitError) as exc:
        raise ConfigError(f"config error in {path}: cannot update it: {exc}") from None
    document[key] = value
    text = tomlkit.dumps(document)
    parse_config(tomllib.loads(text), path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
