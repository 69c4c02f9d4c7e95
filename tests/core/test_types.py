"""Events are immutable values and survive a JSON round trip as a tagged union."""

from __future__ import annotations

import msgspec
import pytest

from tradetui.core.types import (
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    Fill,
    MarketEvent,
    PlaceOrder,
    Side,
    Trade,
)

MARKET_EVENTS: list[MarketEvent] = [
    BookSnapshot(exch_ns=1, local_ns=2, update_id=7, bids=((100, 3), (99, 1)), asks=((101, 2),)),
    BookDelta.of(
        exch_ns=3, local_ns=4, first_id=8, last_id=9, prev_id=7, bids=((100, 0),), asks=()
    ),
    BestBidOffer(
        exch_ns=5, local_ns=6, update_id=10, bid_ticks=99, bid_lots=1, ask_ticks=101, ask_lots=2
    ),
    Trade(exch_ns=7, local_ns=8, trade_id=11, price_ticks=101, qty_lots=2, aggressor=Side.BUY),
]


@pytest.mark.parametrize("event", MARKET_EVENTS, ids=lambda e: type(e).__name__)
def test_market_event_cannot_be_modified(event: MarketEvent) -> None:
    with pytest.raises(AttributeError):
        event.exch_ns = 99  # type: ignore[misc]


def test_fill_and_intent_cannot_be_modified() -> None:
    fill = Fill(
        exch_ns=1,
        local_ns=2,
        client_id="a",
        trade_id="t",
        side=Side.SELL,
        price_ticks=100,
        qty_lots=1,
        leaves_lots=0,
        fee=-0.01,
        is_maker=True,
    )
    place = PlaceOrder(client_id="a", side=Side.BUY, price_ticks=100, qty_lots=1)
    with pytest.raises(AttributeError):
        fill.qty_lots = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        place.price_ticks = 101  # type: ignore[misc]


def test_side_opposite_swaps_and_value_is_the_position_sign() -> None:
    assert Side.BUY.opposite is Side.SELL
    assert Side.SELL.opposite is Side.BUY
    assert int(Side.BUY) == 1
    assert int(Side.SELL) == -1


def test_market_events_round_trip_through_json_as_a_tagged_union() -> None:
    data = msgspec.json.encode(MARKET_EVENTS)
    decoded = msgspec.json.decode(data, type=list[MarketEvent])
    assert decoded == MARKET_EVENTS
    assert [type(e) for e in decoded] == [type(e) for e in MARKET_EVENTS]
    assert isinstance(decoded[3], Trade)
    assert decoded[3].aggressor is Side.BUY


@pytest.mark.parametrize("event", MARKET_EVENTS, ids=lambda e: type(e).__name__)
def test_each_market_event_decodes_to_its_own_type(event: MarketEvent) -> None:
    decoded = msgspec.json.decode(msgspec.json.encode(event), type=MarketEvent)
    assert decoded == event
    assert type(decoded) is type(event)


def test_unknown_tag_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"type":"nope","exch_ns":1,"local_ns":2}', type=MarketEvent)


def test_a_delta_carries_its_best_positive_levels() -> None:
    d = BookDelta.of(
        exch_ns=0,
        local_ns=0,
        first_id=1,
        last_id=1,
        prev_id=0,
        # The highest bid and the lowest ask are removals: the tops are the best positive ones.
        bids=((99, 2), (101, 0), (100, 4)),
        asks=((103, 1), (102, 0), (104, 3)),
    )
    assert (d.top_bid_ticks, d.top_ask_ticks) == (100, 103)
    only_removals = BookDelta.of(
        exch_ns=0, local_ns=0, first_id=1, last_id=1, prev_id=0, bids=((5, 0),), asks=()
    )
    assert (only_removals.top_bid_ticks, only_removals.top_ask_ticks) == (0, 0)
