"""Training rows from recorded events: features every 100 ms and the mid-move label.

Events go through the same ``FeatureState`` the engine uses, with the book rebuilt the way the
engine rebuilds it. A row is taken at each sample time t (a multiple of ``step_ns``) from the
state of every event received before t. Its label compares the mid in force at t + horizon
with the mid at t, in bps (10⁴ · ln of their ratio, so the label means the same move on any
instrument): UP when it rose by more than ``threshold_bps``, DOWN when it fell by more, FLAT
otherwise. Rows whose horizon runs past the data are dropped.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradetui.core.book import OrderBook
from tradetui.core.types import BookDelta, BookSnapshot, MarketEvent
from tradetui.ml.features import N_FEATURES, FeatureState, new_row

DOWN, FLAT, UP = 0, 1, 2
CLASSES = ("down", "flat", "up")
STEP_NS = 100_000_000


@dataclass(frozen=True, slots=True)
class Samples:
    """Feature rows (float32), their times (ns) and mids (ticks), before labelling."""

    x: npt.NDArray[np.float32]
    t_ns: npt.NDArray[np.int64]
    mid_ticks: npt.NDArray[np.float64]


def sample_features(events: Iterable[MarketEvent], step_ns: int = STEP_NS) -> Samples:
    """Replay ``events`` (in arrival order) and take a feature row every ``step_ns``."""
    book = OrderBook()
    fs = FeatureState()
    row = new_row()
    rows = array("f")
    times: list[int] = []
    mids: list[float] = []
    next_ns = 0
    for ev in events:
        now = ev.local_ns
        if next_ns == 0:
            next_ns = (now // step_ns + 1) * step_ns
        while now >= next_ns:
            if fs.compute(next_ns, book, 0, row):
                rows.extend(row)
                times.append(next_ns)
                mids.append(fs.mid_ticks)
            next_ns += step_ns
        tp = type(ev)
        if tp is BookDelta:
            book.apply_delta(ev)  # type: ignore[arg-type]
        elif tp is BookSnapshot:
            book.apply_snapshot(ev.bids, ev.asks)  # type: ignore[union-attr]
        fs.observe(ev, now, book)
    x = np.frombuffer(rows, dtype=np.float32).reshape(-1, N_FEATURES).copy()
    return Samples(x, np.asarray(times, dtype=np.int64), np.asarray(mids, dtype=np.float64))


def future_move_bps(s: Samples, horizon_ns: int) -> npt.NDArray[np.float64]:
    """10⁴ · ln(mid at t + horizon / mid at t) per row (bps); NaN where t + horizon is past
    the data."""
    if not len(s.t_ns):
        return np.zeros(0)
    idx = np.searchsorted(s.t_ns, s.t_ns + horizon_ns, side="right") - 1
    log_mid = np.log(s.mid_ticks)
    move = (log_mid[idx] - log_mid) * 1e4
    move[s.t_ns + horizon_ns > s.t_ns[-1]] = np.nan
    return move


def labels(move_bps: npt.NDArray[np.float64], threshold_bps: float) -> npt.NDArray[np.int64]:
    """UP/FLAT/DOWN per row from the mid move (bps) against ``threshold_bps``."""
    y = np.full(len(move_bps), FLAT, dtype=np.int64)
    y[move_bps > threshold_bps] = UP
    y[move_bps < -threshold_bps] = DOWN
    return y
