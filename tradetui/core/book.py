"""L2 order book on integer ticks and lots.

Each side keeps a dict price → size plus a sorted list of keys arranged so that the best price
is at the end (bids ascending; asks stored negated, ascending). Changes near the touch are
the common case, so inserts and removals move only a few list slots.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from tradetui.core.types import Level, Side


class OrderBook:
    """A price-level book. Best prices are cached in ``bid_ticks`` / ``ask_ticks`` (0 = none)."""

    __slots__ = ("_ask_keys", "_asks", "_bid_keys", "_bids", "ask_ticks", "bid_ticks")

    def __init__(self) -> None:
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_keys: list[int] = []  # ascending prices; best bid last
        self._ask_keys: list[int] = []  # ascending negated prices; best ask last
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
        self._refresh_best()

    def apply_delta(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Set each level's absolute size; size 0 removes the level."""
        for p, q in bids:
            self._set(self._bids, self._bid_keys, p, p, q)
        for p, q in asks:
            self._set(self._asks, self._ask_keys, p, -p, q)
        self._refresh_best()

    def set_level(self, side: Side, price_ticks: int, qty_lots: int) -> None:
        """Set one level's absolute size (0 removes it)."""
        if side is Side.BUY:
            self._set(self._bids, self._bid_keys, price_ticks, price_ticks, qty_lots)
        else:
            self._set(self._asks, self._ask_keys, price_ticks, -price_ticks, qty_lots)
        self._refresh_best()

    @staticmethod
    def _set(levels: dict[int, int], keys: list[int], price: int, key: int, qty: int) -> None:
        if qty > 0:
            if price not in levels:
                # Fast path: a new best level goes at the end.
                if not keys or key > keys[-1]:
                    keys.append(key)
                else:
                    keys.insert(bisect_left(keys, key), key)
            levels[price] = qty
        elif price in levels:
            del levels[price]
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]

    def _refresh_best(self) -> None:
        self.bid_ticks = self._bid_keys[-1] if self._bid_keys else 0
        self.ask_ticks = -self._ask_keys[-1] if self._ask_keys else 0

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
        if side is Side.BUY:
            keys = self._bid_keys[-n:] if n > 0 else []
            return [(p, self._bids[p]) for p in reversed(keys)]
        keys = self._ask_keys[-n:] if n > 0 else []
        return [(-k, self._asks[-k]) for k in reversed(keys)]

    def top_sizes(self, side: Side, n: int) -> list[int]:
        """Sizes in lots of the best ``n`` levels of one side, best first (no price tuples)."""
        if side is Side.BUY:
            bids = self._bids
            return [bids[p] for p in reversed(self._bid_keys[-n:])] if n > 0 else []
        asks = self._asks
        return [asks[-k] for k in reversed(self._ask_keys[-n:])] if n > 0 else []

    def depth_lots(self, side: Side, n: int) -> int:
        """Total size in lots over the best ``n`` levels of one side."""
        return sum(q for _, q in self.levels(side, n))

    def level_count(self, side: Side) -> int:
        return len(self._bids if side is Side.BUY else self._asks)

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
