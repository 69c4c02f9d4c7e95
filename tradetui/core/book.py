"""L2 order book on integer ticks and lots.

Each side is a dict price → size plus its cached best price, so a delta costs one
``dict.update`` per side. A removed level stays in the dict as a zero-size entry (a
tombstone): feeds remove and re-add the same prices near the touch all the time.
After a delta the best price is the delta's own best positive level when that beats the old
best (the delta carries it, worked out once where it was decoded); when the best level went
away the next one is found by stepping tick by tick from it (books are dense near the
touch), with a scan of the whole side as the bounded fallback.

Reads of the top levels walk a sorted list of each side's prices near its best (a band) that
updates never touch. A dict keeps its keys in insertion order, so the keys a read has not seen
yet are the dict's last ones (``reversed`` yields them without a scan): a read first files
those that fall within the band (most updates of a feed lie deeper and are left out), then
walks down from the best price, dropping the zero-size entries it stepped over from the band
and the dict alike. A band reaches several times deeper than the levels read; when the best
rises it is narrowed from below, and when a read runs past its edge (the best fell that far)
it is rebuilt from the whole side. Reads of a whole side sort what lies beyond the band.
Zero-size entries are invisible to every read and swept out once they outnumber the live
levels. Reads of levels change the book's internals (the band, zero-size entries), so like
updates they belong to the thread that owns the book.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from heapq import nlargest
from itertools import islice

from tradetui.core.types import BookDelta, Level, Side

# A rebuilt band reaches this many times deeper than the deepest level read, and at least
# _BAND_MIN_TICKS: the best price can drift that far before the band is rebuilt.
_BAND_DEPTH = 8
_BAND_MIN_TICKS = 64
# New prices within a band inserted one by one; more are appended and the band re-sorted.
_INSORT_MAX = 48
# Zero-size entries a read may step over before it drops those it stepped over.
_DEAD_MAX = 8
# Reads of more levels than this leave the band as it is and sort what lies beyond it.
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
        if len(levels) > self._bid_sweep:
            self._bid_sweep = _sweep(levels, self._bid_index)

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
            self._ask_sweep = _sweep(levels, self._ask_index)

    def set_touch(self, bid_ticks: int, bid_lots: int, ask_ticks: int, ask_lots: int) -> None:
        """Apply a best bid/offer: set both touch levels and remove every level better than
        them (a price of 0 empties that side)."""
        levels = self._bids
        best = self.bid_ticks
        if not bid_ticks:
            levels.clear()
            self._bid_index.reset()
            self.bid_ticks = 0
        else:
            if best > bid_ticks:
                _zero(levels, bid_ticks + 1, best + 1, self._bid_index.edge == _FAR)
            if bid_lots > 0:
                levels[bid_ticks] = bid_lots
                self.bid_ticks = bid_ticks
            else:
                if self._bid_index.edge == _FAR:
                    levels.pop(bid_ticks, None)
                elif bid_ticks in levels:
                    levels[bid_ticks] = 0
                if best >= bid_ticks:
                    self.bid_ticks = _bid_below(levels, bid_ticks)
        levels = self._asks
        best = self.ask_ticks
        if not ask_ticks:
            levels.clear()
            self._ask_index.reset()
            self.ask_ticks = 0
        else:
            if best and best < ask_ticks:
                _zero(levels, best, ask_ticks, self._ask_index.edge == _FAR)
            if ask_lots > 0:
                levels[ask_ticks] = ask_lots
                self.ask_ticks = ask_ticks
            else:
                if self._ask_index.edge == _FAR:
                    levels.pop(ask_ticks, None)
                elif ask_ticks in levels:
                    levels[ask_ticks] = 0
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
        if side is Side.BUY:
            return self._bid_index.top(self._bids, self.bid_ticks, n)
        return self._ask_index.top(self._asks, self.ask_ticks, n)

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


class _NearIndex:
    """The sorted prices of one side near its best, for reads of the top levels.

    Prices are signed (bids as they are, asks negated) so the best is the largest on both
    sides. ``keys`` holds, ascending, every price at or above ``edge`` among the first ``seen``
    keys of the side's dict, zero-size ones included (a level refilled later is not a new key).
    """

    __slots__ = ("depth", "edge", "keys", "seen", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.keys: list[int] = []
        self.seen = 0
        self.edge = _FAR
        self.depth = 0  # how far below the deepest level read the band reaches, when rebuilt

    def reset(self) -> None:
        """Cover nothing: the side's dict was emptied or lost keys."""
        self.keys.clear()
        self.seen = 0
        self.edge = _FAR

    def catch_up(self, levels: dict[int, int]) -> None:
        """File the prices added to ``levels`` since the last call."""
        new = len(levels) - self.seen
        if not new:
            return
        self.seen += new
        if self.edge == _FAR:
            return  # an empty band files nothing (and keys may leave the dict meanwhile)
        # Sorting the new prices and cutting them at the edge runs in C: most lie deep.
        added = sorted(islice(reversed(levels), new))
        if self.sign > 0:
            near = added[bisect_left(added, self.edge) :]
        else:
            near = [-p for p in reversed(added[: bisect_right(added, -self.edge)])]
        keys = self.keys
        if len(near) <= _INSORT_MAX:
            for s in near:
                insort(keys, s)
        else:
            keys += near
            keys.sort()  # two sorted runs: one merge

    def top(self, levels: dict[int, int], best_ticks: int, n: int) -> list[Level]:
        out: list[Level] = []
        if n <= 0 or not best_ticks:
            return out
        self.catch_up(levels)
        sign, keys, get = self.sign, self.keys, levels.get
        i = hi = bisect_right(keys, best_ticks * sign)
        if len(keys) - hi > _DEAD_MAX:
            self._purge(levels, hi, len(keys))  # the best fell away from these: all zero-size
        dead = 0
        for i in range(hi - 1, -1, -1):
            p = keys[i] * sign
            q = get(p, 0)
            if q > 0:
                out.append((p, q))
                if len(out) == n:
                    break
            else:
                dead += 1
        if dead > _DEAD_MAX:
            self._purge(levels, i, hi)
        if len(out) == n:
            self._raise_edge(out[-1][0] * sign)
            return out
        # Every level at or above the edge is in ``out``; the rest of the side lies beyond it.
        edge = self.edge
        if edge == -_FAR:
            return out
        if n <= _BAND_MAX_LEVELS:
            self._rebuild(levels, n)
            return self.top(levels, best_ticks, n)
        rest = sorted((s, q) for p, q in levels.items() if q > 0 and (s := p * sign) < edge)
        out += [(s * sign, q) for s, q in reversed(rest[-(n - len(out)) :])]
        return out

    def _purge(self, levels: dict[int, int], lo: int, hi: int) -> None:
        """Drop the zero-size entries among ``keys[lo:hi]`` from the band and from ``levels``."""
        sign, kept = self.sign, []
        walked = self.keys[lo:hi]
        for s in walked:
            p = s * sign
            if levels.get(p, 0) > 0:
                kept.append(s)
            else:
                del levels[p]
        self.keys[lo:hi] = kept
        self.seen -= len(walked) - len(kept)

    def _raise_edge(self, deepest: int) -> None:
        """Narrow the band once the levels read rose far above its edge (``deepest``: the
        deepest level a read found, signed); the prices left out stay in the side's dict."""
        if deepest - self.edge > 2 * self.depth:
            self.edge = edge = deepest - self.depth
            del self.keys[: bisect_left(self.keys, edge)]

    def _rebuild(self, levels: dict[int, int], n: int) -> None:
        """Band the side anew around its best price, deep enough for ``n`` levels."""
        sign = self.sign
        best = nlargest(n, (p * sign for p, q in levels.items() if q > 0))
        self.depth = max(_BAND_MIN_TICKS, _BAND_DEPTH * (best[0] - best[-1]))
        # With fewer than n levels the whole side is in the band.
        self.edge = edge = best[-1] - self.depth if len(best) == n else -_FAR
        self.keys = sorted(s for s in (p * sign for p in levels) if s >= edge)
        self.seen = len(levels)

    def sweep(self, levels: dict[int, int]) -> None:
        """Drop zero-size entries of the side's dict and of the band."""
        self.catch_up(levels)
        for p in [k for k, q in levels.items() if q <= 0]:
            del levels[p]
        sign = self.sign
        self.keys = [s for s in self.keys if s * sign in levels]
        self.seen = len(levels)


def _zero(levels: dict[int, int], lo_ticks: int, hi_ticks: int, drop: bool) -> None:
    """Remove every level with lo_ticks <= price < hi_ticks: ``drop`` deletes the keys (only
    while the side's band is empty: keys leaving the dict would break it), else their sizes
    become zero."""
    if hi_ticks - lo_ticks <= len(levels):
        if drop:
            for p in range(lo_ticks, hi_ticks):
                levels.pop(p, None)
        else:
            for p in range(lo_ticks, hi_ticks):
                if p in levels:
                    levels[p] = 0
    else:
        for p in [k for k in levels if lo_ticks <= k < hi_ticks]:
            if drop:
                del levels[p]
            else:
                levels[p] = 0


def _sweep(levels: dict[int, int], index: _NearIndex) -> int:
    """Drop zero-size entries of one side in place; returns the key count of the next sweep."""
    index.sweep(levels)
    return max(_SWEEP_MIN_KEYS, 2 * len(levels))
