"""An immutable picture of the engine for readers that poll (the console).

The console pulls one snapshot per paint instead of consuming every bus event, so updates
coalesce by construction: however many book changes happened since the last paint, the
reader sees only the newest state. Taking a snapshot copies a few small structures and is
cheap enough to do ten times a second next to a running engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from tradetui.core.accounting import PnlSnapshot
from tradetui.core.types import Level, Side
from tradetui.engine.engine import Engine
from tradetui.engine.events import EngineState
from tradetui.ml.filter import MlStatus
from tradetui.strategy.avellaneda import QuoteDecision

# Decision latency p99 is read over this many most recent samples, so a snapshot never sorts
# the engine's whole latency ring.
_LATENCY_WINDOW = 2048

QueueAhead = Callable[[], Mapping[str, float]]
"""Client id → estimated size queued ahead of our order (lots), e.g. from a sim venue."""


@dataclass(frozen=True, slots=True)
class WorkingQuote:
    """One of our working orders (ticks, lots, ns).

    ``touch_distance_ticks``: ticks behind our side's best market price (negative = inside the
    spread); ``level_lots``: market size displayed at our price; ``queue_ahead_lots``: the
    venue's estimate of size ahead of us, None when the venue gives none.
    """

    client_id: str
    side: Side
    price_ticks: int
    qty_lots: int
    leaves_lots: int
    age_ns: int
    touch_distance_ticks: int
    queue_ahead_lots: float | None
    level_lots: int
    acked: bool
    cancel_pending: bool
    reduce_only: bool
    # A placement or cancel whose outcome the venue is still asking the exchange about.
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """Everything the console shows, at one instant ``ts_ns`` of the engine's clock (ns).

    ``session_ns`` is the time since the engine first started (0 before); rates per minute
    are over that time. ``bids``/``asks`` are the best levels, best first. ``ml`` is the ML
    filter's state (None when the filter is off). ``markouts`` are the fills' markouts so far,
    per horizon, as core/metrics.py defines them (``MarkoutTracker.summary``).
    """

    ts_ns: int
    session_ns: int
    state: EngineState
    halt_reason: str
    risk_status: str
    venue: str
    symbol: str
    base: str  # the base asset (BTC for BTCUSDT and BTCUSD_PERP)
    size_unit: str  # what sizes count: the base asset, or contracts (inverse contracts)
    quote: str  # the quote asset (USDT; USD for COIN-M); money is in pnl.settle
    tick_size: float
    lot_size: float
    # The order size step (Binance's LOT_SIZE stepSize): lot_size, or coarser on spot, whose
    # books count in 1e-8 of the base asset; the console shows sizes to its decimals.
    size_step: float
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    best_bid_ticks: int
    best_ask_ticks: int
    quotes: tuple[WorkingQuote, ...]
    position_lots: int
    max_position_lots: int
    pnl: PnlSnapshot
    decision: QuoteDecision | None
    requote_reason: str
    fills: int
    orders_placed: int
    orders_cancelled: int
    orders_rejected: int
    fills_per_min: float
    cancels_per_min: float
    decision_latency_p99_us: float
    market_events: int
    ml: MlStatus | None = None
    markouts: Mapping[str, Mapping[str, Decimal | float | int]] = field(default_factory=dict)

    @property
    def mid_ticks(self) -> float:
        """Mid of the engine's touch in ticks (0 before the first book)."""
        if not self.best_bid_ticks or not self.best_ask_ticks:
            return 0.0
        return (self.best_bid_ticks + self.best_ask_ticks) * 0.5

    @property
    def inventory_pct(self) -> float:
        """|position| as a percentage of the position limit."""
        if self.max_position_lots <= 0:
            return 0.0
        return 100.0 * abs(self.position_lots) / self.max_position_lots


def recent_latency_p99_us(engine: Engine, window: int = _LATENCY_WINDOW) -> float:
    """p99 of the last ``window`` decision latencies, in microseconds (0 with no samples)."""
    ring = engine.latencies_ns
    n = min(engine.latency_count, window, len(ring))
    if n == 0:
        return 0.0
    end = engine.latency_count % len(ring)
    start = end - n
    xs = sorted(ring[start:end] if start >= 0 else ring[start:] + ring[:end])
    return xs[min(n - 1, int(n * 0.99))] / 1e3


def take_snapshot(
    engine: Engine, depth_levels: int, queue_ahead: QueueAhead | None = None
) -> EngineSnapshot:
    """Copy the engine's visible state, with ``depth_levels`` book levels per side."""
    now = engine.clock.now_ns()
    bid, ask = engine.bid_ticks, engine.ask_ticks
    ahead = queue_ahead() if queue_ahead is not None else {}
    quotes = tuple(
        WorkingQuote(
            client_id=o.client_id,
            side=o.side,
            price_ticks=o.price_ticks,
            qty_lots=o.qty_lots,
            leaves_lots=o.leaves_lots,
            age_ns=now - o.placed_ns,
            touch_distance_ticks=(bid - o.price_ticks)
            if o.side is Side.BUY
            else (o.price_ticks - ask),
            queue_ahead_lots=ahead.get(o.client_id),
            level_lots=engine.book.qty_at(o.side, o.price_ticks),
            acked=o.acked,
            cancel_pending=o.cancel_pending,
            reduce_only=o.reduce_only,
            unknown=o.unknown,
        )
        for o in sorted(engine.orders.values(), key=lambda o: -o.price_ticks)
    )
    running_s = (now - engine.started_ns) / 1e9 if engine.started_ns else 0.0
    minutes = running_s / 60.0
    return EngineSnapshot(
        ts_ns=now,
        session_ns=now - engine.started_ns if engine.started_ns else 0,
        state=engine.state,
        halt_reason=engine.halt_reason,
        # Risk guard verdict ("allow" or "action: reasons"); empty for engines without one.
        risk_status=str(getattr(engine, "risk_status", "")),
        venue=str(getattr(engine.venue, "name", "?")),
        symbol=engine.instrument.symbol,
        base=engine.instrument.base,
        size_unit=engine.instrument.size_unit,
        quote=engine.instrument.quote,
        tick_size=engine.instrument.tick,
        lot_size=engine.instrument.lot,
        size_step=engine.instrument.lot * engine.instrument.step_lots,
        bids=tuple(engine.book.levels(Side.BUY, depth_levels)),
        asks=tuple(engine.book.levels(Side.SELL, depth_levels)),
        best_bid_ticks=bid,
        best_ask_ticks=ask,
        quotes=quotes,
        position_lots=engine.ledger.position_lots,
        # The guard's tightest limit at this mid (quote and coin limits move with the price).
        max_position_lots=engine.guard.position_limit_lots(engine.mid_ticks)
        or engine.as_params.max_position_lots,
        pnl=engine.pnl(),
        decision=engine.last_decision,
        requote_reason=engine.last_requote_reason,
        fills=engine.fills,
        orders_placed=engine.orders_placed,
        orders_cancelled=engine.orders_cancelled,
        orders_rejected=engine.orders_rejected,
        fills_per_min=engine.fills / minutes if minutes > 0 else 0.0,
        cancels_per_min=engine.orders_cancelled / minutes if minutes > 0 else 0.0,
        decision_latency_p99_us=recent_latency_p99_us(engine),
        market_events=engine.market_events,
        ml=engine.ml.status() if engine.ml is not None else None,
        markouts=engine.markouts.summary(),
    )
