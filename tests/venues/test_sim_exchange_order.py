"""The sim venue takes the market in the exchange's order: a trade print that arrives after the
book update showing it must not reduce the queue ahead of us twice (issue 21 item 2)."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradetui.config import Settings
from tradetui.core.clock import VirtualClock
from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    AccountEvent,
    BookDelta,
    BookSnapshot,
    Fill,
    MarketEvent,
    PlaceOrder,
    Side,
    Trade,
)
from tradetui.market.synthetic import SyntheticMarket
from tradetui.matching import MatchingConfig, QueueModel
from tradetui.session import sim_instrument
from tradetui.venues.sim import SimLatency, SimVenue
from tradetui.venues.simtime import exchange_order

MS = 1_000_000
PRICE = 1000  # our bid, ticks
OURS = 3  # lots


def make_instrument() -> Instrument:
    return Instrument(
        symbol="TEST",
        base="T",
        quote="USDT",
        tick_size=Decimal("0.1"),
        lot_size=Decimal("1"),
        min_qty=Decimal("1"),
        min_notional=Decimal("10"),
    )


def level(exch_ns: int, local_ns: int, lots: int) -> BookDelta:
    return BookDelta.of(
        exch_ns=exch_ns,
        local_ns=local_ns,
        first_id=0,
        last_id=0,
        prev_id=0,
        bids=((PRICE, lots),),
        asks=(),
    )


def sell(exch_ns: int, local_ns: int, lots: int) -> Trade:
    return Trade(
        exch_ns=exch_ns,
        local_ns=local_ns,
        trade_id=1,
        price_ticks=PRICE,
        qty_lots=lots,
        aggressor=Side.SELL,
    )


def fills_of(market: list[MarketEvent], model: QueueModel) -> list[tuple[int, int]]:
    """(exchange ns, lots) of every fill of one bid of OURS lots placed at PRICE behind the
    snapshot's level, with the market given in receive order."""
    clock = VirtualClock()
    venue = SimVenue(
        make_instrument(),
        iter(market),
        SimLatency(entry_ns=1 * MS, ack_ns=1 * MS, cancel_ns=1 * MS),
        MatchingConfig(queue_model=model),
        clock,
    )
    out: list[tuple[int, int]] = []
    placed = False
    while (t := venue.peek_ns()) is not None:
        clock.advance_to(t)
        ev: MarketEvent | AccountEvent | None = venue.pop()
        if not placed:
            venue.submit(PlaceOrder(client_id="a", side=Side.BUY, price_ticks=PRICE, qty_lots=OURS))
            placed = True
        if isinstance(ev, Fill):
            out.append((ev.exch_ns, ev.qty_lots))
    return out


def snapshot(ahead: int) -> BookSnapshot:
    return BookSnapshot(
        exch_ns=0, local_ns=0, update_id=1, bids=((PRICE, ahead),), asks=((PRICE + 4, 5),)
    )


def test_a_trade_printed_after_its_depth_update_is_counted_once() -> None:
    # 10 lots ahead of us. A sell of 4 at 20 ms: the depth update showing it (6 left) comes in
    # before the print. Then a sell of 3: 3 lots are still ahead of us, so no fill.
    market: list[MarketEvent] = [
        snapshot(10),
        level(20 * MS, 22 * MS, 6),
        sell(20 * MS, 30 * MS, 4),
        level(40 * MS, 42 * MS, 3),
        sell(40 * MS, 42 * MS, 3),
    ]
    for model in QueueModel:
        assert fills_of(market, model) == [], model
    # Two more lots traded: one of them is ours.
    market += [sell(50 * MS, 52 * MS, 4), level(50 * MS, 52 * MS, 0)]
    assert fills_of(market, QueueModel.RISK_AVERSE) == [(50 * MS, 1)]


def test_exchange_order_puts_a_late_trade_before_the_book_update_that_shows_it() -> None:
    d1 = level(10 * MS, 11 * MS, 9)
    d2 = level(20 * MS, 21 * MS, 6)  # shows the trade below
    t1 = sell(20 * MS, 35 * MS, 3)
    d3 = level(30 * MS, 31 * MS, 5)
    t2 = sell(31 * MS, 36 * MS, 1)
    assert list(exchange_order([d1, d2, d3, t1, t2])) == [d1, t1, d2, d3, t2]
    # More than the window late: it can only go before what is still held back.
    d4 = level(40 * MS, 41 * MS, 4)
    assert list(exchange_order([d1, d2, d3, d4, t1], window_ns=5 * MS)) == [d1, d2, d3, t1, d4]


