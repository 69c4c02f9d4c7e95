"""Avellaneda–Stoikov formulas and the live quote decision."""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.instruments import btcusdt_perpetual
from tradetui.core.instrument import Instrument
from tradetui.core.types import Side
from tradetui.strategy.avellaneda import (
    ASParams,
    DesiredQuote,
    HorizonMode,
    QuoteDecision,
    QuoteInputs,
    compute_quotes,
    inventory_term,
    optimal_spread,
    reservation_price,
    time_to_horizon_s,
)

S = 1_000_000_000
# No minimum notional, so venue-minimum lifts never interfere unless a test wants them.
PLAIN = Instrument(
    symbol="TEST",
    base="X",
    quote="USD",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    min_notional=Decimal("0"),
)


def inputs(
    *,
    mid: float = 1000.5,
    bid: int = 1000,
    ask: int = 1001,
    sigma: float = 2.0,
    k: float = 0.5,
    position: int = 0,
    now_ns: int = 100 * S,
    adverse_bps: float = 0.0,
) -> QuoteInputs:
    return QuoteInputs(
        mid_ticks=mid,
        best_bid_ticks=bid,
        best_ask_ticks=ask,
        sigma_ticks=sigma,
        k=k,
        a=10.0,
        position_lots=position,
        now_ns=now_ns,
        session_start_ns=0,
        adverse_bps=adverse_bps,
    )


def params(**overrides: object) -> ASParams:
    base: dict[str, object] = {
        "gamma": 0.1,
        "horizon_mode": HorizonMode.ROLLING,
        "horizon_s": 1.0,
        "order_lots": 10,
        "min_spread_ticks": 1,
        "max_spread_ticks": 1000,
        "eta": 0.5,
        "max_position_lots": 100,
        # The fee floor has its own tests; these test the model and the other clamps.
        "fee_floor": False,
    }
    base.update(overrides)
    return ASParams(**base)  # type: ignore[arg-type]


# ---- formulas --------------------------------------------------------------------------------


def test_reservation_price_matches_known_value() -> None:
    assert reservation_price(100.0, 2.0, 0.1, 2.0, 0.5) == pytest.approx(99.6)


def test_inventory_term_is_q_gamma_sigma2_tau() -> None:
    assert inventory_term(3.0, 0.1, 2.0, 0.5) == pytest.approx(0.6)


def test_optimal_spread_matches_known_value() -> None:
    expected = 0.1 * 4.0 * 1.0 + 20.0 * math.log(1.0 + 0.1 / 1.5)
    assert optimal_spread(0.1, 2.0, 1.0, 1.5) == pytest.approx(expected)
    assert expected == pytest.approx(1.6908, abs=1e-4)


def test_reservation_price_moves_against_inventory() -> None:
    assert reservation_price(100.0, 1.0, 0.1, 2.0, 1.0) < 100.0
    assert reservation_price(100.0, -1.0, 0.1, 2.0, 1.0) > 100.0
    assert reservation_price(100.0, 0.0, 0.1, 2.0, 1.0) == 100.0


def test_spread_grows_linearly_with_gamma_sigma2_tau() -> None:
    short = optimal_spread(0.1, 2.0, 1.0, 1.5)
    long = optimal_spread(0.1, 2.0, 3.0, 1.5)
    assert long - short == pytest.approx(0.1 * 4.0 * 2.0)
    assert optimal_spread(0.1, 3.0, 1.0, 1.5) > short


def test_spread_tends_to_two_over_k_as_gamma_vanishes() -> None:
    assert optimal_spread(1e-9, 2.0, 1.0, 1.5) == pytest.approx(2.0 / 1.5, rel=1e-6)


def test_formulas_accept_numpy_arrays() -> None:
    mids = np.array([100.0, 101.0, 99.0])
    qs = np.array([0.0, 2.0, -3.0])
    taus = np.array([0.0, 0.5, 1.0])
    r = reservation_price(mids, qs, 0.1, 2.0, 0.5)
    d = optimal_spread(0.1, 2.0, taus, 1.5)
    for i in range(3):
        assert r[i] == pytest.approx(reservation_price(float(mids[i]), float(qs[i]), 0.1, 2.0, 0.5))
        assert d[i] == pytest.approx(optimal_spread(0.1, 2.0, float(taus[i]), 1.5))


