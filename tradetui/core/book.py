"""L2 order book on integer ticks and lots.

Each side keeps a dict price → size plus a sorted list of its keys arranged so that the best
price is at the end (bids ascending; asks stored negated, ascending). A removed level stays in
both as a zero-size entry (a tombstone) unless it was the best: a feed removes and re-adds the
same prices near the touch all the time, and a dict write is far cheaper than moving list
slots. A delta is thus one ``dict.update`` plus a list insert per price never seen before.
Zero-size entries are invisible to every read; the best price is never one (they are popped
off the end as they surface), and they are swept out once they outnumber the live levels.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable

from tradetui.core.types import Level, Side

# Sweep zero-size entries when a side holds more than this many keys and twice its live
# levels at the last sweep: memory stays bounded on long sessions at an amortized O(1) cost.
_SWEEP_MIN_KEYS = 4096


class OrderBook:
    """A price-level book. Best prices are cached in ``bid_ticks`` / ``ask_ticks`` (0 = none)."""

    __slots__ = (
        "_ask_keys",
        "_ask_sweep",
        "_asks",
        "_bid_keys",
        "_bid_sweep",
        "_bids",
        "ask_ticks",
        "bid_ticks",
    )

    def __init__(self) -> None:
        self._bids: dict[int, int] = {}  # price → size; 0 = removed (a tombstone)
        self._asks: dict[int, int] = {}
        self._bid_keys: list[int] = []  # ascending prices; best bid last
        self._ask_keys: list[int] = []  # ascending negated prices; best ask last
        self._bid_sweep = _SWEEP_MIN_KEYS  # key count that triggers the next sweep
        self._ask_sweep = _SWEEP_MIN_KEYS
        self.bid_ticks = 0
        self.ask_ticks = 0

    # ---- updates -----------------------------------------------------------------------------

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_keys.clear()
        self._ask_keys.clear()
        self.bid_ticks = 0
        self.ask_ticks = 0

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the whole book; zero-size levels are ignored."""
        self.clear()
        self._bids.update((p, q) for p, q in bids if q > 0)
        self._asks.update((p, q) for p, q in asks if q > 0)
        self._bid_keys.extend(sorted(self._bids))
        self._ask_keys.extend(sorted(-p for p in self._asks))
        self._bid_sweep = max(_SWEEP_MIN_KEYS, 2 * len(self._bids))
        self._ask_sweep = max(_SWEEP_MIN_KEYS, 2 * len(self._asks))
        self.bid_ticks = self._bid_keys[-1] if self._bid_keys else 0
        self.ask_ticks = -self._ask_keys[-1] if self._ask_keys else 0

    def apply_delta(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Set each level's absolute size; size 0 removes the level."""
        if bids:
            levels = self._bids
            keys = self._bid_keys
            new = [p for p, _ in bids if p not in levels]
            levels.update(bids)
            if new:
                for p in dict.fromkeys(new) if len(new) > 1 else new:
                    if not keys or p > keys[-1]:
                        keys.append(p)
                    else:
                        insort(keys, p)
                if len(keys) > self._bid_sweep:
                    self._bid_sweep = _sweep(levels, keys, False)
            while keys and levels[keys[-1]] <= 0:
                del levels[keys.pop()]
            self.bid_ticks = keys[-1] if keys else 0
        if asks:
            levels = self._asks
            keys = self._ask_keys
            new = [p for p, _ in asks if p not in levels]
            levels.update(asks)
            if new:
                for p in dict.fromkeys(new) if len(new) > 1 else new:
                    if not keys or -p > keys[-1]:
                        keys.append(-p)
                    else:
                        insort(keys, -p)
                if len(keys) > self._ask_sweep:
                    self._ask_sweep = _sweep(levels, keys, True)
            while keys and levels[-keys[-1]] <= 0:
                del levels[-keys.pop()]
            self.ask_ticks = -keys[-1] if keys else 0

    def set_level(self, side: Side, price_ticks: int, qty_lots: int) -> None:
        """Set one level's absolute size (0 removes it)."""
        if side is Side.BUY:
            self.apply_delta(((price_ticks, qty_lots),), ())
        else:
            self.apply_delta((), ((price_ticks, qty_lots),))

    def set_touch(self, bid_ticks: int, bid_lots: int, ask_ticks: int, ask_lots: int) -> None:
        """Apply a best bid/offer: set both touch levels and remove every level better than
        them (a price of 0 empties that side)."""
        levels, keys = self._bids, self._bid_keys
        if self.bid_ticks > bid_ticks:
            while keys and keys[-1] > bid_ticks:
                del levels[keys.pop()]
        if bid_ticks:
            if bid_ticks in levels:
                levels[bid_ticks] = bid_lots
            elif bid_lots > 0:
                levels[bid_ticks] = bid_lots
                if not keys or bid_ticks > keys[-1]:
                    keys.append(bid_ticks)
                else:
                    insort(keys, bid_ticks)
        while keys and levels[keys[-1]] <= 0:
            del levels[keys.pop()]
        self.bid_ticks = keys[-1] if keys else 0
        levels, keys = self._asks, self._ask_keys
        if self.ask_ticks and (not ask_ticks or self.ask_ticks < ask_ticks):
            while keys and (not ask_ticks or -keys[-1] < ask_ticks):
                del levels[-keys.pop()]
        if ask_ticks:
            if ask_ticks in levels:
                levels[ask_ticks] = ask_lots
            elif ask_lots > 0:
                levels[ask_ticks] = ask_lots
                if not keys or -ask_ticks > keys[-1]:
                    keys.append(-ask_ticks)
                else:
                    insort(keys, -ask_ticks)
        while keys and levels[-keys[-1]] <= 0:
            del levels[-keys.pop()]
        self.ask_ticks = -keys[-1] if keys else 0

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
        return (self._bids if side is Side.BUY else self._asks).get(price_ticks, 0)

    def levels(self, side: Side, n: int) -> list[Level]:
        """The best ``n`` levels of one side, best first."""
        out: list[Level] = []
        if n <= 0:
            return out
        if side is Side.BUY:
            levels = self._bids
            for p in reversed(self._bid_keys):
                q = levels[p]
                if q > 0:
                    out.append((p, q))
                    if len(out) == n:
                        break
        else:
            levels = self._asks
            for k in reversed(self._ask_keys):
                q = levels[-k]
                if q > 0:
                    out.append((-k, q))
                    if len(out) == n:
                        break
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


def _sweep(levels: dict[int, int], keys: list[int], negated: bool) -> int:
    """Drop zero-size entries of one side in place; returns the key count of the next sweep."""
    live = {p: q for p, q in levels.items() if q > 0}
    levels.clear()
    levels.update(live)
    keys[:] = sorted(-p for p in live) if negated else sorted(live)
    return max(_SWEEP_MIN_KEYS, 2 * len(live))
