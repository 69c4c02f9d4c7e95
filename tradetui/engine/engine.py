"""The trading engine: the only writer of trading state.

It handles one event at a time (market data, account reports, commands, timers) and never
blocks: market data updates the book and estimators; on the decision interval it asks the
strategy for quotes, diffs them against working orders and hands intents to the venue. The
same engine runs live, in paper mode and in backtests; only the venue and the clock differ.
"""

from __future__ import annotations

import logging
import sys
import time
from array import array
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tradetui.config import ConfigError, Settings
from tradetui.core.accounting import PnlSnapshot, PositionLedger
from tradetui.core.book import OrderBook
from tradetui.core.clock import Clock
from tradetui.core.instrument import Instrument
from tradetui.core.metrics import MarkedFill, MarkoutTracker
from tradetui.core.types import (
    BUY,
    SELL,
    AccountEvent,
    AccountSnapshot,
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    CancelOrder,
    CancelRejected,
    Fill,
    MarketEvent,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    OrderUnknown,
    PlaceOrder,
    RejectCode,
    RequestAccount,
    Side,
    Trade,
)
from tradetui.engine.bus import Bus
from tradetui.engine.events import (
    DecisionMade,
    EngineState,
    FillRecorded,
    FlattenFinished,
    OrderStatus,
    OrderUpdate,
    RiskChanged,
    StateChanged,
)
from tradetui.engine.flatten import CloseOrder, Finished, Flattener, FlattenOutcome, Wait
from tradetui.engine.params import as_params, quote_policy, unused_size_key
from tradetui.engine.parts import EngineParts, adverse_estimator
from tradetui.risk.guard import RiskAction, RiskDecision, RiskInputs
from tradetui.strategy.avellaneda import QuoteDecision, QuoteInputs, compute_quotes
from tradetui.strategy.quoting import PlaceStep, plan
from tradetui.venues.base import Venue

log = logging.getLogger(__name__)

_LATENCY_RING = 1 << 16
# Touch changes remembered with their exchange times, so a fill is booked at the mid in
# effect before it (core/metrics.py) even when the feed showed the trade first.
_TOUCH_LOG = 256
# Global and attribute lookups cost tens of ns (an enum member off its class ~160 ns on
# Python 3.11); the per-event paths use these.
_RUNNING = EngineState.RUNNING
_FLATTENING = EngineState.FLATTENING
_STOPPING = EngineState.STOPPING
_STARTING = EngineState.STARTING
_HALT = RiskAction.HALT
_perf_ns = time.perf_counter_ns
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if not n:
            return out


class CommandKind(StrEnum):
    START = "start"
    STOP = "stop"
    FLATTEN = "flatten"
    HALT = "halt"
    SET_PARAMS = "set_params"


@dataclass(frozen=True, slots=True)
class Command:
    """A control request from the TUI, CLI or Telegram."""

    kind: CommandKind
    reason: str = ""
    section: str = ""
    changes: tuple[tuple[str, Any], ...] = ()
    confirm: bool = False


@dataclass(slots=True)
class _Order:
    client_id: str
    side: Side
    price_ticks: int
    qty_lots: int
    leaves_lots: int
    placed_ns: int
    order_type: OrderType
    post_only: bool
    reduce_only: bool
    acked: bool = False
    cancel_pending: bool = False
    # The venue is asking the exchange whether a placement or cancel of this order took
    # effect. Until it answers the order counts as working: toward risk.max_open_orders and
    # its side's exposure, and an unacked one keeps its side from a second quote.
    unknown: bool = False


class CommandRefusedError(Exception):
    """A command that cannot apply in the current state; the message says why."""


