from __future__ import annotations

from tradetui.core.types import Side
from tradetui.ml.policy import PolicyParams, apply_policy
from tradetui.strategy.avellaneda import DesiredQuote, QuoteDecision

P = PolicyParams(skew_ticks=10.0, widen_ticks=4.0, pull_threshold=0.6)


def decision(bid: int = 95, ask: int = 105) -> QuoteDecision:
    return QuoteDecision(
        DesiredQuote(Side.BUY, bid, 2),
        DesiredQuote(Side.SELL, ask, 2),
        100.0,
        100.0,
        0.0,
        10.0,
        5.0,
        5.0,
        1.0,
        0.1,
        1.0,
        0.0,
        1.0,
        (),
    )


def test_expected_up_move_shifts_both_quotes_up_and_widens_the_ask() -> None:
    d = apply_policy(
        decision(), p_down=0.1, p_up=0.5, best_bid_ticks=99, best_ask_ticks=101, params=P
    )
    assert d.bid is not None
    assert d.ask is not None
    # shift round(0.4·10) = 4; bid widened round(0.1·4) = 0; ask widened round(0.5·4) = 2.
    assert (d.bid.price_ticks, d.ask.price_ticks) == (99 - 0, 111)
    assert "p_up 0.50" in d.adjustments[-1]


def test_side_at_risk_is_pulled_past_the_threshold() -> None:
    d = apply_policy(
        decision(), p_down=0.7, p_up=0.1, best_bid_ticks=99, best_ask_ticks=101, params=P
    )
    assert d.bid is None
    assert d.ask is not None
    assert d.bid_half_spread_ticks is None
    assert "bid pulled" in d.adjustments[-1]


def test_shifted_quotes_stay_post_only() -> None:
    d = apply_policy(
        decision(), p_down=0.0, p_up=0.55, best_bid_ticks=99, best_ask_ticks=101, params=P
    )
    assert d.bid is not None
    assert d.bid.price_ticks <= 100


def test_no_view_leaves_prices_alone() -> None:
    d = apply_policy(
        decision(), p_down=0.0, p_up=0.0, best_bid_ticks=99, best_ask_ticks=101, params=P
    )
    assert d.bid is not None
    assert d.ask is not None
    assert (d.bid.price_ticks, d.ask.price_ticks) == (95, 105)
