"""A fill is booked at the mid in effect before it (docs/metrics.md), whichever of the fill
and the book update showing the trade reaches the engine first."""

from __future__ import annotations

from decimal import Decimal

from tests.engine.test_engine import ASK, BID, MS, Harness
from tradetui.core.types import BestBidOffer, Fill, Side
from tradetui.engine.events import FillRecorded


def _touch(h: Harness, exch_ns: int, update_id: int, bid: int, ask: int) -> None:
    h.engine.on_event(
        BestBidOffer(
            exch_ns=exch_ns,
            local_ns=h.now(),
            update_id=update_id,
            bid_ticks=bid,
            bid_lots=1,
            ask_ticks=ask,
            ask_lots=1,
        )
    )


def _booked_mid(show_trade_first: bool) -> tuple[float, Decimal]:
    h = Harness()
    h.start()
    h.ack_all()
    bid = next(p for p in h.venue.places() if p.side is Side.BUY)
    h.advance(10)
    # Our bid is hit at exchange time t; the trade takes the touch 50 ticks lower.
    t = h.now()
    if show_trade_first:
        h.advance(1)
        _touch(h, t, 50, BID - 50, ASK - 50)
    h.advance(1)
    h.engine.on_event(
        Fill(
            exch_ns=t,
            local_ns=h.now(),
            client_id=bid.client_id,
            trade_id="1",
            side=Side.BUY,
            price_ticks=bid.price_ticks,
            qty_lots=bid.qty_lots,
            leaves_lots=0,
            fee=0.0,
            is_maker=True,
        )
    )
    booked = [ev for ev in h.events if isinstance(ev, FillRecorded)]
    assert len(booked) == 1
    return booked[0].mid_ticks, h.engine.pnl().spread_capture


def test_the_update_showing_the_trade_does_not_move_the_mid_a_fill_is_booked_at() -> None:
    before = _booked_mid(show_trade_first=False)
    after = _booked_mid(show_trade_first=True)
    assert before == after
    assert before[0] == (BID + ASK) / 2
    assert before[1] > 0  # a bid below the mid captured half a spread or more


def test_a_later_touch_counts_once_its_exchange_time_is_before_the_fill() -> None:
    h = Harness()
    h.start()
    h.advance(5)
    _touch(h, h.now(), 60, BID + 10, ASK + 10)
    # Exchange time 1 ms after that touch: it is the one in effect.
    assert h.engine.mid_before(h.now() + MS) == (BID + ASK + 20) / 2
    # At its own exchange time it is not yet: the touch before it is.
    assert h.engine.mid_before(h.now()) == (BID + ASK) / 2
