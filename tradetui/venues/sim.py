"""An in-process exchange: a discrete-event simulator over the MatchingEngine.

Two clocks meet here. Exchange-side happenings (a market event reaching the matching engine at
its ``exch_ns``, an order or cancel arriving after the entry latency) are processed inside, in
time order: the market reaches the matching engine in the exchange's order
(``simtime.exchange_order``: a trade before the book update that shows it). What the trading
engine receives (market events in the order they came, at their ``local_ns`` but never before
``exch_ns`` nor before the event ahead of them; account events at exchange time + ack latency)
comes out of ``pop`` in delivery-time order. Exchange work is only done up to the time of the
next delivery, so an order submitted after that delivery can still meet every later market
event.

A market already in the exchange's order (``exchange_ordered=True``: the synthetic market, which
prints a trade before the book update that shows it) skips the reordering: each event joins the
feed as the matching engine takes it, as a live market's does.

A ``PreparedMarket`` (``venues.prepared``: a replay already retimed and put in the exchange's
order, once per data set) is taken as it is: its events reach the matching engine in its order,
and all of them are in the feed from the start (the same run: see that module).

A live market (``live=True``: a ``ReceivedMarket``, the exchange's real feed pushed as it
arrives) is known only up to now: each event once the clock reaches its receive time
(``local_ns``), in the order received. A request reaches the exchange at its arrival time after
every market event received by then and before any received later, so what a session on a live
market does depends only on the receive times, not on when its event loop got round to it: a
backtest of its recording, on a ``ReceivedMarket`` of the same events, does the same
(docs/reconcile.md). ``peek_ns`` names the next receive time and request arrival as well, so a
runner wakes for them. An empty snapshot there says the feed lost the book, not that the
exchange's book emptied: the matching engine keeps its book (and our queue positions) until the
resync's snapshot.
"""

from __future__ import annotations

import math
import random
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import TYPE_CHECKING

import msgspec

from tradetui.core.clock import Clock, VirtualClock
from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    AccountEvent,
    AccountSnapshot,
    BookSnapshot,
    CancelOrder,
    CancelRejected,
    Fill,
    MarketEvent,
    OpenOrderInfo,
    OrderAccepted,
    OrderCancelled,
    OrderIntent,
    OrderRejected,
    PlaceOrder,
)
from tradetui.matching.engine import MatchingConfig, MatchingEngine
from tradetui.venues.prepared import PreparedMarket
from tradetui.venues.simtime import exchange_order

if TYPE_CHECKING:
    from tradetui.engine.engine import Engine
    from tradetui.venues.latency import MeasuredLatency

_NEVER_NS = sys.maxsize


@dataclass(frozen=True, slots=True)
class SimLatency:
    """One-way latencies of the simulated venue (ns).

    ``entry_ns``: an order request travelling to the exchange; ``cancel_ns``: a cancel request
    travelling to the exchange; ``ack_ns``: a response or fill report travelling back. Feed
    latency is not here: market events carry it as ``local_ns - exch_ns`` (see
    ``simtime.FeedLatency``).

    Defaults of 5 ms each way (10 ms round trip) match a VPS in AWS Tokyo near Binance's
    matching engine; public measurements put REST round trips from there at roughly 10-35 ms.

    ``sigma`` 0 is the ``constant`` model. Above 0 (``lognormal``) each request and each
    response is drawn from a lognormal distribution with the latency above as its median and
    ``sigma`` the standard deviation of its log, from a generator seeded with ``seed``; a
    request never overtakes the one sent before it, nor a response the one before it. With
    ``measured`` (the ``measured`` model) each is drawn, the same way, from the samples a live
    session recorded (venues/latency.py): entry from its placements, cancel from its cancels
    (its placements when it has none), ack from their answers; the three latencies above are
    then unused. Every model is one-way: the round trip is entry (or cancel) + ack.
    """

    entry_ns: int = 5_000_000
    ack_ns: int = 5_000_000
    cancel_ns: int = 5_000_000
    sigma: float = 0.0
    seed: int = 0
    measured: MeasuredLatency | None = None

    def __post_init__(self) -> None:
        for name in ("entry_ns", "ack_ns", "cancel_ns", "sigma"):
            if getattr(self, name) < 0:
                raise ValueError(f"sim latency {name} must not be negative")

    def describe(self) -> str:
        if self.measured is not None:
            return self.measured.describe()
        ms = f"entry {self.entry_ns / 1e6:g} ms, cancel {self.cancel_ns / 1e6:g} ms, ack "
        ms += f"{self.ack_ns / 1e6:g} ms"
        if self.sigma:
            return f"lognormal (medians {ms}; sigma {self.sigma:g})"
        return f"constant ({ms})"


