"""Masking secrets in text bound for a log file, a screen or a one-line error.

levtop needs no API key, but a user may still hand it a secret: a proxy URL with
``user:password@``, a source URL with ``?apikey=...``, a webhook URL whose path is the token.
Such text is masked before it leaves the process. Scheme, host and the readable part of a path
are kept, so an error still says which host failed; only the secret becomes ``***``.

Every rule maps its own output to itself, so ``redact`` is idempotent: text may be redacted by
the code that records it and again by the log formatter that writes it.
"""

from __future__ import annotations

import re
import string
from typing import Callable

MASK = "***"


class _Pattern:
    """A regular expression compiled on its first use: ``redact`` runs on errors, notifications
    and log records, none of which a start needs, and compiling the dozen rules cost the first
    frame ~4 ms."""

    __slots__ = ("_pattern", "_flags", "_compiled")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._pattern = pattern
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    def sub(self, repl: str | Callable[[re.Match[str]], str], text: str) -> str:
        if self._compiled is None:
            self._compiled = re.compile(self._pattern, self._flags)
        return self._compiled.sub(repl, text)


# Names of parameters that carry credentials, compared after lower-casing and splitting on
# ``_``, ``-`` and ``.`` (so ``access_token``, ``X-Api-Key`` and ``client.secret`` all match).
_CREDENTIAL_WORDS = frozenset({
    "token", "key", "apikey", "secret", "signature", "sig", "password", "passwd", "pwd", "pass",
    "auth", "authorization", "credential", "credentials", "webhook", "accesstoken", "apitoken",
    "privatekey", "listenkey", "sessionid",
})

# Anything that starts a URL: ``scheme://``, at the start of a word (which keeps the search linear).
_SCHEME = r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://"
# A URL runs to the first space, quote or angle bracket.
_URL = _Pattern(_SCHEME + r"[^\s'\"<>]+")
# ``user:password@`` (or a bare token before ``@``) in the authority; greedy up to the last ``@``
# before the path, as urllib reads it, so a password holding ``@`` is masked whole.
_USERINFO = _Pattern(r"(" + _SCHEME + r")[^/?#\s'\"<>]+@")

# Webhook URLs whose path is the credential; matched with or without a scheme. A path or a
# segment ends at a space, a query, a quote or prose punctuation, which tokens never hold.
_PATH_REST = r"[^\s?#'\"<>:,;()]+"
_SEGMENT = r"[^/\s?#'\"<>:,;()]+"
_SLACK = _Pattern(r"(hooks\.slack\.com/[A-Za-z]+/)" + _PATH_REST, re.IGNORECASE)
_DISCORD = _Pattern(r"(discord(?:app)?\.com/api/(?:v\d+/)?webhooks/" + _SEGMENT + "/)" + _SEGMENT, re.IGNORECASE)
# A Telegram bot token holds a colon: ``bot123456:AAH.../sendMessage``.
_TELEGRAM = _Pattern(r"(api\.telegram\.org/(?:file/)?bot)[^/\s?#'\"<>]+", re.IGNORECASE)

# ``name=value`` in a query string or in prose; the name is checked by ``_is_credential_name``.
_ASSIGNMENT = _Pattern(
    r"(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z][A-Za-z0-9_.-]*)(?P<sep>\s*=\s*[\"']?)(?P<value>[^\s&#;,'\"<>]+)")
# ``"name": "value"`` in JSON or a Python repr, as an exception may quote a request.
_QUOTED_PAIR = _Pattern(
    r"(?P<head>(?P<q>[\"'])(?P<name>[A-Za-z][A-Za-z0-9_.-]*)(?P=q)\s*:\s*(?P<vq>[\"']))(?P<value>[^\"'\\]+)(?P=vq)")
# HTTP credentials as a header or a scheme word.
_AUTHORIZATION = _Pattern(r"(?i)\b(authorization\s*:\s*)(?:(\w+)\s+)?[^\s,;'\"]+")
_BEARER = _Pattern(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")

# Tokens recognisable by their shape alone, wherever they appear.
_KNOWN_TOKENS = _Pattern(
    r"\b\d{6,12}:[A-Za-z0-9_-]{30,}"  # Telegram bot token
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack API token
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"  # GitHub token
)

# A run of URL-safe characters long enough to be a token; judged by ``_random_looking``.
_WORD_RUN = _Pattern(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{24,}(?![A-Za-z0-9_-])")
_HEX = frozenset(string.hexdigits + "-")


def _random_looking(word: str) -> bool:
    """A long run no one would type: a token, a key, a UUID, a digest.

    Venue paths have long words too (``globalLongShortAccountRatio``,
    ``long-short-account-ratio-contract-top-trader``), but without digits."""
    if len(word) < 24:
        return False
    digits = sum(c.isdigit() for c in word)
    if digits and any(c.isupper() for c in word) and any(c.islower() for c in word):
        return True
    return digits >= 6 and set(word) <= _HEX


def _is_credential_name(name: str) -> bool:
    return any(part in _CREDENTIAL_WORDS for part in re.split(r"[_.-]", name.lower()))


def _mask_assignment(match: re.Match[str]) -> str:
    if not _is_credential_name(match["name"]):
        return match[0]
    return f"{match['name']}{match['sep']}{MASK}"


def _mask_quoted_pair(match: re.Match[str]) -> str:
    if not _is_credential_name(match["name"]):
        return match[0]
    return f"{match['head']}{MASK}{match['vq']}"


def _mask_random_run(match: re.Match[str]) -> str:
    return MASK if _random_looking(match[0]) else match[0]


def _mask_url_tokens(match: re.Match[str]) -> str:
    """Random-looking path segments and values of one URL; its scheme and host stay readable."""
    url = match[0]
    authority_start = url.index("://") + 3
    path_start = next((i for i in range(authority_start, len(url)) if url[i] in "/?#"), len(url))
    return url[:path_start] + _WORD_RUN.sub(_mask_random_run, url[path_start:])


MAX_PASSES = 4
"""Masking one secret can expose another to a pattern that ran before it (a token's mask
followed by ``=KEY=0``): passes repeat until nothing changes, so redact is idempotent."""


def redact(text: str) -> str:
    """``text`` with every secret it visibly holds replaced by ``***``."""
    for _ in range(MAX_PASSES):
        masked = _redact_once(text)
        if masked == text:
            break
        text = masked
    return text


def _redact_once(text: str) -> str:
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _SLACK.sub(rf"\1{MASK}", text)
    text = _DISCORD.sub(rf"\1{MASK}", text)
    text = _TELEGRAM.sub(rf"\1{MASK}", text)
    text = _URL.sub(_mask_url_tokens, text)
    text = _ASSIGNMENT.sub(_mask_assignment, text)
    text = _QUOTED_PAIR.sub(_mask_quoted_pair, text)
    text = _AUTHORIZATION.sub(lambda m: f"{m[1]}{m[2] + ' ' if m[2] else ''}{MASK}", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    return _KNOWN_TOKENS.sub(MASK, text)


def looks_secret(value: str) -> bool:
    """Whether a value (a config string, say) holds a secret: a URL or text that ``redact``
    would mask, or a bare token such as a webhook key on its own."""
    stripped = value.strip()
    bare_token = re.fullmatch(r"[A-Za-z0-9_-]+", stripped) is not None and _random_looking(stripped)
    return bare_token or redact(value) != value
