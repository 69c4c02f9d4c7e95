"""COIN-M instruments from the simulated exchange's listing, for tests of inverse contracts."""

from __future__ import annotations

from pathlib import Path

from tradetui.core.instrument import Instrument
from tradetui.venues.sim_listing import sim_instrument


def coinm(symbol: str) -> Instrument:
    """The simulated COIN-M exchange's ``symbol`` (BTCUSD_PERP: 100 USD a contract)."""
    inst = sim_instrument(symbol, "coinm")
    assert inst is not None, f"the simulated COIN-M listing has no {symbol}"
    return inst


def shared_data() -> Path:
    """The shared recordings folder (../shared/data next to the checkout or a parent of it)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return here.parents[1] / ".." / "shared" / "data"
