"""Request pacing from Binance's rate-limit headers, so a busy account slows down before the
exchange answers 429 (and, if it kept going, 418: an IP ban).

Binance publishes its limits in ``exchangeInfo.rateLimits`` (USD-M: request weight 2400 per
minute per IP, orders 300 per 10 s and 1200 per minute per account) and reports what is used
in every answer: ``X-MBX-USED-WEIGHT-1M`` (the IP's weight this minute) and, on order
answers, ``X-MBX-ORDER-COUNT-10S`` / ``-1M`` (the account's new orders). Windows are fixed: a
one-minute window starts at every minute of the exchange clock (Binance "Rate limits":
developers.binance.com/docs/binance-spot-api-docs/websocket-api/rate-limits; USD-M "General
Info" → "Limits"). Sources and figures: docs/rate-limits.md.

``Pacer`` is pure (the caller passes the time): fed each answer's headers, it says how long a
request of a given ``Kind`` should wait. Below ``soft`` (a fraction of a limit) nothing waits.
Above it the budget left in the window is spread over the time left in it, and the kinds
differ in how much of the budget they may spend: low-importance reads (fill polls, account
checks) stop at ``soft`` and wait for the next window; ordinary reads and placements stop at
``hard``; cancels and reduce-only orders may use all of it, because they are how risk is
reduced: they are held back only once the limit itself is reached (sending then earns a 429
and, repeated, a ban, after which nothing can be cancelled at all). A new order counts
against the order limits (it weighs 0 on USD-M's IP limit), but a placement is also held to
``hard`` of the weight limit: every resting order will need a cancel, and the last part of the
weight is kept for those. Everything else counts against the weight limit.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Binance's header letters per rateLimits interval (Binance "Limits": SECOND => S, ...).
_LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}
_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}
_WEIGHT = "REQUEST_WEIGHT"
_ORDERS = "ORDERS"


class Kind(enum.Enum):
    """What a request is for, most important last."""

    POLL = "poll"  # fill polls and account checks: yield first
    READ = "read"  # order look-ups and the rest
    PLACE = "place"  # a new order (counts against the order limits)
    REDUCE = "reduce"  # a reduce-only order: reduces risk, held back only at the limit itself
    CANCEL = "cancel"  # reduces risk: held back only at the limit itself


@dataclass(slots=True)
class Limit:
    """One of the exchange's rate limits and what is known to be used of it."""

    kind: str  # "REQUEST_WEIGHT" or "ORDERS"
    window_s: int
    limit: int
    header: str  # lower case, e.g. "x-mbx-used-weight-1m"
    header_upper: str = field(init=False)
    used: int = 0
    window_start: float = -1.0  # start of the window ``used`` belongs to (exchange time, s)
    last_sent: float = -math.inf

    def __post_init__(self) -> None:
        self.header_upper = self.header.upper()

    @property
    def span(self) -> str:
        return f"{self.window_s // 60}m" if self.window_s % 60 == 0 else f"{self.window_s}s"

    def used_at(self, now: float) -> int:
        """What is used in the window holding ``now`` (0 once a new window has begun)."""
        return self.used if self._start(now) == self.window_start else 0

    def _start(self, now: float) -> float:
        return math.floor(now / self.window_s) * self.window_s

    def add(self, count: int, now: float) -> None:
        start = self._start(now)
        if start != self.window_start:
            self.window_start, self.used = start, 0
        self.used += count

    def observe(self, used: int, now: float) -> None:
        """The exchange says ``used``: counts only grow within a window, so the larger of it
        and our own count (which includes requests still in flight) stands."""
        start = self._start(now)
        if start != self.window_start:
            self.window_start, self.used = start, used
        else:
            self.used = max(self.used, used)

    def left_s(self, now: float) -> float:
        """Seconds until the window holding ``now`` ends."""
        return self._start(now) + self.window_s - now

    def delay(self, cap: float, now: float) -> float:
        """Seconds to wait so that at most ``cap`` (a count) is used by the window's end,
        spreading what is left evenly over the time left."""
        left_s = self.left_s(now)
        budget = cap - self.used_at(now)
        if budget < 1:
            return left_s
        return max(self.last_sent + left_s / budget - now, 0.0)


def rate_limits(text: str) -> list[dict[str, Any]]:
    """The ``rateLimits`` array of an exchangeInfo body (JSON text), or [] when it has none;
    only that array is parsed (a real USD-M exchangeInfo is megabytes)."""
    key = text.find('"rateLimits"')
    if key < 0:
        return []
    start = text.find("[", key)
    end = text.find("]", start)
    if start < 0 or end < 0:
        return []
    try:
        parsed = json.loads(text[start : end + 1])
    except ValueError:
        return []
    return [r for r in parsed if isinstance(r, dict)] if isinstance(parsed, list) else []