class ReceivedMarket:
    """A market as a live feed gives it: each event once ``clock`` reaches its receive time
    (``local_ns``), in the order received; running dry means "nothing more yet" (``push``
    adds what arrives later). An exchange time after the receive time is the two clocks'
    skew: the event cannot have happened after it reached us, so it is stamped at receipt
    (else every delivery would wait out the skew)."""

    def __init__(self, clock: Clock, events: Iterable[MarketEvent] = ()) -> None:
        self._clock = clock
        self._queue: deque[MarketEvent] = deque()
        for ev in events:
            self.push(ev)

    def push(self, ev: MarketEvent) -> None:
        """``ev`` has been received (at its ``local_ns``)."""
        if ev.exch_ns > ev.local_ns:
            ev = msgspec.structs.replace(ev, exch_ns=ev.local_ns)
        self._queue.append(ev)

    def __iter__(self) -> ReceivedMarket:
        return self

    def __next__(self) -> MarketEvent:
        queue = self._queue
        if queue and queue[0].local_ns <= self._clock.now_ns():
            return queue.popleft()
        raise StopIteration

    @property
    def next_ns(self) -> int | None:
        """Receive time (ns) of the next event not yet given, or None when none is known."""
        return self._queue[0].local_ns if self._queue else None


class SimVenue:
    """A simulated venue: orders meet the recorded or synthetic market with latency."""

    def __init__(
        self,
        instrument: Instrument,
        market: Iterable[MarketEvent] | PreparedMarket,
        latency: SimLatency,
        matching: MatchingConfig,
        clock: Clock,
        *,
        live: bool = False,
        exchange_ordered: bool = False,
    ) -> None:
        self._instrument = instrument
        self._live = live
        # Without reordering, an event joins the feed when the matching engine takes it.
        self._queue_on_apply = live or exchange_ordered
        self._engine = MatchingEngine(instrument, matching)
        self._on_market = self._engine.on_market
        self._clock = clock
        self._entry_ns = latency.entry_ns
        self._ack_ns = latency.ack_ns
        self._cancel_ns = latency.cancel_ns
        self._sigma = latency.sigma
        self._rng = random.Random(latency.seed)
        measured = latency.measured
        # Samples to draw from (the measured model), by request kind and for responses.
        self._samples: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None = (
            None
            if measured is None
            else (measured.entry_ns, measured.cancel_ns or measured.entry_ns, measured.ack_ns)
        )
        self._request_ns = 0  # last request arrival: requests keep their order
        self._response_ns = 0  # last response delivery: responses keep their order
        # Market events go out in the order they come (a feed is one ordered stream), so a
        # FIFO keeps them off the heap; only account events and requests need the heap. An
        # event joins the feed when it is read (the matching engine takes it in exchange order),
        # or, when nothing is reordered, as the matching engine takes it.
        self._feed: deque[tuple[int, MarketEvent]] = deque()
        self._feed_ns = 0  # last market delivery time; deliveries never go backwards
        self._seq = 0
        # A live market is asked again when dry (a generator would end for good), and arrives
        # as the exchange sent it: each event joins the feed when the matching engine takes it.
        self._market: Iterator[MarketEvent]
        if isinstance(market, PreparedMarket):
            self._feed.extend(market.feed)
            self._market = iter(market.order)
        elif self._queue_on_apply:
            self._market = iter(market)
        else:
            self._market = exchange_order(market, on_read=self._queue_delivery)
        # A live market's receive times: when the next event becomes known.
        self._received = market if isinstance(market, ReceivedMarket) else None
        if live and self._received is None:
            raise TypeError("a live market is a ReceivedMarket")
        self._next_market: MarketEvent | None = next(self._market, None)
        self._reports: list[tuple[int, int, AccountEvent]] = []
        self._requests: list[tuple[int, int, OrderIntent]] = []
        self._exch_ns = 0  # exchange time of the last internal happening
        self.orders_placed = 0
        self.orders_rejected = 0
        self.orders_cancelled = 0
        self.cancels_rejected = 0
        self.fills = 0

    # ---- Venue protocol -----------------------------------------------------------------------

    @property
    def instrument(self) -> Instrument:
        return self._instrument

    @property
    def name(self) -> str:
        return "sim"

    @property
    def clock_offset_ns(self) -> int:
        return 0  # the simulated exchange stamps on the session's own clock

    @property
    def market_done(self) -> bool:
        """Whether every market event has been taken and handed to the engine (a replay
        that reached its end; a synthetic market never ends)."""
        return self._next_market is None and not self._feed

    def submit(self, intent: OrderIntent) -> None:
        """Send a place or cancel; it reaches the exchange after the entry or cancel latency."""
        place = type(intent) is PlaceOrder
        delay_ns = self._entry_ns if place else self._cancel_ns
        arrive_ns = self._clock.now_ns() + delay_ns
        if self._samples is not None:
            drawn = self._rng.choice(self._samples[0 if place else 1])
            arrive_ns = max(self._clock.now_ns() + drawn, self._request_ns)
            self._request_ns = arrive_ns
        elif self._sigma:
            arrive_ns = max(self._clock.now_ns() + self._draw(delay_ns), self._request_ns)
            self._request_ns = arrive_ns
        self._seq += 1
        heappush(self._requests, (arrive_ns, self._seq, intent))

    def _draw(self, median_ns: int) -> int:
        """One lognormal latency with median ``median_ns``."""
        return int(median_ns * math.exp(self._rng.gauss(0.0, self._sigma)))

    # ---- event source ------------------------------------------------------------------------

    def peek_ns(self, horizon_ns: int | None = None) -> int | None:
        """Delivery time (ns) of the next event for the engine, or None when none is known.

        ``horizon_ns``: the engine's next timer; the exchange does nothing later than it yet,
        so an order that timer sends still meets every later market event.

        On a live market the next receive time and request arrival count too (the runner
        wakes for them; ``pop`` then returns None when no delivery is due by now).
        """
        deliver_ns = self._settle(_NEVER_NS if horizon_ns is None else horizon_ns)
        if self._received is None:
            return deliver_ns
        due = [deliver_ns, self._received.next_ns, self.next_request_ns]
        if self._next_market is not None:
            due.append(self._next_market.local_ns)
        return min((t for t in due if t is not None), default=None)

    def pop(self) -> MarketEvent | AccountEvent | None:
        """The next event for the engine, in delivery-time order (see ``_take`` for ties)."""
        if self._received is not None:
            deliver_ns = self._settle()
            if deliver_ns is None or deliver_ns > self._clock.now_ns():
                return None
            return self._take()
        feed = self._feed
        reports = self._reports
        if not reports and not self._requests:
            # Fast path while no order traffic is in flight: only the market moves.
            market = self._next_market
            if not feed and market is not None:
                self._apply_market(market)
                market = self._next_market
            if feed and not reports and (market is None or market.exch_ns > feed[0][0]):
                return feed.popleft()[1]
        if self._settle() is None:
            return None
        return self._take()

    def _take(self) -> MarketEvent | AccountEvent:
        """The first of the feed and the reports by delivery time; at one time the market
        event goes first (account events among themselves keep their creation order), so the
        engine sees a print before the fill it caused whether the market was read ahead for
        reordering or not. Call only after ``_settle`` found an event due."""
        feed = self._feed
        reports = self._reports
        if feed:
            if reports and reports[0][0] < feed[0][0]:
                return heappop(reports)[2]
            return feed.popleft()[1]
        return heappop(reports)[2]

    def run(self, engine: Engine, clock: VirtualClock, until_ns: int) -> None:
        """Drive ``engine`` on the virtual ``clock`` through every delivery and timer due at or
        before ``until_ns`` (ns), then set the clock to ``until_ns``.

        The same steps as ``peek_ns`` / ``pop`` with the runner's rule (a timer due at or before
        the next delivery runs first), in one loop: a backtest spends its time here.
        """
        on_event = engine.on_event
        on_timer = engine.on_timer
        advance = clock.advance_to
        if self._received is not None:
            self._run_received(engine, clock, until_ns)
            return
        settle = self._settle
        take = self._take
        apply_market = self._apply_market
        feed = self._feed
        popleft = feed.popleft
        reports = self._reports
        requests = self._requests
        deliver_ns: int | None
        while True:
            # The exchange runs no further than the next timer: what it does later must
            # wait for the orders that timer may send.
            wake_ns = engine.wakeup_ns
            horizon_ns = _NEVER_NS if wake_ns is None else wake_ns
            if reports or requests:
                deliver_ns = settle(horizon_ns)
            else:
                # No order traffic in flight, so only the market moves: ``_settle``'s steps
                # without the heaps, until a market event fills one of our orders.
                market = self._next_market
                while (
                    market is not None
                    and (not feed or market.exch_ns <= feed[0][0])
                    and market.exch_ns <= horizon_ns
                ):
                    apply_market(market)
                    if reports:
                        break
                    market = self._next_market
                if reports:
                    continue
                deliver_ns = feed[0][0] if feed else None
            if wake_ns is not None and (deliver_ns is None or wake_ns <= deliver_ns):
                if wake_ns > until_ns:
                    break
                advance(wake_ns)
                on_timer()
                continue
            if deliver_ns is None or deliver_ns > until_ns:
                break
            advance(deliver_ns)
            on_event(take() if reports else popleft()[1])
        advance(until_ns)

    def _run_received(self, engine: Engine, clock: VirtualClock, until_ns: int) -> None:
        """``run`` on a live market: ``peek_ns`` / ``pop`` as a live session's runner calls
        them, each wake (timer, delivery, receive time, request arrival) at its own time."""
        while True:
            wake_ns = engine.wakeup_ns
            due_ns = self.peek_ns(wake_ns)
            if wake_ns is not None and (due_ns is None or wake_ns <= due_ns):
                if wake_ns > until_ns:
                    break
                clock.advance_to(wake_ns)
                engine.on_timer()
                continue
            if due_ns is None or due_ns > until_ns:
                break
            clock.advance_to(due_ns)
            ev = self.pop()
            if ev is not None:
                engine.on_event(ev)
        clock.advance_to(until_ns)

    @property
    def next_request_ns(self) -> int | None:
        """When the next order or cancel in flight reaches the exchange (ns), or None."""
        return self._requests[0][0] if self._requests else None

    # ---- exchange-side state (ahead of what the engine has been told) ------------------------

    @property
    def position_lots(self) -> int:
        """Signed position in lots at the exchange."""
        return self._engine.position_lots

    def queue_ahead(self) -> dict[str, float]:
        """Estimated lots ahead of each of our resting orders in its price level's queue."""
        return {cid: o.queue_ahead_lots for cid, o in self._engine.open_orders.items()}

    @property
    def open_order_count(self) -> int:
        """Orders resting at the exchange."""
        return self._engine.open_order_count

    # ---- internals ---------------------------------------------------------------------------

    def _settle(self, horizon_ns: int = _NEVER_NS) -> int | None:
        """Run exchange-side happenings due before the next delivery and not after
        ``horizon_ns`` (ns); returns the delivery's time (ns), or None when none is known."""
        if self._received is not None:
            return self._settle_received(horizon_ns)
        feed = self._feed
        reports = self._reports
        requests = self._requests
        while True:
            deliver_ns = feed[0][0] if feed else _NEVER_NS
            if reports and reports[0][0] < deliver_ns:
                deliver_ns = reports[0][0]
            market = self._next_market
            market_ns = market.exch_ns if market is not None else _NEVER_NS
            request_ns = requests[0][0] if requests else _NEVER_NS
            # Ties: market data before a request, both before a delivery at the same time.
            if market_ns <= request_ns:
                if market_ns > deliver_ns or market is None or market_ns > horizon_ns:
                    return None if deliver_ns == _NEVER_NS else deliver_ns
                self._apply_market(market)
            else:
                if request_ns > deliver_ns or request_ns > horizon_ns:
                    return None if deliver_ns == _NEVER_NS else deliver_ns
                self._arrive(heappop(requests)[2], request_ns)

    def _settle_received(self, horizon_ns: int) -> int | None:
        """``_settle`` on a live market: market events in the order received, each request at
        its arrival time after every event received by then (at or before it) and before any
        received later; none of it beyond now or ``horizon_ns``."""
        feed = self._feed
        reports = self._reports
        requests = self._requests
        now_ns = self._clock.now_ns()
        while True:
            deliver_ns = feed[0][0] if feed else _NEVER_NS
            if reports and reports[0][0] < deliver_ns:
                deliver_ns = reports[0][0]
            market = self._next_market
            if market is None:
                market = self._next_market = next(self._market, None)
            market_ns = market.local_ns if market is not None else _NEVER_NS
            request_ns = requests[0][0] if requests else _NEVER_NS
            if market is not None and market_ns <= request_ns:
                if market_ns > deliver_ns or market_ns > horizon_ns:
                    break
                self._apply_market(market)
            else:
                if request_ns > now_ns or request_ns > deliver_ns or request_ns > horizon_ns:
                    break
                self._arrive(heappop(requests)[2], request_ns)
        return None if deliver_ns == _NEVER_NS else deliver_ns

    def _apply_market(self, ev: MarketEvent) -> None:
        exch_ns = ev.exch_ns
        if exch_ns < self._exch_ns:
            exch_ns = self._exch_ns
        else:
            self._exch_ns = exch_ns
        if not (self._live and type(ev) is BookSnapshot and not (ev.bids or ev.asks)):
            events = self._on_market(ev, exch_ns)
            if events:
                self._report(events, exch_ns)
        if self._queue_on_apply:
            self._queue_delivery(ev)
        self._next_market = next(self._market, None)

    def _queue_delivery(self, ev: MarketEvent) -> None:
        """``ev`` joins the feed: delivered at its ``local_ns``, never before its exchange
        time nor before the event ahead of it."""
        deliver_ns = ev.local_ns
        if deliver_ns < ev.exch_ns:
            deliver_ns = ev.exch_ns
        if deliver_ns < self._feed_ns:
            deliver_ns = self._feed_ns
        else:
            self._feed_ns = deliver_ns
        self._feed.append((deliver_ns, ev))

    def _arrive(self, intent: OrderIntent, arrive_ns: int) -> None:
        exch_ns = arrive_ns if arrive_ns > self._exch_ns else self._exch_ns
        self._exch_ns = exch_ns
        if type(intent) is PlaceOrder:
            inst = self._instrument
            events = self._engine.place(
                intent.client_id,
                intent.side,
                inst.price(intent.price_ticks),
                inst.qty(intent.qty_lots),
                order_type=intent.order_type,
                post_only=intent.post_only,
                reduce_only=intent.reduce_only,
                t_ns=exch_ns,
            )
        elif isinstance(intent, CancelOrder):
            events = self._engine.cancel(intent.client_id, exch_ns)
        else:
            events = [self._account_snapshot(exch_ns)]
        self._report(events, exch_ns)

    def _account_snapshot(self, exch_ns: int) -> AccountSnapshot:
        return AccountSnapshot(
            exch_ns=exch_ns,
            local_ns=exch_ns,
            position_lots=self._engine.position_lots,
            open_orders=tuple(
                OpenOrderInfo(
                    client_id=cid, side=o.side, price_ticks=o.price_ticks, leaves_lots=o.leaves_lots
                )
                for cid, o in self._engine.open_orders.items()
            ),
        )

    def _report(self, events: list[AccountEvent], exch_ns: int) -> None:
        deliver_ns = exch_ns + self._ack_ns
        if self._samples is not None:
            deliver_ns = max(exch_ns + self._rng.choice(self._samples[2]), self._response_ns)
            self._response_ns = deliver_ns
        elif self._sigma:
            deliver_ns = max(exch_ns + self._draw(self._ack_ns), self._response_ns)
            self._response_ns = deliver_ns
        for e in events:
            tp = type(e)
            if tp is Fill:
                self.fills += 1
            elif tp is OrderAccepted:
                self.orders_placed += 1
            elif tp is OrderCancelled:
                self.orders_cancelled += 1
            elif tp is OrderRejected:
                self.orders_rejected += 1
            elif tp is CancelRejected:
                self.cancels_rejected += 1
            self._seq += 1
            heappush(
                self._reports,
                (deliver_ns, self._seq, msgspec.structs.replace(e, local_ns=deliver_ns)),
            )
