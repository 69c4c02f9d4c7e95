"""Instrument constraints and exact conversion between decimal prices/sizes and ticks/lots.

Rounding is chosen to be safe for each side: a bid never rounds up (it would pay more than
intended), an ask never rounds down, and a size never rounds up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from tradetui.core.types import BUY, RejectCode, Side

# Tolerance, in ticks or lots, for float inputs that land a hair off an exact grid point
# (23366.1 / 0.1 == 233660.99999999997 in binary floating point).
_GRID_EPS = 1e-7


class InstrumentKind(StrEnum):
    PERPETUAL = "perpetual"
    SPOT = "spot"


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable market: its grids, minimums and fee rates."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    kind: InstrumentKind = InstrumentKind.PERPETUAL
    maker_fee_rate: float = 0.0002
    taker_fee_rate: float = 0.0005
    tick: float = field(init=False)
    lot: float = field(init=False)
    min_qty_lots: int = field(init=False)
    min_notional_ticklots: int = field(init=False)

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.lot_size <= 0:
            raise ValueError(f"{self.symbol}: tick_size and lot_size must be positive")
        if self.min_qty < 0 or self.min_notional < 0:
            raise ValueError(f"{self.symbol}: min_qty and min_notional must not be negative")
        object.__setattr__(self, "tick", float(self.tick_size))
        object.__setattr__(self, "lot", float(self.lot_size))
        object.__setattr__(
            self,
            "min_qty_lots",
            int((self.min_qty / self.lot_size).to_integral_value(rounding=ROUND_CEILING)),
        )
        # min notional expressed in (tick × lot) units, so checks are integer comparisons.
        unit = self.tick_size * self.lot_size
        object.__setattr__(
            self,
            "min_notional_ticklots",
            int((self.min_notional / unit).to_integral_value(rounding=ROUND_CEILING)),
        )

    # ---- exact conversions at the venue boundary --------------------------------------------

    def price(self, ticks: int) -> Decimal:
        """Price in quote currency for ``ticks``."""
        return ticks * self.tick_size

    def qty(self, lots: int) -> Decimal:
        """Size in base currency for ``lots``."""
        return lots * self.lot_size

    def ticks_exact(self, price: Decimal) -> int | None:
        """Ticks for a decimal price, or None when it is off the tick grid."""
        n = price / self.tick_size
        return int(n) if n == n.to_integral_value() else None

    def lots_exact(self, qty: Decimal) -> int | None:
        """Lots for a decimal size, or None when it is off the step grid."""
        n = qty / self.lot_size
        return int(n) if n == n.to_integral_value() else None

    # ---- quantization of model output (floats) ----------------------------------------------

    def quantize_price(self, price: float, side: Side) -> int:
        """Ticks for a model price: bids round down, asks round up (never more aggressive)."""
        x = price / self.tick
        if side is BUY:
            return math.floor(x + _GRID_EPS)
        return math.ceil(x - _GRID_EPS)

    def quantize_qty(self, qty: float) -> int:
        """Lots for a model size, rounded down (never larger than asked)."""
        return max(0, math.floor(qty / self.lot + _GRID_EPS))

    def min_lots_at(self, price_ticks: int) -> int:
        """Smallest size in lots that meets both min qty and min notional at ``price_ticks``."""
        if price_ticks <= 0:
            return max(self.min_qty_lots, 1)
        by_notional = -(-self.min_notional_ticklots // price_ticks)
        return max(self.min_qty_lots, by_notional, 1)

    def notional(self, price_ticks: int, qty_lots: int) -> float:
        """Notional in quote currency (float, for display and model math)."""
        return price_ticks * qty_lots * self.tick * self.lot

    def check(self, price_ticks: int, qty_lots: int) -> RejectCode | None:
        """The reason a venue would refuse this size/price, or None when it is acceptable."""
        if qty_lots < max(self.min_qty_lots, 1):
            return RejectCode.BELOW_MIN_QTY
        if price_ticks > 0 and price_ticks * qty_lots < self.min_notional_ticklots:
            return RejectCode.BELOW_MIN_NOTIONAL
        return None


def btcusdt_perpetual() -> Instrument:
    """Binance USD-M BTCUSDT perpetual constraints (tick 0.1, step 0.001, min notional 100)."""
    return Instrument(
        symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.1"),
        lot_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        min_notional=Decimal("100"),
        kind=InstrumentKind.PERPETUAL,
        maker_fee_rate=0.0002,
        taker_fee_rate=0.0005,
    )
