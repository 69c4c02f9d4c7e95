"""A symbol's public trade history on the sandbox: its recent trades and the klines built from
them, what Binance's public REST market data answers (``GET .../trades``, ``.../aggTrades``,
``.../klines``; sources in exchange.py's handlers and docs/sandbox.md).

Every print is one aggregate trade ("trades that fill at the time, from the same order, with the
same price", Binance "Compressed/Aggregate Trades List") of one or more trades with consecutive
ids. The history is bounded: the last ``PRINTS`` aggregates (the most one request returns) and
``MINUTES`` one-minute candles, from which every kline interval is summed. Binance keeps klines
for a market's whole life; the sandbox's start with its first trade. A kline with no trade
repeats the previous close with zero volume, as Binance's do.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections import deque
from datetime import UTC, datetime
from typing import Any, NamedTuple

PRINTS = 1000
MINUTES = 1500  # 25 h of one-minute candles (a kline request's maximum limit)
_MINUTE_MS = 60_000
_DAY_MS = 86_400_000
# Binance's kline intervals (futures and spot; spot's "1s" is finer than the candles kept).
INTERVAL_MS = {
    "1m": _MINUTE_MS,
    "3m": 3 * _MINUTE_MS,
    "5m": 5 * _MINUTE_MS,
    "15m": 15 * _MINUTE_MS,
    "30m": 30 * _MINUTE_MS,
    "1h": 60 * _MINUTE_MS,
    "2h": 120 * _MINUTE_MS,
    "4h": 240 * _MINUTE_MS,
    "6h": 360 * _MINUTE_MS,
    "8h": 480 * _MINUTE_MS,
    "12h": 720 * _MINUTE_MS,
    "1d": _DAY_MS,
    "3d": 3 * _DAY_MS,
    "1w": 7 * _DAY_MS,
}
MONTH = "1M"
# Weeks open on Monday 00:00 UTC; the epoch was a Thursday.
_WEEK_OFFSET_MS = 4 * _DAY_MS


class Print(NamedTuple):
    """One aggregate trade: ``trades`` trades (ids ``first_id``...) of ``lots`` lots in all at
    ``price``; ``buyer_maker`` when the seller took."""

    agg_id: int
    first_id: int
    time_ms: int
    price: float
    lots: int
    trades: int
    buyer_maker: bool

    @property
    def last_id(self) -> int:
        return self.first_id + self.trades - 1


class _Candle:
    """One minute: prices, volume in lots, the other unit's volume (quote, or the coin for an
    inverse contract), trade count and the taker buys' share of both volumes."""

    __slots__ = (
        "buy_lots",
        "buy_second",
        "close",
        "count",
        "high",
        "lots",
        "low",
        "open",
        "open_ms",
        "second",
    )

    def __init__(self, open_ms: int, price: float) -> None:
        self.open_ms = open_ms
        self.open = self.high = self.low = self.close = price
        self.lots = self.buy_lots = self.count = 0
        self.second = self.buy_second = 0.0


