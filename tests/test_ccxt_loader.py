"""The trimmed ccxt import: three venues' classes without ccxt's hundred exchanges, and every
other exchange still there for whoever asks."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from levtop.sources.ccxt_loader import exchange_class
classes = {i: exchange_class(i) for i in ("binanceusdm", "bybit", "okx")}
loaded = sorted(m for m in sys.modules if m.startswith("ccxt.async_support.") and m.count(".") == 2
                and not m.endswith((".base", ".abstract")))
import ccxt, ccxt.async_support
from ccxt.async_support import kraken
import ccxt.pro.gate
print(json.dumps({
    "loaded_before_asking": loaded,
    "mro": [c.__module__ for c in classes["binanceusdm"].__mro__[:4]],
    "kraken": kraken.__module__,
    "gate_is_class": isinstance(ccxt.pro.gate, type),
    "bad_symbol": ccxt.BadSymbol.__module__,
    "exchanges_listed": len(ccxt.exchanges) > 50,
}))
"""

FULL_MRO = """
import json
import ccxt.pro
print(json.dumps([c.__module__ for c in ccxt.pro.binanceusdm.__mro__[:4]]))
"""


def test_only_the_venues_are_imported_and_the_rest_on_demand():
    """In a fresh process (here ccxt may be imported fully already)."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    probe = json.loads(out)
    assert probe["loaded_before_asking"] == ["ccxt.async_support.binance", "ccxt.async_support.binanceusdm",
                                             "ccxt.async_support.bybit", "ccxt.async_support.okx"]
    full = subprocess.run([sys.executable, "-c", FULL_MRO], capture_output=True, text=True, check=True).stdout
    assert probe["mro"] == json.loads(full)  # the same classes as ccxt's own import gives
    assert probe["kraken"] == "ccxt.async_support.kraken" and probe["gate_is_class"]
    assert probe["bad_symbol"] == "ccxt.base.errors" and probe["exchanges_listed"]


def test_an_earlier_full_import_is_used_as_it_is():
    import ccxt.pro

    from levtop.sources.ccxt_loader import exchange_class

    assert exchange_class("okx") is ccxt.pro.okx
