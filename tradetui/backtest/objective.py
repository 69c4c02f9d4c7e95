"""What a search maximises: one number per backtest, defined alike for a finished run and for
the part of a run done so far (pruning compares partial runs).

- ``pnl``: total PnL after fees, marked at the mid, in the settlement asset.
- ``sharpe``: mark-to-market PnL sampled every 10 s of market time; mean over standard
  deviation of its changes, scaled to one day (no risk-free rate); 0 with too few samples.
- ``pnl_after_markout``: what the fills earned measured 5 s after each (signed size times the
  move from the fill price to the mid 5 s later), after fees and rebates, in the settlement
  asset: the spread captured net of adverse selection, blind to inventory luck.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING

from tradetui.core.accounting import PositionLedger

if TYPE_CHECKING:
    from tradetui.backtest.run import BacktestResult

_NS_PER_S = 1_000_000_000
_SHARPE_STEP_NS = 10 * _NS_PER_S
_DAY_NS = 86_400 * _NS_PER_S


def _pnl(result: BacktestResult) -> float:
    return float(result.engine.pnl().total)


def _pnl_after_markout(result: BacktestResult) -> float:
    pnl = result.engine.pnl()
    # The engine's markouts: fills whose 5 s are over (all of them once the run is closed).
    marked = result.engine.markouts.summary()["5s"]["total_settle"]
    return float(marked) - float(pnl.fees) + float(pnl.rebates)


def equity_grid(result: BacktestResult, step_ns: int) -> list[float]:
    """Total PnL (settlement asset) marked at the mid every ``step_ns`` of market time, from
    the start of the run to ``result.end_ns``, with the fills up to each sample."""
    inst = result.engine.instrument
    fills = sorted((fr.fill for fr in result.fills), key=lambda f: f.exch_ns)
    times, mids = result.mids.t_ns, result.mids.mid_ticks
    ledger = PositionLedger(inst)
    out: list[float] = []
    i = j = 0
    mid = 0.0
    t = result.start_ns + step_ns
    while t <= result.end_ns:
        while j < len(times) and times[j] <= t:
            mid = mids[j]
            j += 1
        while i < len(fills) and fills[i].exch_ns <= t:
            f = fills[i]
            ledger.on_fill(f.side, f.price_ticks, f.qty_lots, f.fee, mid or f.price_ticks)
            i += 1
        if mid:
            out.append(ledger.total_settle(mid))
        t += step_ns
    return out


def _sharpe(result: BacktestResult) -> float:
    equity = equity_grid(result, _SHARPE_STEP_NS)
    changes = [b - a for a, b in itertools.pairwise(equity)]
    if len(changes) < 2:
        return 0.0
    sd = statistics.pstdev(changes)
    if sd == 0:
        return 0.0
    return statistics.fmean(changes) / sd * math.sqrt(_DAY_NS / _SHARPE_STEP_NS)


OBJECTIVES: dict[str, Callable[[BacktestResult], float]] = {
    "pnl": _pnl,
    "sharpe": _sharpe,
    "pnl_after_markout": _pnl_after_markout,
}
# Objectives that add up over time: compared between windows of different lengths per hour.
_ADDITIVE = frozenset({"pnl", "pnl_after_markout"})


def objective_value(result: BacktestResult, name: str) -> float:
    """The objective ``name`` (one of OBJECTIVES) of a run, finished or partial."""
    return OBJECTIVES[name](result)


def comparable(name: str, value: float, duration_s: float) -> float:
    """``value`` in a unit that windows of different lengths share: per hour for PnL
    objectives, as is for the Sharpe ratio (already scaled to a day)."""
    if name in _ADDITIVE:
        return value / (duration_s / 3600) if duration_s > 0 else 0.0
    return value


def diverges(in_sample: float, out_of_sample: float) -> bool:
    """True when an out-of-sample figure contradicts the in-sample one it was tuned on: the
    signs differ (a loss where the tuning broke even counts), or it keeps less than half of a
    positive in-sample figure (both in the unit of ``comparable``)."""
    if in_sample > 0:
        return out_of_sample < in_sample / 2
    if in_sample < 0:
        return out_of_sample > 0
    return out_of_sample < 0
