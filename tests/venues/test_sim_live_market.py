"""SimVenue on a live market (``live=True``): the market is known only once the clock reaches
its receive times, a request meets the market received after its arrival time (whenever the
venue is looked at), and a lost book is not an empty one."""

from __future__ import annotations

from typing import Any

from tests.venues.test_sim_venue import MS, make_instrument, snapshot
from tradetui.core.clock import VirtualClock
from tradetui.core.types import (
    AccountEvent,
    BookSnapshot,
    Fill,
    MarketEvent,
    OrderAccepted,
    PlaceOrder,
    Side,
    Trade,
)
from tradetui.matching import MatchingConfig
from tradetui.session import LiveMarket
from tradetui.venues.sim import SimLatency, SimVenue

LATENCY = SimLatency(entry_ns=5 * MS, ack_ns=5 * MS, cancel_ns=5 * MS)


class NoFeed:
    """A feed never started: the tests push into the live market by hand."""

    async def run(self, sink: Any) -> None:
        raise AssertionError("not started in these tests")

    async def close(self) -> None:
        return None


def sell(exch_ms: float, price_ticks: int, qty_lots: int) -> Trade:
    return Trade(
        exch_ns=int(exch_ms * MS),
        local_ns=int((exch_ms + 1) * MS),
        trade_id=int(exch_ms),
        price_ticks=price_ticks,
        qty_lots=qty_lots,
        aggressor=Side.SELL,
    )


def drain(
    venue: SimVenue, clock: VirtualClock, until_ms: float
) -> list[MarketEvent | AccountEvent]:
    """Everything delivered up to ``until_ms``, as a live session's runner hands it over: the
    clock moves on to each thing due (a delivery, a receive time, a request's arrival at the
    exchange), never beyond ``until_ms``."""
    out: list[MarketEvent | AccountEvent] = []
    until_ns = int(until_ms * MS)
    while True:
        t = venue.peek_ns()
        if t is None or t > until_ns:
            clock.advance_to(until_ns)
            return out
        clock.advance_to(t)
        ev = venue.pop()
        if ev is not None:
            out.append(ev)


def live_venue() -> tuple[SimVenue, LiveMarket, VirtualClock]:
    clock = VirtualClock(0)
    market = LiveMarket(NoFeed(), "binanceusdm", clock)
    venue = SimVenue(make_instrument(), market, LATENCY, MatchingConfig(), clock, live=True)
    return venue, market, clock


def test_an_order_meets_only_the_market_after_its_arrival() -> None:
    venue, market, clock = live_venue()
    market.on_event(snapshot(0))  # bid 1000 × 5
    clock.advance_to(2 * MS)
    assert [type(e) for e in drain(venue, clock, 2)] == [BookSnapshot]
    venue.submit(PlaceOrder(client_id="b1", side=Side.BUY, price_ticks=1000, qty_lots=1))
    # Nothing is due for the engine: the order is on its way (it arrives at 7 ms), and the
    # exchange has not seen it yet however long nothing else happens before then.
    assert venue.peek_ns() == venue.next_request_ns == 7 * MS
    clock.advance_to(6 * MS)
    assert venue.pop() is None
    assert venue.open_order_count == 0
    # A trade the exchange made at 5 ms reaches us at 6 ms, before our order arrives; it
    # cannot fill it, even though it sweeps the whole level.
    market.on_event(sell(5, 1000, 50))
    events = drain(venue, clock, 20)
    assert [type(e) for e in events] == [Trade, OrderAccepted]
    assert events[1].local_ns == 12 * MS  # arrived at 7 ms, acked 5 ms later
    # Once resting, a later sell through our level fills us by the queue model.
    market.on_event(sell(21, 1000, 50))
    clock.advance_to(22 * MS)
    fills = [e for e in drain(venue, clock, 40) if isinstance(e, Fill)]
    assert [(f.client_id, f.qty_lots) for f in fills] == [("b1", 1)]


def test_a_lost_book_keeps_the_exchange_book_and_our_place_in_the_queue() -> None:
    venue, market, clock = live_venue()
    market.on_event(snapshot(0))
    clock.advance_to(2 * MS)
    drain(venue, clock, 2)
    venue.submit(PlaceOrder(client_id="b1", side=Side.BUY, price_ticks=1000, qty_lots=1))
    drain(venue, clock, 20)
    assert venue.queue_ahead() == {"b1": 5}
    # The feed lost the book (disconnect, gap): the engine is told, the exchange's book and
    # our place in its queue stay as they were.
    lost = BookSnapshot(exch_ns=20 * MS, local_ns=21 * MS, update_id=1, bids=(), asks=())
    market.on_event(lost)
    clock.advance_to(21 * MS)
    assert drain(venue, clock, 21) == [lost]
    assert venue.queue_ahead() == {"b1": 5}
    # The resync's snapshot brings the level in line: 2 lots left it, shared out as cancels.
    fresh = BookSnapshot(
        exch_ns=30 * MS, local_ns=31 * MS, update_id=2, bids=((1000, 3),), asks=((1004, 5),)
    )
    market.on_event(fresh)
    clock.advance_to(31 * MS)
    assert drain(venue, clock, 31) == [fresh]
    assert venue.queue_ahead()["b1"] <= 3


def test_the_market_received_after_an_arrival_meets_the_order_however_late_it_is_looked_at() -> (
    None
):
    # Two runs of one market and one order: one looked at on time, one whose event loop was
    # late (the clock jumps past the order's arrival and the trade's receipt). The order
    # meets the market received after its arrival in both, in the same way.
    fills = []
    for late in (False, True):
        venue, market, clock = live_venue()
        market.on_event(snapshot(0))
        clock.advance_to(2 * MS)
        drain(venue, clock, 2)
        venue.submit(PlaceOrder(client_id="b1", side=Side.BUY, price_ticks=1000, qty_lots=1))
        # Received at 7.5 ms (after the order arrived at 7 ms): made by the exchange at
        # 6.5 ms, but our simulated exchange had our order before it knew of the trade.
        market.on_event(sell(6.5, 1000, 50))
        if late:
            clock.advance_to(30 * MS)
        events = drain(venue, clock, 30)
        assert [type(e) for e in events] == [Trade, OrderAccepted, Fill]
        fills.append([(e.exch_ns, e.local_ns) for e in events])
    assert fills[0] == fills[1]


def test_an_exchange_time_after_receipt_is_stamped_at_receipt() -> None:
    market = LiveMarket(NoFeed(), "binanceusdm", VirtualClock(40 * MS))
    market.on_event(sell(10, 1000, 1))  # received 1 ms after the exchange's time: kept
    ahead = Trade(
        exch_ns=50 * MS,
        local_ns=40 * MS,
        trade_id=2,
        price_ticks=1000,
        qty_lots=1,
        aggressor=Side.BUY,
    )
    market.on_event(ahead)  # the exchange's clock 10 ms ahead of ours
    first, second = list(market)
    assert (first.exch_ns, first.local_ns) == (10 * MS, 11 * MS)
    assert (second.exch_ns, second.local_ns) == (40 * MS, 40 * MS)
    assert market.arrived.is_set()
    assert list(market) == []  # drained: nothing more yet
