"""L2 order book on integer ticks and lots.

Each side is a dict price → size plus its cached best price, so a delta costs one
``dict.update`` per side (and the band upkeep below, once levels are read). A removed level
stays in the dict as a zero-size entry (a tombstone): feeds remove and re-add the same prices
near the touch all the time.
After a delta the best price is the delta's own best positive level when that beats the old
best (the delta carries it, worked out once where it was decoded); when the best level went
away the next one is found by stepping tick by tick from it (books are dense near the
touch), with a scan of the whole side as the bounded fallback.

Reads of the top levels take the last entries of a sorted list of each side's live prices near
its best (a band). Updates keep that list exact: each updated level within the band costs a
binary search (and a list insert or delete when it appears or goes), one deeper costs a
compare, so a read costs the same however many updates came before it. A band reaches several
times deeper than the levels read; when the best rises it is narrowed from below, and when the
best falls so far that fewer than the levels read are left in it, it is rebuilt from the whole
side (rare: the band's depth is several times the span of the levels read). Reads of more
levels than any band sort the side. Zero-size entries are invisible to every read and swept
out once they outnumber the live levels. Reads of levels may rebuild or narrow a band, so like
updates they belong to the thread that owns the book.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from heapq import nlargest

from tradetui.core.types import BookDelta, Level, Side

# A rebuilt band reaches this many times deeper than the deepest level read, and at least
# _BAND_MIN_TICKS: the best price can drift that far before the band is rebuilt.
_BAND_DEPTH = 8
_BAND_MIN_TICKS = 64
# Reads of more levels than this leave the band as it is and sort the side.
_BAND_MAX_LEVELS = 64
# An edge beyond every price (signed prices are at most the largest tick price).
_FAR = 1 << 62
# Ticks stepped to find the next best price before scanning the whole side for it.
_BEST_STEP_LIMIT = 1024
# Sweep zero-size entries when a side holds more than this many keys and twice its live
# levels at the last sweep: memory stays bounded on long sessions at an amortized O(1) cost.
_SWEEP_MIN_KEYS = 4096


class OrderBook:
    """A price-level book. Best prices are cached in ``bid_ticks`` / ``ask_ticks`` (0 = none)."""

    __slots__ = (
        "_ask_index",
        "_ask_sweep",
        "_asks",
        "_bid_index",
        "_bid_sweep",
        "_bids",
        "ask_ticks",
        "bid_ticks",
    )

    def __init__(self) -> None:
        self._bids: dict[int, int] = {}  # price → size; size 0 = removed (a tombstone)
        self._asks: dict[int, int] = {}
        self._bid_index = _NearIndex(1)
        self._ask_index = _NearIndex(-1)
        self._bid_sweep = _SWEEP_MIN_KEYS  # key count that triggers the next sweep
        self._ask_sweep = _SWEEP_MIN_KEYS
        self.bid_ticks = 0
        self.ask_ticks = 0

    # ---- updates -----------------------------------------------------------------------------

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_index.reset()
        self._ask_index.reset()
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
        if self._bid_index.edge != _FAR:
            self._bid_index.note(bids, levels)
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
        if self._ask_index.edge != _FAR:
            self._ask_index.note(asks, levels)
        if len(levels) > self._ask_sweep:
            self._ask_sweep = _sweep(levels)

    def set_touch(self, bid_ticks: int, bid_lots: int, ask_ticks: int, ask_lots: int) -> None:
        """Apply a best bid/offer: set both touch levels and remove every level better than
        them (a price of 0 empties that side)."""
        levels, index = self._bids, self._bid_index
        best = self.bid_ticks
        if not bid_ticks:
            levels.clear()
            index.reset()
            self.bid_ticks = 0
        else:
            if best > bid_ticks:
                _zero(levels, bid_ticks + 1, best + 1)
                index.drop_above(bid_ticks)
            if bid_lots > 0:
                levels[bid_ticks] = bid_lots
                self.bid_ticks = bid_ticks
            else:
                levels.pop(bid_ticks, None)
                if best >= bid_ticks:
                    self.bid_ticks = _bid_below(levels, bid_ticks)
            if index.edge != _FAR:
                index.note(((bid_ticks, bid_lots),), levels)
        levels, index = self._asks, self._ask_index
        best = self.ask_ticks
        if not ask_ticks:
            levels.clear()
            index.reset()
            self.ask_ticks = 0
        else:
            if best and best < ask_ticks:
                _zero(levels, best, ask_ticks)
                index.drop_above(ask_ticks)
            if ask_lots > 0:
                levels[ask_ticks] = ask_lots
                self.ask_ticks = ask_ticks
            else:
                levels.pop(ask_ticks, None)
                if not best or best <= ask_ticks:
                    self.ask_ticks = _ask_above(levels, ask_ticks)
            if index.edge != _FAR:
                index.note(((ask_ticks, ask_lots),), levels)

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
        if side is Side.BUY:
            levels = self._bids
            prices = self._bid_index.prices(levels, self.bid_ticks, n)
        else:
            levels = self._asks
            prices = self._ask_index.prices(levels, self.ask_ticks, n)
        return [(p, levels[p]) for p in prices]

    def top_sizes(self, side: Side, n: int) -> list[int]:
        """Sizes in lots of the best ``n`` levels of one side, best first (no price tuples)."""
        if side is Side.BUY:
            levels = self._bids
            return list(map(levels.__getitem__, self._bid_index.prices(levels, self.bid_ticks, n)))
        levels = self._asks
        return list(map(levels.__getitem__, self._ask_index.prices(levels, self.ask_ticks, n)))

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


class _NearIndex:
    """The sorted live prices of one side near its best, for reads of the top levels.

    Prices are signed (bids as they are, asks negated) so the best is the largest on both
    sides. ``keys`` holds, ascending, every price at or above ``edge`` with a positive size,
    and nothing else: updates keep it so (``note``), which costs a binary search for each
    updated level within the band and a compare for the rest, so a read of the best ``n``
    levels is the last ``n`` keys. ``edge`` = ``_FAR`` is an empty band (nothing to keep).
    """

    __slots__ = ("depth", "edge", "keys", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.keys: list[int] = []
        self.edge = _FAR
        self.depth = 0  # how far below the deepest level read the band reaches, when rebuilt

    def reset(self) -> None:
        """Cover nothing: the side was emptied or replaced."""
        self.keys.clear()
        self.edge = _FAR

    def note(self, changed: Iterable[Level], levels: dict[int, int]) -> None:
        """File the levels of ``changed`` (already applied to ``levels``) that lie in the band:
        a price whose size is now positive joins ``keys``, one whose size is now zero leaves."""
        edge, keys, get, find, sign = self.edge, self.keys, levels.get, bisect_left, self.sign
        # Prices within the band, signed.
        if sign > 0:
            near = [p for p, _ in changed if p >= edge]
        else:
            near = [-p for p, _ in changed if -p >= edge]
        for s in near:
            i = find(keys, s)
            held = i < len(keys) and keys[i] == s
            if get(s * sign, 0) > 0:
                if not held:
                    keys.insert(i, s)
            elif held:
                del keys[i]

    def drop_above(self, best_ticks: int) -> None:
        """Forget prices better than ``best_ticks`` (a best bid/offer removed them)."""
        keys = self.keys
        del keys[bisect_right(keys, best_ticks * self.sign) :]

    def prices(self, levels: dict[int, int], best_ticks: int, n: int) -> list[int]:
        """Prices (unsigned) of the best ``n`` levels of ``levels``, best first."""
        if n <= 0 or not best_ticks:
            return []
        keys, sign = self.keys, self.sign
        if len(keys) < n and self.edge != -_FAR:
            if n > _BAND_MAX_LEVELS:  # deeper than any band: sort the side
                return [
                    s * sign for s in nlargest(n, (p * sign for p, q in levels.items() if q > 0))
                ]
            self._rebuild(levels, n)
            keys = self.keys
        top = keys[-n:]
        top.reverse()
        if len(keys) >= n and top[-1] - self.edge > 2 * self.depth:
            # The levels read rose far above the band's edge: narrow it from below.
            self.edge = edge = top[-1] - self.depth
            del keys[: bisect_left(keys, edge)]
        return top if sign > 0 else [-s for s in top]

    def _rebuild(self, levels: dict[int, int], n: int) -> None:
        """Band the side anew around its best price, deep enough for ``n`` levels."""
        sign = self.sign
        live = [p * sign for p, q in levels.items() if q > 0]
        best = nlargest(n, live)
        if not best:
            self.reset()
            return
        self.depth = max(_BAND_MIN_TICKS, _BAND_DEPTH * (best[0] - best[-1]))
        # With fewer than n levels the whole side is in the band.
        self.edge = edge = best[-1] - self.depth if len(best) == n else -_FAR
        self.keys = sorted(s for s in live if s >= edge)


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