def limits_from(entries: Iterable[Mapping[str, Any]]) -> list[Limit]:
    """Our limits from exchangeInfo ``rateLimits`` entries (REQUEST_WEIGHT and ORDERS; others,
    such as spot's RAW_REQUESTS, and malformed entries are skipped)."""
    out = []
    for e in entries:
        kind, interval = e.get("rateLimitType"), str(e.get("interval", ""))
        try:
            num, limit = int(e.get("intervalNum", 0)), int(e.get("limit", 0))
        except (TypeError, ValueError):
            continue
        if kind not in (_WEIGHT, _ORDERS) or interval not in _LETTER or num <= 0 or limit <= 0:
            continue
        prefix = "x-mbx-used-weight-" if kind == _WEIGHT else "x-mbx-order-count-"
        header = f"{prefix}{num}{_LETTER[interval]}".lower()
        out.append(Limit(kind, num * _SECONDS[interval], limit, header))
    return out


@dataclass(slots=True)
class Pacer:
    """When the next request of each kind may go, from the limits and the answers' headers.

    ``soft``: below this fraction of every limit nothing waits; polls stop at it. ``hard``:
    the fraction reads and placements may use; cancels may use the whole limit.
    """

    limits: list[Limit]
    soft: float = 0.8
    hard: float = 0.95
    _gates: dict[Kind, list[Limit]] = field(init=False)
    _counts: dict[Kind, list[Limit]] = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.soft <= self.hard <= 1:
            raise ValueError("pacing needs 0 < soft <= hard <= 1")
        weight = [lim for lim in self.limits if lim.kind == _WEIGHT]
        orders = [lim for lim in self.limits if lim.kind == _ORDERS]
        # The limits that hold each kind back, and those its requests count against.
        self._gates = dict.fromkeys(Kind, weight) | {
            Kind.PLACE: orders + weight,
            Kind.REDUCE: orders,
        }
        self._counts = dict.fromkeys(Kind, weight) | {Kind.PLACE: orders, Kind.REDUCE: orders}

    def observe(self, headers: Mapping[str, Any] | None, now: float) -> None:
        """Take the used counts an answer's headers carry (names in lower case, as Binance
        sends them, or upper case, as its documentation writes them)."""
        if not headers:
            return
        for lim in self.limits:
            value = headers.get(lim.header)
            if value is None:
                value = headers.get(lim.header_upper)
                if value is None:
                    continue
            try:
                lim.observe(int(value), now)
            except (TypeError, ValueError):
                continue

    def delay(self, kind: Kind, now: float) -> float:
        """Seconds a request of ``kind`` sent next should wait (0 = at once)."""
        wait = 0.0
        for lim in self._gates[kind]:
            used = lim.used_at(now)
            if used < self.soft * lim.limit:
                continue
            if kind is Kind.CANCEL or kind is Kind.REDUCE:
                # Only what the limit itself requires: a cancel goes while one unit is left.
                if used + 1 > lim.limit:
                    wait = max(wait, lim.left_s(now))
                continue
            cap = self.soft if kind is Kind.POLL else self.hard
            wait = max(wait, lim.delay(cap * lim.limit, now))
        return wait

    def schedule(self, kind: Kind, now: float) -> float:
        """``delay`` for a request that will be sent after it: the requests scheduled after
        it are spaced from its sending time."""
        wait = self.delay(kind, now)
        for lim in self._gates[kind]:
            lim.last_sent = max(lim.last_sent, now + wait)
        return wait

    def sent(self, kind: Kind, now: float) -> None:
        """A request of ``kind`` goes now: counted until the exchange's own figure comes back
        (a new order is one order; any other request at least one unit of weight)."""
        for lim in self._counts[kind]:
            lim.add(1, now)

    def engaged(self, now: float) -> bool:
        """True while some limit is at or above ``soft``."""
        return any(lim.used_at(now) >= self.soft * lim.limit for lim in self.limits)

    def figures(self, now: float) -> str:
        """What is used of each limit, e.g. 'weight 1950/2400 per 1m, orders 12/300 per 10s'."""
        parts = []
        for lim in self.limits:
            kind = "weight" if lim.kind == _WEIGHT else "orders"
            parts.append(f"{kind} {lim.used_at(now)}/{lim.limit} per {lim.span}")
        return ", ".join(parts)
