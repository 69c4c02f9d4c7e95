"""L2 order book on integer ticks and lots.

Each side is a dict price → size plus its cached best price; no sorted index is kept, so a
delta costs one ``dict.update`` per side. A removed level may stay in the dict as a zero-size
entry (a tombstone): feeds remove and re-add the same prices near the touch all the time.
After a delta the best price is the delta's own best positive level when that beats the old
best (the delta carries it, worked out once where it was decoded); when the best level went
away the next one is found by stepping tick by tick from it (books are dense near the
touch), with a scan of the whole side as the bounded fallback.
Reads of the top levels step the same way; reads of a whole side sort it. Zero-size entries
are invisible to every read and swept out once they outnumber the live levels.
"""

from __future__ import annotations

from collections.abc import Iterable

from tradetui.core.types import BookDelta, Level, Side

# Ticks stepped away from the touch before a read of the top levels sorts the side instead.
_STEP_LIMIT = 64
# Ticks stepped to find the next best price before scanning the whole side for it.
_BEST_STEP_LIMIT = 1024
# Sweep zero-size entries when a side holds more than this many keys and twice its live
# levels at the last sweep: memory stays bounded on long sessions at an amortized O(1) cost.
_SWEEP_MIN_KEYS = 4096


class OrderBook:
    """A price-level book. Best prices are cached in ``bid_ticks`` / ``ask_ticks`` (0 = none)."""

    __slots__ = ("_ask_sweep", "_asks", "_bid_sweep", "_bids", "ask_ticks", "bid_ticks")

    def __init__(self) -> None:
        self._bids: dict[int, int] = {}  # price → size; size 0 = removed (a tombstone)
        self._asks: dict[int, int] = {}
        self._bid_sweep = _SWEEP_MIN_KEYS  # key count that triggers the next sweep
        self._ask_sweep = _SWEEP_MIN_KEYS
        self.bid_ticks = 0
        self.ask_ticks = 0

    # ---- updates -----------------------------------------------------------------------------

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self.bid_ticks = 0
        self.ask_ticks = 0

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the whole book; zero-size levels are ignored."""
        self.clear()
        self._bids.update((p, q) for p, q in bids if q > 0)
        self._asks.update((p, q) for p, q in asks if q > 0)
        self._bid_sweep = max(_SWEEP_MIN_KEYS, 2 * len(self._bids))
        self._ask_sweep = max(_SWEEP_MIN_KEYS, 2 * len(self._asks))
        self.bid_ticks = max(self._bids, default=0)
        self.ask_ticks = min(self._asks, default=0)

    def apply_delta(self, delta: BookDelta) -> None:
        """Set each listed level's absolute size; size 0 removes the level."""
        if delta.bids:
            self._update_bids(delta.bids, delta.top_bid_ticks)
        if delta.asks:
            self._update_asks(delta.asks, delta.top_ask_ticks)

    def set_level(self, side: Side, price_ticks: int, qty_lots: int) -> None:
        """Set one level's absolute size (0 removes it)."""
        top = price_ticks if qty_lots > 0 else 0
        if side is Side.BUY:
            self._update_bids(((price_ticks, qty_lots),), top)
        else:
            self._update_asks(((price_ticks, qty_lots),), top)

    def _update_bids(self, bids: Iterable[Level], top_ticks: int) -> None:
        """``top_ticks``: the highest of ``bids`` with a positive size (0 when none)."""
        levels = self._bids
        levels.update(bids)
        best = self.bid_ticks
        if top_ticks > best:
            best = top_ticks
        if levels.get(best, 0) <= 0:
            best = _bid_below(levels, best)
        self.bid_ticks = best
        if len(levels) > self._bid_sweep:
            self._bid_sweep = _sweep(levels)

    def _update_asks(self, asks: Iterable[Level], top_ticks: int) -> None:
        """``top_ticks``: the lowest of ``asks`` with a positive size (0 when none)."""
        levels = self._asks
        levels.update(asks)
        best = self.ask_ticks
        if top_ticks and (not best or top_ticks < best):
            best = top_ticks
        if levels.get(best, 0) <= 0:
            best = _ask_above(levels, best)
        self.ask_ticks = best
        if len(levels) > self._ask_sweep:
            self._ask_sweep = _sweep(levels)

    def set_touch(self, bid_ticks: int, bid_lots: int, ask_ticks: int, ask_lots: int) -> None:
        """Apply a best bid/offer: set both touch levels and remove every level better than
        them (a price of 0 empties that side)."""
        levels = self._bids
        best = self.bid_ticks
        if not bid_ticks:
            levels.clear()
            self.bid_ticks = 0
        else:
            if best > bid_ticks:
                _zero(levels, bid_ticks + 1, best + 1)
            if bid_lots > 0:
                levels[bid_ticks] = bid_lots
                self.bid_ticks = bid_ticks
            else:
                levels.pop(bid_ticks, None)
                if best >= bid_ticks:
                    self.bid_ticks = _bid_below(levels, bid_ticks)
        levels = self._asks
        best = self.ask_ticks
        if not ask_ticks:
            levels.clear()
            self.ask_ticks = 0
        else:
            if best and best < ask_ticks:
                _zero(levels, best, ask_ticks)
            if ask_lots > 0:
                levels[ask_ticks] = ask_lots
                self.ask_ticks = ask_ticks
            else:
                levels.pop(ask_ticks, None)
                if not best or best <= ask_ticks:
                    self.ask_ticks = _ask_above(levels, ask_ticks)

    # ---- reads -------------------------------------------------------------------------------

    @property
    def valid(self) -> bool:
        """Both sides present and not crossed."""
        return 0 < self.bid_ticks < self.ask_ticks

    @property
    def bid_lots(self) -> int:
        return self._bids.get(self.bid_ticks, 0)

    @property
    def ask_lots(self) -> int:
        return self._asks.get(self.ask_ticks, 0)

    def qty_at(self, side: Side, price_ticks: int) -> int:
        """Displayed size in lots at a price on one side (0 when empty)."""
        q = (self._bids if side is Side.BUY else self._asks).get(price_ticks, 0)
        return q if q > 0 else 0

    def levels(self, side: Side, n: int) -> list[Level]:
        """The best ``n`` levels of one side, best first."""
        out: list[Level] = []
        if n <= 0:
            return out
        buy = side is Side.BUY
        levels = self._bids if buy else self._asks
        p = self.bid_ticks if buy else self.ask_ticks
        if not p:
            return out
        step = -1 if buy else 1
        get = levels.get
        # Step from the touch while the levels found keep pace with the ticks walked.
        budget = _STEP_LIMIT
        while budget > 0 and p > 0:
            q = get(p, 0)
            if q > 0:
                out.append((p, q))
                if len(out) == n:
                    return out
                budget += 1
            budget -= 1
            p += step
        if p <= 0:
            return out
        rest = sorted(
            ((k, q) for k, q in levels.items() if q > 0 and (k <= p if buy else k >= p)),
            reverse=buy,
        )
        out += rest[: n - len(out)]
        return out

    def top_sizes(self, side: Side, n: int) -> list[int]:
        """Sizes in lots of the best ``n`` levels of one side, best first (no price tuples)."""
        return [q for _, q in self.levels(side, n)]

    def depth_lots(self, side: Side, n: int) -> int:
        """Total size in lots over the best ``n`` levels of one side."""
        return sum(q for _, q in self.levels(side, n))

    def level_count(self, side: Side) -> int:
        levels = self._bids if side is Side.BUY else self._asks
        return sum(1 for q in levels.values() if q > 0)

    def mid_ticks(self) -> float:
        """Mid price in ticks (float; x.5 when the spread is odd). 0 when a side is empty."""
        if not self.bid_ticks or not self.ask_ticks:
            return 0.0
        return (self.bid_ticks + self.ask_ticks) * 0.5

    def spread_ticks(self) -> int:
        return self.ask_ticks - self.bid_ticks if self.valid else 0

    def microprice_ticks(self) -> float:
        """Size-weighted mid: leans toward the side with less size at the touch (ticks)."""
        bq, aq = self.bid_lots, self.ask_lots
        if bq + aq == 0:
            return self.mid_ticks()
        return (self.bid_ticks * aq + self.ask_ticks * bq) / (bq + aq)

    def imbalance(self, n: int = 1) -> float:
        """(bid − ask) / (bid + ask) over the best ``n`` levels, in [−1, 1]."""
        b = self.depth_lots(Side.BUY, n)
        a = self.depth_lots(Side.SELL, n)
        return (b - a) / (b + a) if b + a else 0.0


