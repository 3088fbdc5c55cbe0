"""Config: defaults, overrides, and one precise line for every kind of mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from levtop.config import ConfigError, config_path, load_config
from levtop.signals import Thresholds


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_missing_file_means_defaults(tmp_path):
    config = load_config(tmp_path / "nope.toml")
    assert not config.exists
    assert config.assets == ("BTC", "ETH", "SOL")
    assert config.venues == ("binance", "bybit", "okx")
    assert config.thresholds == Thresholds()
    assert config.sources["binance"]["rest"] == "https://fapi.binance.com"
    assert config.sources["fear_greed"]["url"] == "https://api.alternative.me"


def test_env_var_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LEVTOP_CONFIG", str(tmp_path / "x.toml"))
    assert config_path() == tmp_path / "x.toml"
    monkeypatch.delenv("LEVTOP_CONFIG")
    assert config_path().name == "config.toml"
    assert "levtop" in str(config_path())


def test_a_full_file_is_read(tmp_path):
    config = load_config(write(tmp_path, """
assets = ["BTC", "DOGE"]
venues = ["bybit"]
theme = "levtop-light"
[poll]
tickers = 30
[store]
retention_days = 30
[thresholds]
funding_neutral_high = 0.0002
sentiment_fear_max = 40
[oi_ceiling_usd]
BTC = 55e9
[sources.binance]
rest = "http://127.0.0.1:8787"
ws = "ws://127.0.0.1:8787"
[sources.fear_greed]
url = "http://localhost:9000/"
"""))
    assert config.assets == ("BTC", "DOGE")
    assert config.venues == ("bybit",)
    assert config.poll_s["tickers"] == 30 and config.poll_s["history"] == 300
    assert config.store.retention_days == 30
    assert config.thresholds.funding_neutral_high == 0.0002
    assert config.thresholds.sentiment_fear_max == 40
    assert config.thresholds.ceiling_for("BTC") == 55e9
    assert config.sources["binance"] == {"rest": "http://127.0.0.1:8787", "ws": "ws://127.0.0.1:8787",
                                         "spot": "https://api.binance.com"}
    assert config.sources["fear_greed"]["url"] == "http://localhost:9000"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("assets = [\"BTC\"\nvenues = 3", "line 2, column 1: invalid TOML"),
        ("colour = \"red\"", "colour: unknown key"),
        ("[thresholds]\nfunding_neutral_hi = 0.1", "thresholds.funding_neutral_hi: unknown key; did you mean 'funding_neutral_high'?"),
        ("[poll]\ntickers = \"fast\"", "poll.tickers: expected a number, got a string 'fast'"),
        ("[poll]\ntickers = -5", "poll.tickers: expected a number at least 1, got -5"),
        ("[poll]\nhistory = true", "poll.history: expected a number, got a boolean True"),
        ("[store]\nretention_days = 0", "store.retention_days: expected a number at least 1, got 0"),
        ("venues = [\"binance\", \"kraken\"]", "venues[1]: unknown venue 'kraken'; expected one of binance, bybit, okx"),
        ("assets = [\"BTC\", \"BTC\"]", "assets: 'BTC' is listed twice"),
        ("assets = [\"btc\"]", "assets[0]: expected an asset symbol in upper case like 'BTC', got 'btc'"),
        ("assets = []", "assets: expected at least one entry, got an empty list"),
        ("assets = \"BTC\"", "assets: expected a list of strings, got a string 'BTC'"),
        ("[sources.binance]\nrest = \"fapi.binance.com\"", "sources.binance.rest: expected a base URL like https://host[:port] (no path), got 'fapi.binance.com'"),
        ("[sources.binance]\nws = \"https://fstream.binance.com\"", "sources.binance.ws: expected a base URL like wss://host[:port]"),
        ("[sources.okx]\nrest = \"https://www.okx.com/api/v5\"", "sources.okx.rest: expected a base URL like https://host[:port] (no path)"),
        ("[sources.okx]\nrest = \"https://www.okx.com:99999\"", "sources.okx.rest: expected a base URL"),
        ("[sources.kraken]\nrest = \"https://api.kraken.com\"", "sources.kraken: unknown key"),
        ("[sources.fear_greed]\nrest = \"https://x\"", "sources.fear_greed.rest: unknown key; known keys: url"),
        ("[thresholds]\nfunding_overheated = 0.0001", "thresholds.funding_overheated: expected funding_neutral_high (0.00015) < funding_overheated (0.0001)"),
        ("[thresholds]\nliquidations_cascade = 1.5", "thresholds.liquidations_cascade: expected liquidations_elevated (2) < liquidations_cascade (1.5)"),
        ("[thresholds]\nflush_oi_drop_24h = 0", "thresholds.flush_oi_drop_24h: expected a number greater than 0, got 0"),
        ("[thresholds]\nliquidations_baseline_days = 0.01", "thresholds.liquidations_baseline_days: expected a number at least 1, got 0.01"),
        ("[thresholds]\nsentiment_fear_max = 101", "thresholds.sentiment_fear_max: expected a number at most 100, got 101"),
        ("[thresholds]\nfresh_oi_h = nan", "thresholds.fresh_oi_h: expected a finite number, got nan"),
        ("[oi_ceiling_usd]\nBTC = -1", "oi_ceiling_usd.BTC: expected a number greater than 0, got -1"),
        ("[oi_ceiling_usd]\nbtc = 5e9", "oi_ceiling_usd.btc: expected an asset symbol"),
        ("poll = 5", "poll: expected a table, got an integer 5"),
        ("theme = \"\"", "theme: expected a theme name"),
    ],
)
def test_each_mistake_gets_one_precise_line(tmp_path, text, expected):
    assert expected in error_for(tmp_path, text)


def test_unreadable_files(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"assets = [\"\xff\"]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(directory)


def run_cli(*args: str, env_config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LEVTOP_CONFIG": str(env_config)}
    return subprocess.run([sys.executable, "-m", "levtop", *args], capture_output=True, text=True, env=env, timeout=60)


def test_cli_config_commands(tmp_path):
    path = tmp_path / "config.toml"
    assert run_cli("config", "path", env_config=path).stdout.strip() == str(path)
    check = run_cli("config", "check", env_config=path)
    assert check.returncode == 0 and "defaults" in check.stdout
    path.write_text("[thresholds]\nsentiment_fear_max = 40\n")
    shown = run_cli("config", "show", env_config=path)
    assert shown.returncode == 0
    assert "sentiment_fear_max = 40.0" in shown.stdout
    import tomllib

    # What `show` prints is itself a valid config that loads to the same settings.
    body = shown.stdout.split("\n", 1)[1]
    again = tmp_path / "again.toml"
    again.write_text(body)
    assert load_config(again).to_toml_dict() == load_config(path).to_toml_dict()
    assert tomllib.loads(body)["thresholds"]["sentiment_fear_max"] == 40.0


def test_cli_bad_config_exits_2_with_one_line_and_no_traceback(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[poll]\ntickers = -1\n")
    for args in (("config", "check"), ("config", "show")):
        result = run_cli(*args, env_config=path)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"levtop: config error in {path}: poll.tickers:")


# --- a secret in a file other users can read ------------------------------------------------

SECRET = "Zk3JfZ9qWm2xLr8TbN5vYc7HsD4"
SECRET_IN_A_SOURCE = f'[sources.binance]\nrest = "https://fapi.binance.com/?apikey={SECRET}"\n'
posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def write_with_mode(tmp_path: Path, text: str, mode: int) -> Path:
    path = write(tmp_path, text)
    path.chmod(mode)
    return path


@posix_only
def test_a_shared_file_holding_a_secret_gets_a_one_line_warning(tmp_path, caplog):
    path = write_with_mode(tmp_path, SECRET_IN_A_SOURCE, 0o644)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (warning,) = info.value.warnings
    assert "\n" not in warning and str(path) in warning and "0644" in warning
    assert f"chmod 600 {path}" in warning and "sources.binance.rest" in warning
    # Neither the error (which quotes the rejected URL) nor the warning repeats the secret.
    assert SECRET not in str(info.value) and SECRET not in warning
    assert "apikey=***" in str(info.value)
    assert warning in caplog.text


@posix_only
def test_a_group_writable_file_holding_a_secret_gets_a_warning(tmp_path):
    path = write_with_mode(tmp_path, f'theme = "{SECRET}"\n', 0o620)
    (warning,) = load_config(path).warnings
    assert "0620" in warning and "theme" in warning


@posix_only
def test_a_private_file_holding_a_secret_gets_no_warning(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write_with_mode(tmp_path, SECRET_IN_A_SOURCE, 0o600))
    assert info.value.warnings == ()
    assert load_config(write_with_mode(tmp_path, f'theme = "{SECRET}"\n', 0o600)).warnings == ()


@posix_only
def test_a_shared_file_without_a_secret_gets_no_warning(tmp_path):
    text = 'assets = ["BTC"]\n[sources.binance]\nrest = "http://127.0.0.1:8787"\nws = "ws://127.0.0.1:8787"\n'
    assert load_config(write_with_mode(tmp_path, text, 0o644)).warnings == ()


def test_webhook_settings_count_as_secrets(tmp_path):
    from levtop.config import exposed_secret_warning

    path = write_with_mode(tmp_path, "", 0o644)
    webhook = {"alerts": {"webhooks": [f"https://hooks.slack.com/services/T0/B0/{SECRET}"]}}
    if os.name == "posix":
        assert "alerts.webhooks[0]" in exposed_secret_warning(path, webhook)
        # Any webhook URL: whoever has it can post (an ntfy topic is plain words), so a shared
        # file holding one gets the warning even when nothing in it looks random.
        plain = {"alerts": {"webhooks": ["https://example.com/hook", "https://ntfy.sh/my-levtop-alerts"]}}
        warning = exposed_secret_warning(path, plain)
        assert "alerts.webhooks[0], alerts.webhooks[1]" in warning and "ntfy" not in warning
    # The same URL anywhere else is not a secret by itself.
    assert exposed_secret_warning(path, {"theme": "https://example.com/hook"}) is None


@posix_only
def test_a_shared_config_with_a_webhook_warns_through_the_cli(tmp_path):
    path = write_with_mode(tmp_path, '[alerts]\nwebhooks = ["https://ntfy.sh/my-levtop-alerts"]\n', 0o644)
    result = run_cli("config", "check", env_config=path)
    assert result.returncode == 0 and "alerts.webhooks[0]" in result.stderr and f"chmod 600 {path}" in result.stderr
    assert "my-levtop-alerts" not in result.stderr


# --- [alerts] -------------------------------------------------------------------------------------


def test_alert_settings_are_read_and_default_to_phases_bell_and_notification(tmp_path):
    defaults = load_config(tmp_path / "nope.toml").alerts
    assert (defaults.min_duration_ms, defaults.phases, defaults.signals) == (15 * 60_000, True, ())
    assert (defaults.bell, defaults.notification, defaults.desktop) == (True, True, False)
    assert defaults.webhooks == () and defaults.command == () and not defaults.external
    alerts = load_config(write(tmp_path, """
