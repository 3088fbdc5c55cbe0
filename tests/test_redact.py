"""Secrets in text are masked; everything else, levtop's own URLs above all, is left alone."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from levtop.redact import MASK, looks_secret, redact

SLACK_TOKEN = "XqZ4bT9wLmN2pR7sK1vY8cJ3"
DISCORD_TOKEN = "k3JfZ9q-Wm2xLr8_TbN5vYc7HsD4pQ1aUe6gIo0nRtS"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:hunter2@proxy.example.com:3128/",
         "https://***@proxy.example.com:3128/"),
        # A password holding '@' is masked whole, as urllib splits at the last '@'.
        ("http://me:p@ss@proxy.example.com/", "http://***@proxy.example.com/"),
        ("https://ghp_only@git.example.com/repo", "https://***@git.example.com/repo"),
        ("https://fapi.binance.com/fapi/v1/premiumIndex?apikey=abc123&symbol=BTCUSDT",
         "https://fapi.binance.com/fapi/v1/premiumIndex?apikey=***&symbol=BTCUSDT"),
        ("https://x.example/cb?access_token=t0k&X-Api-Key=k3y&signature=5ig&sig=s&password=pw",
         "https://x.example/cb?access_token=***&X-Api-Key=***&signature=***&sig=***&password=***"),
        (f"POST https://hooks.slack.com/services/T0001/B0002/{SLACK_TOKEN} failed: 404",
         "POST https://hooks.slack.com/services/*** failed: 404"),
        (f"https://discord.com/api/webhooks/123456789012345678/{DISCORD_TOKEN}",
         "https://discord.com/api/webhooks/123456789012345678/***"),
        (f"https://discordapp.com/api/v10/webhooks/42/{DISCORD_TOKEN}?wait=true",
         "https://discordapp.com/api/v10/webhooks/42/***?wait=true"),
        (f"https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage?chat_id=1",
         "https://api.telegram.org/bot***/sendMessage?chat_id=1"),
        ("https://webhook.site/550e8400-e29b-41d4-a716-446655440000",
         "https://webhook.site/***"),
        ("https://ntfy.example.com/alerts/Zk3JfZ9qWm2xLr8TbN5vYc7HsD4/send",
         "https://ntfy.example.com/alerts/***/send"),
        ("cannot reach https://u:p@host.example:8443/x (connection refused)",
         "cannot reach https://***@host.example:8443/x (connection refused)"),
        ("token=abc123, retrying", "token=***, retrying"),
        ("client_secret = 'abc'", "client_secret = '***'"),
        ('{"apiKey": "abc123", "symbol": "BTCUSDT"}', '{"apiKey": "***", "symbol": "BTCUSDT"}'),
        ("{'secret': 'abc123'}", "{'secret': '***'}"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
        ("headers: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "headers: Bearer ***"),
        (f"bot token {TELEGRAM_TOKEN} rejected", "bot token *** rejected"),
        ("xoxb-1234567890-abcdefghij in the log", "*** in the log"),
    ],
)
def test_masks_the_secret_and_keeps_the_rest(text, expected):
    assert redact(text) == expected


LEVTOP_TEXT = [
    "http://127.0.0.1:8765/fapi/v1/premiumIndex?symbol=BTCUSDT",
    "wss://fstream.binance.com/ws",
    "wss://fstream.binance.com/stream?streams=btcusdt@forceOrder/ethusdt@forceOrder",
    "wss://fstream.binance.com/ws/!forceOrder@arr",
    "https://fapi.binance.com/futures/data/globalLongShortAccountRatio?symbol=BTCUSDT&period=5m&limit=500"
    "&startTime=1709251200000&endTime=1709337600000",
    "https://www.okx.com/api/v5/rubik/stat/contracts/long-short-position-ratio-contract-top-trader?instId=BTC-USDT-SWAP",
    "wss://ws.okx.com:8443/ws/v5/public",
    "https://api.bybit.com/v5/market/account-ratio?category=linear&symbol=1000PEPEUSDT&period=1h",
    "https://stablecoins.llama.fi/stablecoincharts/all",
    "https://api.alternative.me/fng/?limit=0&format=json",
    "config error in /home/me/.config/levtop/config.toml: sources.okx.rest: unknown key; known keys: rest, ws",
    "binance: connection refused by 127.0.0.1:8787",
    "okx DOWN 12:00:03 tickers: rate limited (HTTP 429, Retry-After 30s)",
    "cannot write /home/me/.local/share/levtop: No space left on device",
    "worker okx-tickers failed",
    "Authorized traders only",  # neither a header nor a credential
]


@pytest.mark.parametrize("text", LEVTOP_TEXT)
def test_levtop_urls_and_messages_are_left_alone(text):
    assert redact(text) == text
    assert not looks_secret(text)


def test_every_route_of_the_simulator_and_of_ccxt_is_left_alone():
    ccxt = pytest.importorskip("ccxt")
    from levtop.sim.server import venue_apis

    paths = [route.path for api in venue_apis() for route in (*api.rest, *api.ws)]
    for exchange in (ccxt.binanceusdm(), ccxt.binance(), ccxt.bybit(), ccxt.okx()):
        paths += list(_ccxt_paths(exchange.describe()["api"]))
    assert len(paths) > 1000
    changed = [p for p in paths if redact(f"https://api.example.com/{p.lstrip('/')}?symbol=BTCUSDT")
               != f"https://api.example.com/{p.lstrip('/')}?symbol=BTCUSDT"]
    assert changed == []


def _ccxt_paths(node):
    """The endpoint paths of ccxt's API description: the keys under each HTTP method."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.lower() in {"get", "post", "put", "delete", "patch"}:
                yield from value
            else:
                yield from _ccxt_paths(value)


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("https://api.example.com?apikey=abc", True),
        ("https://hooks.slack.com/services/T0/B0/" + SLACK_TOKEN, True),
        (SLACK_TOKEN, True),  # a bare token, as a future `token = "..."` setting would hold
        (TELEGRAM_TOKEN, True),
        ("https://fapi.binance.com", False),
        ("wss://ws.okx.com:8443", False),
        ("levtop-dark", False),
        ("catppuccin-mocha-2024-variant", False),
        ("/home/me/.local/share/levtop", False),
        ("", False),
    ],
)
def test_looks_secret(value, secret):
    assert looks_secret(value) is secret


