"""Markout, spread capture and inventory PnL: one definition each (docs/metrics.md).

A fill has side s (+1 buy, −1 sell), size q lots and price p; ``value(x)`` is what one lot is
worth at price x in the instrument's value units (``Instrument.value``), and the settlement
asset per value unit is ``Instrument.value_unit``. All three figures are in the settlement
asset, before fees (fees and rebates are reported apart, never netted in).

- **Spread capture** of a fill: ``s × q × (value(m₀) − value(p))``, m₀ the mid the engine held
  when it booked the fill (stored with the fill as ``mid_half_ticks``). What the fill earned
  against the market as the engine saw it at that moment; zero when there was no book.
- **Markout** at horizon h: ``s × q × (value(m_h) − value(p))``, m_h the engine's mid at or
  before t + h on the session clock, t the fill's time on that clock (its receive time). The
  mid path is the engine's own: the mid of every quote decision and the mid of every fill
  (what a stored session keeps as marks and fills), so a backtest, a stored report and a
  running console compute it from the same points. A markout at h is the spread capture plus
  the mid's move after the fill; a fill whose t + h lies past the last mid is not counted.
  ``mean_bps`` is the total over the fills' traded notional in the settlement asset.
- **Inventory PnL**: the session's gross PnL (realized + unrealized at the mark) minus its
  spread capture, i.e. what holding the position earned once each fill is valued at m₀.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from tradetui.core.instrument import Instrument
from tradetui.core.money import money_amount
from tradetui.core.types import Side

MARKOUT_HORIZONS_S = (1, 5, 30)
_NS_PER_S = 1_000_000_000


def edge_units(instrument: Instrument, side: Side, price_ticks: int, mid_ticks: float) -> Fraction:
    """One lot's spread capture against ``mid_ticks``, in value units (> 0: bought below or
    sold above the mid)."""
    return int(side) * (instrument.value_at(mid_ticks) - instrument.value(price_ticks))


@dataclass(frozen=True, slots=True)
class MarkedFill:
    """A fill as the metrics read it: session-clock time (ns), side, price (ticks), size
    (lots) and the mid the engine booked it at (ticks; 0 when there was no book)."""

    t_ns: int
    side: Side
    price_ticks: int
    qty_lots: int
    mid_ticks: float


class _Horizon:
    """Markouts at one horizon: fills waiting for their mid, and the resolved totals."""

    __slots__ = ("fills", "notional_units", "pending", "span_ns", "total_quote", "total_units")

    def __init__(self, span_ns: int) -> None:
        self.span_ns = span_ns
        # (due time ns, fill) in fill order.
        self.pending: deque[tuple[int, MarkedFill]] = deque()
        self.fills = 0
        self.total_units = Fraction(0)
        self.total_quote = Fraction(0)
        self.notional_units = 0


class MarkoutTracker:
    """Markouts of a session's fills at ``MARKOUT_HORIZONS_S``, fed in session order.

    ``on_mid`` and ``on_fill`` take the engine's mid path and fills as they happen (the
    engine feeds one live; ``markouts`` feeds a recorded session's); ``summary`` reads the
    fills resolved so far. A fill resolves at the first mid later than its due time, against
    the mid before it (the mid at or before the due time).
    """

    __slots__ = ("_horizons", "_last_mid", "_last_t", "instrument")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self._horizons = [_Horizon(h * _NS_PER_S) for h in MARKOUT_HORIZONS_S]
        self._last_t = 0
        self._last_mid = 0.0

    def on_mid(self, t_ns: int, mid_ticks: float) -> None:
        """The engine's mid (ticks) at ``t_ns``; a mid <= 0 (no book) is skipped."""
        if mid_ticks <= 0:
            return
        if self._last_mid:
            for h in self._horizons:
                self._resolve(h, t_ns)
        self._last_t = t_ns
        self._last_mid = mid_ticks

    def on_fill(self, fill: MarkedFill) -> None:
        """One fill; its booking mid joins the mid path."""
        self.on_mid(fill.t_ns, fill.mid_ticks)
        for h in self._horizons:
            h.pending.append((fill.t_ns + h.span_ns, fill))

    def close(self) -> None:
        """The session's mid path ended: resolve fills due at or before its last mid."""
        if self._last_mid:
            for h in self._horizons:
                self._resolve(h, self._last_t + 1)

    def _resolve(self, h: _Horizon, before_ns: int) -> None:
        """Value fills due before ``before_ns`` at the mid held until then."""
        pending = h.pending
        inst = self.instrument
        mid = self._last_mid
        while pending and pending[0][0] < before_ns:
            f = pending.popleft()[1]
            gain = edge_units(inst, f.side, f.price_ticks, mid) * f.qty_lots
            h.fills += 1
            h.total_units += gain
            h.total_quote += (
                gain * Fraction(mid) * Fraction(inst.tick_size) if inst.inverse else gain
            )
            h.notional_units += abs(inst.value(f.price_ticks)) * f.qty_lots

    def summary(self) -> dict[str, dict[str, Decimal | float | int]]:
        """Per horizon ("1s", ...): ``fills`` resolved, ``total_settle`` (settlement asset)
        and ``total_quote`` (each fill's at its later mid) to the money decimals, and
        ``mean_bps`` (total over the fills' notional, basis points)."""
        unit = self.instrument.value_unit
        out: dict[str, dict[str, Decimal | float | int]] = {}
        for seconds, h in zip(MARKOUT_HORIZONS_S, self._horizons, strict=True):
            out[f"{seconds}s"] = {
                "fills": h.fills,
                "total_settle": money_amount(h.total_units * unit),
                "total_quote": money_amount(h.total_quote * unit),
                "mean_bps": float(h.total_units / h.notional_units * 10_000)
                if h.notional_units
                else 0.0,
            }
        return out


def markouts(
    instrument: Instrument, timeline: Iterable[MarkedFill | tuple[int, float]]
) -> dict[str, dict[str, Decimal | float | int]]:
    """Markouts of a whole recorded session: ``timeline`` holds its fills and its mids
    (``(t_ns, mid_ticks)``) in session order; see ``MarkoutTracker.summary``."""
    tracker = MarkoutTracker(instrument)
    for item in timeline:
        if isinstance(item, MarkedFill):
            tracker.on_fill(item)
        else:
            tracker.on_mid(*item)
    tracker.close()
    return tracker.summary()
