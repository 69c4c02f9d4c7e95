"""What the simulated exchanges list: the in-process sim venue and the loopback sandbox.

Both play Binance, so their listing is kept in Binance's own ``exchangeInfo`` format
(``listings/usdm.json`` for ``/fapi``, ``coinm.json`` for ``/dapi``, ``spot.json`` for
``/api``) and read through ccxt's parser, exactly as a listing fetched from Binance would be.
The figures are Binance's published ones for these markets: ticks, steps, minimums and
contract sizes as in ``../shared/data/README.md`` and PROTOCOLS.md (COIN-M: 100 USD a
BTCUSD_PERP contract, 10 USD for the others; no MIN_NOTIONAL filter), filters as Binance's
exchange-information documentation lists them.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from tradetui.core.instrument import Instrument
from tradetui.venues.catalog import VENUE_EXCHANGES, Catalog, catalog_from_markets, exchange_id

if TYPE_CHECKING:
    from tradetui.market.synthetic import SyntheticParams

log = logging.getLogger(__name__)

# ccxt's precision mode for Binance (tick sizes, not decimal places).
_TICK_SIZE = 4
# Binance's basic (VIP 0) tier, maker and taker, as fractions of notional: futures 0.02 % /
# 0.05 % on USD-M and COIN-M (../shared/docs/PROTOCOLS.md), spot 0.1 % both ways.
_BASIC_TIER = {
    "binanceusdm": (0.0002, 0.0005),
    "binancecoinm": (0.0002, 0.0005),
    "binance": (0.001, 0.001),
}
# Prices of the listed symbols when the shared recordings were made (../shared/data: BTCUSDT's
# mid ranged 61,590-61,840; ETHUSDT spot near 2,684; ETHUSD_PERP near 2,681). An exchange
# lists no price, so the simulated one starts its synthetic markets here.
_REFERENCE_PRICES = {
    "BTCUSDT": 61_700.0,
    "ETHUSDT": 2_684.0,
    "BTCUSD_PERP": 61_700.0,
    "ETHUSD_PERP": 2_681.0,
}


def reference_price(symbol: str) -> float | None:
    """The simulated exchanges' price for a symbol their listing has (quote per base), or None."""
    return _REFERENCE_PRICES.get(symbol.upper())


def listing_entries(exchange: str) -> list[dict[str, Any]]:
    """The raw ``exchangeInfo.symbols`` entries the simulated ``exchange`` lists."""
    ex = exchange_id(exchange)
    short = next((k for k, v in VENUE_EXCHANGES.items() if v == ex), None)
    if short is None:
        return []
    text = resources.files("tradetui.venues").joinpath(f"listings/{short}.json").read_text()
    entries: list[dict[str, Any]] = json.loads(text)["symbols"]
    return entries


@cache
def sim_catalog(exchange: str) -> Catalog:
    """The simulated ``exchange``'s markets, parsed by ccxt as a fetched listing would be."""
    import ccxt

    ex_id = exchange_id(exchange)
    client = getattr(ccxt, ex_id)()
    # Spot parsing consults margin-pair lists that load_markets would have fetched.
    client.options.setdefault("crossMarginPairsData", [])
    client.options.setdefault("isolatedMarginPairsData", [])
    maker, taker = _BASIC_TIER[ex_id]
    markets = {}
    for entry in listing_entries(ex_id):
        market = client.parse_market(entry)
        # exchangeInfo names no fees: ccxt fills in a table of its own (1 bps maker on COIN-M);
        # the simulated exchanges charge Binance's basic tier instead.
        market["maker"], market["taker"] = maker, taker
        markets[market["symbol"]] = market
    return catalog_from_markets(ex_id, markets, _TICK_SIZE, "built-in simulated exchange")


def sim_instrument(symbol: str, exchange: str = "binanceusdm") -> Instrument | None:
    """The simulated ``exchange``'s instrument ``symbol``, or None when it does not list it."""
    return sim_catalog(exchange_id(exchange)).get(symbol)


def listed_instrument(symbol: str, exchange: str = "binanceusdm") -> Instrument:
    """``sim_instrument`` for a symbol the simulated ``exchange`` is known to list (the
    sandbox's and the benches' markets); raises LookupError when it does not."""
    inst = sim_instrument(symbol, exchange)
    if inst is None:
        raise LookupError(f"the simulated {exchange_id(exchange)} does not list {symbol}")
    return inst


def priced_synthetic_params(
    inst: Instrument, calibration: SyntheticParams | None = None, start_price: float = 0.0
) -> SyntheticParams:
    """``market.calibration.params_for``; when the calibration prices another asset and no
    ``start_price`` is given, at a price ``inst`` really had: the last price `tradetui markets
    sync` cached, else the simulated listing's reference price for a symbol it lists (logged).
    Raises CalibrationError when neither knows one."""
    from tradetui.market.calibration import CalibrationError, params_for
    from tradetui.venues.catalog import CatalogError, load_catalog

    try:
        return params_for(inst, calibration, start_price)
    except CalibrationError:
        if start_price:
            raise
        price: float | None = None
        where = "the simulated exchange's reference price"
        if inst.venue:
            try:
                cat = load_catalog(inst.venue)
            except CatalogError:
                cat = None
            price = cat.price(inst.symbol) if cat is not None else None
            if cat is not None and price is not None:
                where = f"its last price cached by `tradetui markets sync` ({cat.exchange})"
        if price is None and sim_instrument(inst.symbol, inst.venue or "binanceusdm"):
            price = reference_price(inst.symbol)
        if price is None:
            raise
    log.info("synthetic %s starts at %g %s, %s", inst.symbol, price, inst.quote, where)
    return params_for(inst, calibration, price)
