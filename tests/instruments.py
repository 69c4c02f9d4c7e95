"""Instruments written out by hand for tests (product code reads them from the exchange)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

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