# Text rich in the pieces the rules look for, so that the properties meet them often.
FRAGMENTS = st.sampled_from([
    "https://", "http://", "wss://", "@", ":", "/", "?", "&", "#", "=", " ", "\n", '"', "'", ",", ";",
    "token=", "apiKey", "api_key=", "Authorization: ", "Bearer ", "Basic ", "bot", MASK,
    "hooks.slack.com/services/", "discord.com/api/webhooks/", "api.telegram.org/bot",
    "127.0.0.1:8765", "fapi/v1/premiumIndex", "symbol=BTCUSDT", "xoxb-", "ghp_", "123456789:",
    "Zk3JfZ9qWm2xLr8TbN5vYc7HsD4", "550e8400-e29b-41d4-a716-446655440000", "aaaaaaaaaaaa",
])
TEXT = st.one_of(st.text(), st.lists(st.one_of(FRAGMENTS, st.text(max_size=4)), max_size=30).map("".join))


@settings(max_examples=500)
@given(TEXT)
def test_redact_is_idempotent_and_never_raises(text):
    once = redact(text)
    assert redact(once) == once


@settings(max_examples=300)
@given(TEXT)
def test_redact_never_grows_a_secret_out_of_nothing(text):
    # What redact leaves is what it was given, with some parts replaced by the mask.
    assert set(redact(text)) <= set(text) | set(MASK)


# A token that must be masked wherever it is put: long and random-looking, so that the generic
# rule (an unnamed path segment) applies too.
TOKENS = st.builds(
    lambda body, tail: body + tail,
    st.from_regex(r"[A-Za-z0-9_-]{21,60}", fullmatch=True),
    st.permutations("aZ7").map("".join),
)
SECRET_FORMS = [
    "https://user:{t}@proxy.example.com:3128/",
    "https://{t}@proxy.example.com/",
    "https://api.example.com/v1/x?symbol=BTCUSDT&apikey={t}",
    "https://api.example.com/v1/x?access_token={t}#frag",
    "hooks.slack.com/services/T0/B0/{t}",
    "https://hooks.slack.com/services/T0/B0/{t}",
    "https://discord.com/api/webhooks/123456/{t}",
    "https://api.telegram.org/bot123456:{t}/sendMessage",
    "https://ntfy.example.com/{t}",
    "https://ntfy.example.com/topic/{t}/publish",
    "token={t}",
    'secret: "x", "password": "{t}"',
    "Authorization: Bearer {t}",
]


@settings(max_examples=500)
@given(st.sampled_from(SECRET_FORMS), TOKENS, st.text(), st.text())
def test_a_secret_never_survives_in_any_text(form, token, before, after):
    assume(token not in before and token not in after)
    text = f"{before} {form.format(t=token)} {after}"
    assert token not in redact(text)