class Engine:
    """State machine stopped → running → stopping/flattening → stopped, plus halted.

    Given its venue and its parts (built from the settings by ``parts.build_engine``)."""

    def __init__(
        self,
        settings: Settings,
        instrument: Instrument,
        venue: Venue,
        clock: Clock,
        bus: Bus,
        parts: EngineParts,
        *,
        client_id_prefix: str = "tt",
        seed: int = 0,
    ) -> None:
        self.settings = settings
        self.instrument = instrument
        self.venue = venue
        self.clock = clock
        self._now = clock.now_ns
        self.bus = bus
        self.state = EngineState.STOPPED
        self.book = OrderBook()
        self.ledger = PositionLedger(instrument)
        # Markouts of every fill on the engine's own mid path (core/metrics.py).
        self.markouts = MarkoutTracker(instrument)
        self.orders: dict[str, _Order] = {}
        self.last_decision: QuoteDecision | None = None
        self.last_requote_reason = ""
        self.halt_reason = ""
        self.started_ns = 0
        self.seed = seed
        # Touch from the freshest source (book diff or bookTicker), by exchange update id.
        self.bid_ticks = 0
        self.ask_ticks = 0
        self._touch_id = -1
        self._book_id = -1
        # (exchange time ns, bid + ask ticks) of each touch change, newest last.
        self._touch_log: deque[tuple[int, int]] = deque(maxlen=_TOUCH_LOG)
        self._touch_sum = 0
        self._cid_root = client_id_prefix
        self._start_deadline_ns = 0
        # Start time in ms (8 base-36 digits span 89 years), so ids never repeat across restarts.
        self._cid_prefix = f"{client_id_prefix}{_base36(clock.now_ns() // 1_000_000 % 36**8)}-"
        self._cid_seq = 0
        self._next_decision_ns = 0
        self._force_replace = False
        self._flattener: Flattener | None = None
        self._flatten_wake_ns = 0
        self._stop_deadline_ns = 0
        self._after_flatten = EngineState.STOPPED
        # Set by ``freeze`` (a hurried shutdown): no order is placed from then on.
        self._frozen = False
        self._t_in_ns = 0
        self._latency_recorded = False
        # The next time the engine needs a timer call even if no event arrives (ns); None
        # while stopped or halted. Kept current by ``_rewake``.
        self.wakeup_ns: int | None = None
        self.latencies_ns = array("q", bytes(8 * _LATENCY_RING))
        self.latency_count = 0
        # Session counters.
        self.market_events = 0
        self.orders_placed = 0
        self.orders_cancelled = 0
        self.cancels_sent = 0
        self.orders_rejected = 0
        self.post_only_rejects = 0
        self.fills = 0
        # Fees charged in an asset other than the settlement asset (BNB), summed as charged,
        # and the part of them no rate valued (counted 0 in PnL), by asset.
        # Fees charged in another asset (BNB), exactly as the exchange stated them.
        self.fees_charged: dict[str, Decimal] = {}
        self.fees_unvalued: dict[str, Decimal] = {}
        self.max_abs_position_lots = 0
        self.last_market_ns = 0
        # Smoothed feed latency: local receive − exchange time, on the exchange's clock (the
        # venue's measured offset, ``_clock_offset_ns``, taken off: a skewed clock is not
        # latency). Refreshed at each decision and at start.
        self.feed_latency_ns = 0
        self._clock_offset_ns = self.venue.clock_offset_ns
        # The mid when the book last became unknown (a feed gap), and since when (ns): the
        # open position is marked there until a snapshot brings the book back.
        self.last_valid_mid_ticks = 0.0
        self.book_unknown_since_ns = 0
        self.last_risk: RiskDecision | None = None
        self._risk_key: tuple[RiskAction, tuple[str, ...]] = (RiskAction.ALLOW, ())
        self._next_pnl_check_ns = 0
        self.last_account_ns = 0
        self._next_account_check_ns = 0
        self._position_mismatches = 0
        self._apply_strategy_settings(parts)
        unused = unused_size_key(settings, instrument)
        if unused:
            log.warning("%s", unused)
        self._handlers: dict[type, Any] = {
            BookDelta: self._on_delta,
            BestBidOffer: self._on_bbo,
            Trade: self._on_trade,
            BookSnapshot: self._on_snapshot,
            OrderAccepted: self._on_accepted,
            OrderRejected: self._on_rejected,
            OrderCancelled: self._on_cancelled,
            CancelRejected: self._on_cancel_rejected,
            OrderUnknown: self._on_unknown,
            Fill: self._on_fill,
            AccountSnapshot: self._on_account,
        }
        # The ML filter (off by default) sees every market event before any decision it triggers.
        self.ml = parts.ml
        if self.ml is not None:
            for tp in (BookDelta, BestBidOffer, Trade, BookSnapshot):
                self._handlers[tp] = self.ml.follow(self._handlers[tp], self.book, self.clock)

    # ---- settings -------------------------------------------------------------------------

    def _apply_strategy_settings(self, parts: EngineParts) -> None:
        s = self.settings.strategy
        self.as_params = as_params(self.settings, self.instrument)
        self.policy = quote_policy(self.settings, self.instrument)
        self.decision_interval_ns = int(s.decision_interval_ms * 1e6)
        # [risk] cannot change at run time (``_set_params``), so this is read once.
        self._account_check_ns = int(self.settings.risk.account_check_s * 1e9)
        self.vol = parts.vol
        # The slow estimate is the volatility regime's reference (risk.vol_ratio_limit).
        self.vol_slow = parts.vol_slow
        self.guard = parts.guard
        self.intensity = parts.intensity
        self.adverse = parts.adverse
        # The newest touch mid not yet passed to the σ estimators (see ``_note_mid``).
        assert self.vol.sample_interval_ns == self.vol_slow.sample_interval_ns
        self._mid_started = False
        self._mid_pending = False
        self._mid_t_ns = 0
        self._mid_ticks = 0.0
        self._mid_lo_ns = self._mid_hi_ns = 0

    # ---- event entry points ---------------------------------------------------------------

    def on_event(self, ev: MarketEvent | AccountEvent) -> None:
        """Handle one market or account event."""
        self._t_in_ns = _perf_ns()
        self._latency_recorded = False
        self._handlers[type(ev)](ev)

    def _rewake(self) -> None:
        """Bring ``wakeup_ns`` in line with the state and its deadline; called after every
        change of either (runners read ``wakeup_ns`` after every event, so it is a plain
        attribute rather than a property)."""
        state = self.state
        if state is _RUNNING:
            self.wakeup_ns = self._next_decision_ns
        elif state is _FLATTENING:
            self.wakeup_ns = self._flatten_wake_ns
        elif state is _STOPPING:
            self.wakeup_ns = self._stop_deadline_ns
        elif state is _STARTING:
            self.wakeup_ns = self._start_deadline_ns
        else:
            self.wakeup_ns = None

    def on_timer(self) -> None:
        """Called by the runner at or after ``wakeup_ns``."""
        self._t_in_ns = time.perf_counter_ns()
        self._latency_recorded = False
        now = self.clock.now_ns()
        if self.state is _RUNNING:
            self._decide(now)
        elif self.state is _FLATTENING:
            self._flatten_step(now)
        elif self.state is EngineState.STARTING and now >= self._start_deadline_ns:
            self._set_state(
                EngineState.STOPPED,
                "refusing to quote: the venue's open orders and position could not be read "
                f"within engine.start_timeout_s = {self.settings.engine.start_timeout_s:g} s",
            )
        elif self.state is EngineState.STOPPING and now >= self._stop_deadline_ns:
            n = len(self.orders)
            self._set_state(
                EngineState.HALTED, f"stop timed out with {n} order(s) unconfirmed; check the venue"
            )

    def control(self, cmd: Command) -> str:
        """Apply a command; returns a short human-readable result or raises CommandRefusedError."""
        # A command answers no event: its orders are not timed as decisions (from the last
        # event handled they would measure how long the engine sat idle).
        self._latency_recorded = True
        now = self.clock.now_ns()
        k = cmd.kind
        if self._frozen and k in (CommandKind.START, CommandKind.FLATTEN):
            raise CommandRefusedError("shutting down: no order is placed any more")
        if k is CommandKind.START:
            self._clock_offset_ns = self.venue.clock_offset_ns  # measured by now (live)
            if self.state in (EngineState.RUNNING, EngineState.STARTING):
                return f"already {self.state}"
            if self.state is EngineState.HALTED and not cmd.confirm:
                raise CommandRefusedError(
                    f"engine is halted ({self.halt_reason}); confirm the restart to start again"
                )
            if self.state in (EngineState.STOPPING, EngineState.FLATTENING):
                raise CommandRefusedError(f"engine is {self.state}; wait until it has stopped")
            self.halt_reason = ""
            self.guard.reset()
            # Read the venue's orders and position first; quoting starts once they are known.
            self._start_deadline_ns = now + int(self.settings.engine.start_timeout_s * 1e9)
            self._set_state(EngineState.STARTING, cmd.reason or "start")
            self.venue.submit(RequestAccount(created_ns=now))
            return "starting"
        if k is CommandKind.STOP:
            if self.state in (EngineState.STOPPED, EngineState.HALTED):
                self._cancel_all(now, "stop")
                return f"already {self.state}"
            self._begin_stop(now, cmd.reason or "stop")
            return "stopping"
        if k is CommandKind.FLATTEN:
            self._begin_flatten(now, cmd.reason or "flatten", after=EngineState.STOPPED)
            return "flattening"
        if k is CommandKind.HALT:
            self._halt(now, cmd.reason or "halt requested")
            return "halted"
        if k is CommandKind.SET_PARAMS:
            return self._set_params(cmd)
        raise CommandRefusedError(f"unknown command {k}")

    # ---- market data ----------------------------------------------------------------------

    def _on_snapshot(self, ev: BookSnapshot) -> None:
        self.market_events += 1
        self.last_market_ns = ev.local_ns
        if not ev.bids or not ev.asks:
            self._book_unknown()
            return
        self.book.apply_snapshot(ev.bids, ev.asks)
        self._book_id = ev.update_id
        self._touch_from_book(ev.update_id, ev.exch_ns)
        self._maybe_decide()

    # The three handlers below run for every market message: they inline ``_maybe_decide``.

    def _on_delta(self, ev: BookDelta) -> None:
        self.market_events += 1
        self.last_market_ns = ev.local_ns
        book = self.book
        book.apply_delta(ev)
        last_id = self._book_id = ev.last_id
        if last_id >= self._touch_id and 0 < book.bid_ticks < book.ask_ticks:
            bid, ask = self.bid_ticks, self.ask_ticks = book.bid_ticks, book.ask_ticks
            self._touch_id = last_id
            if bid + ask != self._touch_sum:
                self._touch_sum = bid + ask
                self._touch_log.append((ev.exch_ns, bid + ask))
            self._note_mid(self._now(), (bid + ask) * 0.5)
        if self.state is _RUNNING:
            now = self._now()
            if now >= self._next_decision_ns:
                self._decide(now)

    def _on_bbo(self, ev: BestBidOffer) -> None:
        self.market_events += 1
        local_ns = self.last_market_ns = ev.local_ns
        # Smoothed feed latency (local receive − exchange time, on the exchange's clock),
        # 1/16 weight per update.
        self.feed_latency_ns += (
            local_ns - ev.exch_ns + self._clock_offset_ns - self.feed_latency_ns
        ) >> 4
        bid = ev.bid_ticks
        ask = ev.ask_ticks
        if ev.update_id >= self._touch_id and bid < ask:
            self.bid_ticks = bid
            self.ask_ticks = ask
            self._touch_id = ev.update_id
            if bid + ask != self._touch_sum:
                self._touch_sum = bid + ask
                self._touch_log.append((ev.exch_ns, bid + ask))
            if self._mid_lo_ns <= local_ns < self._mid_hi_ns:
                # ``_note_mid``'s usual case, inline (this runs for most market messages).
                self._mid_t_ns = local_ns
                self._mid_ticks = (bid + ask) * 0.5
                self._mid_pending = True
            else:
                self._note_mid(local_ns, (bid + ask) * 0.5)
        if self.state is _RUNNING:
            now = self._now()
            if now >= self._next_decision_ns:
                self._decide(now)

    def _on_trade(self, ev: Trade) -> None:
        self.market_events += 1
        self.last_market_ns = ev.local_ns
        if self.bid_ticks:
            mid = (self.bid_ticks + self.ask_ticks) * 0.5
            self.intensity.on_trade(ev.local_ns, ev.price_ticks, ev.qty_lots, mid)
        if self.state is _RUNNING:
            now = self._now()
            if now >= self._next_decision_ns:
                self._decide(now)

    def _book_unknown(self) -> None:
        """A feed's empty snapshot: the book is unknown until the next full one. Quotes are
        pulled and no touch (book diff or bookTicker) counts until then."""
        if self.bid_ticks:
            self.last_valid_mid_ticks = self.mid_ticks
            self.book_unknown_since_ns = self.clock.now_ns()
        self.book.apply_snapshot((), ())
        self.bid_ticks = self.ask_ticks = 0
        self._touch_id = sys.maxsize
        if self.state is EngineState.RUNNING:
            now = self.clock.now_ns()
            for cid, o in list(self.orders.items()):
                if not o.reduce_only:
                    self._cancel(now, cid, "book unknown: the feed is resyncing")

    def _touch_from_book(self, update_id: int, exch_ns: int) -> None:
        b = self.book
        if b.valid:
            self.bid_ticks = b.bid_ticks
            self.ask_ticks = b.ask_ticks
            self._touch_id = update_id
            self._touch_sum = b.bid_ticks + b.ask_ticks
            self._touch_log.append((exch_ns, self._touch_sum))
            self._note_mid(self._now(), (b.bid_ticks + b.ask_ticks) * 0.5)

    def _note_mid(self, t_ns: int, mid_ticks: float) -> None:
        """Feed a touch mid to the σ estimators, lazily.

        Within one interval of their sampling grid an update only replaces the mid held for
        the next grid point, so of a run of updates inside one interval only the last needs
        to reach them: it waits here until an update falls outside that interval or σ is
        read (``_flush_mid``). The very first update goes through at once (it starts the grid).
        The estimators end up in exactly the state that feeding every update would give.
        """
        if self._mid_lo_ns <= t_ns < self._mid_hi_ns:
            self._mid_t_ns = t_ns
            self._mid_ticks = mid_ticks
            self._mid_pending = True
            return
        self._flush_mid()
        interval_ns = self.vol.sample_interval_ns
        self._mid_lo_ns = t_ns - t_ns % interval_ns
        self._mid_hi_ns = self._mid_lo_ns + interval_ns
        self._mid_t_ns = t_ns
        self._mid_ticks = mid_ticks
        self._mid_pending = True
        if not self._mid_started:
            self._mid_started = True
            self._flush_mid()

    def _flush_mid(self) -> None:
        if self._mid_pending:
            self._mid_pending = False
            self.vol.update(self._mid_t_ns, self._mid_ticks)
            self.vol_slow.update(self._mid_t_ns, self._mid_ticks)

    def _maybe_decide(self) -> None:
        if self.state is _RUNNING:
            now = self._now()
            if now >= self._next_decision_ns:
                self._decide(now)

    @property
    def mid_ticks(self) -> float:
        return (self.bid_ticks + self.ask_ticks) * 0.5 if self.bid_ticks else 0.0

    def mid_before(self, exch_ns: int) -> float:
        """The touch mid (ticks) in effect just before exchange time ``exch_ns``: the newest
        touch change known with an earlier exchange time (the oldest remembered when every
        one is later); 0 with no book."""
        if not self.bid_ticks:
            return 0.0
        log = self._touch_log
        for t_ns, bid_ask in reversed(log):
            if t_ns < exch_ns:
                return bid_ask * 0.5
        return log[0][1] * 0.5 if log else self.mid_ticks

    # ---- quoting --------------------------------------------------------------------------

    def _decide(self, now: int) -> None:
        self._next_decision_ns = now + self.decision_interval_ns
        self._clock_offset_ns = self.venue.clock_offset_ns
        self._rewake()
        self._flush_mid()
        bid, ask = self.bid_ticks, self.ask_ticks
        if not 0 < bid < ask:
            return
        mid = (bid + ask) * 0.5
        sigma = self.vol.sigma_ticks
        position = self.ledger.position_lots
        adverse = self.adverse
        if now >= adverse.due_ns:
            adverse.resolve(now, mid)
        decision = compute_quotes(
            QuoteInputs(
                mid_ticks=mid,
                best_bid_ticks=bid,
                best_ask_ticks=ask,
                sigma_ticks=sigma,
                k=self.intensity.k,
                a=self.intensity.a,
                position_lots=position,
                now_ns=now,
                session_start_ns=self.started_ns,
                adverse_bps=adverse.allowance_bps,
            ),
            self.as_params,
            self.instrument,
        )
        if self.ml is not None:
            decision = self.ml.adjust(decision, now, self.book, position, bid, ask)
        self.last_decision = decision
        if self._account_check_ns and now >= self._next_account_check_ns:
            self._next_account_check_ns = now + self._account_check_ns
            self.venue.submit(RequestAccount(created_ns=now))
        if now >= self._next_pnl_check_ns:
            self._next_pnl_check_ns = now + 1_000_000_000
            self.guard.on_pnl(now, self.ledger.total_settle(mid), mid)
        risk = self.guard.check(
            decision.bid,
            decision.ask,
            RiskInputs(
                now_ns=now,
                mid_ticks=mid,
                position_lots=position,
                open_orders=len(self.orders),
                last_market_ns=self.last_market_ns,
                last_account_ns=self.last_account_ns,
                feed_latency_ns=self.feed_latency_ns,
                sigma_ratio=sigma / self.vol_slow.sigma_ticks,
            ),
        )
        self.last_risk = risk
        self._note_risk(now, risk)
        if risk.action is _HALT:
            self._halt(now, "risk: " + risk.summary)
            return
        steps = plan(
            {BUY: risk.bid, SELL: risk.ask},
            [o for o in self.orders.values() if not o.reduce_only],
            now,
            self.policy,
            force_replace=self._force_replace,
        ).steps
        self._force_replace = False
        placed = 0
        for step in steps:
            if isinstance(step, PlaceStep):
                q = step.quote
                self._place(now, q.side, q.price_ticks, q.qty_lots)
                placed += 1
            else:
                self._cancel(now, step.client_id, "requote")
        # Most decisions keep the working orders: no steps, nothing to explain.
        reasons = tuple(step.reason for step in steps) if steps else ()
        if steps:
            self.last_requote_reason = steps[-1].reason
        # The mid path markouts are read on: the mid of each decision (stored as a mark).
        self.markouts.on_mid(now, decision.mid_ticks)
        if self.bus.active:
            self.bus.publish(
                DecisionMade(now, decision, risk, reasons, placed, len(steps) - placed)
            )

    def _next_cid(self) -> str:
        self._cid_seq += 1
        return self._cid_prefix + _base36(self._cid_seq)

    def _record_latency(self) -> None:
        if not self._latency_recorded:
            self._latency_recorded = True
            self.latencies_ns[self.latency_count & (_LATENCY_RING - 1)] = (
                time.perf_counter_ns() - self._t_in_ns
            )
            self.latency_count += 1

    def _place(
        self,
        now: int,
        side: Side,
        price_ticks: int,
        qty_lots: int,
        *,
        order_type: OrderType = OrderType.LIMIT,
        reduce_only: bool = False,
    ) -> None:
        if self._frozen:
            log.warning("shutting down: a %s order was not placed", side.name.lower())
            return
        cid = self._next_cid()
        post_only = order_type is OrderType.LIMIT and not reduce_only
        self.orders[cid] = _Order(
            cid, side, price_ticks, qty_lots, qty_lots, now, order_type, post_only, reduce_only
        )
        self.orders_placed += 1
        if not reduce_only:
            self.guard.on_order_sent(now)
        self._record_latency()
        self.venue.submit(
            PlaceOrder(
                client_id=cid,
                side=side,
                price_ticks=price_ticks,
                qty_lots=qty_lots,
                order_type=order_type,
                post_only=post_only,
                reduce_only=reduce_only,
                created_ns=now,
            )
        )
        self._order_update(now, self.orders[cid], OrderStatus.SENT, "")

    def _cancel(self, now: int, client_id: str, reason: str) -> None:
        o = self.orders.get(client_id)
        if o is None or o.cancel_pending:
            return
        o.cancel_pending = True
        self.cancels_sent += 1
        self._record_latency()
        self.venue.submit(CancelOrder(client_id=client_id, created_ns=now))
        self._order_update(now, o, OrderStatus.CANCEL_SENT, reason)

    def _cancel_all(self, now: int, reason: str) -> None:
        for cid in list(self.orders):
            self._cancel(now, cid, reason)

    def _order_update(self, now: int, o: _Order, status: OrderStatus, reason: str) -> None:
        if self.bus.active:
            self.bus.publish(
                OrderUpdate(
                    now,
                    o.client_id,
                    o.side,
                    o.price_ticks,
                    o.qty_lots,
                    status,
                    reason,
                    o.order_type,
                    o.post_only,
                    o.reduce_only,
                )
            )

    # ---- account reports ------------------------------------------------------------------

    def _on_accepted(self, ev: OrderAccepted) -> None:
        o = self.orders.get(ev.client_id)
        if o is not None:
            o.acked = True
            o.unknown = False
            self._order_update(ev.local_ns, o, OrderStatus.ACCEPTED, "")

    def _on_rejected(self, ev: OrderRejected) -> None:
        o = self.orders.pop(ev.client_id, None)
        self.orders_rejected += 1
        if ev.code is RejectCode.POST_ONLY_WOULD_CROSS:
            # Normal when the touch moved while the order travelled; the next decision requotes.
            self.post_only_rejects += 1
            log.debug("post-only reject %s: %s", ev.client_id, ev.reason)
        elif ev.code is RejectCode.RATE_LIMITED:
            # The venue is pacing us (it cools down by itself); a ban halts through the host.
            # The venue logs pacing and cool-downs once each: one line per quote not sent
            # would be many a second.
            log.debug("order %s not placed: %s", ev.client_id, ev.reason)
        else:
            self.guard.on_reject(ev.local_ns)
            log.warning("order %s rejected (%s): %s", ev.client_id, ev.code, ev.reason)
        if o is not None:
            self._order_update(ev.local_ns, o, OrderStatus.REJECTED, f"{ev.code}: {ev.reason}")
        self._after_order_gone()

    def _on_cancelled(self, ev: OrderCancelled) -> None:
        o = self.orders.pop(ev.client_id, None)
        if o is not None:
            self.orders_cancelled += 1
            self._order_update(ev.local_ns, o, OrderStatus.CANCELLED, ev.reason)
        self._after_order_gone()

    def _on_cancel_rejected(self, ev: CancelRejected) -> None:
        o = self.orders.get(ev.client_id)
        if o is None:
            return
        if ev.code is RejectCode.UNKNOWN_ORDER:
            # The venue no longer has it: it filled (its fill report came first) or expired.
            del self.orders[ev.client_id]
            self._order_update(ev.local_ns, o, OrderStatus.CANCEL_REJECTED, ev.reason)
            self._after_order_gone()
        else:
            o.cancel_pending = False
            o.unknown = False
            log.warning("cancel of %s rejected (%s): %s", ev.client_id, ev.code, ev.reason)

    def _on_unknown(self, ev: OrderUnknown) -> None:
        o = self.orders.get(ev.client_id)
        if o is None:
            return
        o.unknown = True
        what = "cancel" if ev.cancel else "placement"
        log.warning("%s of %s has an unknown outcome: %s", what, ev.client_id, ev.reason)
        self._order_update(ev.local_ns, o, OrderStatus.UNKNOWN, f"{what}: {ev.reason}")

    def _on_fill(self, ev: Fill) -> None:
        o = self.orders.get(ev.client_id)
        self.fills += 1
        # Spread capture counts against the mid before the fill (docs/metrics.md).
        mid = self.mid_before(ev.exch_ns)
        self.ledger.on_fill(ev.side, ev.price_ticks, ev.qty_lots, ev.fee, mid)
        self.markouts.on_fill(MarkedFill(ev.local_ns, ev.side, ev.price_ticks, ev.qty_lots, mid))
        if ev.fee_asset:
            self._fee_charged(ev)
        pos = self.ledger.position_lots
        if abs(pos) > self.max_abs_position_lots:
            self.max_abs_position_lots = abs(pos)
        if o is not None and not o.reduce_only:
            # Our quotes' fills measure adverse selection; flatten's taker closes do not.
            self.adverse.on_fill(self._now(), int(ev.side), self.mid_ticks)
        if o is not None:
            o.leaves_lots = ev.leaves_lots
            if ev.leaves_lots <= 0:
                del self.orders[ev.client_id]
                self._order_update(ev.local_ns, o, OrderStatus.FILLED, "")
        if self.bus.active:
            self.bus.publish(FillRecorded(ev.local_ns, ev, pos, self.pnl(), mid))
        if o is None or ev.leaves_lots <= 0:
            self._after_order_gone()

    def _fee_charged(self, ev: Fill) -> None:
        asset, amount = ev.fee_asset, Decimal(ev.fee_charged or 0)
        self.fees_charged[asset] = self.fees_charged.get(asset, Decimal(0)) + amount
        if not ev.fee_rate:
            self.fees_unvalued[asset] = self.fees_unvalued.get(asset, Decimal(0)) + amount

    def _after_order_gone(self) -> None:
        now = self.clock.now_ns()
        if self.state is EngineState.STOPPING and not self.orders:
            self._set_state(EngineState.STOPPED, "all orders cancelled")
        elif self.state is EngineState.FLATTENING:
            self._flatten_step(now)

    def _on_account(self, ev: AccountSnapshot) -> None:
        """Startup reconciliation, then a periodic check that the venue agrees with us."""
        now = self.clock.now_ns()
        self.last_account_ns = now
        if self.state is not EngineState.STARTING:
            self._check_position(now, ev.position_lots)
            return
        adopt = self.settings.engine.orders_on_start == "adopt"
        foreign = []
        for o in ev.open_orders:
            if not o.client_id.startswith(self._cid_root):
                foreign.append(o.client_id)
                continue
            if o.client_id in self.orders:
                continue
            # Only our post-only quotes rest at a venue; market orders never do.
            self.orders[o.client_id] = _Order(
                o.client_id,
                o.side,
                o.price_ticks,
                o.leaves_lots,
                o.leaves_lots,
                now,
                OrderType.LIMIT,
                post_only=True,
                reduce_only=False,
                acked=True,
            )
            if not adopt:
                self._cancel(now, o.client_id, "found open on start")
        if foreign:
            log.warning(
                "%d open order(s) not placed by tradetui left alone: %s",
                len(foreign),
                ", ".join(foreign[:10]),
            )
        pos = self.ledger.position_lots
        adopted = ""
        if ev.position_lots != pos:
            if pos != 0:
                self._set_state(
                    EngineState.STOPPED,
                    f"refusing to quote: venue position {ev.position_lots} lots differs from "
                    f"the engine's {pos} lots; flatten at the venue or restart",
                )
                return
            entry = ev.entry_price_ticks or round(self.mid_ticks)
            self.ledger.adopt(ev.position_lots, entry)
            adopted = (
                f"adopted a venue position of {self.instrument.qty(ev.position_lots):f} "
                f"{self.instrument.size_unit} at {self.instrument.price(entry)}"
            )
            log.warning("%s", adopted)
        self.started_ns = self.started_ns or now
        self._next_decision_ns = now
        self._next_account_check_ns = now + self._account_check_ns
        self._position_mismatches = 0
        self._set_state(
            EngineState.RUNNING, "account read; quoting" + (f" ({adopted})" if adopted else "")
        )

    def _check_position(self, now: int, venue_lots: int) -> None:
        # One disagreement can be a fill report still on its way; two in a row is drift.
        if venue_lots == self.ledger.position_lots:
            self._position_mismatches = 0
            return
        self._position_mismatches += 1
        log.warning(
            "venue position %d lots differs from the engine's %d lots",
            venue_lots,
            self.ledger.position_lots,
        )
        if self._position_mismatches >= 2 and self.state is EngineState.RUNNING:
            self._halt(
                now,
                f"position drift: venue {venue_lots} lots, engine {self.ledger.position_lots} "
                "lots on two reads in a row",
                # Closing a position we no longer know is a guess; a human decides.
                flatten=False,
            )

    # ---- stop / flatten -------------------------------------------------------------------

    def _begin_stop(self, now: int, reason: str) -> None:
        self._cancel_all(now, reason)
        if not self.orders:
            self._set_state(EngineState.STOPPED, reason)
            return
        self._stop_deadline_ns = now + int(self.settings.engine.stop_timeout_s * 1e9)
        self._set_state(EngineState.STOPPING, reason)
        self._rewake()  # a second stop while stopping moves the deadline, not the state

    def freeze(self, reason: str) -> None:
        """Shutdown in a hurry: from now on no order is placed, whatever else happens (a
        flatten under way is abandoned; a halt no longer flattens); working orders are
        cancelled and the engine stops once they are gone."""
        self._frozen = True
        self._flattener = None
        self._latency_recorded = True  # not a decision (see ``control``)
        if self.state not in (EngineState.STOPPED, EngineState.HALTED):
            self._begin_stop(self.clock.now_ns(), reason)

    def _begin_flatten(self, now: int, reason: str, after: EngineState) -> None:
        e = self.settings.engine
        if self.state is not EngineState.FLATTENING:
            self._flattener = Flattener(
                now,
                timeout_ns=int(e.flatten_timeout_s * 1e9),
                backoff_ns=int(e.flatten_backoff_ms * 1e6),
                backoff_max_ns=int(e.flatten_backoff_max_ms * 1e6),
                seed=self.seed,
            )
            self._after_flatten = after
            self._set_state(EngineState.FLATTENING, reason)
        self._cancel_all(now, reason)
        self._flatten_step(now)

    def _flatten_step(self, now: int) -> None:
        f = self._flattener
        if f is None:
            return
        pos = self.ledger.position_lots
        step = f.step(now, pos, len(self.orders), self.instrument.min_qty_lots)
        if isinstance(step, Wait):
            self._flatten_wake_ns = step.until_ns
            self._rewake()
        elif isinstance(step, CloseOrder):
            side = SELL if pos > 0 else BUY
            # Whole order steps only; a remainder below one step is dust on the next round.
            self._place(
                now,
                side,
                self.ask_ticks if side is BUY else self.bid_ticks,
                self.instrument.floor_to_step(step.qty_lots),
                order_type=OrderType.MARKET,
                reduce_only=True,
            )
            # The close order's reports call us back; the deadline is the backstop.
            self._flatten_wake_ns = f.deadline_ns
            self._rewake()
        else:
            self._finish_flatten(now, f, step, pos)

    def _finish_flatten(self, now: int, f: Flattener, step: Finished, pos: int) -> None:
        self._flattener = None
        if self.bus.active:
            self.bus.publish(FlattenFinished(now, step.outcome, pos, f.attempts, step.detail))
        if step.outcome is FlattenOutcome.TIMEOUT:
            log.error("flatten timed out: %s", step.detail)
            self.halt_reason = f"flatten timed out: {step.detail}"
            self._set_state(EngineState.HALTED, self.halt_reason)
            return
        if step.outcome is FlattenOutcome.DUST:
            log.warning("flatten finished with dust: %s", step.detail)
        self._set_state(self._after_flatten, f"flatten {step.outcome}: {step.detail}")

    def _halt(self, now: int, reason: str, *, flatten: bool = True) -> None:
        """Cancel everything, flatten if risk.flatten_on_halt, and stay HALTED."""
        self.halt_reason = reason
        log.error("halt: %s", reason)
        if (
            flatten
            and not self._frozen
            and self.settings.risk.flatten_on_halt
            and self.ledger.position_lots
        ):
            self._begin_flatten(now, reason, after=EngineState.HALTED)
            return
        self._cancel_all(now, "halt")
        self._set_state(EngineState.HALTED, reason)

    def _note_risk(self, now: int, risk: RiskDecision) -> None:
        # Logged and published when the action or the set of acting limits changes, not when
        # only the numbers in the reasons move.
        key = (risk.action, risk.limits)
        if key != self._risk_key:
            self._risk_key = key
            status = risk.summary
            level = logging.INFO if risk.action <= RiskAction.CLAMP else logging.WARNING
            log.log(level, "risk %s", status)
            if self.bus.active:
                self.bus.publish(RiskChanged(now, risk))

    def _set_state(self, state: EngineState, reason: str) -> None:
        if state is self.state:
            return
        previous, self.state = self.state, state
        self._rewake()
        log.info("engine %s → %s: %s", previous, state, reason)
        if self.bus.active:
            self.bus.publish(StateChanged(self.clock.now_ns(), state, previous, reason))

    def _set_params(self, cmd: Command) -> str:
        changes = dict(cmd.changes)
        if cmd.section == "venue" and "symbol" in changes and self.state is not EngineState.STOPPED:
            raise CommandRefusedError(
                "venue.symbol cannot change while the engine runs; stop it first"
            )
        if cmd.section not in ("strategy", "quoting"):
            raise CommandRefusedError(
                f"[{cmd.section}] cannot change at run time; only strategy and quoting can"
            )
        try:
            new = self.settings.replace(cmd.section, **changes)
        except ConfigError as exc:
            raise CommandRefusedError(str(exc)) from None
        unused = unused_size_key(new, self.instrument)
        if unused and unused != unused_size_key(self.settings, self.instrument):
            raise CommandRefusedError(unused)  # it would be "applied" and change nothing
        old_lots = self.as_params.order_lots
        self.settings = new
        s = new.strategy
        self.as_params = as_params(new, self.instrument)
        self.policy = quote_policy(new, self.instrument)
        self.decision_interval_ns = int(s.decision_interval_ms * 1e6)
        if self.as_params.order_lots != old_lots:
            self._force_replace = True
        if any(k.startswith("adverse_") for k in changes) and cmd.section == "strategy":
            self.adverse = adverse_estimator(new)
        log.info("parameters changed: %s", ", ".join(f"{k}={v}" for k, v in changes.items()))
        return "applied " + ", ".join(f"{cmd.section}.{k}={v}" for k, v in changes.items())

    # ---- reads ----------------------------------------------------------------------------

    @property
    def risk_status(self) -> str:
        """The risk guard's last verdict in one line ("allow" before any decision); built
        when read, as most decisions' verdicts are never shown."""
        return "allow" if self.last_risk is None else self.last_risk.summary

    @property
    def mark_ticks(self) -> float:
        """Where the open position is marked: the mid, or while the book is unknown after a
        feed gap, the last valid mid before it (0 before any book)."""
        return self.mid_ticks or self.last_valid_mid_ticks

    def pnl(self) -> PnlSnapshot:
        """Session PnL marked at ``mark_ticks``."""
        return self.ledger.snapshot(self.mark_ticks)

    def latency_percentiles_us(self) -> dict[str, float]:
        """Decision latency (event in → first intent out) percentiles in microseconds."""
        n = min(self.latency_count, _LATENCY_RING)
        if n == 0:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0, "count": 0}
        xs = sorted(self.latencies_ns[:n])
        return {
            "p50": xs[n // 2] / 1e3,
            "p99": xs[min(n - 1, int(n * 0.99))] / 1e3,
            "max": xs[-1] / 1e3,
            "count": self.latency_count,
        }
