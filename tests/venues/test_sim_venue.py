"""SimVenue: latency, exchange-side ordering and delivery order on a virtual clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradetui.core.clock import VirtualClock
from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    AccountEvent,
    BookDelta,
    BookSnapshot,
    CancelOrder,
    CancelRejected,
    Fill,
    Level,
    MarketEvent,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    PlaceOrder,
    RejectCode,
    Side,
    Trade,
)
from tradetui.matching import MatchingConfig
from tradetui.venues.base import Venue
from tradetui.venues.sim import SimLatency, SimVenue

MS = 1_000_000
BUY, SELL = Side.BUY, Side.SELL
Event = MarketEvent | AccountEvent


def make_instrument() -> Instrument:
    """Tick 0.1, whole-unit lots, min notional 10: price 100.0 is 1000 ticks."""
    return Instrument(
        symbol="TEST",
        base="T",
        quote="USDT",
        tick_size=Decimal("0.1"),
        lot_size=Decimal("1"),
        min_qty=Decimal("1"),
        min_notional=Decimal("10"),
    )


def snapshot(exch_ms: float, feed_ms: float = 2) -> BookSnapshot:
    return BookSnapshot(
        exch_ns=int(exch_ms * MS),
        local_ns=int((exch_ms + feed_ms) * MS),
        update_id=1,
        bids=((1000, 5),),
        asks=((1004, 5),),
    )


def bid_delta(exch_ms: float, level: Level, feed_ms: float = 2) -> BookDelta:
    return BookDelta.of(
        exch_ns=int(exch_ms * MS),
        local_ns=int((exch_ms + feed_ms) * MS),
        first_id=0,
        last_id=0,
        prev_id=0,
        bids=(level,),
        asks=(),
    )


def sell_trade(exch_ms: float, price_ticks: int, qty_lots: int, feed_ms: float = 2) -> Trade:
    return Trade(
        exch_ns=int(exch_ms * MS),
        local_ns=int((exch_ms + feed_ms) * MS),
        trade_id=1,
        price_ticks=price_ticks,
        qty_lots=qty_lots,
        aggressor=SELL,
    )


def make_venue(
    market: list[MarketEvent], latency: SimLatency | None = None, *, exchange_ordered: bool = False
) -> tuple[SimVenue, VirtualClock]:
    clock = VirtualClock()
    venue = SimVenue(
        make_instrument(),
        iter(market),
        latency or SimLatency(entry_ns=5 * MS, ack_ns=3 * MS, cancel_ns=4 * MS),
        MatchingConfig(),
        clock,
        exchange_ordered=exchange_ordered,
    )
    return venue, clock


def step(venue: SimVenue, clock: VirtualClock) -> tuple[int, Event]:
    """Deliver one event the way an engine loop does: advance the clock to it, then pop."""
    t = venue.peek_ns()
    assert t is not None
    clock.advance_to(t)
    ev = venue.pop()
    assert ev is not None
    return t, ev


def drain(venue: SimVenue, clock: VirtualClock) -> list[tuple[int, Event]]:
    out = []
    while venue.peek_ns() is not None:
        out.append(step(venue, clock))
    return out


def bid(client_id: str, price_ticks: int, lots: int = 1) -> PlaceOrder:
    return PlaceOrder(client_id=client_id, side=BUY, price_ticks=price_ticks, qty_lots=lots)


def test_sim_venue_is_a_venue() -> None:
    venue: Venue = make_venue([])[0]
    assert venue.name == "sim"
    assert venue.instrument.symbol == "TEST"


def test_latency_order_arrives_after_entry_latency_and_ack_after_ack_latency() -> None:
    snap = snapshot(0)
    before_arrival = bid_delta(6, (1000, 8))  # the order reaches the exchange at 7 ms
    after_arrival = bid_delta(9, (1000, 12))
    not_enough = sell_trade(12, 1000, 8)  # exactly the 8 lots ahead of us
    ours = sell_trade(13, 1000, 1)
    venue, clock = make_venue([snap, before_arrival, after_arrival, not_enough, ours])
    assert step(venue, clock) == (2 * MS, snap)
    venue.submit(bid("a", 1000))
    got = drain(venue, clock)
    assert [(t // MS, type(e).__name__) for t, e in got] == [
        (8, "BookDelta"),
        (10, "OrderAccepted"),
        (11, "BookDelta"),
        (14, "Trade"),
        (15, "Trade"),
        (16, "Fill"),
    ]
    accepted, fill = got[1][1], got[-1][1]
    assert isinstance(accepted, OrderAccepted)
    assert (accepted.exch_ns, accepted.local_ns) == (7 * MS, 10 * MS)
    assert isinstance(fill, Fill)
    assert (fill.exch_ns, fill.local_ns, fill.qty_lots) == (13 * MS, 16 * MS, 1)
    assert venue.position_lots == 1


def test_cancel_races_fill() -> None:
    snap = snapshot(0)
    fill_in_flight = sell_trade(12, 1002, 5)  # between cancel submit (10 ms) and arrival (14 ms)
    venue, clock = make_venue([snap, fill_in_flight])
    step(venue, clock)
    venue.submit(bid("a", 1002))  # better than the touch: first in the queue
    t, accepted = step(venue, clock)
    assert (t, type(accepted)) == (10 * MS, OrderAccepted)
    venue.submit(CancelOrder(client_id="a"))
    got = drain(venue, clock)
    account = [(t // MS, e) for t, e in got if not isinstance(e, Trade)]
    assert [(t, type(e)) for t, e in account] == [(15, Fill), (17, CancelRejected)]
    rejected = account[1][1]
    assert isinstance(rejected, CancelRejected)
    assert rejected.code is RejectCode.UNKNOWN_ORDER
    assert venue.cancels_rejected == 1
    assert venue.open_order_count == 0


def test_cancel_before_fill_cancels() -> None:
    venue, clock = make_venue([snapshot(0), sell_trade(30, 1002, 5)])
    step(venue, clock)
    venue.submit(bid("a", 1002))
    step(venue, clock)
    venue.submit(CancelOrder(client_id="a"))
    got = drain(venue, clock)
    assert [type(e) for _, e in got] == [OrderCancelled, Trade]
    assert venue.orders_cancelled == 1
    assert venue.position_lots == 0


def test_fill_arrives_before_its_trade_when_ack_is_faster_than_feed() -> None:
    snap = snapshot(0, feed_ms=10)
    hit = sell_trade(20, 1002, 1, feed_ms=10)
    latency = SimLatency(entry_ns=1 * MS, ack_ns=1 * MS, cancel_ns=1 * MS)
    venue, clock = make_venue([snap, hit], latency)
    step(venue, clock)
    venue.submit(bid("a", 1002))
    got = drain(venue, clock)
    assert [(t // MS, type(e).__name__) for t, e in got] == [
        (12, "OrderAccepted"),
        (21, "Fill"),
        (30, "Trade"),
    ]


@pytest.mark.parametrize("exchange_ordered", [False, True])
def test_at_one_delivery_time_the_print_goes_before_the_fill_it_caused(
    exchange_ordered: bool,
) -> None:
    # Feed and ack latency both 3 ms: the trade and our fill reach the engine at 23 ms. The
    # reordering path reads the market ahead, the ordered path as it matches; both deliver the
    # print first.
    hit = sell_trade(20, 1002, 1, feed_ms=3)
    later = bid_delta(20, (1000, 9), feed_ms=3)
    latency = SimLatency(entry_ns=1 * MS, ack_ns=3 * MS, cancel_ns=1 * MS)
    venue, clock = make_venue(
        [snapshot(0, feed_ms=3), hit, later], latency, exchange_ordered=exchange_ordered
    )
    step(venue, clock)
    venue.submit(bid("a", 1002))
    got = drain(venue, clock)
    assert [(t // MS, type(e).__name__) for t, e in got] == [
        (7, "OrderAccepted"),
        (23, "Trade"),
        (23, "BookDelta"),
        (23, "Fill"),
    ]


def test_rejection_comes_back_as_event_and_is_counted() -> None:
    venue, clock = make_venue([snapshot(0)])
    step(venue, clock)
    venue.submit(bid("a", 1004))  # post-only at the best ask
    t, ev = step(venue, clock)
    assert isinstance(ev, OrderRejected)
    assert ev.code is RejectCode.POST_ONLY_WOULD_CROSS
    assert t == 2 * MS + 5 * MS + 3 * MS
    assert (venue.orders_rejected, venue.orders_placed) == (1, 0)


def test_events_at_one_time_keep_their_creation_order() -> None:
    venue, clock = make_venue([snapshot(0)])
    step(venue, clock)
    market_buy = PlaceOrder(
        client_id="m", side=BUY, price_ticks=0, qty_lots=2, order_type=OrderType.MARKET
    )
    venue.submit(market_buy)
    got = drain(venue, clock)
    assert [type(e) for _, e in got] == [OrderAccepted, Fill]
    assert len({t for t, _ in got}) == 1
    assert (venue.orders_placed, venue.fills, venue.position_lots) == (1, 1, 2)


def test_market_feed_order_kept_when_local_time_goes_back() -> None:
    first = bid_delta(5, (1000, 6), feed_ms=4)
    second = bid_delta(6, (1000, 7), feed_ms=1)  # arrives "earlier" than the first
    venue, clock = make_venue([snapshot(0), first, second])
    got = drain(venue, clock)
    assert [e for _, e in got][1:] == [first, second]
    assert got[2][0] == got[1][0] == 9 * MS


def test_pop_returns_none_when_market_exhausted_and_nothing_pending() -> None:
    venue, clock = make_venue([snapshot(0)])
    step(venue, clock)
    assert venue.peek_ns() is None
    assert venue.pop() is None
    venue.submit(bid("late", 999))
    assert step(venue, clock) == (
        clock.now_ns(),
        OrderAccepted(exch_ns=7 * MS, local_ns=10 * MS, client_id="late", venue_id="1"),
    )
    assert venue.pop() is None
    assert venue.open_order_count == 1


class _TimerEngine:
    """What ``SimVenue.run`` drives: one timer at ``wake_ms`` that sends ``intent``; records
    every event delivered."""

    def __init__(self, venue: SimVenue, wake_ms: float, intent: PlaceOrder) -> None:
        self.venue = venue
        self.wakeup_ns: int | None = int(wake_ms * MS)
        self.intent = intent
        self.got: list[Event] = []

    def on_timer(self) -> None:
        self.wakeup_ns = None
        self.venue.submit(self.intent)

    def on_event(self, ev: Event) -> None:
        self.got.append(ev)


def _ask_delta(exch_ms: float, level: Level) -> BookDelta:
    return BookDelta.of(
        exch_ns=int(exch_ms * MS),
        local_ns=int((exch_ms + 2) * MS),
        first_id=0,
        last_id=0,
        prev_id=0,
        bids=(),
        asks=(level,),
    )


def test_order_sent_on_a_timer_reaches_the_exchange_before_later_market_events() -> None:
    """A timer's order arrives at send time + entry latency, before market events the exchange
    sees later, however far away the next delivery is (the exchange never runs ahead of the
    trader's clock). Here the market is quiet from 0 to 40 ms: a bid inside the spread sent at
    10 ms arrives at 15 ms and rests; the ask coming down to it at 40 ms fills it as maker. An
    exchange run up to the next delivery (42 ms) before the timer would take the order at 40 ms
    and refuse it as crossing."""
    # No order traffic (run's fast path) / a report in flight / the runner's peek and pop.
    for resting, peek in ((False, False), (True, False), (False, True), (True, True)):
        market: list[MarketEvent] = [snapshot(0), _ask_delta(40, (1003, 2))]
        venue, clock = make_venue(market)
        engine = _TimerEngine(venue, 10, bid("a", 1003))
        if resting:
            venue.submit(bid("r", 990))  # reaches the exchange at 5 ms; acked at 8 ms
        if not peek:
            venue.run(engine, clock, 100 * MS)  # type: ignore[arg-type]
        while peek:
            wake_ns = engine.wakeup_ns
            t = venue.peek_ns(wake_ns)
            if wake_ns is not None and (t is None or wake_ns <= t):
                clock.advance_to(wake_ns)
                engine.on_timer()
            elif t is None:
                break
            else:
                clock.advance_to(t)
                engine.on_event(step(venue, clock)[1])
        ours = [e for e in engine.got if not isinstance(e, MarketEvent)]
        accepted = [e for e in ours if isinstance(e, OrderAccepted) and e.client_id == "a"]
        assert [e.exch_ns for e in accepted] == [15 * MS], ours
        fills = [e for e in ours if isinstance(e, Fill)]
        assert [(f.exch_ns, f.price_ticks, f.is_maker) for f in fills] == [(40 * MS, 1003, True)]
