"""Instruments written out by hand for tests (product code reads them from the exchange)."""

from __future__ import annotations

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