def _bid_below(levels: dict[int, int], price_ticks: int) -> int:
    """The best bid once ``price_ticks`` and everything above it are gone; 0 when none."""
    get = levels.get
    for p in range(price_ticks - 1, max(price_ticks - _BEST_STEP_LIMIT, 0), -1):
        if get(p, 0) > 0:
            return p
    return max((k for k, q in levels.items() if q > 0), default=0)


def _ask_above(levels: dict[int, int], price_ticks: int) -> int:
    """The best ask once ``price_ticks`` and everything below it are gone; 0 when none."""
    if price_ticks:
        get = levels.get
        for p in range(price_ticks + 1, price_ticks + _BEST_STEP_LIMIT):
            if get(p, 0) > 0:
                return p
    return min((k for k, q in levels.items() if q > 0), default=0)


def _zero(levels: dict[int, int], lo_ticks: int, hi_ticks: int) -> None:
    """Remove every level with lo_ticks <= price < hi_ticks."""
    if hi_ticks - lo_ticks <= len(levels):
        for p in range(lo_ticks, hi_ticks):
            levels.pop(p, None)
    else:
        for p in [k for k in levels if lo_ticks <= k < hi_ticks]:
            del levels[p]


def _sweep(levels: dict[int, int]) -> int:
    """Drop zero-size entries of one side in place; returns the key count of the next sweep."""
    for p in [k for k, q in levels.items() if q <= 0]:
        del levels[p]
    return max(_SWEEP_MIN_KEYS, 2 * len(levels))
