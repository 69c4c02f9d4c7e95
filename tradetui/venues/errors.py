"""Exchange failures in our own words: ccxt's error classes mapped to a small set of types.

The engine and the live venue decide what to do by these types (retry a read, resync the
clock, cool down, halt), never by ccxt's classes. Every message is one line with keys and
signatures already redacted, so it may be logged, stored and shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import aiohttp
import ccxt.async_support as ccxt_async

from tradetui.core.types import RejectCode

_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')
_BAN = re.compile(r"\b418\b|IP banned", re.IGNORECASE)
# Binance USD-M error codes in our words; anything else is OTHER with the exchange's message.
_REJECT_BY_CODE = {
    -4014: RejectCode.OFF_TICK,
    -1111: RejectCode.OFF_STEP,
    -4003: RejectCode.BELOW_MIN_QTY,
    # The order filters (Binance USD-M and COIN-M futures "Error Codes", 40xx).
    -4023: RejectCode.OFF_STEP,
    -4004: RejectCode.BELOW_MIN_QTY,
    -4005: RejectCode.ABOVE_MAX_QTY,
    -4002: RejectCode.ABOVE_MAX_PRICE,
    -4013: RejectCode.BELOW_MIN_PRICE,
    -4016: RejectCode.ABOVE_PRICE_BAND,
    -4024: RejectCode.BELOW_PRICE_BAND,
    -4164: RejectCode.BELOW_MIN_NOTIONAL,
    -5022: RejectCode.POST_ONLY_WOULD_CROSS,
    -2022: RejectCode.REDUCE_ONLY_WOULD_INCREASE,
    -2019: RejectCode.INSUFFICIENT_MARGIN,
    -4116: RejectCode.DUPLICATE_CLIENT_ID,
    -2011: RejectCode.UNKNOWN_ORDER,
    -2013: RejectCode.UNKNOWN_ORDER,
    -1003: RejectCode.RATE_LIMITED,
}
# Binance "Error Codes" (10xx) and "General Info" (HTTP 5XX): the request reached Binance and
# its execution status is unknown, it "could have been a success" (-1000 unknown error, -1001
# internal error, -1006 unexpected response, -1007 timeout). ccxt 4.5 raises OperationFailed
# or RequestTimeout for these, or ExchangeError where a market type overrides them.
_UNKNOWN_OUTCOME_CODES = frozenset({-1000, -1001, -1006, -1007})
# ccxt's unified classes for exchanges whose codes we do not know, most specific first.
_REJECT_BY_CLASS: tuple[tuple[type[Exception], RejectCode], ...] = (
    (ccxt_async.OrderImmediatelyFillable, RejectCode.POST_ONLY_WOULD_CROSS),
    (ccxt_async.OrderNotFillable, RejectCode.POST_ONLY_WOULD_CROSS),
    (ccxt_async.InsufficientFunds, RejectCode.INSUFFICIENT_MARGIN),
    (ccxt_async.OrderNotFound, RejectCode.UNKNOWN_ORDER),
    (ccxt_async.DuplicateOrderId, RejectCode.DUPLICATE_CLIENT_ID),
)


class VenueError(Exception):
    """A failure talking to the exchange; ``str()`` is one redacted line."""


class VenueUnavailableError(VenueError):
    """No answer that settles the outcome (timeout, connection lost, 5xx with or without a
    body, Binance's -1000/-1001/-1006/-1007): a read may be retried; a write's outcome is
    unknown and only asking the exchange settles it, never resending nor assuming."""


class ClockSkewError(VenueError):
    """The request's timestamp fell outside recvWindow (-1021): resync the clock."""


class RateLimitedError(VenueError):
    """429: slow down for ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class IpBannedError(RateLimitedError):
    """418: the exchange banned this IP; trading must halt until a human looks."""


class AuthFailedError(VenueError):
    """Key, signature or permissions refused: nothing will work until the keys are fixed."""


class RefusedError(VenueError):
    """The exchange answered and refused the request (``code`` in our words)."""

    def __init__(self, message: str, code: RejectCode) -> None:
        super().__init__(message)
        self.code = code


class SetupError(VenueError):
    """The venue cannot be traded as configured (symbol, constraints, capabilities)."""


def reject_code(exc: Exception) -> RejectCode:
    """Our reject code for a ccxt error: the Binance code in its message, else its class."""
    if isinstance(exc, ccxt_async.DDoSProtection):
        return RejectCode.RATE_LIMITED
    match = _CODE.search(str(exc))
    if match:
        code = _REJECT_BY_CODE.get(int(match.group(1)))
        if code is not None:
            return code
    for cls, ours in _REJECT_BY_CLASS:
        if isinstance(exc, cls):
            return ours
    return RejectCode.OTHER


def map_error(
    exc: Exception, redact: Callable[[str], str], retry_after_s: float = 1.0
) -> VenueError:
    """Our error for a ccxt (or transport) exception; ``retry_after_s`` is the exchange's
    Retry-After hint for rate limits (s)."""
    text = " ".join(redact(str(exc)).split()) or type(exc).__name__
    if isinstance(exc, ccxt_async.DDoSProtection):
        if _BAN.search(text):
            return IpBannedError(text, retry_after_s)
        return RateLimitedError(text, retry_after_s)
    if isinstance(exc, ccxt_async.InvalidNonce):
        return ClockSkewError(text)
    if isinstance(exc, ccxt_async.AuthenticationError | ccxt_async.PermissionDenied):
        return AuthFailedError(text)
    if _unknown_outcome(exc):
        return VenueUnavailableError(text)
    return RefusedError(text, reject_code(exc))


def _unknown_outcome(exc: Exception) -> bool:
    """True when ``exc`` leaves a request's outcome unknown: no answer, a lost connection
    (also one cut while the answer was read, which ccxt raises as a bare ExchangeError), or
    an answer saying so. ccxt's OperationFailed (NetworkError's parent) means exactly that."""
    if isinstance(exc, ccxt_async.OperationFailed | OSError | TimeoutError):
        return True
    if isinstance(exc.__cause__, aiohttp.ClientError | OSError):
        return True
    match = _CODE.search(str(exc))
    return match is not None and int(match.group(1)) in _UNKNOWN_OUTCOME_CODES
