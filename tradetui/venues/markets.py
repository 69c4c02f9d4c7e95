"""What the exchange says about a market (ccxt's market structure) in our terms.

``instrument_from_market`` reads tick, step, min qty, min notional and fees, and refuses (one
line naming what is missing) rather than guess; ``missing_capabilities`` names the ccxt
features tradetui needs that an exchange lacks.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.venues.errors import SetupError

# ccxt's precision modes (ccxt.base.decimal_to_precision): how market['precision'] reads.
_DECIMAL_PLACES = 2
_TICK_SIZE = 4

# What tradetui needs from an exchange, as ccxt's ``has`` names it, with the reason.
REQUIRED = {
    "watchOrderBook": "a websocket order book",
    "createPostOnlyOrder": "post-only orders",
    "watchOrders": "order updates on the user stream",
    "watchMyTrades": "fills on the user stream",
    "fetchMyTrades": "fills by REST (the fallback)",
    "fetchOpenOrders": "open orders (startup reconciliation)",
    "fetchPositions": "positions",
    "cancelOrder": "cancels",
}


def missing_capabilities(has: dict[str, Any]) -> list[str]:
    """The ``REQUIRED`` features ``has`` lacks, as 'name (what for)'."""
    return [f"{name} ({why})" for name, why in REQUIRED.items() if not has.get(name)]


def find_market(markets: dict[str, Any], symbol: str, exchange_id: str) -> dict[str, Any]:
    """The market for ``symbol`` (ccxt's unified 'BTC/USDT:USDT' or the exchange's id
    'BTCUSDT', perpetual swaps first); raises SetupError naming close matches."""
    hit = markets.get(symbol)
    if hit is not None:
        return dict(hit)
    want = symbol.upper().replace("/", "").replace("-", "")
    by_id = [m for m in markets.values() if str(m.get("id", "")).upper() == want]
    if by_id:
        by_id.sort(key=lambda m: (not m.get("swap"), not m.get("linear")))
        return dict(by_id[0])
    near = sorted(s for s in markets if want[:3] in s.replace("/", "").upper())[:5]
    hint = f"; similar: {', '.join(near)}" if near else ""
    raise SetupError(f"venue.symbol: {exchange_id} has no market {symbol!r}{hint}")


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    if not d.is_finite() or d <= 0:
        return None
    # ccxt hands floats (100.0); keep the shortest exact form ('100', '0.001').
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def _grid(value: Any, mode: int) -> Decimal | None:
    """A tick or step size from ccxt's precision value in ``mode``."""
    d = _decimal(value)
    if d is None:
        return None
    if mode == _TICK_SIZE:
        return d
    if mode == _DECIMAL_PLACES and d == d.to_integral_value():
        return Decimal(1).scaleb(-int(d))
    return None  # significant digits give no fixed grid


def _kind(market: dict[str, Any]) -> InstrumentKind:
    if market.get("spot"):
        return InstrumentKind.SPOT
    if market.get("future") and not market.get("swap"):
        return InstrumentKind.FUTURE
    return InstrumentKind.PERPETUAL


def _filter(market: dict[str, Any], name: str) -> dict[str, Any]:
    """One of the exchange's own filters (Binance's ``info.filters``), or {}."""
    info = market.get("info")
    filters = info.get("filters") if isinstance(info, dict) else None
    for f in filters if isinstance(filters, list) else ():
        if isinstance(f, dict) and f.get("filterType") == name:
            return f
    return {}


def instrument_from_market(
    market: dict[str, Any], precision_mode: int, exchange_id: str = ""
) -> Instrument:
    """Our Instrument for a ccxt market; raises SetupError when a constraint is unreadable.

    An inverse contract's minimum is in contracts (its lot), so a missing min notional means
    none there; for spot and linear markets it must be stated.
    """
    symbol = str(market.get("symbol", "?"))
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    tick = _grid(precision.get("price"), precision_mode)
    step = _grid(precision.get("amount"), precision_mode)
    min_qty = _decimal((limits.get("amount") or {}).get("min"))
    base_grid = _grid(precision.get("base"), precision_mode)
    order_step = None
    if market.get("spot") and step is not None and base_grid is not None and base_grid < step:
        # Spot books publish sizes to the base asset's precision (25.426189 BTC), finer than
        # the order step: sizes count in that precision, and orders go in whole steps.
        min_qty = max(min_qty or step, step)
        order_step, step = step, base_grid
    inverse = bool(market.get("inverse"))
    min_notional = _decimal((limits.get("cost") or {}).get("min"))
    if min_notional is None and inverse:
        min_notional = Decimal(0)
    contract_size = _decimal(market.get("contractSize")) if market.get("contract") else None
    missing = [
        name
        for name, value in (
            ("tick size", tick),
            ("step size", step),
            ("min qty", min_qty),
            ("min notional", min_notional),
        )
        if value is None
    ]
    if market.get("contract") and contract_size is None:
        missing.append("contract size")
    if missing or tick is None or step is None or min_qty is None or min_notional is None:
        raise SetupError(
            f"venue.symbol: the exchange does not say the {', '.join(missing)} of {symbol}; "
            "refusing to trade it rather than guess"
        )
    maker = market.get("maker")
    taker = market.get("taker")
    percent = _filter(market, "PERCENT_PRICE")
    price_limits = limits.get("price") or {}
    return Instrument(
        symbol=str(market.get("id", symbol)),
        base=str(market.get("base", "")),
        quote=str(market.get("quote", "")),
        tick_size=tick,
        lot_size=step,
        min_qty=min_qty,
        min_notional=min_notional,
        kind=_kind(market),
        maker_fee_rate=float(maker) if maker is not None else 0.0,
        taker_fee_rate=float(taker) if taker is not None else 0.0,
        inverse=inverse,
        contract_size=contract_size or Decimal(1),
        settle=str(market.get("settle") or ""),
        margin_asset=str((market.get("info") or {}).get("marginAsset") or ""),
        venue=exchange_id,
        max_qty=_decimal((limits.get("amount") or {}).get("max")),
        min_price=_decimal(price_limits.get("min")),
        order_step=order_step,
        max_price=_decimal(price_limits.get("max")),
        percent_price_up=_decimal(percent.get("multiplierUp")),
        percent_price_down=_decimal(percent.get("multiplierDown")),
    )


def to_ticks(instrument: Instrument, value: Any) -> int:
    """Ticks for an exchange-reported price (string or float; float noise rounded away)."""
    return int((Decimal(str(value)) / instrument.tick_size).to_integral_value())


def to_lots(instrument: Instrument, value: Any) -> int:
    """Lots for an exchange-reported size (string or float; float noise rounded away)."""
    return int((Decimal(str(value)) / instrument.lot_size).to_integral_value())
