"""Session reports as pure functions over stored fills and mids (no I/O, no SQLite).

PnL comes from the same PositionLedger the engine uses, fed the stored fills in the order the
engine saw them, each with the mid stored at its fill; the open position is valued at the last
stored mid. So a report of a cleanly finished session equals the run's own summary.
Markouts are read on the stored mids (the engine's mid at each decision, and at each fill) as
core/metrics.py defines them, the same points the engine's own markouts were read on.
Mids are integer half-ticks; money is in the instrument's settlement asset (``settle_asset``:
the quote asset, or the coin of an inverse contract) and again in quote at the final mark
(``in_quote``); sizes count its ``size_unit`` (the base asset, or contracts), and the
``_base`` keys are present only where sizes count the base asset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradetui.core import units
from tradetui.core.accounting import PositionLedger
from tradetui.core.instrument import Instrument
from tradetui.core.metrics import MarkedFill, markouts
from tradetui.core.types import Side

_NS_PER_MIN = 60_000_000_000


@dataclass(frozen=True, slots=True)
class StoredFill:
    """A fill as stored: ``seq`` orders it among the session's rows; mid in half-ticks."""

    seq: int
    side: Side
    price_ticks: int
    qty_lots: int
    fee: float
    is_maker: bool
    local_ns: int
    mid_half_ticks: int


@dataclass(frozen=True, slots=True)
class StoredMark:
    """A stored mid: ``seq`` as for fills, time in ns, mid in half-ticks (> 0)."""

    seq: int
    ts_ns: int
    mid_half_ticks: int


def _replay(ledger: PositionLedger, f: StoredFill) -> None:
    ledger.on_fill(f.side, f.price_ticks, f.qty_lots, f.fee, f.mid_half_ticks / 2)


def _sharpe(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean / math.sqrt(var) if var > 0 else None


def build_report(
    instrument: Instrument,
    fills: Sequence[StoredFill],
    marks: Sequence[StoredMark],
    start_ns: int,
) -> dict[str, Any]:
    """The full report of one session (fills and marks each in ``seq`` order)."""
    ledger = PositionLedger(instrument)
    lot = instrument.lot
    # Walk fills and marks in the engine's order, tracking equity and inventory over time.
    mid = 0.0
    zero = Decimal(0)
    peak, max_dd, equity = zero, zero, zero
    minute_equity: dict[int, Decimal] = {}
    t_prev = start_ns
    pos_prev = 0
    weighted_pos = weighted_abs = flat_ns = 0.0
    timeline: list[MarkedFill | tuple[int, float]] = []
    i = j = 0
    while i < len(fills) or j < len(marks):
        take_fill = j >= len(marks) or (i < len(fills) and fills[i].seq < marks[j].seq)
        if take_fill:
            f = fills[i]
            i += 1
            t = f.local_ns
            _replay(ledger, f)
            timeline.append(MarkedFill(t, f.side, f.price_ticks, f.qty_lots, f.mid_half_ticks / 2))
            if f.mid_half_ticks > 0:
                mid = f.mid_half_ticks / 2
        else:
            m = marks[j]
            j += 1
            t = m.ts_ns
            mid = m.mid_half_ticks / 2
            timeline.append((t, mid))
        dt = max(0, t - t_prev)
        weighted_pos += pos_prev * dt
        weighted_abs += abs(pos_prev) * dt
        if pos_prev == 0:
            flat_ns += dt
        t_prev = max(t_prev, t)
        pos_prev = ledger.position_lots
        equity = ledger.total_money(mid)
        peak = max(peak, equity)
        max_dd = max(max_dd, peak - equity)
        minute_equity[(t - start_ns) // _NS_PER_MIN] = equity
    snap = ledger.snapshot(mid)
    span_ns = t_prev - start_ns
    per_minute: list[float] = []
    last = zero
    if minute_equity:
        for minute in range(max(minute_equity) + 1):
            value = minute_equity.get(minute, last)
            per_minute.append(float(value - last))
            last = value
    makers = sum(1 for f in fills if f.is_maker)
    inventory = {
        "mean_size": weighted_pos / span_ns * lot if span_ns > 0 else 0.0,
        "mean_abs_size": weighted_abs / span_ns * lot if span_ns > 0 else 0.0,
        "max_long_size": snap.max_position_lots * lot,
        "max_short_size": snap.min_position_lots * lot,
        "flat_fraction": flat_ns / span_ns if span_ns > 0 else 1.0,
    }
    report: dict[str, Any] = {
        **units.asset_names(instrument),
        "fills": snap.fills,
        "maker_fills": makers,
        "taker_fills": snap.fills - makers,
        "volume_quote": snap.volume_quote,
        "volume_settle": snap.volume_settle,
        "pnl_total": snap.total,
        "pnl_realized": snap.realized,
        "pnl_unrealized": snap.unrealized,
        "spread_capture": snap.spread_capture,
        "inventory_pnl": snap.inventory_pnl,
        "fees": snap.fees,
        "rebates": snap.rebates,
        "cost_per_10k": snap.cost_per_10k,
        "in_quote": units.in_quote(snap, instrument),
        "mark": snap.mark,
        "position_size": snap.position_size,
        "markouts": markouts(instrument, timeline),
        "max_drawdown_settle": max_dd,
        "sharpe_per_minute": _sharpe(per_minute),
        "minutes": len(per_minute),
        "inventory": inventory,
        "duration_s": span_ns / 1e9,
    }
    if not instrument.inverse:
        report["position_base"] = snap.position_size
        report["max_drawdown_quote"] = max_dd
        for key in ("mean", "mean_abs", "max_long", "max_short"):
            inventory[f"{key}_base"] = inventory[f"{key}_size"]
    return report