# ---- property: every receive interleaving gives the exchange-order result ----------------------

_OP = st.tuples(
    st.sampled_from(["add", "cancel", "trade"]),
    st.integers(1, 8),  # lots
    st.integers(0, 2),  # ms since the previous happening (0: the same exchange time)
    st.floats(0, 1),  # share of a cancel taken from ahead of us
    st.integers(0, 60),  # depth stream delay, ms
    st.integers(0, 60),  # trade stream delay, ms
)


def _scenario(
    ahead: int, ops: list[tuple[str, int, int, float, int, int]]
) -> tuple[list[MarketEvent], list[tuple[int, int]]]:
    """The market of ``ops`` in one receive order, and the true fills of our bid (an exact
    FIFO queue: trades take the front, cancels come from where ``ops`` says)."""
    t = 20 * MS
    book_local = trade_local = 0
    size = ahead
    true_ahead = ahead
    leaves = OURS
    books: list[MarketEvent] = []
    trades: list[MarketEvent] = []
    truth: list[tuple[int, int]] = []
    for kind, lots, gap_ms, share, book_delay, trade_delay in ops:
        t += gap_ms * MS
        if kind == "add":
            size += lots
        elif kind == "cancel":
            lots = min(lots, size)
            if lots == 0:
                continue
            from_ahead = min(true_ahead, round(lots * share))
            from_ahead = max(from_ahead, lots - (size - true_ahead))
            true_ahead -= from_ahead
            size -= lots
        else:
            lots = min(lots, size)
            if lots == 0:
                continue
            mine = min(leaves, max(0, lots - true_ahead))
            if mine:
                truth.append((t, mine))
                leaves -= mine
            true_ahead = max(0, true_ahead - lots)
            size -= lots
            trade_local = max(trade_local, t + trade_delay * MS)
            trades.append(sell(t, trade_local, lots))
        # Each stream keeps its own order; the two are received interleaved.
        book_local = max(book_local, t + book_delay * MS)
        books.append(level(t, book_local, size))
    received = sorted(books + trades, key=lambda e: e.local_ns)  # stable: books first on ties
    return [snapshot(ahead), *received], truth


@settings(max_examples=300, deadline=None)
@given(ahead=st.integers(1, 15), ops=st.lists(_OP, min_size=1, max_size=25))
def test_risk_averse_never_fills_before_the_true_queue_ahead_has_traded(
    ahead: int, ops: list[tuple[str, int, int, float, int, int]]
) -> None:
    market, truth = _scenario(ahead, ops)
    got = fills_of(market, QueueModel.RISK_AVERSE)
    # At every exchange time, we have filled no more than the exact FIFO queue would have.
    for t, _ in got + truth:
        assert sum(q for s, q in got if s <= t) <= sum(q for s, q in truth if s <= t)


@settings(max_examples=200, deadline=None)
@given(
    ahead=st.integers(1, 15),
    ops=st.lists(_OP, min_size=1, max_size=25),
    model=st.sampled_from(list(QueueModel)),
)
def test_fills_do_not_depend_on_how_the_two_streams_interleave(
    ahead: int, ops: list[tuple[str, int, int, float, int, int]], model: QueueModel
) -> None:
    market, _ = _scenario(ahead, ops)
    # The same happenings, received without any delay (the exchange's own order).
    in_order = sorted(market, key=lambda e: (e.exch_ns, type(e) is not Trade))
    assert fills_of(market, model) == fills_of(in_order, model)


def test_the_synthetic_market_is_already_in_the_exchanges_order() -> None:
    # Why paper sessions on the synthetic market skip the reordering (``exchange_ordered``):
    # it prints each trade before the book update that shows it.
    events = list(
        itertools.islice(SyntheticMarket(sim_instrument(Settings()), seed=5).events(), 30_000)
    )
    assert sum(type(ev) is Trade for ev in events) > 1000
    assert all(a is b for a, b in zip(exchange_order(events), events, strict=True))
