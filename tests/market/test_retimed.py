"""Recorded events moved in time keep their spacing and both clocks."""

from __future__ import annotations

from tradetui.core.types import MarketEvent, Side, Trade
from tradetui.market.feed import retimed


def trade(t_ns: int) -> Trade:
    return Trade(
        exch_ns=t_ns, local_ns=t_ns + 5, trade_id=1, price_ticks=10, qty_lots=1, aggressor=Side.BUY
    )


def test_retimed_moves_both_clocks_and_keeps_the_spacing() -> None:
    events: list[MarketEvent] = [trade(1_000), trade(1_250), trade(4_000)]

    moved = list(retimed(events, 9_000))

    assert [e.exch_ns for e in moved] == [10_000, 10_250, 13_000]
    assert [e.local_ns for e in moved] == [10_005, 10_255, 13_005]


def test_retimed_of_nothing_is_nothing() -> None:
    assert list(retimed([], 10_000)) == []
