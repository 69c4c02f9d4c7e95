"""Session reports as pure functions over stored fills and mids (no I/O, no SQLite).

PnL comes from the same PositionLedger the engine uses, fed the stored fills in the order the
engine saw them, each with the mid stored at its fill; the open position is valued at the last
stored mid. So a report of a cleanly finished session equals the run's own summary.
Mids are integer half-ticks; money is in the instrument's settlement asset (``settle_asset``:
the quote asset, or the coin of an inverse contract) and again in quote at the final mark
(``in_quote``); sizes count its ``size_unit`` (the base asset, or contracts), and the
``_base`` keys are present only where sizes count the base asset.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tradetui.core import units
from tradetui.core.accounting import PositionLedger
from tradetui.core.instrument import Instrument
from tradetui.core.money import money_amount
from tradetui.core.types import Side

MARKOUT_HORIZONS_S = (1, 5, 30)
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


def markouts(
    instrument: Instrument, fills: Sequence[StoredFill], marks: Sequence[StoredMark]
) -> dict[str, dict[str, Decimal | float | int]]:
    """Signed mid move after each fill at 1, 5 and 30 s (> 0: the mid moved our way).

    Per horizon: ``count`` fills with a mid stored that far after them, ``mean_ticks`` and
    ``mean_bps`` per fill, ``total_settle`` (settlement asset) and ``total_quote`` (quote, each
    fill's at its later mid) weighted by fill size.
    """
    times = [m.ts_ns for m in marks]
    unit = instrument.value_unit
    tick = Fraction(instrument.tick_size)
    out: dict[str, dict[str, Decimal | float | int]] = {}
    for h in MARKOUT_HORIZONS_S:
        n, sum_ticks, sum_bps = 0, 0.0, 0.0
        total, total_quote = Fraction(0), Fraction(0)
        for f in fills:
            target = f.local_ns + h * 1_000_000_000
            if f.mid_half_ticks <= 0 or bisect_left(times, target) >= len(times):
                continue
            after = marks[bisect_right(times, target) - 1].mid_half_ticks / 2
            before = f.mid_half_ticks / 2
            move_ticks = int(f.side) * (after - before)
            gain_units = instrument.value_at(after) - instrument.value_at(before)
            markout = int(f.side) * gain_units * f.qty_lots * unit
            n += 1
            sum_ticks += move_ticks
            sum_bps += move_ticks / before * 1e4
            total += markout
            total_quote += markout * Fraction(after) * tick if instrument.inverse else markout
        out[f"{h}s"] = {
            "count": n,
            "mean_ticks": sum_ticks / n if n else 0.0,
            "mean_bps": sum_bps / n if n else 0.0,
            "total_settle": money_amount(total),
            "total_quote": money_amount(total_quote),
        }
    return out


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
    i = j = 0
    while i < len(fills) or j < len(marks):
        take_fill = j >= len(marks) or (i < len(fills) and fills[i].seq < marks[j].seq)
        if take_fill:
            f = fills[i]
            i += 1
            t = f.local_ns
            _replay(ledger, f)
            if f.mid_half_ticks > 0:
                mid = f.mid_half_ticks / 2
        else:
            m = marks[j]
            j += 1
            t = m.ts_ns
            mid = m.mid_half_ticks / 2
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
        "markouts": markouts(instrument, fills, marks),
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
