"""The instrument catalog: the simulated exchanges' listings, and the on-disk cache."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tradetui.venues.catalog import (
    CatalogError,
    cached_catalogs,
    find_instrument,
    load_catalog,
    save_catalog,
)
from tradetui.venues.sim_listing import sim_catalog, sim_instrument


def test_simulated_coinm_lists_inverse_perpetuals_with_their_contract_sizes() -> None:
    btc = sim_instrument("BTCUSD_PERP", "coinm")
    eth = sim_instrument("ETHUSD_PERP", "binancecoinm")
    assert btc is not None
    assert eth is not None
    assert (btc.inverse, btc.contract_size, btc.settle) == (True, Decimal(100), "BTC")
    assert (eth.tick_size, eth.contract_size, eth.settle) == (Decimal("0.01"), Decimal(10), "ETH")


def test_simulated_usdm_and_spot_read_like_binance() -> None:
    perp = sim_instrument("ETHUSDT", "usdm")
    spot = sim_instrument("BTCUSDT", "spot")
    assert perp is not None
    assert spot is not None
    assert (perp.tick_size, perp.lot_size, perp.min_notional) == (
        Decimal("0.01"),
        Decimal("0.001"),
        Decimal(20),
    )
    # Spot sizes count in the base asset's precision; the order step is the minimum.
    assert (spot.lot_size, spot.min_qty, spot.kind.value) == (
        Decimal("1E-8"),
        Decimal("0.00001"),
        "spot",
    )
    assert sim_instrument("DOGEUSDT", "usdm") is None


def test_a_saved_catalog_reads_back_identical(tmp_path: Path) -> None:
    cat = sim_catalog("coinm")
    save_catalog(cat, tmp_path)
    back = load_catalog("coinm", tmp_path)
    assert back is not None
    assert back.instruments == cat.instruments
    assert back.fetched_ns == cat.fetched_ns
    assert [c.exchange for c in cached_catalogs(tmp_path)] == ["binancecoinm"]
    assert find_instrument("btcusd_perp", folder=tmp_path) == cat.instruments["BTCUSD_PERP"]
    assert find_instrument("BTCUSDT", folder=tmp_path) is None


def test_no_catalog_is_none_and_a_damaged_one_says_how_to_rebuild(tmp_path: Path) -> None:
    assert load_catalog("usdm", tmp_path) is None
    (tmp_path / "binanceusdm.json").write_text("{not json")
    with pytest.raises(CatalogError, match=r"damaged catalog .*tradetui markets sync"):
        load_catalog("usdm", tmp_path)
