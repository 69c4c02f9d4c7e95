"""Position and PnL accounting on the average-cost method, exact in tick·lot units.

A linear contract (perpetual) gains qty × price change; spot inventory is treated the same
way, as a signed base position relative to the session start. Money inside the ledger is in
tick·lot units (one tick of price on one lot of size), kept as ``int`` or ``Fraction`` so a
long session accumulates no float drift; fees arrive as quote-currency floats and stay so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from tradetui.core.instrument import Instrument
from tradetui.core.types import Side


@dataclass(frozen=True, slots=True)
class PnlSnapshot:
    """PnL at one mark. Money in quote currency, prices in quote per base, sizes in base.

    ``gross = realized + unrealized``; ``total = gross - fees + rebates``;
    ``inventory_pnl = gross - spread_capture``; ``cost_per_10k = -total / volume_quote × 1e4``
    (basis points of traded notional; negative means the session earned money).
    """

    position_base: float
    position_lots: int
    avg_entry: float
    mark: float
    realized: float
    unrealized: float
    fees: float
    rebates: float
    net_fees: float
    gross: float
    total: float
    spread_capture: float
    inventory_pnl: float
    volume_quote: float
    fills: int
    cost_per_10k: float
    buy_lots: int
    sell_lots: int
    max_position_lots: int
    min_position_lots: int


class PositionLedger:
    """The engine's running position and PnL for one instrument (engine-owned, mutable).

    Exact fields are in tick·lot units: ``cost_ticklots`` is the signed cost of the open
    position (long > 0), so ``avg_entry_ticks = cost_ticklots / position_lots`` and
    ``realized_ticklots - cost_ticklots == cash_flow_ticklots`` after every fill.
    """

    __slots__ = (
        "_unit_float",
        "_unit_quote",
        "buy_lots",
        "cash_flow_ticklots",
        "cost_ticklots",
        "fees_quote",
        "fills",
        "instrument",
        "max_position_lots",
        "min_position_lots",
        "position_lots",
        "realized_ticklots",
        "rebates_quote",
        "sell_lots",
        "spread_capture_ticklots",
        "volume_ticklots",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        # Quote currency per tick·lot, exact, so each conversion rounds only once.
        self._unit_quote = Fraction(instrument.tick_size) * Fraction(instrument.lot_size)
        self._unit_float = float(self._unit_quote)
        self.position_lots = 0
        self.cost_ticklots = Fraction(0)
        self.realized_ticklots = Fraction(0)
        self.cash_flow_ticklots = 0
        self.spread_capture_ticklots = Fraction(0)
        self.volume_ticklots = 0
        self.fees_quote = 0.0
        self.rebates_quote = 0.0
        self.fills = 0
        self.buy_lots = 0
        self.sell_lots = 0
        self.max_position_lots = 0
        self.min_position_lots = 0

    @property
    def avg_entry_ticks(self) -> Fraction:
        """Average entry price of the open position in ticks (0 when flat)."""
        if self.position_lots == 0:
            return Fraction(0)
        return self.cost_ticklots / self.position_lots

    def on_fill(
        self, side: Side, price_ticks: int, qty_lots: int, fee_quote: float, mid_ticks: float
    ) -> None:
        """Book one execution. Fee in quote (< 0 is a rebate); mid in ticks at fill time.

        A ``mid_ticks`` that is not a positive finite number (no book) counts as zero edge.
        """
        if qty_lots <= 0 or price_ticks <= 0:
            raise ValueError(f"fill needs positive price and size, got {price_ticks}×{qty_lots}")
        sign = int(side)
        notional = price_ticks * qty_lots
        pos = self.position_lots

        # Only the part against the open position realizes; the rest opens at the fill price.
        closing = min(qty_lots, abs(pos)) if pos * sign < 0 else 0
        if closing:
            released = self.cost_ticklots * closing / abs(pos)
            self.realized_ticklots += -sign * closing * price_ticks - released
            self.cost_ticklots -= released
        self.cost_ticklots += sign * (qty_lots - closing) * price_ticks
        self.position_lots = pos + sign * qty_lots

        self.cash_flow_ticklots -= sign * notional
        self.volume_ticklots += notional
        self.fills += 1
        if side is Side.BUY:
            self.buy_lots += qty_lots
        else:
            self.sell_lots += qty_lots
        self.max_position_lots = max(self.max_position_lots, self.position_lots)
        self.min_position_lots = min(self.min_position_lots, self.position_lots)
        if fee_quote >= 0:
            self.fees_quote += fee_quote
        else:
            self.rebates_quote -= fee_quote
        if 0 < mid_ticks < math.inf:
            self.spread_capture_ticklots += sign * (Fraction(mid_ticks) - price_ticks) * qty_lots

    def adopt(self, position_lots: int, entry_ticks: int) -> None:
        """Take over a position found at the venue, valued at ``entry_ticks`` (ticks).

        Only from flat: the adopted position enters the books as if opened at that price, with
        no fee and no traded volume, so later PnL counts from the adoption.
        """
        if self.position_lots != 0:
            raise ValueError(f"cannot adopt a position while holding {self.position_lots} lots")
        self.position_lots = position_lots
        self.cost_ticklots = Fraction(position_lots * entry_ticks)
        self.cash_flow_ticklots -= position_lots * entry_ticks
        self.max_position_lots = max(self.max_position_lots, position_lots)
        self.min_position_lots = min(self.min_position_lots, position_lots)

    def gross_ticklots(self, mark_ticks: float) -> Fraction:
        """Realized plus unrealized PnL at ``mark_ticks``, exact, in tick·lot units."""
        return self.realized_ticklots + self._unrealized_ticklots(self._mark(mark_ticks))

    def total_quote(self, mark_ticks: float) -> float:
        """Total PnL (after fees and rebates) in quote at ``mark_ticks``, in float arithmetic.

        Cheap enough for every decision (the risk guard's drawdown checks); ``snapshot`` is
        the exact account.
        """
        unrealized = 0.0
        if 0 < mark_ticks < math.inf and self.position_lots:
            unrealized = self.position_lots * mark_ticks - float(self.cost_ticklots)
        gross = (float(self.realized_ticklots) + unrealized) * self._unit_float
        return gross - self.fees_quote + self.rebates_quote

    def snapshot(self, mark_ticks: float) -> PnlSnapshot:
        """PnL with the open position marked at ``mark_ticks`` (normally the mid).

        A mark that is not a positive finite number (no book) values the position at its
        average entry, so an empty book never shows as a loss of the whole position.
        """
        mark = self._mark(mark_ticks)
        realized = self._quote(self.realized_ticklots)
        unrealized = self._quote(self._unrealized_ticklots(mark))
        capture = self._quote(self.spread_capture_ticklots)
        volume = self._quote(self.volume_ticklots)
        fees, rebates = self.fees_quote, self.rebates_quote
        gross = realized + unrealized
        total = gross - fees + rebates
        tick = self.instrument.tick_size
        return PnlSnapshot(
            position_base=float(self.position_lots * self.instrument.lot_size),
            position_lots=self.position_lots,
            avg_entry=float(self.avg_entry_ticks * Fraction(tick)),
            mark=float(mark * Fraction(tick)),
            realized=realized,
            unrealized=unrealized,
            fees=fees,
            rebates=rebates,
            net_fees=fees - rebates,
            gross=gross,
            total=total,
            spread_capture=capture,
            inventory_pnl=gross - capture,
            volume_quote=volume,
            fills=self.fills,
            cost_per_10k=-total / volume * 10_000.0 if volume else 0.0,
            buy_lots=self.buy_lots,
            sell_lots=self.sell_lots,
            max_position_lots=self.max_position_lots,
            min_position_lots=self.min_position_lots,
        )

    def _mark(self, mark_ticks: float) -> Fraction:
        if 0 < mark_ticks < math.inf:
            return Fraction(mark_ticks)
        return self.avg_entry_ticks

    def _unrealized_ticklots(self, mark: Fraction) -> Fraction:
        return self.position_lots * mark - self.cost_ticklots

    def _quote(self, ticklots: Fraction | int) -> float:
        return float(ticklots * self._unit_quote)
