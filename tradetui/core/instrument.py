"""Instrument constraints and exact conversion between decimal prices/sizes and ticks/lots.

Rounding is chosen to be safe for each side: a bid never rounds up (it would pay more than
intended), an ask never rounds down, and a size never rounds up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction

from tradetui.core.money import fee_for
from tradetui.core.types import BUY, RejectCode, Side

# Tolerance, in ticks or lots, for float inputs that land a hair off an exact grid point
# (23366.1 / 0.1 == 233660.99999999997 in binary floating point).
_GRID_EPS = 1e-7


class InstrumentKind(StrEnum):
    PERPETUAL = "perpetual"
    FUTURE = "future"  # a dated (delivery) contract
    SPOT = "spot"


# Inverse contracts value one lot at ``-_INVERSE_SCALE / price_ticks`` value units: an integer
# rounded to the nearest unit, so sums stay exact integers instead of Fractions whose
# denominators grow with every new price. One unit is ``lot × contract size / (tick × scale)``
# of the settlement coin: 1e-27 BTC for BTCUSD_PERP, far below any exchange's 1e-8.
_INVERSE_SCALE = 10**24
# Relative float error allowed when comparing a price with a band edge; closer, exact math.
_BAND_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable market: its grids, minimums, contract terms and fee rates.

    Sizes are in lots of ``lot_size`` order units: the base asset for spot and linear
    contracts, contracts for inverse ones. ``contract_size`` is what one order unit is worth:
    base per unit for linear contracts (1 on Binance USD-M), quote (USD) per contract for
    inverse ones (100 for BTCUSD_PERP). PnL and fees settle in ``settle``: the quote asset
    for spot and linear contracts, the base coin for inverse ones.
    """

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
    inverse: bool = False
    contract_size: Decimal = Decimal(1)
    # Settlement (PnL and fee) asset and margin asset; "" takes the contract's natural one.
    settle: str = ""
    margin_asset: str = ""
    # The ccxt exchange id this instrument trades on ("binanceusdm", "binancecoinm", ...).
    venue: str = ""
    max_qty: Decimal | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    # PERCENT_PRICE band: limit prices within [mark × down, mark × up].
    percent_price_up: Decimal | None = None
    percent_price_down: Decimal | None = None
    # The order size step (Binance's LOT_SIZE stepSize) when it is coarser than ``lot_size``:
    # spot books show sizes to the base asset's precision (1e-8 BTC) while orders go in steps
    # of 0.00001 BTC. None: orders step by ``lot_size``.
    order_step: Decimal | None = None
    tick: float = field(init=False)
    lot: float = field(init=False)
    min_qty_lots: int = field(init=False)
    min_notional_ticklots: int = field(init=False)
    min_notional_lots: int = field(init=False)
    # ``max_qty``, ``max_price`` and ``min_price`` on the grids; 0 where the venue sets none.
    max_qty_lots: int = field(init=False)
    max_price_ticks: int = field(init=False)
    min_price_ticks: int = field(init=False)
    value_unit: Fraction = field(init=False)
    # The band multipliers as floats (0.0 = no band), for the per-decision edge.
    band_up: float = field(init=False)
    band_down: float = field(init=False)
    # The fee rates as the decimals they were written as, exact, for ``fee``.
    maker_fee_exact: Fraction = field(init=False)
    taker_fee_exact: Fraction = field(init=False)
    # Lots per order step (1 when ``order_step`` is None).
    step_lots: int = field(init=False)

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.lot_size <= 0:
            raise ValueError(f"{self.symbol}: tick_size and lot_size must be positive")
        if self.min_qty < 0 or self.min_notional < 0:
            raise ValueError(f"{self.symbol}: min_qty and min_notional must not be negative")
        if self.contract_size <= 0:
            raise ValueError(f"{self.symbol}: contract_size must be positive")
        if self.inverse and self.kind is InstrumentKind.SPOT:
            raise ValueError(f"{self.symbol}: a spot market cannot be inverse")
        set_ = object.__setattr__
        if not self.settle:
            set_(self, "settle", self.base if self.inverse else self.quote)
        if not self.margin_asset:
            set_(self, "margin_asset", self.settle)
        set_(self, "tick", float(self.tick_size))
        set_(self, "lot", float(self.lot_size))
        set_(
            self,
            "min_qty_lots",
            int((self.min_qty / self.lot_size).to_integral_value(rounding=ROUND_CEILING)),
        )
        set_(self, "max_qty_lots", int(self.max_qty / self.lot_size) if self.max_qty else 0)
        set_(self, "max_price_ticks", int(self.max_price / self.tick_size) if self.max_price else 0)
        set_(
            self,
            "min_price_ticks",
            int((self.min_price / self.tick_size).to_integral_value(rounding=ROUND_CEILING))
            if self.min_price
            else 0,
        )
        face = self.lot_size * self.contract_size
        if self.inverse:
            # An inverse lot's quote notional is its face value whatever the price.
            set_(self, "min_notional_ticklots", 0)
            set_(
                self,
                "min_notional_lots",
                int((self.min_notional / face).to_integral_value(rounding=ROUND_CEILING)),
            )
            unit = Fraction(face) / (Fraction(self.tick_size) * _INVERSE_SCALE)
        else:
            # min notional expressed in (tick × lot) units, so checks are integer comparisons.
            ticklot = self.tick_size * face
            set_(
                self,
                "min_notional_ticklots",
                int((self.min_notional / ticklot).to_integral_value(rounding=ROUND_CEILING)),
            )
            set_(self, "min_notional_lots", 0)
            unit = Fraction(self.tick_size) * Fraction(face)
        set_(self, "value_unit", unit)
        set_(self, "band_up", float(self.percent_price_up or 0))
        set_(self, "band_down", float(self.percent_price_down or 0))
        set_(self, "maker_fee_exact", Fraction(Decimal(repr(self.maker_fee_rate))))
        set_(self, "taker_fee_exact", Fraction(Decimal(repr(self.taker_fee_rate))))
        step_lots = 1
        if self.order_step is not None:
            ratio = self.order_step / self.lot_size
            if self.order_step <= 0 or ratio != ratio.to_integral_value():
                raise ValueError(
                    f"{self.symbol}: order_step {self.order_step} must be a positive multiple "
                    f"of lot_size {self.lot_size}"
                )
            step_lots = int(ratio)
        set_(self, "step_lots", step_lots)

    def floor_to_step(self, lots: int) -> int:
        """``lots`` rounded down to a whole number of order steps."""
        return lots - lots % self.step_lots if self.step_lots > 1 else lots

    @property
    def size_unit(self) -> str:
        """What order sizes count: 'contracts' for inverse contracts, else the base asset."""
        return "contracts" if self.inverse else self.base

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
        if self.inverse:
            return max(self.min_qty_lots, self.min_notional_lots, 1)
        if price_ticks <= 0:
            return max(self.min_qty_lots, 1)
        by_notional = -(-self.min_notional_ticklots // price_ticks)
        return max(self.min_qty_lots, by_notional, 1)

    def notional(self, price_ticks: float, qty_lots: float) -> float:
        """Notional in the quote currency (USD for inverse contracts: their face value);
        float, for limits, display and model math."""
        if self.inverse:
            return qty_lots * self.lot * float(self.contract_size)
        return price_ticks * qty_lots * self.tick * self.lot * float(self.contract_size)

    def notional_settle(self, price_ticks: float, qty_lots: float) -> float:
        """Notional in the settlement asset (the coin for inverse contracts); 0 at no price."""
        if not self.inverse:
            return self.notional(price_ticks, qty_lots)
        if price_ticks <= 0:
            return 0.0
        return qty_lots * self.lot * float(self.contract_size) / (price_ticks * self.tick)

    def fee(self, price_ticks: int, qty_lots: int, is_maker: bool) -> float:
        """A fill's fee at the maker or taker rate in the settlement asset, exact to
        ``money.FEE_PLACES`` decimals (positive paid, negative a rebate)."""
        rate = self.maker_fee_exact if is_maker else self.taker_fee_exact
        return fee_for(abs(self.value(price_ticks)) * qty_lots * self.value_unit, rate)

    def to_quote(self, amount_settle: float, price_ticks: float) -> float:
        """An amount in the settlement asset in quote currency at ``price_ticks``."""
        return amount_settle * price_ticks * self.tick if self.inverse else amount_settle

    # ---- contract math for accounting: value units ------------------------------------------
    # One lot held at price p is worth ``value(p)`` value units of the settlement asset
    # (``value_unit`` each); a position's PnL from p1 to p2 is lots × (value(p2) − value(p1)).
    # Linear: value(p) = p in ticks. Inverse: value(p) = −scale / p, so a long of N contracts
    # gains N × CS × (1/p1 − 1/p2) coin, and an average of values is a harmonic mean of prices.

    def value(self, price_ticks: int) -> int:
        """Value units of one lot at ``price_ticks`` (> 0)."""
        if self.inverse:
            return -((2 * _INVERSE_SCALE + price_ticks) // (2 * price_ticks))
        return price_ticks

    def value_at(self, mark_ticks: float) -> Fraction:
        """Value units of one lot at a fractional mark (a mid), exact for the float given."""
        if self.inverse:
            return -_INVERSE_SCALE / Fraction(mark_ticks)
        return Fraction(mark_ticks)

    def value_float(self, mark_ticks: float) -> float:
        """``value_at`` in float arithmetic (for per-decision checks)."""
        return -_INVERSE_SCALE / mark_ticks if self.inverse else mark_ticks

    def price_of_value(self, value: Fraction) -> Fraction:
        """The price in ticks whose lot value is ``value`` (inverse of ``value``)."""
        if self.inverse:
            return _INVERSE_SCALE / -value if value else Fraction(0)
        return value

    def check(self, price_ticks: int, qty_lots: int) -> RejectCode | None:
        """The reason a venue would refuse this size/price, or None when it is acceptable."""
        if qty_lots < max(self.min_qty_lots, self.min_notional_lots, 1):
            return RejectCode.BELOW_MIN_QTY
        if self.max_qty_lots and qty_lots > self.max_qty_lots:
            return RejectCode.ABOVE_MAX_QTY
        if price_ticks > 0 and price_ticks * qty_lots < self.min_notional_ticklots:
            return RejectCode.BELOW_MIN_NOTIONAL
        return None

    def band_limit_ticks(self, side: Side, mark_ticks: float) -> int | None:
        """The price band's edge for ``side`` at ``mark_ticks``: the highest buy price
        (mark × ``percent_price_up``, rounded down) or the lowest sell price (mark ×
        ``percent_price_down``, rounded up), in ticks; None without a band or a mark.

        One edge per side, as Binance futures' PERCENT_PRICE filter states it: "BUY: price <=
        markPrice * multiplierUp; SELL: price >= markPrice * multiplierDown" (USD-M and COIN-M
        "Common Definition", Filters); a bid far below the mark is not refused.
        """
        mult = self.band_up if side is BUY else self.band_down
        if not mult or not mark_ticks > 0:
            return None
        edge = mark_ticks * mult
        # Floats decide unless the edge sits within their error of a whole tick (every
        # decision asks, twice; exact fractions cost ~15 µs a call).
        if abs(edge - round(edge)) <= _BAND_EPS * edge:
            exact = self.percent_price_up if side is BUY else self.percent_price_down
            assert exact is not None  # band_up/band_down are 0 without it
            fine = Fraction(mark_ticks) * Fraction(exact)
            return math.floor(fine) if side is BUY else math.ceil(fine)
        return math.floor(edge) if side is BUY else math.ceil(edge)

    def check_price(self, side: Side, price_ticks: int, mark_ticks: float) -> RejectCode | None:
        """The reason a venue would refuse this limit price (its price limits, then its band
        around the mark ``mark_ticks``; 0 = no mark), or None when it is acceptable."""
        if self.max_price_ticks and price_ticks > self.max_price_ticks:
            return RejectCode.ABOVE_MAX_PRICE
        if price_ticks < self.min_price_ticks:
            return RejectCode.BELOW_MIN_PRICE
        mult = self.percent_price_up if side is BUY else self.percent_price_down
        if mult is None or not mark_ticks > 0:
            return None
        # A whole-tick price is beyond the edge exactly when it is beyond mark × multiplier;
        # floats decide unless the price sits within their error of it (per-order hot path).
        beyond = (price_ticks - mark_ticks * float(mult)) * side
        if abs(beyond) <= _BAND_EPS * price_ticks:
            beyond = float((price_ticks - Fraction(mark_ticks) * Fraction(mult)) * side)
        if beyond > 0:
            return RejectCode.ABOVE_PRICE_BAND if side is BUY else RejectCode.BELOW_PRICE_BAND
        return None

    # ---- a self-describing spec (recordings, the catalog cache, the store) -----------------

    def to_spec(self) -> dict[str, str | bool | float]:
        """The instrument as JSON-ready values (decimals as exact strings)."""
        spec: dict[str, str | bool | float] = {
            "symbol": self.symbol,
            "venue": self.venue,
            "kind": self.kind.value,
            "inverse": self.inverse,
            "base": self.base,
            "quote": self.quote,
            "settle": self.settle,
            "margin_asset": self.margin_asset,
            "tick_size": str(self.tick_size),
            "lot_size": str(self.lot_size),
            "min_qty": str(self.min_qty),
            "min_notional": str(self.min_notional),
            "contract_size": str(self.contract_size),
            "maker_fee_rate": self.maker_fee_rate,
            "taker_fee_rate": self.taker_fee_rate,
        }
        for name in _OPTIONAL_DECIMALS:
            value = getattr(self, name)
            if value is not None:
                spec[name] = str(value)
        return spec

    @classmethod
    def from_spec(cls, spec: Mapping[str, object]) -> Instrument:
        """The instrument ``to_spec`` wrote; raises ValueError naming a missing or bad field."""

        def dec(name: str, required: bool = True) -> Decimal | None:
            raw = spec.get(name)
            if raw is None:
                if required:
                    raise ValueError(f"instrument spec: {name} is missing")
                return None
            try:
                d = Decimal(str(raw))
            except InvalidOperation:
                raise ValueError(f"instrument spec: {name} {raw!r} is not a number") from None
            if not d.is_finite():
                raise ValueError(f"instrument spec: {name} {raw!r} is not a number")
            return d

        def text(name: str, default: str = "") -> str:
            raw = spec.get(name, default)
            if not isinstance(raw, str):
                raise ValueError(f"instrument spec: {name} must be a string")
            return raw

        def rate(name: str) -> float:
            raw = spec.get(name, 0.0)
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError(f"instrument spec: {name} must be a number")
            return float(raw)

        try:
            kind = InstrumentKind(text("kind", InstrumentKind.PERPETUAL.value))
        except ValueError:
            raise ValueError(f"instrument spec: unknown kind {spec.get('kind')!r}") from None
        symbol = text("symbol")
        if not symbol:
            raise ValueError("instrument spec: symbol is missing")
        optional = {name: dec(name, required=False) for name in _OPTIONAL_DECIMALS}
        return cls(
            symbol=symbol,
            base=text("base"),
            quote=text("quote"),
            tick_size=_req(dec("tick_size")),
            lot_size=_req(dec("lot_size")),
            min_qty=_req(dec("min_qty")),
            min_notional=_req(dec("min_notional")),
            kind=kind,
            maker_fee_rate=rate("maker_fee_rate"),
            taker_fee_rate=rate("taker_fee_rate"),
            inverse=spec.get("inverse") is True,
            contract_size=dec("contract_size", required=False) or Decimal(1),
            settle=text("settle"),
            margin_asset=text("margin_asset"),
            venue=text("venue"),
            max_qty=optional["max_qty"],
            min_price=optional["min_price"],
            max_price=optional["max_price"],
            percent_price_up=optional["percent_price_up"],
            percent_price_down=optional["percent_price_down"],
            order_step=optional["order_step"],
        )


_OPTIONAL_DECIMALS = (
    "max_qty",
    "min_price",
    "max_price",
    "percent_price_up",
    "percent_price_down",
    "order_step",
)


def _req(value: Decimal | None) -> Decimal:
    assert value is not None  # dec(required=True) raised otherwise
    return value
