"""ccxt.pro exchange classes without loading the ~100 exchanges levtop never talks to.

``import ccxt.pro`` runs three package ``__init__`` files (``ccxt``, ``ccxt.async_support``,
``ccxt.pro``) that import every exchange ccxt supports, in its sync, async and websocket forms:
about 55 MB of RSS and two seconds, for a program that talks to three venues. Here those files
run as written except for the exchanges' import lines, and each package imports an exchange
when it is first asked for (``ccxt.pro.okx``, ``from ccxt.async_support import bybit``), so
every class is still ccxt's own and any code using ccxt in the same process finds them all.

When ccxt was imported already (a test, another library), that import is used as it is; when
the trimmed load fails for any reason (a ccxt release laid out differently), so is a plain one.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

PACKAGES = ("ccxt", "ccxt.async_support", "ccxt.pro")
_EXCHANGE_IMPORT = re.compile(r"^from ccxt(?:\.async_support|\.pro)?\.(\w+) import (\w+)\b.*$", re.MULTILINE)
"""``from ccxt.pro.okx import okx  # noqa``: an exchange's line in a package ``__init__``."""


def exchange_class(exchange_id: str) -> Any:
    """The ccxt.pro class of ``exchange_id`` (``"binanceusdm"``, ``"bybit"``, ``"okx"``)."""
    if "ccxt" not in sys.modules:
        try:
            for name in PACKAGES:
                _run_package(name)
        except Exception:  # noqa: BLE001 - any surprise: fall back to ccxt's own import
            log.warning("trimmed ccxt import failed; importing all of ccxt", exc_info=True)
            for name in PACKAGES:
                sys.modules.pop(name, None)
    import ccxt.pro

    return getattr(ccxt.pro, exchange_id)


class _ExchangePackage(ModuleType):
    """A ccxt package whose exchanges are imported when first asked for."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self.__dict__.get("exchanges", ()):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        importlib.import_module(f"{self.__name__}.{name}")
        return self.__dict__[name]

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing ccxt.pro.okx binds the module to ccxt.pro.okx; the dropped __init__ line
        # bound the class, which is what ccxt itself subclasses (ccxt.async_support.okx).
        if isinstance(value, ModuleType) and value.__name__ == f"{self.__name__}.{name}":
            exchange = getattr(value, name, None)
            if isinstance(exchange, type):
                value = exchange
        super().__setattr__(name, value)


def _run_package(name: str) -> ModuleType:
    """Import a package from its ``__init__`` minus the exchanges' import lines."""
    root = Path(importlib.util.find_spec("ccxt").origin).parent
    directory = root.joinpath(*name.split(".")[1:])
    init = directory / "__init__.py"
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(directory)])
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _ExchangePackage
    source = _EXCHANGE_IMPORT.sub(lambda m: "" if m.group(1) == m.group(2) else m.group(0),
                                  init.read_text(encoding="utf-8"))
    sys.modules[name] = module
    try:
        exec(compile(source, str(init), "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module
