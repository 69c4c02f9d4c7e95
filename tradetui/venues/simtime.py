"""The sim venue's two clocks for a recorded market: exchange order and feed latency.

A capture lists messages in the order they were received, but the exchange's streams do not
arrive in the order things happened: a trade print often comes after the depth or bookTicker
update that already shows the trade (14.5% of the trades on the shared USD-M file come after a
book update with a later transaction time). The matching engine must see the trade first, or
the queue ahead of our order is reduced twice: once as a "cancel" by the depth decrease, once
more by the trade. ``exchange_order`` restores the exchange's order; the feed the trading
engine receives stays in the order and at the times of its model (``FeedLatency``).

Feed latency models (``sim.feed_latency``):

- ``recorded``: each event's own latency from the capture: its receive time minus the
  recorder's clock offset, estimated as a low quantile (1%) of receive − exchange time over
  the first events and removed. The latencies are then relative to the fastest messages (the
  true one-way minimum is not observable from one clock). Deliveries never go backwards, so
  the feed keeps the order it was received in.
- ``constant``: every event reaches the engine ``sim.feed_latency_ms`` after its exchange time.

The synthetic market carries its own constant latency (``synthetic``) unless ``constant`` is
configured.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain, islice

import msgspec

from tradetui.core.types import MarketEvent, Trade

# How far (exchange time) a trade print may lag behind book updates and still be put back in
# its place: 110 ms is the worst on the shared USD-M file, 166 ms on spot.
REORDER_WINDOW_NS = 500_000_000
# Events whose receive − exchange times estimate the recorder's clock offset, and the quantile.
OFFSET_SAMPLE = 10_000
OFFSET_QUANTILE = 0.01

_NEG = -sys.maxsize


def exchange_order(
    events: Iterable[MarketEvent],
    window_ns: int = REORDER_WINDOW_NS,
    on_read: Callable[[MarketEvent], None] | None = None,
) -> Iterator[MarketEvent]:
    """``events`` (in receive order) in the exchange's order; ``on_read(ev)`` is called for
    each event as it is read, in receive order (the sim venue queues its delivery there).

    Book updates (diffs, snapshots, best bid/offers) keep their order among themselves, as do
    trades; a trade goes before every book update whose exchange time is later than or equal
    to its own. At one exchange time (1 ms on Binance) the update that shows a trade usually
    comes with it, so the trade goes first; the matching engine then knows the decrease it
    sees next was traded, not cancelled. A trade more than ``window_ns`` behind the newest
    event is passed on where it is.
    """
    books: deque[tuple[int, MarketEvent]] = deque()
    trades: deque[tuple[int, MarketEvent]] = deque()
    book_append, book_pop = books.append, books.popleft
    trade_append, trade_pop = trades.append, trades.popleft
    book_ns = trade_ns = _NEG  # running maxima: each kind keeps its own order
    for ev in events:
        if on_read is not None:
            on_read(ev)
        t = ev.exch_ns
        if type(ev) is Trade:
            if t > trade_ns:
                trade_ns = t
            trade_append((trade_ns, ev))
        else:
            if t > book_ns:
                book_ns = t
            book_append((book_ns, ev))
        horizon = (book_ns if book_ns > trade_ns else trade_ns) - window_ns
        # Pass on, in merged order, everything older than the horizon.
        while True:
            if trades:
                if books and books[0][0] < trades[0][0]:
                    if books[0][0] >= horizon:
                        break
                    yield book_pop()[1]
                else:
                    if trades[0][0] >= horizon:
                        break
                    yield trade_pop()[1]
            elif books and books[0][0] < horizon:
                yield book_pop()[1]
            else:
                break
    while books and trades:
        yield (trades if trades[0][0] <= books[0][0] else books).popleft()[1]
    for _, ev in books or trades:
        yield ev


def clock_offset(events: Iterable[MarketEvent]) -> int:
    """The recorder's clock offset (ns): a low quantile of receive − exchange time over the
    first ``OFFSET_SAMPLE`` of ``events`` (0 for none). A low quantile rather than the minimum,
    so one message stamped by a glitching clock does not move every latency."""
    lags = sorted(ev.local_ns - ev.exch_ns for ev in islice(events, OFFSET_SAMPLE))
    return lags[int(OFFSET_QUANTILE * (len(lags) - 1))] if lags else 0


class FeedModel(StrEnum):
    RECORDED = "recorded"
    CONSTANT = "constant"


@dataclass(frozen=True, slots=True)
class FeedLatency:
    """How market events reach the trading engine: ``retime`` sets each event's ``local_ns``
    to its delivery time (never before its exchange time)."""

    model: FeedModel = FeedModel.RECORDED
    constant_ns: int = 0

    def retime(self, events: Iterable[MarketEvent], offset_ns: int | None = None) -> Retimed:
        """``events`` (receive order) with their delivery times; ``recorded`` removes
        ``offset_ns``, or the offset estimated from the first events when None."""
        return Retimed(self, events, offset_ns)

    def describe(self) -> str:
        if self.model is FeedModel.CONSTANT:
            return f"constant {self.constant_ns / 1e6:g} ms"
        return "recorded (each event's receive time, recorder clock offset removed)"


class Retimed:
    """The events of a ``FeedLatency`` model; ``offset_ns`` is the recorder's clock offset
    (receive − exchange time) that was removed, once the first event has been taken."""

    def __init__(
        self, feed: FeedLatency, events: Iterable[MarketEvent], offset_ns: int | None = None
    ) -> None:
        self.feed = feed
        self.offset_ns = offset_ns
        self._events = iter(events)
        self._out = self._run()

    def __iter__(self) -> Iterator[MarketEvent]:
        return self._out

    def __next__(self) -> MarketEvent:
        return next(self._out)

    def _run(self) -> Iterator[MarketEvent]:
        replace = msgspec.structs.replace
        events: Iterator[MarketEvent] = self._events
        if self.feed.model is FeedModel.CONSTANT:
            lat = self.feed.constant_ns
            for ev in events:
                yield replace(ev, local_ns=ev.exch_ns + lat)
            return
        head: list[MarketEvent] = []
        if self.offset_ns is None:
            head = list(islice(events, OFFSET_SAMPLE))
            self.offset_ns = clock_offset(head)
        offset = self.offset_ns
        last = _NEG
        for ev in chain(head, events):
            t = ev.local_ns - offset
            if t < ev.exch_ns:
                t = ev.exch_ns
            if t < last:
                t = last
            last = t
            yield replace(ev, local_ns=t)

    def describe(self) -> str:
        text = self.feed.describe()
        if self.offset_ns is not None:
            text += f", offset {self.offset_ns / 1e9:+.3f} s"
        return text
