"""Decision-time features for the ML filter, one code path for training and live.

``FeatureState.observe(ev, now_ns, book)`` is called for every market event, before or after
the caller applies it to ``book`` (the engine observes first and then applies it to its own
book; training replays into a fresh OrderBook), and
``FeatureState.compute(now_ns, book, position_lots, out)`` writes one row into a preallocated
float32 array. Times are the caller's clock in ns (the engine's clock; ``local_ns`` in
training, which is what the engine's virtual clock shows when a replayed event arrives).

The touch is followed like the engine does: a best bid/offer or a book update, whichever has
the newer exchange update id. Depth features read the book only while its touch agrees with
that touch; otherwise (a feed with best bid/offers only, or a stale book) they are NaN, which
XGBoost treats as missing.

Every column is in units that carry across instruments (docs/ml-filter.md): prices as bps of
the mid, sizes (touch queues, trade flow, our inventory) in the instrument's typical touch size,
times in seconds, imbalances as ratios. The typical touch size is followed from the touches
themselves: an exponentially weighted geometric mean of the mean bid/ask touch size, over the
last ~``_TOUCH_MEMORY`` touch updates. Internally prices stay in ticks and sizes in lots; the
conversion is a multiplication per column in ``compute``.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from tradetui.core.book import OrderBook
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent, Side, Trade

_NS = 1_000_000_000
_FLOW_1S_NS = 1 * _NS
_FLOW_5S_NS = 5 * _NS
_RET_1S_NS, _RET_5S_NS, _RET_30S_NS = 1 * _NS, 5 * _NS, 30 * _NS
_VOL_WINDOW_NS = 30 * _NS
_VOL_PER_S = _NS / _VOL_WINDOW_NS  # squared changes per window → per second
_SINCE_TRADE_CAP_S = 60.0
_BPS = 1e4
# Touch updates the typical touch size remembers (its exponential weight is 1 / this).
_TOUCH_MEMORY = 2048
_TOUCH_WEIGHT = 1.0 / _TOUCH_MEMORY

# Name, unit and window of every column, in column order (the model card stores the names).
# "touch" = the typical touch size (see the module docstring).
FEATURES: tuple[tuple[str, str], ...] = (
    ("spread_bps", "best ask − best bid, bps of mid, now"),
    ("imbalance_1", "(bid − ask)/(bid + ask) touch sizes, [−1, 1], now"),
    ("imbalance_5", "same over the best 5 levels, [−1, 1], now; NaN without a fresh book"),
    ("imbalance_10", "same over the best 10 levels, [−1, 1], now; NaN without a fresh book"),
    ("micro_minus_mid_bps", "touch-size-weighted microprice − mid, bps of mid, now"),
    ("flow_1s_touch", "buyer- minus seller-initiated traded size, touch sizes, last 1 s"),
    ("flow_5s_touch", "buyer- minus seller-initiated traded size, touch sizes, last 5 s"),
    ("ret_1s_bps", "mid now − mid 1 s ago, bps of mid"),
    ("ret_5s_bps", "mid now − mid 5 s ago, bps of mid"),
    ("ret_30s_bps", "mid now − mid 30 s ago, bps of mid"),
    ("rvol_30s_bps", "√(Σ squared mid changes / 30 s), bps of mid/√s, last 30 s"),
    ("bid_queue_touch", "size at the best bid, touch sizes, now"),
    ("ask_queue_touch", "size at the best ask, touch sizes, now"),
    ("since_trade_s", "time since the last public trade, s, capped at 60"),
    ("inventory_touch", "our position, touch sizes, now (0 in training: no position in a replay)"),
)
# The unit of each column. A model is instrument-agnostic only if every unit is one of
# INSTRUMENT_FREE_UNITS (ticks or lots would mean other prices and sizes on another market).
FEATURE_UNITS: dict[str, str] = {
    "spread_bps": "bps",
    "imbalance_1": "ratio",
    "imbalance_5": "ratio",
    "imbalance_10": "ratio",
    "micro_minus_mid_bps": "bps",
    "flow_1s_touch": "touch",
    "flow_5s_touch": "touch",
    "ret_1s_bps": "bps",
    "ret_5s_bps": "bps",
    "ret_30s_bps": "bps",
    "rvol_30s_bps": "bps/√s",
    "bid_queue_touch": "touch",
    "ask_queue_touch": "touch",
    "since_trade_s": "s",
    "inventory_touch": "touch",
}
INSTRUMENT_FREE_UNITS = frozenset(("bps", "bps/√s", "ratio", "touch", "s"))
FEATURE_NAMES: tuple[str, ...] = tuple(n for n, _ in FEATURES)
N_FEATURES = len(FEATURES)


Row: TypeAlias = "array[float]"
"""A feature row: ``array('f')`` of N_FEATURES float32 values, in FEATURE_NAMES order."""


def new_row() -> Row:
    """A preallocated feature row for ``compute``. Values are stored as float32, as XGBoost
    sees them in training, and read back as Python floats (no numpy call per decision)."""
    return array("f", bytes(4 * N_FEATURES))


def row_array(row: Row) -> npt.NDArray[np.float32]:
    """A (1, N_FEATURES) float32 numpy copy of ``row`` (training, XGBoost's own predict)."""
    return np.frombuffer(row, dtype=np.float32).reshape(1, N_FEATURES).copy()


class TimedSums:
    """Values stamped with non-decreasing times (ns), with prefix sums, so a window's sum and
    the value in force at a time are a binary search away: no per-entry loop when a burst of
    entries leaves a window at once. Entries are dropped by moving a start index; the lists
    are compacted (one C-level ``del`` of the dropped prefix) once that prefix is large."""

    __slots__ = ("_cum", "_start", "_t", "_v")

    _COMPACT = 4096

    def __init__(self) -> None:
        self._t: list[int] = []
        self._v: list[float] = []
        # _cum[k] − _cum[j] = sum of _v[j:k]; one element longer than _t.
        self._cum: list[float] = [0]
        self._start = 0

    def __len__(self) -> int:
        return len(self._t) - self._start

    def add(self, t_ns: int, value: float) -> None:
        times = self._t
        if times and t_ns < times[-1]:
            t_ns = times[-1]  # keep the times sorted: a late stamp counts as the latest
        times.append(t_ns)
        self._v.append(value)
        self._cum.append(self._cum[-1] + value)

    def drop_through(self, cut_ns: int) -> float:
        """Forget entries stamped at or before ``cut_ns``; returns the sum of those kept."""
        i = self._start = bisect_right(self._t, cut_ns, self._start)
        if i >= self._COMPACT:
            self._compact()
        return self._cum[-1] - self._cum[self._start]

    def drop_before_last(self, cut_ns: int) -> float:
        """Forget entries before the last one stamped at or before ``cut_ns`` (that one stays
        as the anchor of look-backs past the oldest entry); returns the oldest value kept."""
        i = bisect_right(self._t, cut_ns, self._start) - 1
        if i > self._start:
            self._start = i
            if i >= self._COMPACT:
                self._compact()
        return self._v[self._start]

    def _compact(self) -> None:
        """Delete the dropped prefix once it is at least half the lists."""
        i = self._start
        if i * 2 >= len(self._t):
            del self._t[:i], self._v[:i], self._cum[:i]
            self._start = 0

    def sum_after(self, cut_ns: int) -> float:
        """Sum of the values stamped after ``cut_ns``."""
        return self._cum[-1] - self._cum[bisect_right(self._t, cut_ns, self._start)]

    def value_at(self, t_ns: int) -> float:
        """The last value stamped at or before ``t_ns``; the oldest kept when none is."""
        i = bisect_right(self._t, t_ns, self._start) - 1
        return self._v[i if i > self._start else self._start]


class FeatureState:
    """Rolling market state behind the features; O(1) amortised per event."""

    __slots__ = (
        "_book_fresh",
        "_flow",
        "_log_touch",
        "_mids",
        "_pending_id",
        "_pending_ns",
        "_sq",
        "_touch_n",
        "ask_lots",
        "ask_ticks",
        "bid_lots",
        "bid_ticks",
        "last_trade_ns",
        "touch_id",
    )

    def __init__(self) -> None:
        self.bid_ticks = 0
        self.ask_ticks = 0
        self.bid_lots = 0
        self.ask_lots = 0
        self.touch_id = -1
        self._book_fresh = False
        # A book update noted but not yet read from the book: its time (0 = none) and id.
        self._pending_ns = 0
        self._pending_id = -1
        self.last_trade_ns = 0
        # Trades (ns, signed lots) of the last 5 s.
        self._flow = TimedSums()
        # Mid changes (ns, mid ticks) of the last 30 s plus one older point as the anchor.
        self._mids = TimedSums()
        # Squared mid changes (ns, ticks²) of the last 30 s.
        self._sq = TimedSums()
        # ln of the typical touch size (lots) and the touch updates it has seen (capped at
        # _TOUCH_MEMORY): a plain mean of the first ones, then an exponential one.
        self._log_touch = 0.0
        self._touch_n = 0

    @property
    def mid_ticks(self) -> float:
        """Mid of the followed touch, ticks (0 before both sides are known)."""
        return (self.bid_ticks + self.ask_ticks) * 0.5 if self.bid_ticks else 0.0

    @property
    def log_mid_bps(self) -> float:
        """10⁴ · ln(mid): differences are mid moves in (log) bps, the labels' unit."""
        return _BPS * math.log(self.mid_ticks)

    @property
    def touch_lots(self) -> float:
        """The typical touch size, lots (1 before any touch with a size)."""
        return math.exp(self._log_touch)

    def observe(self, ev: MarketEvent, now_ns: int, book: OrderBook) -> None:
        """Fold one market event in, before or after ``book`` has applied it.

        A book update is only noted here and read from ``book`` at the next call (observe or
        compute), so the caller may apply it to the book after this call: the engine observes
        first, then its handler applies the update and may decide at once.
        """
        if self._pending_ns:
            self._sync_book(book)
        tp = type(ev)
        if tp is Trade:
            self._on_trade(now_ns, ev)  # type: ignore[arg-type]
        elif tp is BestBidOffer:
            b: BestBidOffer = ev  # type: ignore[assignment]
            if b.update_id >= self.touch_id and 0 < b.bid_ticks < b.ask_ticks:
                self.touch_id = b.update_id
                self._set_touch(now_ns, b.bid_ticks, b.ask_ticks, b.bid_lots, b.ask_lots)
                self._book_fresh = book.bid_ticks == b.bid_ticks and book.ask_ticks == b.ask_ticks
        else:
            uid = ev.last_id if tp is BookDelta else ev.update_id  # type: ignore[union-attr]
            if tp is BookSnapshot or uid >= self.touch_id:
                self._pending_ns, self._pending_id = now_ns, uid

    def _sync_book(self, book: OrderBook) -> None:
        """Take the touch from ``book`` for the book update noted last."""
        if book.valid:
            self.touch_id = self._pending_id
            self._set_touch(
                self._pending_ns, book.bid_ticks, book.ask_ticks, book.bid_lots, book.ask_lots
            )
            self._book_fresh = True
        else:
            self._book_fresh = False
        self._pending_ns = 0

    def _on_trade(self, now_ns: int, t: Trade) -> None:
        self.last_trade_ns = now_ns
        self._flow.add(now_ns, t.qty_lots if t.aggressor is Side.BUY else -t.qty_lots)

    def _set_touch(self, now_ns: int, bid: int, ask: int, bid_lots: int, ask_lots: int) -> None:
        old = self.mid_ticks
        self.bid_ticks, self.ask_ticks, self.bid_lots, self.ask_lots = bid, ask, bid_lots, ask_lots
        size = (bid_lots + ask_lots) * 0.5
        if size > 0:
            n = self._touch_n
            if n < _TOUCH_MEMORY:
                n += 1
                self._touch_n = n
            self._log_touch += (math.log(size) - self._log_touch) / n
        mid = (bid + ask) * 0.5
        if mid != old:
            self._mids.add(now_ns, mid)
            if old:
                d = mid - old
                self._sq.add(now_ns, d * d)

    def compute(self, now_ns: int, book: OrderBook, position_lots: int, out: Row) -> bool:
        """Write the features at ``now_ns`` into ``out`` (a ``new_row()``); False (row
        untouched) without a two-sided touch."""
        if self._pending_ns:
            self._sync_book(book)
        bid, ask = self.bid_ticks, self.ask_ticks
        if not 0 < bid < ask:
            return False
        bq, aq = self.bid_lots, self.ask_lots
        mid = (bid + ask) * 0.5
        bps = _BPS / mid  # bps of mid per tick
        per_touch = math.exp(-self._log_touch)  # typical touch sizes per lot
        touch = bq + aq
        out[0] = (ask - bid) * bps
        if touch:
            out[1] = (bq - aq) / touch
            out[4] = ((bid * aq + ask * bq) / touch - mid) * bps
        else:
            out[1] = out[4] = 0.0
        if self._book_fresh and book.bid_ticks == bid and book.ask_ticks == ask:
            bs, az = book.top_sizes(Side.BUY, 10), book.top_sizes(Side.SELL, 10)
            b, a = sum(bs[:5]), sum(az[:5])
            out[2] = (b - a) / (b + a) if b + a else 0.0
            b, a = sum(bs), sum(az)
            out[3] = (b - a) / (b + a) if b + a else 0.0
        else:
            out[2] = out[3] = math.nan
        flow = self._flow
        out[6] = flow.drop_through(now_ns - _FLOW_5S_NS) * per_touch
        out[5] = flow.sum_after(now_ns - _FLOW_1S_NS) * per_touch
        # The mid in force at each look-back; before a window's start the oldest known mid.
        mids = self._mids
        out[9] = (mid - mids.drop_before_last(now_ns - _RET_30S_NS)) * bps
        out[7] = (mid - mids.value_at(now_ns - _RET_1S_NS)) * bps
        out[8] = (mid - mids.value_at(now_ns - _RET_5S_NS)) * bps
        sq_sum = self._sq.drop_through(now_ns - _VOL_WINDOW_NS)
        out[10] = math.sqrt(sq_sum * _VOL_PER_S) * bps if sq_sum > 0.0 else 0.0
        out[11] = bq * per_touch
        out[12] = aq * per_touch
        last = self.last_trade_ns
        since = (now_ns - last) / _NS if last else _SINCE_TRADE_CAP_S
        out[13] = since if since < _SINCE_TRADE_CAP_S else _SINCE_TRADE_CAP_S
        out[14] = position_lots * per_touch
        return True