def test_rolling_horizon_keeps_tau_constant() -> None:
    p = params(horizon_mode=HorizonMode.ROLLING, horizon_s=7.0)
    assert time_to_horizon_s(p, 3 * S, 0) == 7.0
    assert time_to_horizon_s(p, 300 * S, 0) == 7.0


def test_finite_horizon_counts_down_and_resets_each_session() -> None:
    p = params(horizon_mode=HorizonMode.FINITE, horizon_s=10.0)
    assert time_to_horizon_s(p, 0, 0) == 10.0
    assert time_to_horizon_s(p, 4 * S, 0) == pytest.approx(6.0)
    assert time_to_horizon_s(p, 13 * S, 0) == pytest.approx(7.0)


# ---- parameters ------------------------------------------------------------------------------


def test_params_name_the_parameter_and_the_fix() -> None:
    with pytest.raises(ValueError, match=r"^gamma must be > 0 \(got -1\); set strategy.gamma"):
        params(gamma=-1)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("gamma", math.nan, "gamma must be > 0"),
        ("horizon_s", 0.0, "horizon_s must be > 0"),
        ("order_lots", 0, "order_lots must be >= 1"),
        ("min_spread_ticks", 0, "min_spread_ticks must be >= 1"),
        ("max_spread_ticks", 0, "max_spread_ticks must be >= min_spread_ticks"),
        ("eta", -0.1, "eta must be >= 0"),
        ("max_position_lots", 5, "max_position_lots must be >= order_lots"),
    ],
)
def test_params_reject_out_of_range_values(field: str, value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        params(**{field: value})


def test_default_params_are_valid() -> None:
    assert ASParams().gamma > 0


# ---- quote decision --------------------------------------------------------------------------


def test_flat_inventory_quotes_straddle_the_mid() -> None:
    d = compute_quotes(inputs(), params(), PLAIN)
    assert d.bid is not None
    assert d.ask is not None
    assert d.reservation_ticks == d.mid_ticks
    assert d.mid_ticks - d.bid.price_ticks == pytest.approx(d.ask.price_ticks - d.mid_ticks)
    assert d.bid.qty_lots == d.ask.qty_lots == 10


def test_bid_rounds_down_and_ask_rounds_up() -> None:
    # r = 1000.5 and δ ≈ 1.08, so both raw quotes (≈999.96, ≈1001.04) fall between ticks.
    d = compute_quotes(inputs(sigma=1.0, k=2.0), params(min_spread_ticks=1), PLAIN)
    assert d.bid is not None
    assert d.ask is not None
    raw_bid = d.reservation_ticks - d.spread_ticks / 2
    raw_ask = d.reservation_ticks + d.spread_ticks / 2
    assert d.bid.price_ticks == math.floor(raw_bid)
    assert d.ask.price_ticks == math.ceil(raw_ask)


def test_min_spread_clamp_widens_the_quotes_and_says_so() -> None:
    p = params(gamma=0.01, min_spread_ticks=9)
    d = compute_quotes(inputs(mid=1000.0, bid=999, ask=1001, sigma=0.1, k=10.0), p, PLAIN)
    assert d.bid is not None
    assert d.ask is not None
    assert d.spread_ticks < 9
    assert d.ask.price_ticks - d.bid.price_ticks >= 9
    assert any(a.startswith("min spread clamp") and a.endswith("→9 ticks") for a in d.adjustments)


def test_max_spread_clamp_narrows_the_quotes_and_says_so() -> None:
    p = params(max_spread_ticks=20)
    d = compute_quotes(inputs(sigma=50.0), p, PLAIN)
    assert d.bid is not None
    assert d.ask is not None
    assert d.spread_ticks > 20
    assert d.ask.price_ticks - d.bid.price_ticks <= 22
    assert any(a.startswith("max spread clamp") for a in d.adjustments)


def test_post_only_lowers_a_bid_that_would_cross() -> None:
    # Short inventory lifts r far above the book; the bid would take the ask.
    d = compute_quotes(inputs(position=-50, sigma=5.0), params(), PLAIN)
    assert d.bid is not None
    assert d.bid.price_ticks == 1000
    assert any("bid lowered to best ask−1 for post-only" in a for a in d.adjustments)


def test_post_only_lifts_an_ask_that_would_cross() -> None:
    d = compute_quotes(inputs(position=50, sigma=5.0), params(), PLAIN)
    assert d.ask is not None
    assert d.ask.price_ticks == 1001
    assert any("ask lifted to best bid+1 for post-only" in a for a in d.adjustments)


def test_long_inventory_shrinks_only_the_bid() -> None:
    d = compute_quotes(inputs(position=20), params(eta=0.5), PLAIN)
    assert d.bid is not None
    assert d.ask is not None
    assert d.q == 2.0
    assert d.bid.qty_lots == math.floor(10 * math.exp(-1.0))
    assert d.ask.qty_lots == 10


def test_short_inventory_shrinks_only_the_ask() -> None:
    d = compute_quotes(inputs(position=-20), params(eta=0.5), PLAIN)
    assert d.bid is not None
    assert d.ask is not None
    assert d.ask.qty_lots == math.floor(10 * math.exp(-1.0))
    assert d.bid.qty_lots == 10


def test_skewed_size_that_rounds_to_zero_pulls_the_side() -> None:
    d = compute_quotes(inputs(position=60), params(order_lots=1, eta=1.0), PLAIN)
    assert d.bid is None
    assert d.bid_half_spread_ticks is None
    assert any(a.startswith("bid pulled: skewed size") for a in d.adjustments)


def test_size_is_lifted_to_the_venue_minimum() -> None:
    btc = btcusdt_perpetual()  # min notional 100 USDT: 2 lots at 61,700 USD
    i = inputs(mid=617000.5, bid=617000, ask=617001, sigma=20.0, k=0.05)
    d = compute_quotes(i, params(order_lots=1), btc)
    assert d.bid is not None
    assert d.ask is not None
    assert d.bid.qty_lots == d.ask.qty_lots == 2
    assert any("lifted 0.001→0.002 BTC to venue minimum" in a for a in d.adjustments)


def test_max_position_pulls_the_bid_when_long() -> None:
    d = compute_quotes(inputs(position=95), params(eta=0.0), PLAIN)
    assert d.bid is None
    assert d.ask is not None
    assert any(
        a.startswith("bid pulled: position 0.095 X + 0.010 would exceed max 0.100 X")
        for a in d.adjustments
    )


def test_max_position_pulls_the_ask_when_short() -> None:
    d = compute_quotes(inputs(position=-95), params(eta=0.0), PLAIN)
    assert d.ask is None
    assert d.bid is not None
    assert any(a.startswith("ask pulled: position") for a in d.adjustments)


def test_reducing_side_still_quotes_beyond_max_position() -> None:
    d = compute_quotes(inputs(position=150), params(eta=0.0), PLAIN)
    assert d.bid is None
    assert d.ask is not None


def test_crossed_book_pulls_both_sides() -> None:
    d = compute_quotes(inputs(bid=1001, ask=1001), params(), PLAIN)
    assert d.bid is None
    assert d.ask is None
    assert d.adjustments[0].startswith("both pulled: book crossed or locked")


def test_unusable_estimates_pull_both_sides() -> None:
    d = compute_quotes(inputs(sigma=math.nan), params(), PLAIN)
    assert d.bid is None
    assert d.ask is None
    assert d.adjustments[0].startswith("both pulled: unusable inputs")


def test_decision_explains_its_numbers() -> None:
    p = params(horizon_mode=HorizonMode.FINITE, horizon_s=10.0)
    d = compute_quotes(inputs(position=20, now_ns=4 * S), p, PLAIN)
    assert isinstance(d, QuoteDecision)
    assert d.tau_s == pytest.approx(6.0)
    assert d.q == 2.0
    assert d.inventory_term_ticks == pytest.approx(2.0 * 0.1 * 4.0 * 6.0)
    assert d.reservation_ticks == pytest.approx(d.mid_ticks - d.inventory_term_ticks)
    assert d.spread_ticks == pytest.approx(optimal_spread(0.1, 2.0, 6.0, 0.5))
    assert d.bid is not None
    assert d.bid_half_spread_ticks is not None
    assert d.bid_half_spread_ticks == pytest.approx(d.reservation_ticks - d.bid.price_ticks)


@settings(max_examples=300, deadline=None)
@given(
    best_bid=st.integers(1, 10_000_000),
    book_spread=st.integers(1, 50),
    mid_offset=st.floats(0.0, 1.0),
    sigma=st.floats(0.0, 500.0),
    k=st.floats(1e-3, 10.0),
    gamma=st.floats(1e-5, 1.0),
    horizon_s=st.floats(0.1, 60.0),
    finite=st.booleans(),
    order_lots=st.integers(1, 20),
    position_units=st.floats(-3.0, 3.0),
    min_spread=st.integers(1, 10),
    extra_spread=st.integers(0, 1000),
    eta=st.floats(0.0, 2.0),
    now_s=st.floats(0.0, 1000.0),
    fee_floor=st.booleans(),
    adverse_bps=st.floats(0.0, 20.0),
)
def test_quotes_never_cross_each_other_or_the_book(
    best_bid: int,
    book_spread: int,
    mid_offset: float,
    sigma: float,
    k: float,
    gamma: float,
    horizon_s: float,
    finite: bool,
    order_lots: int,
    position_units: float,
    min_spread: int,
    extra_spread: int,
    eta: float,
    now_s: float,
    fee_floor: bool,
    adverse_bps: float,
) -> None:
    best_ask = best_bid + book_spread
    p = ASParams(
        gamma=gamma,
        horizon_mode=HorizonMode.FINITE if finite else HorizonMode.ROLLING,
        horizon_s=horizon_s,
        order_lots=order_lots,
        min_spread_ticks=min_spread,
        max_spread_ticks=min_spread + extra_spread,
        eta=eta,
        max_position_lots=order_lots * 3,
        fee_floor=fee_floor,
    )
    position = round(position_units * order_lots)
    i = QuoteInputs(
        mid_ticks=best_bid + mid_offset * book_spread,
        best_bid_ticks=best_bid,
        best_ask_ticks=best_ask,
        sigma_ticks=sigma,
        k=k,
        a=1.0,
        position_lots=position,
        now_ns=int(now_s * S),
        session_start_ns=0,
        adverse_bps=adverse_bps,
    )
    d = compute_quotes(i, p, PLAIN)
    # The floor (PLAIN's maker fee is 2 bps) holds whatever the inventory and the clamps.
    floor = (2.0 + adverse_bps) * 1e-4 * i.mid_ticks if fee_floor else 0.0
    assert d.floor_ticks == pytest.approx(floor)
    if fee_floor and d.bid is not None:
        assert d.bid.price_ticks <= i.mid_ticks - floor + 1e-6
    if fee_floor and d.ask is not None:
        assert d.ask.price_ticks >= i.mid_ticks + floor - 1e-6
    if d.bid is not None:
        assert 0 < d.bid.price_ticks <= best_ask - 1
        assert d.bid.qty_lots >= 1
        assert abs(position + d.bid.qty_lots) <= p.max_position_lots or position < 0
    if d.ask is not None:
        assert d.ask.price_ticks >= best_bid + 1
        assert d.ask.qty_lots >= 1
        assert abs(position - d.ask.qty_lots) <= p.max_position_lots or position > 0
    if d.bid is not None and d.ask is not None:
        assert d.bid.price_ticks < d.ask.price_ticks


# ---- fee floor -------------------------------------------------------------------------------

FEE_2BPS = btcusdt_perpetual()  # maker fee 2 bps


def test_fee_floor_keeps_both_sides_a_fee_and_the_allowance_from_the_mid() -> None:
    # Mid 61,700.05 USD; the model alone quotes ±1 tick. 2 bps fee + 0.5 bps allowance is
    # 2.5e-4 × 617,000.5 ticks = 154.25 ticks.
    i = inputs(mid=617_000.5, bid=617_000, ask=617_001, sigma=2.0, k=0.5, adverse_bps=0.5)
    off = compute_quotes(i, params(), FEE_2BPS)
    on = compute_quotes(i, params(fee_floor=True), FEE_2BPS)
    assert off.bid is not None
    assert off.ask is not None
    assert off.ask.price_ticks - off.bid.price_ticks < 20
    assert on.bid is not None
    assert on.ask is not None
    assert on.floor_ticks == pytest.approx(154.250125)
    assert on.fee_bps == pytest.approx(2.0)
    assert on.adverse_bps == 0.5
    assert on.bid.price_ticks == math.floor(617_000.5 - 154.250125)
    assert on.ask.price_ticks == math.ceil(617_000.5 + 154.250125)
    moved = (on.bid.price_ticks - off.bid.price_ticks, on.ask.price_ticks - off.ask.price_ticks)
    assert f"fee floor: bid {moved[0]:+d}, ask {moved[1]:+d} ticks" in on.adjustments
    # A fill at the floor covers the fee and the allowance, in bps of the fill's own price.
    bid_edge_bps = (617_000.5 - on.bid.price_ticks) / on.bid.price_ticks * 1e4
    assert bid_edge_bps >= 2.5


def test_fee_floor_is_silent_when_the_model_quotes_wider() -> None:
    i = inputs(mid=10_000.5, bid=10_000, ask=10_001, sigma=2.0, k=0.01)
    d = compute_quotes(i, params(fee_floor=True), FEE_2BPS)
    assert d.floor_ticks == pytest.approx(2.0 * 1e-4 * 10_000.5)
    assert not any(a.startswith("fee floor") for a in d.adjustments)
    off = compute_quotes(i, params(), FEE_2BPS)
    assert (d.bid, d.ask) == (off.bid, off.ask)


def test_fee_floor_overrides_the_max_spread_clamp() -> None:
    i = inputs(mid=617_000.5, bid=617_000, ask=617_001, sigma=2.0, k=0.5)
    d = compute_quotes(i, params(fee_floor=True, max_spread_ticks=20), FEE_2BPS)
    assert d.bid is not None
    assert d.ask is not None
    assert d.ask.price_ticks - d.bid.price_ticks >= 2 * 123


def test_fee_floor_keeps_the_reducing_side_off_the_mid_too() -> None:
    # Short inventory lifts r far above the mid; without the floor the bid goes to the touch.
    i = inputs(mid=617_000.5, bid=617_000, ask=617_001, position=-50, sigma=5.0)
    assert compute_quotes(i, params(), FEE_2BPS).bid == DesiredQuote(Side.BUY, 617_000, 10)
    d = compute_quotes(i, params(fee_floor=True), FEE_2BPS)
    assert d.bid is not None
    assert d.bid.price_ticks == math.floor(617_000.5 - 2e-4 * 617_000.5)
    # The model's bid sat at 617,009 (lowered to the touch for post-only without the floor).
    assert d.adjustments[0].startswith(f"fee floor: bid {d.bid.price_ticks - 617_009:+d},")


def test_a_maker_rebate_beyond_the_allowance_sets_no_floor() -> None:
    rebate = dataclasses.replace(FEE_2BPS, maker_fee_rate=-0.0001)
    i = inputs(mid=617_000.5, bid=617_000, ask=617_001, adverse_bps=0.5)
    d = compute_quotes(i, params(fee_floor=True), rebate)
    assert d.floor_ticks == 0.0
    assert d.bid == compute_quotes(i, params(), rebate).bid


def test_fee_floor_is_the_same_bps_on_an_inverse_contract() -> None:
    # COIN-M ETHUSD_PERP (tick 0.01): a 2 bps floor at 2,500 USD is 50 ticks (0.50 USD).
    inverse = Instrument(
        symbol="ETHUSD_PERP",
        base="ETH",
        quote="USD",
        tick_size=Decimal("0.01"),
        lot_size=Decimal("1"),
        min_qty=Decimal("1"),
        min_notional=Decimal("0"),
        inverse=True,
        contract_size=Decimal("10"),
        maker_fee_rate=0.0002,
    )
    i = inputs(mid=250_000.5, bid=250_000, ask=250_001)
    d = compute_quotes(i, params(fee_floor=True), inverse)
    assert d.floor_ticks == pytest.approx(50.0001)
    assert d.bid is not None
    assert d.ask is not None
    assert (d.bid.price_ticks, d.ask.price_ticks) == (249_950, 250_051)
