"""Logging to a file: the terminal belongs to the UI (Textual draws on stderr) and to the
one-line messages of the CLI."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import platformdirs

from levtop.redact import redact

LOG_ENV = "LEVTOP_LOG"


class RedactingFormatter(logging.Formatter):
    """Formats a record as usual, then masks secrets in the whole text: the message, its
    arguments, an exception or a stack can each carry a URL with a token, and the file outlives
    the session (and gets attached to bug reports)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def log_path() -> Path:
    env = os.environ.get(LOG_ENV)
    return Path(env) if env else platformdirs.user_log_path("levtop") / "levtop.log"


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Send every log record to a rotating file; returns its path, or None if unwritable."""
    path = log_path()
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        # No writable log dir must not stop a monitor: records are dropped instead.
        root.addHandler(logging.NullHandler())
        return None
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    # ccxt logs every request at DEBUG; keep the file about levtop.
    logging.getLogger("ccxt").setLevel(logging.WARNING)
    return path