[alerts]
min_duration = "1h"
phases = false
signals = ["funding", "oi_level"]
bell = false
desktop = true
webhooks = ["https://hooks.example.com/a", "http://127.0.0.1:9000/hook"]
command = ["~/bin/alert", "--asset", "{asset}"]
""")).alerts
    assert alerts.min_duration_ms == 3_600_000 and not alerts.phases and alerts.signals == ("funding", "oi_level")
    assert not alerts.bell and alerts.notification and alerts.desktop and alerts.external
    assert alerts.webhooks == ("https://hooks.example.com/a", "http://127.0.0.1:9000/hook")
    assert alerts.command == ("~/bin/alert", "--asset", "{asset}")
    assert load_config(write(tmp_path, '[alerts]\nmin_duration = "0s"\nsignals = []\n')).alerts.min_duration_ms == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[alerts]\nmin_duration = 15", 'alerts.min_duration: expected a duration like "15m", "1h" or "0s", got an integer 15'),
        ("[alerts]\nmin_duration = \"15 minutes\"", "alerts.min_duration: expected a duration like \"15m\""),
        ("[alerts]\nmin_duration = \"-5m\"", "alerts.min_duration: expected a duration"),
        ("[alerts]\nphases = \"yes\"", "alerts.phases: expected true or false, got a string 'yes'"),
        ("[alerts]\nbell = 1", "alerts.bell: expected true or false, got an integer 1"),
        ("[alerts]\nsignals = [\"fundng\"]", "alerts.signals[0]: unknown signal 'fundng'; did you mean 'funding'?"),
        ("[alerts]\nsignals = [\"price\"]", "alerts.signals[0]: unknown signal 'price'; expected one of funding, oi_rebuild"),
        ("[alerts]\nsignals = [\"funding\", \"funding\"]", "alerts.signals: 'funding' is listed twice"),
        ("[alerts]\nsignals = \"funding\"", "alerts.signals: expected a list of strings, got a string 'funding'"),
        ("[alerts]\nsignal = [\"funding\"]", "alerts.signal: unknown key; did you mean 'signals'?"),
        ("[alerts]\nwebhooks = \"https://x.example/h\"", "alerts.webhooks: expected a list of URLs, got a string"),
        ("[alerts]\nwebhooks = [\"hooks.example.com/h\"]", "alerts.webhooks[0]: expected an http:// or https:// URL, got no scheme"),
        ("[alerts]\nwebhooks = [\"ftp://x.example/h\"]", "alerts.webhooks[0]: expected an http:// or https:// URL with a host, got one with scheme 'ftp'"),
        ("[alerts]\nwebhooks = [\"https://x.example:99999/h\"]", "alerts.webhooks[0]: expected an http:// or https:// URL with a host, got one with no valid host or port"),
        ("[alerts]\nwebhooks = [\"https://a.example/h\", \"https://a.example/h\"]", "alerts.webhooks[1]: the same URL as alerts.webhooks[0]"),
        ("[alerts]\nwebhooks = [3]", "alerts.webhooks[0]: expected a URL string, got an integer 3"),
        ("[alerts]\ncommand = \"notify.sh --x\"", "alerts.command: expected an argument list like [\"/path/to/script\", \"--flag\"] (no shell), got a string"),
        ("[alerts]\ncommand = [\"\"]", "alerts.command[0]: expected the program to run, got an empty string"),
        ("[alerts]\ncommand = [\"x\", 2]", "alerts.command[1]: expected a string, got an integer 2"),
        ("[alerts]\ncommand = {program = \"x\"}", "alerts.command: expected a list of strings, got a table"),
        ("alerts = true", "alerts: expected a table, got a boolean True"),
    ],
)
def test_each_alert_mistake_gets_one_precise_line(tmp_path, text, expected):
    assert expected in error_for(tmp_path, text)


def test_a_webhook_mistake_never_quotes_the_url(tmp_path):
    message = error_for(tmp_path, f'[alerts]\nwebhooks = ["ftp://hooks.example.com/{SECRET}"]\n')
    assert SECRET not in message and "hooks.example.com" not in message


def test_config_show_round_trips_the_alerts(tmp_path):
    import tomllib

    path = write(tmp_path, """
