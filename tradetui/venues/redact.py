"""Keep API keys and request signatures out of every log line.

ccxt logs each request at DEBUG with the API key header and the signed query; the filter here
rewrites such records (tracebacks included) before any handler sees them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_SIGNATURE = re.compile(r"signature=[0-9a-fA-F]+")
_KEY_HEADER = re.compile(r"(X-MBX-APIKEY['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+", re.IGNORECASE)
# The user stream's listenKey reads our orders and fills: in URLs and in JSON answers.
_LISTEN_KEY = re.compile(r"(listenKey['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9]{16,}")
# ... and in the path of a user stream on a single base (COIN-M's, USD-M's legacy one):
# /ws/<listenKey>; market stream names there always carry an '@'.
_LISTEN_KEY_PATH = re.compile(r"(/ws/)[A-Za-z0-9]{32,}(?![A-Za-z0-9@])")
REDACTED = "<redacted>"


class RedactSecrets(logging.Filter):
    """Rewrites each record's message with signatures, key headers and known secrets redacted."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, *secrets: str) -> None:
        """Also redact these literal strings (empty ones are ignored)."""
        self._secrets.update(s for s in secrets if s)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``<redacted>``."""
        text = _SIGNATURE.sub(f"signature={REDACTED}", text)
        text = _KEY_HEADER.sub(rf"\g<1>{REDACTED}", text)
        text = _LISTEN_KEY.sub(rf"\g<1>{REDACTED}", text)
        text = _LISTEN_KEY_PATH.sub(rf"\g<1>{REDACTED}", text)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            # Tracebacks of ccxt errors quote the signed URL: fold them into the message.
            text += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redact(text)
        record.args = None
        return True


def redact_ccxt_logs(*secrets: str) -> RedactSecrets:
    """The filter on ccxt's request logger (installed once), now also redacting ``secrets``."""
    logger = logging.getLogger("ccxt.base.exchange")
    for existing in logger.filters:
        if isinstance(existing, RedactSecrets):
            existing.add(*secrets)
            return existing
    redactor = RedactSecrets()
    redactor.add(*secrets)
    logger.addFilter(redactor)
    return redactor


def redact_every_record(*secrets: str) -> RedactSecrets:
    """Redact ``secrets``, signatures, key headers and listenKeys from every log record the
    process makes from now on, whichever logger or handler it goes through (a live session
    installs this: asyncio and aiohttp may log ccxt's signed URLs too). Returns the redactor;
    later calls add their secrets to it."""
    current = logging.getLogRecordFactory()
    existing = getattr(current, "redactor", None)
    if isinstance(existing, RedactSecrets):
        existing.add(*secrets)
        return existing
    redactor = RedactSecrets()
    redactor.add(*secrets)

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        redactor.filter(record)
        return record

    factory.redactor = redactor  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    return redactor
