"""An in-process exchange: a discrete-event simulator over the MatchingEngine.

Two clocks meet here. Exchange-side happenings (a market event reaching the matching engine at
its ``exch_ns``, an order or cancel arriving after the entry latency) are processed inside, in
time order. What the trading engine receives (market events at their ``local_ns``, account
events at exchange time + ack latency) comes out of ``pop`` in delivery-time order. Exchange
work is only done up to the time of the next delivery, so an order submitted after that
delivery can still meet every later market event.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import TYPE_CHECKING

import msgspec

from tradetui.core.clock import Clock, VirtualClock
from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    AccountEvent,
    AccountSnapshot,
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

if TYPE_CHECKING:
    from tradetui.engine.engine import Engine

_NEVER_NS = sys.maxsize


@dataclass(frozen=True, slots=True)
class SimLatency:
    """One-way latencies of the simulated venue (ns).

    ``entry_ns``: an order request travelling to the exchange; ``cancel_ns``: a cancel request
    travelling to the exchange; ``ack_ns``: a response or fill report travelling back. Feed
    latency is not here: market events carry it as ``local_ns - exch_ns``.

    Defaults of 5 ms each way (10 ms round trip) match a VPS in AWS Tokyo near Binance's
    matching engine; public measurements put REST round trips from there at roughly 10-35 ms.
    """

    entry_ns: int = 5_000_000
    ack_ns: int = 5_000_000
    cancel_ns: int = 5_000_000

    def __post_init__(self) -> None:
        for name in ("entry_ns", "ack_ns", "cancel_ns"):
            if getattr(self, name) < 0:
                raise ValueError(f"sim latency {name} must not be negative")


class SimVenue:
    """A simulated venue: orders meet the recorded or synthetic market with latency."""

    def __init__(
        self,
        instrument: Instrument,
        market: Iterable[MarketEvent],
        latency: SimLatency,
        matching: MatchingConfig,
        clock: Clock,
    ) -> None:
        self._instrument = instrument
        self._engine = MatchingEngine(instrument, matching)
        self._on_market = self._engine.on_market
        self._clock = clock
        self._entry_ns = latency.entry_ns
        self._ack_ns = latency.ack_ns
        self._cancel_ns = latency.cancel_ns
        self._market = iter(market)
        self._next_market: MarketEvent | None = next(self._market, None)
        # Market events go out in the order they arrive (a feed is one ordered stream), so a
        # FIFO keeps them off the heap; only account events and requests need the heap.
        self._feed: deque[tuple[int, int, MarketEvent]] = deque()
        self._reports: list[tuple[int, int, AccountEvent]] = []
        self._requests: list[tuple[int, int, OrderIntent]] = []
        self._seq = 0
        self._feed_ns = 0  # last market delivery time; deliveries never go backwards
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
    def market_done(self) -> bool:
        """Whether every market event has been taken and handed to the engine (a replay
        that reached its end; a synthetic market never ends)."""
        return self._next_market is None and not self._feed

    def submit(self, intent: OrderIntent) -> None:
        """Send a place or cancel; it reaches the exchange after the entry or cancel latency."""
        delay_ns = self._entry_ns if type(intent) is PlaceOrder else self._cancel_ns
        self._seq += 1
        heappush(self._requests, (self._clock.now_ns() + delay_ns, self._seq, intent))

    # ---- event source ------------------------------------------------------------------------

    def peek_ns(self) -> int | None:
        """Delivery time (ns) of the next event for the engine, or None when all is done."""
        return self._settle()

    def pop(self) -> MarketEvent | AccountEvent | None:
        """The next event for the engine, in delivery-time order (ties by creation order)."""
        feed = self._feed
        reports = self._reports
        if not reports and not self._requests:
            # Fast path while no order traffic is in flight: only the market moves.
            market = self._next_market
            if not feed and market is not None:
                self._apply_market(market)
                market = self._next_market
            if feed and not reports and (market is None or market.exch_ns > feed[0][0]):
                return feed.popleft()[2]
        if self._settle() is None:
            return None
        return self._take()

    def _take(self) -> MarketEvent | AccountEvent:
        """The first of the feed and the reports by (delivery time, creation order); call only
        after ``_settle`` found an event due."""
        feed = self._feed
        reports = self._reports
        if feed:
            if reports:
                head = feed[0]
                top = reports[0]
                if top[0] < head[0] or (top[0] == head[0] and top[1] < head[1]):
                    return heappop(reports)[2]
            return feed.popleft()[2]
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
        settle = self._settle
        take = self._take
        apply_market = self._apply_market
        feed = self._feed
        popleft = feed.popleft
        reports = self._reports
        requests = self._requests
        deliver_ns: int | None
        while True:
            if reports or requests:
                deliver_ns = settle()
            else:
                # No order traffic in flight, so only the market moves: ``_settle``'s steps
                # without the heaps, until a market event fills one of our orders.
                market = self._next_market
                while market is not None and (not feed or market.exch_ns <= feed[0][0]):
                    apply_market(market)
                    if reports:
                        break
                    market = self._next_market
                if reports:
                    continue
                deliver_ns = feed[0][0] if feed else None
            wake_ns = engine.wakeup_ns
            if wake_ns is not None and (deliver_ns is None or wake_ns <= deliver_ns):
                if wake_ns > until_ns:
                    break
                advance(wake_ns)
                on_timer()
                continue
            if deliver_ns is None or deliver_ns > until_ns:
                break
            advance(deliver_ns)
            on_event(take() if reports else popleft()[2])
        advance(until_ns)

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

    def _settle(self) -> int | None:
        """Run exchange-side happenings due before the next delivery; returns its time (ns)."""
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
                if market_ns > deliver_ns or market is None:
                    return None if deliver_ns == _NEVER_NS else deliver_ns
                self._apply_market(market)
            else:
                if request_ns > deliver_ns:
                    return deliver_ns
                self._arrive(heappop(requests)[2], request_ns)

    def _apply_market(self, ev: MarketEvent) -> None:
        exch_ns = ev.exch_ns
        if exch_ns < self._exch_ns:
            exch_ns = self._exch_ns
        else:
            self._exch_ns = exch_ns
        events = self._on_market(ev, exch_ns)
        if events:
            self._report(events, exch_ns)
        deliver_ns = ev.local_ns
        if deliver_ns < exch_ns:
            deliver_ns = exch_ns
        if deliver_ns < self._feed_ns:
            deliver_ns = self._feed_ns
        else:
            self._feed_ns = deliver_ns
        self._seq = seq = self._seq + 1
        self._feed.append((deliver_ns, seq, ev))
        self._next_market = next(self._market, None)

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