[alerts]
min_duration = "90s"
signals = ["liquidations"]
desktop = true
webhooks = ["https://hooks.example.com/a"]
command = ["/usr/local/bin/alert", "--json", "{\\"x\\": 1}"]
""")
    path.chmod(0o600)
    shown = run_cli("config", "show", env_config=path)
    assert shown.returncode == 0, shown.stderr
    body = shown.stdout.split("\n", 1)[1]
    assert tomllib.loads(body)["alerts"] == {
        "min_duration": "90s", "phases": True, "signals": ["liquidations"], "bell": True, "notification": True,
        "desktop": True, "webhooks": ["https://hooks.example.com/a"],
        "command": ["/usr/local/bin/alert", "--json", '{"x": 1}']}
    again = tmp_path / "again.toml"
    again.write_text(body)
    assert load_config(again).alerts == load_config(path).alerts


@posix_only
def test_cli_prints_the_warning_on_stderr_after_the_error(tmp_path):
    path = write_with_mode(tmp_path, SECRET_IN_A_SOURCE, 0o644)
    result = run_cli("config", "check", env_config=path)
    assert result.returncode == 2 and SECRET not in result.stderr + result.stdout
    error, warning = result.stderr.splitlines()
    assert error.startswith(f"levtop: config error in {path}: sources.binance.rest:")
    assert warning.startswith("levtop: warning: ") and f"chmod 600 {path}" in warning
    path.write_text(f'theme = "{SECRET}"\n')
    result = run_cli("config", "check", env_config=path)
    assert result.returncode == 0 and result.stdout.strip() == f"{path}: ok"
    assert "chmod 600" in result.stderr
