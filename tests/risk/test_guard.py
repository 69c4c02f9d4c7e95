"""Each risk limit and its action; hysteresis; the position never overshoots its limit."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.instruments import btcusdt_perpetual
from tradetui.core.types import Side
from tradetui.risk.guard import RiskAction, RiskGuard, RiskInputs, RiskLimits
from tradetui.strategy.avellaneda import DesiredQuote

INST = btcusdt_perpetual()
MID = 617_000.5
S = 1_000_000_000
BID = DesiredQuote(Side.BUY, 616_990, 10)
ASK = DesiredQuote(Side.SELL, 617_011, 10)


def _inputs(**kw: float) -> RiskInputs:
    base = {
        "now_ns": 100 * S,
        "mid_ticks": MID,
        "position_lots": 0,
        "open_orders": 0,
        "last_market_ns": 100 * S,
        "last_account_ns": 100 * S,
        "feed_latency_ns": 5_000_000,
        "sigma_ratio": 1.0,
    }
    base.update(kw)
    return RiskInputs(**base)  # type: ignore[arg-type]


def _guard(**kw: float) -> RiskGuard:
    return RiskGuard(RiskLimits(**kw), INST)  # type: ignore[arg-type]


def test_no_limits_allows_quotes_unchanged() -> None:
    d = _guard().check(BID, ASK, _inputs())
    assert d.action is RiskAction.ALLOW
    assert (d.bid, d.ask) == (BID, ASK)


def test_fat_finger_size_is_clamped() -> None:
    d = _guard(max_order_lots=4).check(BID, ASK, _inputs())
    assert d.action is RiskAction.CLAMP
    assert d.bid is not None
    assert d.bid.qty_lots == 4
    assert "max_order_contracts" in d.reasons[0]


def test_order_notional_cap_pulls_when_below_venue_minimum() -> None:
    # 50 USDT cap is below the 100 USDT minimum notional: the side cannot be quoted.
    d = _guard(max_order_quote=50.0).check(BID, ASK, _inputs())
    assert d.bid is None
    assert d.ask is None


def test_position_limit_clamps_the_adding_side_to_the_room_left() -> None:
    d = _guard(max_position_lots=16, one_sided_enter=1.0, one_sided_exit=0.5).check(
        BID, ASK, _inputs(position_lots=12)
    )
    assert d.bid is not None
    assert d.bid.qty_lots == 4
    assert d.ask == ASK


def test_position_limit_in_notional_and_equity_fraction() -> None:
    g = _guard(max_position_quote=1000.0)
    # 1000 USDT at ~61,700 is 16 lots of 0.001 BTC.
    assert g.position_limit_lots(MID) == 16
    g2 = _guard(equity=10_000.0, leverage=2.0, max_equity_fraction=0.05)
    assert g2.position_limit_lots(MID) == 16


def test_one_sided_with_hysteresis() -> None:
    g = _guard(max_position_lots=100, one_sided_enter=0.8, one_sided_exit=0.5)
    assert g.check(BID, ASK, _inputs(position_lots=79)).action is RiskAction.ALLOW
    d = g.check(BID, ASK, _inputs(position_lots=80))
    assert d.action is RiskAction.ONE_SIDED
    assert d.bid is None
    assert d.ask == ASK
    # Still one-sided on the way down until the exit threshold.
    assert g.check(BID, ASK, _inputs(position_lots=60)).bid is None
    assert g.check(BID, ASK, _inputs(position_lots=50)).bid == BID
    # Short side mirrors.
    assert g.check(BID, ASK, _inputs(position_lots=-85)).ask is None


def test_price_band_pulls_far_quotes() -> None:
    far = DesiredQuote(Side.BUY, int(MID * (1 - 0.02)), 10)  # 200 bps below mid
    d = _guard(price_band_bps=100.0).check(far, ASK, _inputs())
    assert d.bid is None
    assert d.ask == ASK
    assert "price_band_bps" in d.reasons[0]


def test_stale_market_pulls_and_fresh_market_resumes() -> None:
    g = _guard(stale_market_ns=2 * S)
    d = g.check(BID, ASK, _inputs(last_market_ns=97 * S))
    assert d.action is RiskAction.PULL
    assert "stale" in d.reasons[0]
    assert g.check(BID, ASK, _inputs(last_market_ns=99 * S)).action is RiskAction.ALLOW


def test_order_budget_pulls_when_spent_and_recovers_after_window() -> None:
    g = _guard(order_budget=3, order_window_ns=10 * S)
    for t in (91, 92, 93):
        g.on_order_sent(t * S)
    assert g.check(BID, ASK, _inputs()).action is RiskAction.PULL
    assert g.check(BID, ASK, _inputs(now_ns=102 * S)).action is RiskAction.ALLOW


def test_reject_burst_halts_and_stays_halted_until_reset() -> None:
    g = _guard(reject_burst=3, reject_window_ns=10 * S)
    for t in (1, 2, 3):
        g.on_reject(t * S)
    d = g.check(BID, ASK, _inputs())
    assert d.action is RiskAction.HALT
    assert "reject_burst" in d.reasons[0]
    assert g.check(BID, ASK, _inputs(now_ns=10_000 * S)).action is RiskAction.HALT
    g.reset()
    assert g.check(BID, ASK, _inputs()).action is RiskAction.ALLOW


def test_rejects_spread_out_do_not_halt() -> None:
    g = _guard(reject_burst=3, reject_window_ns=10 * S)
    for t in (1, 20, 40):
        g.on_reject(t * S)
    assert g.check(BID, ASK, _inputs()).action is RiskAction.ALLOW


def test_session_drawdown_halts() -> None:
    g = _guard(max_drawdown_session=50.0)
    g.on_pnl(1 * S, 30.0, MID)
    g.on_pnl(2 * S, -10.0, MID)
    assert g.check(BID, ASK, _inputs()).action is RiskAction.ALLOW
    g.on_pnl(3 * S, -20.0, MID)
    d = g.check(BID, ASK, _inputs())
    assert d.action is RiskAction.HALT
    assert "max_drawdown_session" in d.reasons[0]


def test_day_drawdown_resets_at_utc_midnight() -> None:
    day = 86_400 * S
    g = _guard(max_drawdown_day=50.0)
    g.on_pnl(day - S, 40.0, MID)
    g.on_pnl(day + S, 0.0, MID)  # a new UTC day starts its own peak at 0
    assert g.check(BID, ASK, _inputs()).action is RiskAction.ALLOW
    g.on_pnl(day + 2 * S, -50.0, MID)
    assert g.check(BID, ASK, _inputs()).action is RiskAction.HALT


def test_loss_per_rolling_hour_forgets_old_peaks() -> None:
    g = _guard(max_loss_per_hour=30.0)
    g.on_pnl(0, 100.0, MID)
    g.on_pnl(3_700 * S, 75.0, MID)  # the 100 peak is more than an hour old
    assert g.check(BID, ASK, _inputs()).action is RiskAction.ALLOW
    g.on_pnl(3_800 * S, 44.0, MID)
    assert g.check(BID, ASK, _inputs()).action is RiskAction.HALT


def test_latency_spike_widens_then_pulls() -> None:
    g = _guard(latency_widen_ns=50_000_000, latency_widen_ticks=5, latency_pull_ns=500_000_000)
    d = g.check(BID, ASK, _inputs(feed_latency_ns=100_000_000))
    assert d.action is RiskAction.CLAMP
    assert d.bid is not None
    assert d.ask is not None
    assert d.bid.price_ticks <= BID.price_ticks - 5
    assert d.ask.price_ticks >= ASK.price_ticks + 5
    assert g.check(BID, ASK, _inputs(feed_latency_ns=600_000_000)).action is RiskAction.PULL


def test_volatility_regime_widens_spread_and_cuts_size() -> None:
    g = _guard(vol_ratio_limit=2.0, vol_widen_factor=2.0, vol_size_factor=0.5)
    d = g.check(BID, ASK, _inputs(sigma_ratio=3.0))
    assert d.action is RiskAction.CLAMP
    assert d.bid is not None
    assert d.ask is not None
    assert MID - d.bid.price_ticks >= 2 * (MID - BID.price_ticks) - 1
    assert d.ask.price_ticks - MID >= 2 * (ASK.price_ticks - MID) - 1
    assert d.bid.qty_lots == 5
    assert g.check(BID, ASK, _inputs(sigma_ratio=1.5)).action is RiskAction.ALLOW


def test_bad_hysteresis_is_refused() -> None:
    with pytest.raises(ValueError, match="one_sided_exit"):
        RiskLimits(one_sided_enter=0.4, one_sided_exit=0.6)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=10, max_value=200),
    size=st.integers(min_value=2, max_value=50),
    fills=st.lists(st.tuples(st.booleans(), st.floats(min_value=0.1, max_value=1.0)), max_size=200),
)
def test_position_never_exceeds_limit_by_more_than_one_order(
    limit: int, size: int, fills: list[tuple[bool, float]]
) -> None:
    """Random partial fills of whatever the guard lets through never push |position|
    beyond limit + one order (a fill of an order placed just before the last one landed)."""
    g = _guard(max_position_lots=limit)
    pos = 0
    for buy, fraction in fills:
        d = g.check(
            msgspec.structs.replace(BID, qty_lots=size),
            msgspec.structs.replace(ASK, qty_lots=size),
            _inputs(position_lots=pos),
        )
        q = d.bid if buy else d.ask
        if q is not None:
            pos += (1 if buy else -1) * max(1, int(q.qty_lots * fraction))
        assert abs(pos) <= limit + size


def test_stale_account_pulls() -> None:
    g = _guard(stale_account_ns=30 * S)
    d = g.check(BID, ASK, _inputs(last_account_ns=60 * S))
    assert d.action is RiskAction.PULL
    assert "account data stale" in d.reasons[0]
    assert g.check(BID, ASK, _inputs(last_account_ns=80 * S)).action is RiskAction.ALLOW


def test_rolling_hour_high_survives_lower_samples_and_expires() -> None:
    g = _guard(max_loss_per_hour=30.0)
    g.on_pnl(0, 100.0, MID)
    for t in range(1, 50):
        g.on_pnl(t * 60 * S, 90.0 - t * 0.1, MID)  # drifting down from 90, never 30 below 100
    assert g.check(BID, ASK, _inputs()).action is RiskAction.ALLOW
    g.on_pnl(50 * 60 * S, 69.0, MID)  # 31 below the hour's high of 100
    assert g.check(BID, ASK, _inputs()).action is RiskAction.HALT
