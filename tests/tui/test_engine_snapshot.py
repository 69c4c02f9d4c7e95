"""EngineSnapshot: what the console reads from the engine, and the pure helpers that render it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from tradetui.core.types import Side
from tradetui.engine.snapshot import take_snapshot
from tradetui.host import EngineHost
from tradetui.tui.app import sim_queue_ahead
from tradetui.tui.logbuffer import BufferingLogHandler
from tradetui.tui.widgets.orderbook import ladder

MakeHost = Callable[..., EngineHost]


def test_snapshot_copies_book_orders_and_pnl(make_host: MakeHost) -> None:
    host = make_host(seconds=20, speed=None)
    engine = host.engine
    snap = take_snapshot(engine, 5, sim_queue_ahead(host.session.venue))
    assert len(snap.bids) == 5
    assert len(snap.asks) == 5
    assert snap.bids[0][0] == engine.book.bid_ticks
    assert snap.asks[0][0] == engine.book.ask_ticks
    assert {q.client_id for q in snap.quotes} == set(engine.orders)
    assert snap.position_lots == engine.ledger.position_lots
    assert snap.pnl == engine.pnl()
    assert snap.fills == engine.fills
    assert snap.decision is engine.last_decision


def test_quote_distance_to_touch_is_ticks_behind_our_best(make_host: MakeHost) -> None:
    host = make_host(seconds=20, speed=None)
    snap = take_snapshot(host.engine, 5)
    for q in snap.quotes:
        if q.side is Side.BUY:
            assert q.touch_distance_ticks == snap.best_bid_ticks - q.price_ticks
        else:
            assert q.touch_distance_ticks == q.price_ticks - snap.best_ask_ticks


def test_queue_ahead_comes_from_the_sim_venue(make_host: MakeHost) -> None:
    host = make_host(seconds=20, speed=None)
    snap = take_snapshot(host.engine, 5, sim_queue_ahead(host.session.venue))
    resting = [q for q in snap.quotes if q.acked]
    assert resting
    assert all(q.queue_ahead_lots is not None for q in resting)
    assert all(q.queue_ahead_lots is None for q in take_snapshot(host.engine, 5).quotes)


def test_snapshot_is_immutable(make_host: MakeHost) -> None:
    snap = take_snapshot(make_host(seconds=5, speed=None).engine, 3)
    try:
        snap.fills = 1  # type: ignore[misc]
    except AttributeError:
        return
    raise AssertionError("EngineSnapshot accepted an assignment")


def test_ladder_pins_our_deep_quote_to_the_outer_row() -> None:
    rows = ladder(((10, 1), (11, 2), (12, 3), (13, 4)), {15: (0, 2)}, Side.SELL, 3)
    assert [r[1] for r in rows] == [10, 11, 15]
    assert rows[-1][3] == 2


def test_ladder_marks_our_quote_at_a_market_level() -> None:
    rows = ladder(((10, 5), (9, 2), (8, 3)), {9: (2, 1)}, Side.BUY, 3)
    assert rows == [(Side.BUY, 10, 5, 0), (Side.BUY, 9, 2, 1), (Side.BUY, 8, 3, 0)]


def test_log_handler_buffers_until_drained() -> None:
    handler = BufferingLogHandler(history=3)
    logger = logging.getLogger("tradetui.test.buffer")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for i in range(5):
            logger.info("record %d", i)
    finally:
        logger.removeHandler(handler)
    assert [ln.message for ln in handler.drain()] == ["record 2", "record 3", "record 4"]
    assert handler.drain() == []
    assert len(handler.history) == 3
