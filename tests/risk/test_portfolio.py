"""Portfolio risk: USD notionals by contract type, asset netting across markets, limits."""

from __future__ import annotations

import pytest

from tests.coinm import coinm
from tests.instruments import btcusdt_perpetual, spot_btcusdt, usdm_ethusdt
from tradetui.core.instrument import Instrument
from tradetui.risk.portfolio import PortfolioGuard, PortfolioLimits, market_exposure

BTC = 50_000.0


def _ticks(inst: Instrument, price: float) -> float:
    return price / inst.tick


def test_notional_in_usd_per_contract_type() -> None:
    usdm, spot, inverse = btcusdt_perpetual(), spot_btcusdt(), coinm("BTCUSD_PERP")
    # linear: qty × price × contract size
    lots = usdm.lots_exact(usdm.min_qty * 10)
    assert lots is not None
    e = market_exposure(usdm, lots, _ticks(usdm, BTC), 0.0)
    assert e.notional_usd == pytest.approx(float(usdm.min_qty) * 10 * BTC)
    # spot: base × price, short is negative
    e = market_exposure(spot, -(spot.lots_exact(spot.min_qty) or 0), _ticks(spot, BTC), 0.0)
    assert e.notional_usd == pytest.approx(-float(spot.min_qty) * BTC)
    # inverse: contracts × face value, whatever the price; PnL in the coin valued at the mid
    contracts = inverse.lots_exact(3 * inverse.lot_size) or 0
    e = market_exposure(inverse, contracts, _ticks(inverse, BTC), 0.001)
    assert e.notional_usd == pytest.approx(3 * float(inverse.lot_size * inverse.contract_size))
    assert e.pnl_usd == pytest.approx(0.001 * BTC)
    assert e.asset == "BTC"


def test_btc_long_on_usdm_nets_with_short_on_coinm() -> None:
    usdm, inverse = btcusdt_perpetual(), coinm("BTCUSD_PERP")
    face = float(inverse.contract_size * inverse.lot_size)
    long_usd = 2 * face  # the same USD on both sides
    usdm_lots = usdm.lots_exact(type(usdm.lot_size)(str(long_usd / BTC))) or 0
    markets = [
        market_exposure(usdm, usdm_lots, _ticks(usdm, BTC), 0.0),
        market_exposure(inverse, -2, _ticks(inverse, BTC), 0.0),
        market_exposure(usdm_ethusdt(), 0, _ticks(usdm_ethusdt(), 3000.0), 0.0),
    ]
    guard = PortfolioGuard(PortfolioLimits(max_asset_usd=1.0, max_net_usd=1.0))
    assert guard.check(markets, 0) is None
    state = guard.last
    assert state is not None
    assert state.by_asset_usd["BTC"] == pytest.approx(0.0, abs=1e-6)
    assert state.gross_usd == pytest.approx(2 * long_usd)
    assert state.net_usd == pytest.approx(0.0, abs=1e-6)


def test_each_limit_names_itself_and_why() -> None:
    usdm = btcusdt_perpetual()
    lots = usdm.lots_exact(usdm.min_qty * 100) or 0  # 0.1 BTC = 5000 USD
    long = [market_exposure(usdm, lots, _ticks(usdm, BTC), 0.0)]
    for limit, key in [
        (PortfolioLimits(max_gross_usd=4000), "portfolio.max_gross_usd"),
        (PortfolioLimits(max_net_usd=4000), "portfolio.max_net_usd"),
        (PortfolioLimits(max_asset_usd=4000), "portfolio.max_asset_usd"),
    ]:
        breach = PortfolioGuard(limit).check(long, 0)
        assert breach is not None
        assert breach.limit == key
        assert "> max 4000" in breach.reason
    assert PortfolioGuard(PortfolioLimits(max_gross_usd=6000)).check(long, 0) is None


def test_drawdown_from_the_peak_and_the_day_loss() -> None:
    usdm = btcusdt_perpetual()
    mid = _ticks(usdm, BTC)
    guard = PortfolioGuard(PortfolioLimits(max_drawdown_usd=5.0, max_daily_loss_usd=8.0))
    day = 86_400 * 10**9
    assert guard.check([market_exposure(usdm, 0, mid, 10.0)], 0) is None  # peak 10
    assert guard.check([market_exposure(usdm, 0, mid, 6.0)], 1) is None  # drawdown 4
    breach = guard.check([market_exposure(usdm, 0, mid, 4.0)], 2)
    assert breach is not None
    assert breach.limit == "portfolio.max_drawdown_usd"
    assert "drawdown 6.00 USD > max 5" in breach.reason
    # A new UTC day opens at the PnL it starts with: the day's loss counts from there.
    guard = PortfolioGuard(PortfolioLimits(max_daily_loss_usd=8.0))
    assert guard.check([market_exposure(usdm, 0, mid, -7.0)], day - 1) is None
    assert guard.check([market_exposure(usdm, 0, mid, -10.0)], day) is None
    breach = guard.check([market_exposure(usdm, 0, mid, -19.0)], day + 1)
    assert breach is not None
    assert breach.limit == "portfolio.max_daily_loss_usd"
