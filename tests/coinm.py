"""COIN-M instruments from the simulated exchange's listing, for tests of inverse contracts."""

from __future__ import annotations

from tradetui.core.instrument import Instrument
from tradetui.venues.sim_listing import sim_instrument


def coinm(symbol: str) -> Instrument:
    """The simulated COIN-M exchange's ``symbol`` (BTCUSD_PERP: 100 USD a contract)."""
    inst = sim_instrument(symbol, "coinm")
    assert inst is not None, f"the simulated COIN-M listing has no {symbol}"
    return inst
