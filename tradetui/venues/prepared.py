"""A recorded market made ready for the sim venue once per data set.

What the sim venue does to a recording before its matching engine and the trading engine see it
depends only on the data and the feed latency model, never on the run: stale best bid/offers
dropped (``drop_stale_bbo``), each event retimed (``FeedLatency.retime``), its delivery time
to the trading engine set, and the exchange's order restored (``exchange_order``). A
``PreparedMarket`` holds the result, so the backtests of a sweep or a search on one data set
iterate an ordered, retimed sequence instead of redoing the passes in every run. What is drawn
per run (order latencies of the ``lognormal`` model, from the run's seed) stays in the venue.

Reordering on the fly, the venue reads the market ahead of its matching engine and an event
joins the feed to the trading engine as it is read; a prepared market is in the feed from the
start. The runs are the same: the venue only asks whether the feed is empty and when its first
entry is due. The next event the matching engine takes has been read and is still in the feed
(it is due no earlier than its exchange time, and at a tie the market goes first), so the feed
is never empty while market events are left, and its first entry is the earliest event received
and not yet delivered either way. tests/backtest/test_prepared_replay.py compares whole runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tradetui.core.types import MarketEvent
from tradetui.market.replay import drop_stale_bbo
from tradetui.venues.simtime import FeedLatency, exchange_order

# A feed entry: (delivery time ns, event).
FeedEntry = tuple[int, MarketEvent]


@dataclass(frozen=True, slots=True, eq=False)
class PreparedMarket:
    """A replay for the sim venue: ``market`` the retimed events in the order they reach the
    trading engine, ``feed`` the same with their delivery times, ``order`` the same events in
    the exchange's order (as the matching engine takes them); ``feed_model`` describes the
    feed latency (with the recorder's clock offset removed)."""

    market: list[MarketEvent]
    feed: list[FeedEntry]
    order: list[MarketEvent]
    feed_model: str


def prepare_market(
    events: Iterable[MarketEvent], feed: FeedLatency, offset_ns: int | None = None
) -> PreparedMarket:
    """``events`` (a recording, in receive order) prepared for the sim venue under ``feed``;
    ``offset_ns`` is the recorder's clock offset (None: estimated from the events)."""
    retimed = feed.retime(drop_stale_bbo(events), offset_ns)
    market = list(retimed)
    delivery: list[int] = []
    add = delivery.append
    feed_ns = 0
    for ev in market:
        # The venue's rule (SimVenue._queue_delivery): delivered at its local time, never
        # before its exchange time nor before the event ahead of it.
        deliver_ns = ev.local_ns
        if deliver_ns < ev.exch_ns:
            deliver_ns = ev.exch_ns
        if deliver_ns < feed_ns:
            deliver_ns = feed_ns
        else:
            feed_ns = deliver_ns
        add(deliver_ns)
    return PreparedMarket(
        market,
        list(zip(delivery, market, strict=True)),
        list(exchange_order(market)),
        retimed.describe(),
    )
