"""Position and PnL accounting on the average-cost method, exact in value units.

One accounting for every contract type: a lot held at price p is worth the instrument's
``value(p)`` value units of the settlement asset (``Instrument.value_unit`` each). Linear
contracts and spot inventory (a signed base position relative to the session start) value a
lot at its price; inverse contracts at ``-scale / price``, so their PnL comes out in the coin
and the average entry is the harmonic mean of fill prices. Money inside the ledger is kept as
``int`` or ``Fraction`` value units, so a long session accumulates no float drift; fees
arrive as floats in the settlement asset (the exchange's decimal commission) and are summed
as ``Decimal`` (``fee_amount``, to ``money.FEE_PLACES``). A ``PnlSnapshot``'s money is
``Decimal`` to ``money.MONEY_PLACES`` decimals (``money_amount``), what every screen and
export shows.

Fee sign, everywhere a user reads it (docs/units.md): a fill's fee is positive when paid and
negative when it is a rebate (Binance's ``commission``); ``fees`` sums what was paid and
``rebates`` what was received, both >= 0, and ``total = gross - fees + rebates``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from tradetui.core.instrument import Instrument
from tradetui.core.metrics import edge_units
from tradetui.core.money import fee_amount, money_amount
from tradetui.core.types import Side


@dataclass(frozen=True, slots=True)
class PnlSnapshot:
    """PnL at one mark. Money (``Decimal``, see the module docstring) in the settlement asset
    (``settle``: the quote for linear and spot, the coin for inverse), prices in quote per
    base, sizes in order units (base, or contracts for inverse); ``volume_quote`` is the traded
    notional in quote (USD face value for inverse) and ``volume_settle`` the same in the
    settlement asset. ``fees`` (paid) and ``rebates`` (received) are both >= 0.

    ``gross = realized + unrealized``; ``total = gross - fees + rebates``;
    ``inventory_pnl = gross - spread_capture`` (core/metrics.py defines both);
    ``cost_per_10k = -total / volume_settle × 1e4``
    (basis points of traded notional; negative means the session earned money). The sums hold
    exactly in the Decimals shown: each derived figure is computed from the rounded parts.
    """

    settle: str
    position_size: float
    position_lots: int
    avg_entry: float
    mark: float
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    rebates: Decimal
    net_fees: Decimal
    gross: Decimal
    total: Decimal
    spread_capture: Decimal
    inventory_pnl: Decimal
    volume_quote: Decimal
    volume_settle: Decimal
    fills: int
    cost_per_10k: float
    buy_lots: int
    sell_lots: int
    max_position_lots: int
    min_position_lots: int


class PositionLedger:
    """The engine's running position and PnL for one instrument (engine-owned, mutable).

    Exact fields are in value units (see the module docstring): ``cost_units`` is the signed
    value of the open position at entry (long > 0 for linear), so ``avg_entry_ticks`` is the
    price whose value is ``cost_units / position_lots``, and
    ``realized_units - cost_units == cash_flow_units`` after every fill.
    """

    __slots__ = (
        "_face_quote",
        "_unit",
        "_unit_float",
        "buy_lots",
        "cash_flow_units",
        "cost_units",
        "fees",
        "fees_exact",
        "fills",
        "instrument",
        "max_position_lots",
        "min_position_lots",
        "position_lots",
        "realized_units",
        "rebates",
        "rebates_exact",
        "sell_lots",
        "spread_capture_units",
        "volume_lots",
        "volume_units",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        # Settlement asset per value unit, exact, so each conversion rounds only once.
        self._unit = instrument.value_unit
        self._unit_float = float(self._unit)
        self._face_quote = Fraction(instrument.lot_size) * Fraction(instrument.contract_size)
        self.position_lots = 0
        self.cost_units = Fraction(0)
        self.realized_units = Fraction(0)
        self.cash_flow_units = 0
        self.spread_capture_units = Fraction(0)
        # Traded notional: in value units (|value| × lots) and in lots.
        self.volume_units = 0
        self.volume_lots = 0
        # Paid and received (both >= 0), exact; ``fees`` and ``rebates`` are their floats.
        self.fees_exact = Decimal(0)
        self.rebates_exact = Decimal(0)
        self.fees = 0.0
        self.rebates = 0.0
        self.fills = 0
        self.buy_lots = 0
        self.sell_lots = 0
        self.max_position_lots = 0
        self.min_position_lots = 0

    @property
    def avg_entry_ticks(self) -> Fraction:
        """Average entry price of the open position in ticks (0 when flat); the harmonic mean
        of fill prices for inverse contracts."""
        if self.position_lots == 0:
            return Fraction(0)
        return self.instrument.price_of_value(self.cost_units / self.position_lots)

    def on_fill(
        self, side: Side, price_ticks: int, qty_lots: int, fee: float, mid_ticks: float
    ) -> None:
        """Book one execution. Fee in the settlement asset (< 0 is a rebate); mid in ticks
        at fill time. A ``mid_ticks`` that is not a positive finite number (no book) counts
        as zero edge."""
        if qty_lots <= 0 or price_ticks <= 0:
            raise ValueError(f"fill needs positive price and size, got {price_ticks}×{qty_lots}")
        inst = self.instrument
        sign = int(side)
        value = inst.value(price_ticks)
        pos = self.position_lots

        # Only the part against the open position realizes; the rest opens at the fill price.
        closing = min(qty_lots, abs(pos)) if pos * sign < 0 else 0
        if closing:
            released = self.cost_units * closing / abs(pos)
            self.realized_units += -sign * closing * value - released
            self.cost_units -= released
        self.cost_units += sign * (qty_lots - closing) * value
        self.position_lots = pos + sign * qty_lots

        self.cash_flow_units -= sign * qty_lots * value
        self.volume_units += qty_lots * abs(value)
        self.volume_lots += qty_lots
        self.fills += 1
        if side is Side.BUY:
            self.buy_lots += qty_lots
        else:
            self.sell_lots += qty_lots
        self.max_position_lots = max(self.max_position_lots, self.position_lots)
        self.min_position_lots = min(self.min_position_lots, self.position_lots)
        amount = fee_amount(fee)
        if amount >= 0:
            self.fees_exact += amount
            self.fees = float(self.fees_exact)
        else:
            self.rebates_exact -= amount
            self.rebates = float(self.rebates_exact)
        if 0 < mid_ticks < math.inf:
            self.spread_capture_units += edge_units(inst, side, price_ticks, mid_ticks) * qty_lots

    def adopt(self, position_lots: int, entry_ticks: int) -> None:
        """Take over a position found at the venue, valued at ``entry_ticks`` (ticks).

        Only from flat: the adopted position enters the books as if opened at that price, with
        no fee and no traded volume, so later PnL counts from the adoption.
        """
        if self.position_lots != 0:
            raise ValueError(f"cannot adopt a position while holding {self.position_lots} lots")
        value = self.instrument.value(entry_ticks)
        self.position_lots = position_lots
        self.cost_units = Fraction(position_lots * value)
        self.cash_flow_units -= position_lots * value
        self.max_position_lots = max(self.max_position_lots, position_lots)
        self.min_position_lots = min(self.min_position_lots, position_lots)

    def gross_units(self, mark_ticks: float) -> Fraction:
        """Realized plus unrealized PnL at ``mark_ticks``, exact, in value units."""
        return self.realized_units + self._unrealized_units(self._mark_value(mark_ticks))

    def gross_settle(self, mark_ticks: float) -> float:
        """Realized plus unrealized PnL at ``mark_ticks`` in the settlement asset."""
        return float(self.gross_units(mark_ticks) * self._unit)

    def total_settle(self, mark_ticks: float) -> float:
        """Total PnL (after fees and rebates) in the settlement asset at ``mark_ticks``, in
        float arithmetic.

        Cheap enough for every decision (the risk guard's drawdown checks); ``snapshot`` is
        the exact account.
        """
        unrealized = 0.0
        if 0 < mark_ticks < math.inf and self.position_lots:
            unrealized = self.position_lots * self.instrument.value_float(mark_ticks) - float(
                self.cost_units
            )
        gross = (float(self.realized_units) + unrealized) * self._unit_float
        return gross - self.fees + self.rebates

    def total_money(self, mark_ticks: float) -> Decimal:
        """Total PnL at ``mark_ticks`` as shown (``money_amount`` of the gross, less fees, plus
        rebates): the exact equity a report's drawdown is measured on."""
        gross = money_amount(self.gross_units(mark_ticks) * self._unit)
        return gross - self.fees_exact + self.rebates_exact

    def snapshot(self, mark_ticks: float) -> PnlSnapshot:
        """PnL with the open position marked at ``mark_ticks`` (normally the mid).

        A mark that is not a positive finite number (no book) values the position at its
        average entry, so an empty book never shows as a loss of the whole position.
        """
        inst = self.instrument
        mark_value = self._mark_value(mark_ticks)
        realized = money_amount(self.realized_units * self._unit)
        unrealized = money_amount(self._unrealized_units(mark_value) * self._unit)
        capture = money_amount(self.spread_capture_units * self._unit)
        volume_settle = money_amount(self.volume_units * self._unit)
        # Inverse contracts trade a fixed face value in quote; linear ones their settle notional.
        volume_quote = (
            money_amount(self.volume_lots * self._face_quote) if inst.inverse else volume_settle
        )
        fees, rebates = self.fees_exact, self.rebates_exact
        gross = realized + unrealized
        total = gross - fees + rebates
        tick = Fraction(inst.tick_size)
        mark = inst.price_of_value(mark_value) if mark_value else Fraction(0)
        return PnlSnapshot(
            settle=inst.settle,
            position_size=float(self.position_lots * inst.lot_size),
            position_lots=self.position_lots,
            avg_entry=float(self.avg_entry_ticks * tick),
            mark=float(mark * tick),
            realized=realized,
            unrealized=unrealized,
            fees=fees,
            rebates=rebates,
            net_fees=fees - rebates,
            gross=gross,
            total=total,
            spread_capture=capture,
            inventory_pnl=gross - capture,
            volume_quote=volume_quote,
            volume_settle=volume_settle,
            fills=self.fills,
            cost_per_10k=float(-total / volume_settle * 10_000) if volume_settle else 0.0,
            buy_lots=self.buy_lots,
            sell_lots=self.sell_lots,
            max_position_lots=self.max_position_lots,
            min_position_lots=self.min_position_lots,
        )

    def _mark_value(self, mark_ticks: float) -> Fraction:
        if 0 < mark_ticks < math.inf:
            return self.instrument.value_at(mark_ticks)
        if self.position_lots == 0:
            return Fraction(0)
        return self.cost_units / self.position_lots

    def _unrealized_units(self, mark_value: Fraction) -> Fraction:
        return self.position_lots * mark_value - self.cost_units
