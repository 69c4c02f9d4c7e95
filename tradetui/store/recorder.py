"""Engine events → store rows, for one session (a bus subscriber; never blocks).

Mids are stored as integer half-ticks (``mid_half_ticks = bid_ticks + ask_ticks``) so they are
exact; 0 means no book. Each row gets a per-session sequence number, which keeps rows unique
and replay idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from tradetui.core.accounting import PnlSnapshot
from tradetui.core.money import dumps
from tradetui.core.types import Fill
from tradetui.engine.events import (
    DecisionMade,
    EngineEvent,
    FillRecorded,
    FlattenFinished,
    MarketEnded,
    ModelDrift,
    ModelReloaded,
    OrderStatus,
    OrderUpdate,
    RiskChanged,
    StateChanged,
)
from tradetui.store.rows import Kind, Row
from tradetui.venues.latency import RequestTiming


def half_ticks(mid_ticks: float) -> int:
    """A mid in ticks (a multiple of 0.5) as integer half-ticks; 0 when there is no book."""
    return round(mid_ticks * 2) if mid_ticks > 0 else 0


class SessionRecorder:
    """Turns engine events into rows for ``sink`` (normally ``StoreWriter.put``).

    ``mid_ticks`` and ``pnl`` read the engine at the moment an event is published (the bus is
    synchronous); a fill row carries the mid the ledger booked it at (``FillRecorded``).
    """

    def __init__(
        self,
        session_id: int,
        venue: str,
        fee_asset: str,
        sink: Callable[[Row], None],
        mid_ticks: Callable[[], float],
        pnl: Callable[[], PnlSnapshot],
        snapshot_interval_ns: int = 1_000_000_000,
    ) -> None:
        self.session_id = session_id
        self.venue = venue
        self.fee_asset = fee_asset
        self.sink = sink
        self.mid_ticks = mid_ticks
        self.pnl = pnl
        self.snapshot_interval_ns = snapshot_interval_ns
        self._seq = 0
        self._next_snapshot_ns = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def on_event(self, ev: EngineEvent) -> None:
        """Bus callback."""
        if isinstance(ev, DecisionMade):
            self.mark(ev.ts_ns, half_ticks(ev.decision.mid_ticks))
        elif isinstance(ev, FillRecorded):
            self._fill(ev)
        elif isinstance(ev, OrderUpdate):
            self._order(ev)
        elif isinstance(ev, StateChanged):
            self.event(ev.ts_ns, "state", str(ev.state), f"{ev.previous} → {ev.state}: {ev.reason}")
        elif isinstance(ev, RiskChanged):
            self.event(ev.ts_ns, "risk", ev.risk.action.name.lower(), ev.risk.summary)
        elif isinstance(ev, FlattenFinished):
            detail = f"{ev.outcome}: {ev.detail} (position {ev.position_lots} lots)"
            self.event(ev.ts_ns, "flatten", ev.outcome, detail)
        elif isinstance(ev, ModelDrift):
            self.event(ev.ts_ns, "ml", "drifting" if ev.drifting else "ok", ev.summary)
        elif isinstance(ev, ModelReloaded):
            self.event(ev.ts_ns, "ml", "reloaded", ev.detail)
        elif isinstance(ev, MarketEnded):
            self.event(ev.ts_ns, "market", "ended", ev.detail)

    def mark(self, ts_ns: int, mid_half_ticks: int) -> None:
        """Store one mid, and a position/equity snapshot when one is due."""
        sid = self.session_id
        self.sink((Kind.MARK, (sid, self._next(), ts_ns, mid_half_ticks)))
        if ts_ns >= self._next_snapshot_ns:
            self.snapshot(ts_ns)

    def snapshot(self, ts_ns: int) -> None:
        """Store the position and PnL now."""
        self._next_snapshot_ns = ts_ns + self.snapshot_interval_ns
        p = self.pnl()
        params = (
            self.session_id,
            self._next(),
            ts_ns,
            p.position_lots,
            half_ticks(self.mid_ticks()),
            float(p.realized),
            float(p.unrealized),
            float(p.fees),
            float(p.rebates),
            float(p.total),
        )
        self.sink((Kind.SNAPSHOT, params))

    def event(self, ts_ns: int, kind: str, state: str, detail: str) -> None:
        """Store an engine or store event (halts, flatten outcomes, errors)."""
        self.sink((Kind.EVENT, (self.session_id, self._next(), ts_ns, kind, state, detail)))

    def request(self, t: RequestTiming) -> None:
        """Store one order request's times (a live venue's ``on_request``)."""
        params = (
            self.session_id,
            t.client_id,
            t.kind,
            t.sent_ns,
            t.answered_ns,
            t.exchange_ns,
            t.offset_ns,
            t.outcome,
            t.stream_ns,
            t.stream_exchange_ns,
        )
        self.sink((Kind.ORDER_REQUEST, params))

    def finish(
        self, ts_ns: int, end_state: str, summary: dict[str, Any], wall_ns: int | None = None
    ) -> None:
        """Store the final mid, a last snapshot and the session end (the mark reports value
        at): ``ts_ns`` on the session's clock, ``wall_ns`` on the wall clock (default now)."""
        self.mark(ts_ns, half_ticks(self.mid_ticks()))
        self.snapshot(ts_ns)
        summary_json = dumps(summary, sort_keys=True)
        wall = time.time_ns() if wall_ns is None else wall_ns
        self.sink((Kind.SESSION_END, (wall, end_state, summary_json, ts_ns, self.session_id)))

    def recovered(self, fills: Sequence[Fill], position_lots: int, ts_ns: int) -> None:
        """Store fills made while no session ran, flagged recovered, in exchange-time order;
        each row's position counts on from ``position_lots`` (the store's position after its
        last fill), and no mid is known (0). One event row lists them."""
        position = position_lots
        for f in sorted(fills, key=lambda f: f.exch_ns):
            position += int(f.side) * f.qty_lots
            self.sink((Kind.RECOVERED_FILL, self._fill_params(f, 0, position)))
        ids = ", ".join(f.trade_id for f in fills)
        self.event(ts_ns, "recovery", "recovered", f"{len(fills)} fill(s) made while down: {ids}")

    def _fill(self, ev: FillRecorded) -> None:
        params = self._fill_params(ev.fill, half_ticks(ev.mid_ticks), ev.position_lots)
        self.sink((Kind.FILL, params))

    def _fill_params(self, f: Fill, mid_half_ticks: int, position_lots: int) -> tuple[Any, ...]:
        """A fills row (rows.SQL[Kind.FILL] and [Kind.RECOVERED_FILL] take the same)."""
        return (
            self.session_id,
            self._next(),
            self.venue,
            f.trade_id,
            f.client_id,
            int(f.side),
            f.price_ticks,
            f.qty_lots,
            f.leaves_lots,
            f.fee,
            self.fee_asset,
            int(f.is_maker),
            f.exch_ns,
            f.local_ns,
            mid_half_ticks,
            position_lots,
            f.fee_asset or None,
            f.fee_charged or None,
            f.fee_rate if f.fee_asset else None,
            # When it was recorded on the wall clock (local_ns is the session clock's time,
            # minutes ahead in a fast run): what `fills --since` filters on.
            time.time_ns(),
        )

    def _order(self, ev: OrderUpdate) -> None:
        sid = self.session_id
        status = str(ev.status)
        if ev.status is OrderStatus.SENT:
            params: tuple[Any, ...] = (
                sid,
                ev.client_id,
                int(ev.side),
                ev.price_ticks,
                ev.qty_lots,
                str(ev.order_type),
                int(ev.post_only),
                int(ev.reduce_only),
                ev.ts_ns,
                status,
                ev.ts_ns,
            )
            self.sink((Kind.ORDER_NEW, params))
        else:
            self.sink((Kind.ORDER_STATUS, (status, ev.ts_ns, sid, ev.client_id)))
        self.sink(
            (Kind.ORDER_EVENT, (sid, self._next(), ev.ts_ns, ev.client_id, status, ev.reason))
        )
