"""Instruments written out by hand for tests (product code reads them from the exchange)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

from tradetui.core.instrument import Instrument, InstrumentKind


def btcusdt_perpetual() -> Instrument:
    """Binance USD-M BTCUSDT perpetual constraints (tick 0.1, step 0.001, min notional 100),
    with no price limits or band: the plain grid most unit tests want."""
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


def spot_btcusdt() -> Instrument:
    """Binance spot BTCUSDT (tick 0.01, lot 0.00001)."""
    return Instrument(
        symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00001"),
        min_qty=Decimal("0.00001"),
        min_notional=Decimal("5"),
        kind=InstrumentKind.SPOT,
        venue="binance",
    )


def usdm_ethusdt() -> Instrument:
    """Binance USD-M ETHUSDT perpetual, on BTCUSDT's other constraints with a 0.01 tick."""
    return dataclasses.replace(
        btcusdt_perpetual(),
        symbol="ETHUSDT",
        base="ETH",
        tick_size=Decimal("0.01"),
        venue="binance",
    )


def cache_unpriced_solusdt(folder: Path) -> None:
    """Cache the simulated USD-M listing plus SOLUSDT (on ETHUSDT's grid) with no last price:
    a listed symbol neither the sync nor the simulated exchange gives a price."""
    from tradetui.venues.catalog import save_catalog
    from tradetui.venues.sim_listing import sim_catalog

    cat = dataclasses.replace(sim_catalog("usdm"))
    eth = cat.instruments["ETHUSDT"]
    cat.instruments = {
        **cat.instruments,
        "SOLUSDT": dataclasses.replace(eth, symbol="SOLUSDT", base="SOL"),
    }
    save_catalog(cat, folder)
