"""MatchingEngine: validation, queue position, fills from trades and book moves, taker walks."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    AccountEvent,
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    CancelRejected,
    Fill,
    Level,
    MarketEvent,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    RejectCode,
    Side,
    Trade,
)
from tradetui.matching import MatchingConfig, MatchingEngine, QueueModel

BUY, SELL = Side.BUY, Side.SELL


def make_instrument(maker_fee_rate: float = 0.0002) -> Instrument:
    """Tick 0.1, whole-unit lots, min notional 10: price 100.0 is 1000 ticks."""
    return Instrument(
        symbol="TEST",
        base="T",
        quote="USDT",
        tick_size=Decimal("0.1"),
        lot_size=Decimal("1"),
        min_qty=Decimal("1"),
        min_notional=Decimal("10"),
        maker_fee_rate=maker_fee_rate,
        taker_fee_rate=0.0005,
    )


def make_engine(
    model: QueueModel = QueueModel.RISK_AVERSE,
    exponent: float = 2.0,
    maker_fee_rate: float = 0.0002,
) -> MatchingEngine:
    return MatchingEngine(
        make_instrument(maker_fee_rate), MatchingConfig(queue_model=model, power_exponent=exponent)
    )


def snapshot(bids: tuple[Level, ...], asks: tuple[Level, ...]) -> BookSnapshot:
    return BookSnapshot(exch_ns=0, local_ns=0, update_id=1, bids=bids, asks=asks)


def delta(bids: tuple[Level, ...] = (), asks: tuple[Level, ...] = ()) -> BookDelta:
    return BookDelta.of(
        exch_ns=0, local_ns=0, first_id=0, last_id=0, prev_id=0, bids=bids, asks=asks
    )


def trade(price_ticks: int, qty_lots: int, aggressor: Side) -> Trade:
    return Trade(
        exch_ns=0,
        local_ns=0,
        trade_id=1,
        price_ticks=price_ticks,
        qty_lots=qty_lots,
        aggressor=aggressor,
    )


def bbo(bid: Level, ask: Level) -> BestBidOffer:
    return BestBidOffer(
        exch_ns=0,
        local_ns=0,
        update_id=1,
        bid_ticks=bid[0],
        bid_lots=bid[1],
        ask_ticks=ask[0],
        ask_lots=ask[1],
    )


def place(
    eng: MatchingEngine,
    cid: str,
    side: Side,
    price_ticks: int,
    lots: int,
    *,
    order_type: OrderType = OrderType.LIMIT,
    post_only: bool = True,
    reduce_only: bool = False,
) -> list[AccountEvent]:
    return eng.place(
        cid,
        side,
        Decimal(price_ticks) / 10,
        Decimal(lots),
        order_type=order_type,
        post_only=post_only,
        reduce_only=reduce_only,
        t_ns=7,
    )


def fills(events: list[AccountEvent]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def reject_code(events: list[AccountEvent]) -> RejectCode:
    assert len(events) == 1
    assert isinstance(events[0], OrderRejected)
    return events[0].code


def ahead(eng: MatchingEngine, cid: str) -> float:
    return eng.open_orders[cid].queue_ahead_lots


@pytest.fixture
def eng() -> MatchingEngine:
    e = make_engine()
    e.on_market(snapshot(bids=((1000, 5), (999, 8)), asks=((1001, 2), (1002, 3))), 0)
    return e


# ---- validation --------------------------------------------------------------------------------


def test_accepted_order_gets_a_venue_id_and_rests(eng: MatchingEngine) -> None:
    events = place(eng, "a", BUY, 999, 1)
    assert isinstance(events[0], OrderAccepted)
    assert events[0].venue_id
    assert eng.open_orders["a"].price_ticks == 999


def test_post_only_crossing_rejected(eng: MatchingEngine) -> None:
    events = place(eng, "a", BUY, 1001, 1)
    assert reject_code(events) is RejectCode.POST_ONLY_WOULD_CROSS
    assert isinstance(events[0], OrderRejected)
    assert "post-only" in events[0].reason
    assert reject_code(place(eng, "b", SELL, 1000, 1)) is RejectCode.POST_ONLY_WOULD_CROSS
    assert eng.open_orders == {}


def test_off_tick_off_step_below_min_rejected(eng: MatchingEngine) -> None:
    def go(price: str, qty: str) -> RejectCode:
        return reject_code(eng.place("x", BUY, Decimal(price), Decimal(qty), t_ns=0))

    assert go("99.95", "1") is RejectCode.OFF_TICK
    assert go("99.9", "1.5") is RejectCode.OFF_STEP
    assert go("99.9", "0") is RejectCode.BELOW_MIN_QTY
    assert go("0.5", "1") is RejectCode.BELOW_MIN_NOTIONAL


def test_price_limits_max_qty_and_the_band_around_the_mid_refuse_as_binance_does() -> None:
    inst = replace(
        make_instrument(),
        max_qty=Decimal(100),
        min_price=Decimal(50),
        max_price=Decimal(200),
        percent_price_up=Decimal("1.05"),
        percent_price_down=Decimal("0.95"),
    )
    e = MatchingEngine(inst, MatchingConfig())
    e.on_market(snapshot(bids=((1000, 5),), asks=((1001, 2),)), 0)

    def go(side: Side, price: str, qty: int = 1) -> RejectCode | None:
        refused = e.refusal("x", side, Decimal(price), Decimal(qty))
        return None if refused is None else refused[0]

    # Mid 100.05: a buy may go up to 105.0 (× 1.05, down to the tick), a sell down to 95.1.
    assert go(BUY, "105.1") is RejectCode.ABOVE_PRICE_BAND
    assert go(BUY, "105.0") is None
    assert go(SELL, "95.0") is RejectCode.BELOW_PRICE_BAND
    assert go(SELL, "95.1") is None
    # One edge per side: a deep bid or a far ask is no band breach.
    assert go(BUY, "60.0") is None
    assert go(SELL, "150.0") is None
    assert go(SELL, "200.1") is RejectCode.ABOVE_MAX_PRICE
    assert go(BUY, "49.9") is RejectCode.BELOW_MIN_PRICE
    assert go(BUY, "99.9", 101) is RejectCode.ABOVE_MAX_QTY
    assert reject_code(place(e, "y", BUY, 1051, 1)) is RejectCode.ABOVE_PRICE_BAND


def test_client_id_longer_than_36_characters_rejected(eng: MatchingEngine) -> None:
    assert reject_code(place(eng, "x" * 37, BUY, 999, 1)) is RejectCode.OTHER


def test_duplicate_client_id_rejected(eng: MatchingEngine) -> None:
    place(eng, "a", BUY, 999, 1)
    assert reject_code(place(eng, "a", SELL, 1005, 1)) is RejectCode.DUPLICATE_CLIENT_ID
    assert len(eng.open_orders) == 1


def test_reduce_only_cannot_increase_position(eng: MatchingEngine) -> None:
    assert reject_code(place(eng, "a", SELL, 1005, 1, reduce_only=True)) is (
        RejectCode.REDUCE_ONLY_WOULD_INCREASE
    )
    place(eng, "buy", BUY, 0, 3, order_type=OrderType.MARKET)
    assert eng.position_lots == 3
    assert reject_code(place(eng, "b", BUY, 999, 1, reduce_only=True)) is (
        RejectCode.REDUCE_ONLY_WOULD_INCREASE
    )


def test_reduce_only_larger_than_position_is_cut_to_it(eng: MatchingEngine) -> None:
    place(eng, "buy", BUY, 0, 3, order_type=OrderType.MARKET)
    place(eng, "close", SELL, 1005, 10, reduce_only=True)
    assert eng.open_orders["close"].leaves_lots == 3


def test_reduce_only_order_expires_when_no_position_is_left(eng: MatchingEngine) -> None:
    place(eng, "buy", BUY, 0, 2, order_type=OrderType.MARKET)
    place(eng, "close", SELL, 1005, 2, reduce_only=True)
    place(eng, "dump", SELL, 0, 2, order_type=OrderType.MARKET)
    events = eng.on_market(trade(1005, 5, BUY), 9)
    assert fills(events) == []
    assert [type(e) for e in events] == [OrderCancelled]
    assert eng.position_lots == 0
    assert eng.open_orders == {}


# ---- taker orders ------------------------------------------------------------------------------


def test_market_order_walks_book_with_taker_fee(eng: MatchingEngine) -> None:
    events = place(eng, "m", BUY, 0, 4, order_type=OrderType.MARKET)
    got = fills(events)
    assert [(f.price_ticks, f.qty_lots, f.leaves_lots, f.is_maker) for f in got] == [
        (1001, 2, 2, False),
        (1002, 2, 0, False),
    ]
    assert got[0].fee == pytest.approx(100.1 * 2 * 0.0005)
    assert got[1].fee == pytest.approx(100.2 * 2 * 0.0005)
    assert eng.position_lots == 4
    # The market is exogenous: our taker fills leave the displayed book as it was.
    assert eng.book.levels(SELL, 2) == [(1001, 2), (1002, 3)]


def test_market_order_remainder_cancelled_when_book_exhausted(eng: MatchingEngine) -> None:
    events = place(eng, "m", BUY, 0, 9, order_type=OrderType.MARKET)
    assert sum(f.qty_lots for f in fills(events)) == 5
    assert isinstance(events[-1], OrderCancelled)
    assert eng.open_orders == {}


def test_market_order_on_empty_side_rejected_no_liquidity() -> None:
    e = make_engine()
    e.on_market(snapshot(bids=((1000, 5),), asks=()), 0)
    events = place(e, "m", BUY, 0, 1, order_type=OrderType.MARKET)
    assert reject_code(events) is RejectCode.NO_LIQUIDITY


def test_crossing_limit_takes_up_to_its_price_and_rests_the_rest(eng: MatchingEngine) -> None:
    events = place(eng, "x", BUY, 1001, 5, post_only=False)
    assert [(f.price_ticks, f.qty_lots) for f in fills(events)] == [(1001, 2)]
    rest = eng.open_orders["x"]
    assert (rest.price_ticks, rest.leaves_lots, rest.queue_ahead_lots) == (1001, 3, 0.0)
    # The ask it walked is still displayed, but the remainder is not matched against it again.
    assert fills(eng.on_market(delta(asks=((1001, 4),)), 1)) == []


# ---- queue position and fills ------------------------------------------------------------------


def test_order_joins_back_of_queue_and_fills_only_after_queue_ahead_trades(
    eng: MatchingEngine,
) -> None:
    place(eng, "a", BUY, 1000, 2)
    assert ahead(eng, "a") == 5
    assert fills(eng.on_market(trade(1000, 3, SELL), 1)) == []
    assert ahead(eng, "a") == 2
    got = fills(eng.on_market(trade(1000, 4, SELL), 2))
    assert [(f.qty_lots, f.leaves_lots, f.is_maker) for f in got] == [(2, 0, True)]
    assert eng.position_lots == 2


def test_trade_with_same_side_aggressor_does_not_fill(eng: MatchingEngine) -> None:
    place(eng, "a", BUY, 999, 2)
    assert fills(eng.on_market(trade(999, 50, BUY), 1)) == []


def test_order_joins_behind_displayed_size_or_first_at_empty_level(eng: MatchingEngine) -> None:
    place(eng, "a", SELL, 1001, 1)
    place(eng, "b", BUY, 1000, 1)
    place(eng, "c", BUY, 998, 1)
    assert (ahead(eng, "a"), ahead(eng, "b"), ahead(eng, "c")) == (2, 5, 0)


def test_partial_fill_when_trade_smaller_than_leaves() -> None:
    e = make_engine()
    e.on_market(snapshot(bids=((1000, 5),), asks=((1004, 1),)), 0)
    place(e, "a", BUY, 1001, 5)
    got = fills(e.on_market(trade(1001, 2, SELL), 1))
    assert [(f.qty_lots, f.leaves_lots) for f in got] == [(2, 3)]
    assert e.open_orders["a"].leaves_lots == 3


def test_two_orders_at_one_level_fill_in_arrival_order_within_trade_size() -> None:
    e = make_engine()
    e.on_market(snapshot(bids=((1000, 5),), asks=((1004, 1),)), 0)
    place(e, "first", BUY, 1002, 3)
    place(e, "second", BUY, 1002, 3)
    got = fills(e.on_market(trade(1002, 4, SELL), 1))
    assert [(f.client_id, f.qty_lots) for f in got] == [("first", 3), ("second", 1)]


def test_trade_through_price_fills_capped_at_trade_size() -> None:
    e = make_engine()
    e.on_market(snapshot(bids=((1000, 5),), asks=((1004, 9),)), 0)
    place(e, "a", SELL, 1003, 5)
    got = fills(e.on_market(trade(1004, 2, BUY), 1))
    assert [(f.price_ticks, f.qty_lots, f.is_maker) for f in got] == [(1003, 2, True)]


def test_book_moving_through_order_fills_it(eng: MatchingEngine) -> None:
    place(eng, "a", BUY, 1000, 3)
    got = fills(eng.on_market(delta(asks=((1001, 0), (1002, 0), (999, 4))), 1))
    assert [(f.price_ticks, f.qty_lots, f.is_maker) for f in got] == [(1000, 3, True)]
    assert eng.open_orders == {}


def test_bbo_through_order_fills_it(eng: MatchingEngine) -> None:
    place(eng, "a", SELL, 1002, 2)
    got = fills(eng.on_market(bbo((1003, 1), (1004, 1)), 1))
    assert [(f.price_ticks, f.qty_lots) for f in got] == [(1002, 2)]
    assert eng.book.bid_ticks == 1003
    assert eng.book.ask_ticks == 1004


def test_bbo_drops_stale_levels_and_resets_our_queue(eng: MatchingEngine) -> None:
    place(eng, "a", BUY, 1000, 1)
    assert ahead(eng, "a") == 5
    eng.on_market(bbo((999, 8), (1001, 2)), 1)
    assert eng.book.qty_at(BUY, 1000) == 0
    assert ahead(eng, "a") == 0


def test_bbo_removes_every_level_better_than_it() -> None:
    e = make_engine()
    e.on_market(
        snapshot(
            bids=tuple((1000 - k, 1) for k in range(20)),
            asks=tuple((1001 + k, 1) for k in range(20)),
        ),
        0,
    )
    e.on_market(bbo((985, 7), (986, 3)), 1)  # the bid side drops 15 levels
    assert e.book.levels(BUY, 2) == [(985, 7), (984, 1)]
    assert e.book.level_count(BUY) == 5
    assert e.book.levels(SELL, 2) == [(986, 3), (1001, 1)]
    e.on_market(bbo((990, 2), (1012, 4)), 2)  # the ask side drops 986 and 1001..1011
    assert e.book.levels(SELL, 2) == [(1012, 4), (1013, 1)]
    assert e.book.level_count(SELL) == 9


def test_trade_not_double_counted_with_following_depth_decrease() -> None:
    e = make_engine(QueueModel.PROPORTIONAL)
    e.on_market(snapshot(bids=((1000, 10),), asks=((1004, 1),)), 0)
    place(e, "a", BUY, 1000, 1)
    e.on_market(delta(bids=((1000, 20),)), 1)  # 10 ahead, 10 behind
    e.on_market(trade(1000, 4, SELL), 2)
    assert ahead(e, "a") == 6
    e.on_market(delta(bids=((1000, 16),)), 3)  # the trade, seen again as depth
    assert ahead(e, "a") == 6
    e.on_market(delta(bids=((1000, 12),)), 4)  # a real cancel: 4 × 6/16 ahead of us
    assert ahead(e, "a") == pytest.approx(6 - 4 * 6 / 16)


@pytest.mark.parametrize(
    ("model", "expected_ahead"),
    [
        (QueueModel.RISK_AVERSE, 30.0),
        (QueueModel.PROPORTIONAL, 30 - 8 * 30 / 40),
        (QueueModel.POWER, 30 - 8 * 900 / (900 + 100)),
    ],
)
def test_queue_models_differ_as_documented(model: QueueModel, expected_ahead: float) -> None:
    e = make_engine(model, exponent=2.0)
    e.on_market(snapshot(bids=((1000, 30),), asks=((1004, 1),)), 0)
    place(e, "a", BUY, 1000, 1)
    e.on_market(delta(bids=((1000, 40),)), 1)  # 30 ahead, 10 behind
    e.on_market(delta(bids=((1000, 32),)), 2)  # 8 cancelled
    assert ahead(e, "a") == pytest.approx(expected_ahead)


def test_cancel_larger_than_queue_behind_takes_the_excess_from_ahead() -> None:
    e = make_engine(QueueModel.POWER, exponent=4.0)
    e.on_market(snapshot(bids=((1000, 2),), asks=((1004, 1),)), 0)
    place(e, "a", BUY, 1000, 1)
    e.on_market(delta(bids=((1000, 22),)), 1)  # 2 ahead, 20 behind
    e.on_market(delta(bids=((1000, 1),)), 2)  # 21 gone: at least 1 of them was ahead
    assert ahead(e, "a") <= 1.0


def test_a_price_listed_twice_in_one_delta_counts_at_its_last_size() -> None:
    e = make_engine()
    e.on_market(snapshot(bids=((1000, 10),), asks=((1004, 1),)), 0)
    place(e, "a", BUY, 1000, 1)
    # Only the delta's final size is a state the level was in, as the book reads it too.
    e.on_market(delta(bids=((1000, 3), (1000, 12))), 1)
    assert e.book.qty_at(BUY, 1000) == 12
    assert ahead(e, "a") == 10


def test_depth_increase_never_moves_us_back(eng: MatchingEngine) -> None:
    place(eng, "a", BUY, 1000, 1)
    eng.on_market(delta(bids=((1000, 50),)), 1)
    assert ahead(eng, "a") == 5


# ---- cancel and fees ---------------------------------------------------------------------------


def test_cancel_removes_open_order(eng: MatchingEngine) -> None:
    place(eng, "a", BUY, 999, 1)
    events = eng.cancel("a", 5)
    assert isinstance(events[0], OrderCancelled)
    assert eng.open_orders == {}


def test_cancel_of_filled_order_rejected_unknown(eng: MatchingEngine) -> None:
    place(eng, "a", BUY, 1000, 1)
    eng.on_market(trade(1000, 6, SELL), 1)
    events = eng.cancel("a", 2)
    assert len(events) == 1
    assert isinstance(events[0], CancelRejected)
    assert events[0].code is RejectCode.UNKNOWN_ORDER


def test_maker_rebate_negative_fee() -> None:
    e = make_engine(maker_fee_rate=-0.0001)
    e.on_market(snapshot(bids=((1000, 5),), asks=((1004, 1),)), 0)
    place(e, "a", SELL, 1003, 2)
    got = fills(e.on_market(trade(1003, 2, BUY), 1))
    assert got[0].fee == pytest.approx(-100.3 * 2 * 0.0001)
    assert got[0].fee < 0


def test_fill_trade_ids_are_unique(eng: MatchingEngine) -> None:
    events = place(eng, "m", BUY, 0, 5, order_type=OrderType.MARKET)
    place(eng, "a", SELL, 1005, 3)
    events += eng.on_market(trade(1005, 3, BUY), 1)
    ids = [f.trade_id for f in fills(events)]
    assert len(ids) == 3
    assert len(set(ids)) == 3


def test_matching_config_rejects_unknown_queue_model() -> None:
    with pytest.raises(ValueError, match="queue_model"):
        MatchingConfig(queue_model="optimistic")  # type: ignore[arg-type]


def test_matching_config_accepts_model_name_string() -> None:
    assert MatchingConfig(queue_model="power").queue_model is QueueModel.POWER  # type: ignore[arg-type]


# ---- property: fills bounded, queue estimate bounded -------------------------------------------

_prices = st.integers(min_value=995, max_value=1005)
_sizes = st.integers(min_value=0, max_value=12)
_sides = st.sampled_from([BUY, SELL])
_market: st.SearchStrategy[MarketEvent] = st.one_of(
    st.builds(
        delta,
        bids=st.lists(st.tuples(_prices, _sizes), max_size=3).map(tuple),
        asks=st.lists(st.tuples(_prices, _sizes), max_size=3).map(tuple),
    ),
    st.builds(trade, _prices, st.integers(min_value=1, max_value=15), _sides),
    st.builds(
        bbo,
        st.tuples(_prices, st.integers(min_value=1, max_value=12)),
        st.tuples(_prices, st.integers(min_value=1, max_value=12)),
    ),
)
_client_ids = st.sampled_from(["o0", "o1", "o2", "o3"])


@settings(max_examples=200, deadline=None)
@given(model=st.sampled_from(list(QueueModel)), data=st.data())
def test_fills_never_exceed_order_qty_and_queue_stays_within_level(
    model: QueueModel, data: st.DataObject
) -> None:
    e = make_engine(model)
    e.on_market(snapshot(bids=((1000, 5), (999, 7)), asks=((1001, 4), (1002, 6))), 0)
    qty: dict[str, int] = {}
    filled: dict[str, int] = {}
    for _ in range(data.draw(st.integers(min_value=1, max_value=80))):
        kind = data.draw(st.sampled_from(["market", "market", "ours", "place", "cancel"]))
        if kind == "ours" and e.open_orders:
            # Depth changes and trades at our own levels drive the queue models hardest.
            o = data.draw(st.sampled_from(sorted(e.open_orders.values())))
            level = ((o.price_ticks, data.draw(st.integers(min_value=0, max_value=20))),)
            choices: list[MarketEvent] = [
                delta(bids=level) if o.side is BUY else delta(asks=level),
                trade(o.price_ticks, level[0][1] + 1, o.side.opposite),
            ]
            events = e.on_market(data.draw(st.sampled_from(choices)), 1)
        elif kind == "cancel":
            events = e.cancel(data.draw(_client_ids), 1)
        elif kind == "place":
            cid, side = data.draw(_client_ids), data.draw(_sides)
            # Near our own side's touch, so most orders rest and meet the queue models.
            touch = e.book.bid_ticks if side is BUY else e.book.ask_ticks
            price = data.draw(st.integers(min_value=-3, max_value=1)) * side + (touch or 1000)
            lots = data.draw(st.integers(min_value=1, max_value=6))
            events = place(e, cid, side, price, lots, post_only=data.draw(st.booleans()))
            if any(isinstance(x, OrderAccepted) for x in events):
                qty[cid] = lots
                filled[cid] = 0
        else:
            events = e.on_market(data.draw(_market), 1)
        for f in fills(events):
            filled[f.client_id] += f.qty_lots
            assert filled[f.client_id] <= qty[f.client_id]
            assert f.leaves_lots == qty[f.client_id] - filled[f.client_id]
        for cid, o in e.open_orders.items():
            assert o.leaves_lots == qty[cid] - filled[cid] > 0
            assert 0.0 <= o.queue_ahead_lots <= e.book.qty_at(o.side, o.price_ticks)


@pytest.mark.parametrize(
    ("relisted", "ahead_after"),
    [
        # Relisting the size after a trade says 3 lots joined behind us: the later drop to 6
        # is 2 lots cancelled, shared 5 : 3 between ahead of us and behind us.
        (True, 5 - 2 * 5 / 8),
        # A delta that does not list our price says nothing about it: the drop to 6 is less
        # than the 3 lots already traded there, so nothing was cancelled.
        (False, 5.0),
    ],
)
def test_a_delta_relisting_our_level_after_a_trade_counts_as_a_depth_update(
    relisted: bool, ahead_after: float
) -> None:
    e = make_engine(QueueModel.PROPORTIONAL)
    e.on_market(snapshot(bids=((999, 8),), asks=((1001, 2),)), 0)
    place(e, "a", BUY, 999, 1)
    assert fills(e.on_market(trade(999, 3, SELL), 1)) == []
    assert ahead(e, "a") == 5
    e.on_market(delta(bids=((999, 8),) if relisted else ((990, 1),)), 2)
    assert ahead(e, "a") == 5
    e.on_market(delta(bids=((999, 6),)), 3)
    assert ahead(e, "a") == pytest.approx(ahead_after)
