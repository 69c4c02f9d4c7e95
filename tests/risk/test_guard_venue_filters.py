"""The guard sees the exchange's order filters coming: a quote outside the price band (Binance's
PERCENT_PRICE around the mark, the mid here), above the maximum size or beyond the price limits
is clamped to what the exchange accepts, or pulled, with a reason, before it is sent."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from tests.instruments import btcusdt_perpetual
from tradetui.core.types import BookSnapshot, Side
from tradetui.matching import MatchingConfig, MatchingEngine
from tradetui.risk.guard import RiskAction, RiskDecision, RiskGuard, RiskInputs, RiskLimits
from tradetui.strategy.avellaneda import DesiredQuote

# BTCUSDT with the filters its listing advertises (maxQty 1000, maxPrice 4529764, ×1.05/×0.95).
INST = replace(
    btcusdt_perpetual(),
    max_qty=Decimal(1000),
    min_price=Decimal("0.1"),
    max_price=Decimal(4529764),
    percent_price_up=Decimal("1.0500"),
    percent_price_down=Decimal("0.9500"),
)
MID = 617_000.5
# The band's edges at MID: 647850.525 down to the tick for a buy, 586150.475 up for a sell.
BUY_CAP = 647_850
SELL_FLOOR = 586_151
S = 1_000_000_000


def inputs(mid: float = MID) -> RiskInputs:
    return RiskInputs(
        now_ns=100 * S,
        mid_ticks=mid,
        position_lots=0,
        open_orders=0,
        last_market_ns=100 * S,
        last_account_ns=100 * S,
        feed_latency_ns=5_000_000,
        sigma_ratio=1.0,
    )


def check(bid: DesiredQuote | None, ask: DesiredQuote | None, mid: float = MID) -> RiskDecision:
    return RiskGuard(RiskLimits(), INST).check(bid, ask, inputs(mid))


def test_quotes_beyond_the_price_band_are_clamped_to_its_edges_with_a_reason() -> None:
    d = check(DesiredQuote(Side.BUY, BUY_CAP + 40, 10), DesiredQuote(Side.SELL, SELL_FLOOR - 7, 10))

    assert d.action is RiskAction.CLAMP
    assert d.bid == DesiredQuote(Side.BUY, BUY_CAP, 10)
    assert d.ask == DesiredQuote(Side.SELL, SELL_FLOOR, 10)
    assert {"venue_filter_bid", "venue_filter_ask"} <= set(d.limits)
    assert "PERCENT_PRICE, mid × 1.0500" in d.reasons[0]
    assert "PERCENT_PRICE, mid × 0.9500" in d.reasons[1]


def test_a_deep_bid_and_a_far_ask_pass_the_band_untouched() -> None:
    bid, ask = DesiredQuote(Side.BUY, 500_000, 10), DesiredQuote(Side.SELL, 700_000, 10)

    d = check(bid, ask)

    assert d.action is RiskAction.ALLOW
    assert (d.bid, d.ask) == (bid, ask)


def test_a_size_above_the_exchange_maximum_is_clamped_to_it() -> None:
    d = check(DesiredQuote(Side.BUY, 616_990, 1_500_000), None)

    assert d.bid == DesiredQuote(Side.BUY, 616_990, 1_000_000)
    assert "size 1500.000→1000.000 BTC: the exchange's maximum" in d.reasons[0]


def test_an_ask_above_the_maximum_price_is_pulled_and_a_bid_clamped_to_it() -> None:
    # A mid so high that the band allows prices past maxPrice (45297640 ticks).
    mid = 45_000_000.5
    d = check(DesiredQuote(Side.BUY, 45_297_700, 10), DesiredQuote(Side.SELL, 45_297_650, 10), mid)

    assert d.bid == DesiredQuote(Side.BUY, 45_297_640, 10)
    assert d.ask is None
    assert (
        any(r.startswith("ask pulled") for r in d.reasons[1].split("; "))
        or "pulled" in d.reasons[1]
    )


def test_what_the_guard_lets_through_the_exchanges_filters_accept() -> None:
    engine = MatchingEngine(INST, MatchingConfig())
    engine.on_market(
        BookSnapshot(
            exch_ns=0, local_ns=0, update_id=1, bids=((617_000, 5),), asks=((617_001, 5),)
        ),
        0,
    )
    d = check(DesiredQuote(Side.BUY, BUY_CAP + 40, 10), DesiredQuote(Side.SELL, SELL_FLOOR - 7, 10))
    assert d.bid is not None
    assert d.ask is not None

    for q in (d.bid, d.ask):
        refused = engine.refusal("q", q.side, INST.price(q.price_ticks), INST.qty(q.qty_lots))
        assert refused is None
