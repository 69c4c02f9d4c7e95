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
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from tradetui.core.book import OrderBook
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent, Side, Trade

_NS = 1_000_000_000
_FLOW_1S_NS = 1 * _NS
_FLOW_5S_NS = 5 * _NS
_RET_WINDOWS_NS = (1 * _NS, 5 * _NS, 30 * _NS)
_VOL_WINDOW_NS = 30 * _NS
_SINCE_TRADE_CAP_S = 60.0

# Name, unit and window of every column, in column order (the model card stores the names).
FEATURES: tuple[tuple[str, str], ...] = (
    ("spread_ticks", "best ask − best bid, ticks, now"),
    ("imbalance_1", "(bid − ask)/(bid + ask) touch sizes, [−1, 1], now"),
    ("imbalance_5", "same over the best 5 levels, [−1, 1], now; NaN without a fresh book"),
    ("imbalance_10", "same over the best 10 levels, [−1, 1], now; NaN without a fresh book"),
    ("micro_minus_mid_ticks", "touch-size-weighted microprice − mid, ticks, now"),
    ("flow_1s_lots", "buyer- minus seller-initiated traded size, lots, last 1 s"),
    ("flow_5s_lots", "buyer- minus seller-initiated traded size, lots, last 5 s"),
    ("ret_1s_ticks", "mid now − mid 1 s ago, ticks"),
    ("ret_5s_ticks", "mid now − mid 5 s ago, ticks"),
    ("ret_30s_ticks", "mid now − mid 30 s ago, ticks"),
    ("rvol_30s_ticks", "√(Σ squared mid changes / 30 s), ticks/√s, last 30 s"),
    ("bid_queue_lots", "size at the best bid, lots, now"),
    ("ask_queue_lots", "size at the best ask, lots, now"),
    ("since_trade_s", "time since the last public trade, s, capped at 60"),
    ("inventory_lots", "our position, lots, now (0 in training: no position in a replay)"),
)
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


class FeatureState:
    """Rolling market state behind the features; O(1) amortised per event."""

    __slots__ = (
        "_book_fresh",
        "_flow",
        "_flow1",
        "_flow5",
        "_flow_i1",
        "_mi1",
        "_mi5",
        "_mids",
        "_pending_id",
        "_pending_ns",
        "_sq",
        "_sq_sum",
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
        # Trades (ns, signed lots) of the last 5 s; the 1 s sum drops entries past _flow_i1.
        self._flow: deque[tuple[int, int]] = deque()
        self._flow1 = 0
        self._flow5 = 0
        self._flow_i1 = 0
        # Mid changes (ns, mid ticks) of the last 30 s plus one older point as the anchor.
        self._mids: deque[tuple[int, float]] = deque()
        # Index in _mids of the mid in force 1 s and 5 s ago.
        self._mi1 = 0
        self._mi5 = 0
        # Squared mid changes (ns, ticks²) of the last 30 s and their running sum.
        self._sq: deque[tuple[int, float]] = deque()
        self._sq_sum = 0.0

    @property
    def mid_ticks(self) -> float:
        """Mid of the followed touch, ticks (0 before both sides are known)."""
        return (self.bid_ticks + self.ask_ticks) * 0.5 if self.bid_ticks else 0.0

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
        signed = t.qty_lots if t.aggressor is Side.BUY else -t.qty_lots
        self.last_trade_ns = now_ns
        self._flow.append((now_ns, signed))
        self._flow1 += signed
        self._flow5 += signed

    def _set_touch(self, now_ns: int, bid: int, ask: int, bid_lots: int, ask_lots: int) -> None:
        old = self.mid_ticks
        self.bid_ticks, self.ask_ticks, self.bid_lots, self.ask_lots = bid, ask, bid_lots, ask_lots
        mid = (bid + ask) * 0.5
        if mid != old:
            self._mids.append((now_ns, mid))
            if old:
                d = mid - old
                self._sq.append((now_ns, d * d))
                self._sq_sum += d * d

    def _expire(self, now_ns: int) -> None:
        flow = self._flow
        while flow and flow[0][0] <= now_ns - _FLOW_5S_NS:
            _, q = flow.popleft()
            self._flow5 -= q
            if self._flow_i1 > 0:
                self._flow_i1 -= 1
            else:
                self._flow1 -= q
        # _flow_i1 counts entries already dropped from the 1 s sum, from the left.
        cut1 = now_ns - _FLOW_1S_NS
        while self._flow_i1 < len(flow) and flow[self._flow_i1][0] <= cut1:
            self._flow1 -= flow[self._flow_i1][1]
            self._flow_i1 += 1
        mids = self._mids
        cut30 = now_ns - _RET_WINDOWS_NS[-1]
        while len(mids) > 1 and mids[1][0] <= cut30:
            mids.popleft()
            self._mi1 = max(self._mi1 - 1, 0)
            self._mi5 = max(self._mi5 - 1, 0)
        self._mi1 = _advance(mids, self._mi1, now_ns - _RET_WINDOWS_NS[0])
        self._mi5 = _advance(mids, self._mi5, now_ns - _RET_WINDOWS_NS[1])
        sq = self._sq
        cutv = now_ns - _VOL_WINDOW_NS
        while sq and sq[0][0] <= cutv:
            self._sq_sum -= sq.popleft()[1]

    def compute(self, now_ns: int, book: OrderBook, position_lots: int, out: Row) -> bool:
        """Write the features at ``now_ns`` into ``out`` (a ``new_row()``); False (row
        untouched) without a two-sided touch."""
        if self._pending_ns:
            self._sync_book(book)
        bid, ask = self.bid_ticks, self.ask_ticks
        if not 0 < bid < ask:
            return False
        self._expire(now_ns)
        bq, aq = self.bid_lots, self.ask_lots
        mid = (bid + ask) * 0.5
        touch = bq + aq
        out[0] = ask - bid
        if touch:
            out[1] = (bq - aq) / touch
            out[4] = (bid * aq + ask * bq) / touch - mid
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
        out[5] = self._flow1
        out[6] = self._flow5
        # Before a window's start the oldest known mid stands in for it.
        mids = self._mids
        out[7] = mid - mids[self._mi1][1]
        out[8] = mid - mids[self._mi5][1]
        out[9] = mid - mids[0][1]
        sq = self._sq_sum
        out[10] = math.sqrt(sq * _NS / _VOL_WINDOW_NS) if sq > 0.0 else 0.0
        out[11] = bq
        out[12] = aq
        last = self.last_trade_ns
        since = (now_ns - last) / _NS if last else _SINCE_TRADE_CAP_S
        out[13] = since if since < _SINCE_TRADE_CAP_S else _SINCE_TRADE_CAP_S
        out[14] = position_lots
        return True


def _advance(mids: deque[tuple[int, float]], i: int, cut_ns: int) -> int:
    """Move index ``i`` forward to the last entry at or before ``cut_ns``."""
    n = len(mids)
    while i + 1 < n and mids[i + 1][0] <= cut_ns:
        i += 1
    return i