class Tape:
    """The recent prints and one-minute candles of one symbol with ticks and lots of ``tick``
    and ``step``; ``contract_usd`` > 0 for an inverse contract (its second volume in the coin:
    contracts × size / price), else linear (quote: lots × step × price)."""

    def __init__(
        self, tick: float, step: float, price_decimals: int, qty_decimals: int, contract_usd: float
    ) -> None:
        self.step = step
        self.contract_usd = contract_usd
        self._price_decimals = price_decimals
        self._qty_decimals = qty_decimals
        self.prints: deque[Print] = deque(maxlen=PRINTS)
        self._minutes: deque[_Candle] = deque(maxlen=MINUTES)
        self._next_agg = 1

    def price_text(self, price: float) -> str:
        return f"{price:.{self._price_decimals}f}"

    def qty_text(self, lots: int) -> str:
        return self.units_text(lots * self.step)

    def units_text(self, qty: float) -> str:
        """A size in order units (base asset or contracts) at the step's decimals."""
        return f"{qty:.{self._qty_decimals}f}"

    def second(self, price: float, lots: int) -> float:
        """The other unit's volume of ``lots`` at ``price``."""
        if self.contract_usd:
            return lots * self.step * self.contract_usd / price
        return lots * self.step * price

    def add(
        self, time_ms: int, price: float, lots: int, trades: int, first_id: int, buyer_maker: bool
    ) -> Print:
        """Record an aggregate trade; its time never runs before the last one's."""
        if self.prints:
            time_ms = max(time_ms, self.prints[-1].time_ms)
        p = Print(self._next_agg, first_id, time_ms, price, lots, trades, buyer_maker)
        self._next_agg += 1
        self.prints.append(p)
        open_ms = time_ms - time_ms % _MINUTE_MS
        if not self._minutes or self._minutes[-1].open_ms != open_ms:
            self._minutes.append(_Candle(open_ms, price))
        c = self._minutes[-1]
        c.high, c.low, c.close = max(c.high, price), min(c.low, price), price
        second = self.second(price, lots)
        c.lots += lots
        c.second += second
        c.count += trades
        if not buyer_maker:
            c.buy_lots += lots
            c.buy_second += second
        return p

    def close_at(self, time_ms: int) -> float | None:
        """The close of the minute holding ``time_ms`` (or of the last before it), None before
        the first trade."""
        minutes = self._minutes
        if not minutes or minutes[0].open_ms > time_ms:
            return None
        return next(c.close for c in reversed(minutes) if c.open_ms <= time_ms)

    def klines(
        self,
        interval: str,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        now_ms: int,
        *,
        latest: bool = False,
    ) -> list[list[Any]]:
        """Binance's kline rows of ``interval`` (a key of INTERVAL_MS, or "1M") opening from
        ``start_ms`` to ``end_ms`` (or now, the open kline included): the first ``limit`` when
        ``start_ms`` is given and not ``latest``, else the last ``limit``; none before the
        first trade."""
        if not self._minutes:
            return []
        lo = _bucket(self._minutes[0].open_ms, interval)
        if start_ms is not None:
            b = _bucket(start_ms, interval)
            lo = max(lo, b if b >= start_ms else _shift(b, interval, 1))
        hi = _bucket(min(end_ms, now_ms) if end_ms is not None else now_ms, interval)
        opens: list[int] = []
        if start_ms is not None and not latest:
            b = lo
            while b <= hi and len(opens) < limit:
                opens.append(b)
                b = _shift(b, interval, 1)
        else:
            b = hi
            while b >= lo and len(opens) < limit:
                opens.append(b)
                b = _shift(b, interval, -1)
            opens.reverse()
        minutes = list(self._minutes)
        starts = [c.open_ms for c in minutes]
        return [self._row(minutes, starts, b, _shift(b, interval, 1)) for b in opens]

    def _row(self, minutes: list[_Candle], starts: list[int], lo: int, hi: int) -> list[Any]:
        i, j = bisect_left(starts, lo), bisect_left(starts, hi)
        inside = minutes[i:j]
        if inside:
            o, c = inside[0].open, inside[-1].close
            h, low = max(m.high for m in inside), min(m.low for m in inside)
        else:
            o = h = low = c = minutes[i - 1].close
        price = self.price_text
        return [
            lo,
            price(o),
            price(h),
            price(low),
            price(c),
            self.qty_text(sum(m.lots for m in inside)),
            hi - 1,
            f"{sum(m.second for m in inside):.8f}",
            sum(m.count for m in inside),
            self.qty_text(sum(m.buy_lots for m in inside)),
            f"{sum(m.buy_second for m in inside):.8f}",
            "0",
        ]


def _bucket(time_ms: int, interval: str) -> int:
    """The open time of the ``interval`` kline holding ``time_ms``."""
    if interval == MONTH:
        t = datetime.fromtimestamp(time_ms / 1000, UTC)
        return calendar.timegm((t.year, t.month, 1, 0, 0, 0)) * 1000
    span = INTERVAL_MS[interval]
    offset = _WEEK_OFFSET_MS if interval == "1w" else 0
    return (time_ms - offset) // span * span + offset


def _shift(open_ms: int, interval: str, n: int) -> int:
    """The open time ``n`` (±1) klines after the one opening at ``open_ms``."""
    if interval != MONTH:
        return open_ms + n * INTERVAL_MS[interval]
    t = datetime.fromtimestamp(open_ms / 1000, UTC)
    month = t.year * 12 + t.month - 1 + n
    return calendar.timegm((month // 12, month % 12 + 1, 1, 0, 0, 0)) * 1000


def valid_interval(interval: str) -> bool:
    return interval == MONTH or interval in INTERVAL_MS
