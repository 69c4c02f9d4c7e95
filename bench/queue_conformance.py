"""Queue conformance: one fixed script of orders through hftbacktest and through our sim venue,
matched order by order (prints one JSON object).

The script comes from the recording alone, the same for both sides: every ``--every`` seconds
(from ``--warmup`` seconds into the file, at half a millisecond so no order arrives at the same
instant as a market message), four post-only orders of one lot (0.001 BTC): a bid and an ask at
the touch and a bid and an ask ``--behind`` ticks behind it, the touch read off the book as it
stood at that exchange time; each is cancelled ``--cancel-after`` seconds later. Orders and
cancels travel 5 ms to the exchange and reports 5 ms back on both sides (constant latency), and
no two orders of the script share a price at the same time, so each order's queue is its own.

One lot, because hftbacktest 2.4.4's ``partial_fill_exchange`` cannot be used as a reference: a
trade at our price fills the whole executable amount accumulated so far (not what this trade
adds), and an order whose executable amount equals what it has left is marked filled but left
in the book, so the next trade there fails with ``InvalidOrderStatus`` (error 14) and the
backtest stops moving. ``no_partial_fill_exchange`` fills an order whole once the queue ahead
of it is passed, which for a one-lot order is exactly the partial-fill rule (and the minimum
notional is lifted on our side so a one-lot order is accepted). Where an order stands in its
queue does not depend on its size, so the first-fill time of a one-lot order is that of any
order at its place.

Ours: ``SimVenue`` driven as a backtest drives it (its ``run``, the script's actions as timers;
no strategy, no risk guard) over the cached decoded recording, stale bookTickers dropped as a
backtest does. Theirs: the file converted by hftbacktest's Binance futures converter, run on
``HashMapMarketDepthBacktest`` with ``no_partial_fill_exchange``, constant 5 ms order latency
and the matching queue model. Two pairs run: ``proportional`` (ours) with
``power_prob_queue_model(1.0)`` (theirs: f(x) = x, so the cut ahead of us is decrease × ahead /
(ahead + behind), the same rule), and ``risk_averse`` with ``risk_adverse_queue_model``. Ours
runs with bookTickers (``with_bookticker``, as our backtests do) and without them
(``depth_only``, what hftbacktest's converter keeps); a disagreement that the depth-only run
does not have is put down to the bookTickers.

``as_backtest_orders`` replays, the same way and as one-lot orders, the post-only orders our
AS strategy sends in a backtest of the file (default settings, and with the fee floor off),
with their own send and cancel times: whether hftbacktest fills the orders our strategy
places as our venue does.

For each comparison: orders accepted, refused and filled on each side and the fill rate, the
orders filled on one side only, the difference in first-fill exchange time (ours − theirs) and
in fill price over the orders both filled, and every order where the two disagree, counted by
cause (``_explain``). Findings: docs/queue.md.

    /tmp/hbt/bin/python bench/queue_conformance.py [FILE] [--every S] [--cancel-after S]

hftbacktest is a bench-only tool, not a project dependency; it pins its own numpy, so give it a
venv of its own: ``python -m venv /tmp/hbt && /tmp/hbt/bin/pip install -e . hftbacktest`` and
run this file with ``/tmp/hbt/bin/python``. Without it (or without the data file) the bench
prints a ``skipped`` reason.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradetui.backtest.run import run_backtest
from tradetui.config import Settings
from tradetui.core.clock import VirtualClock
from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    BUY,
    SELL,
    AccountEvent,
    BestBidOffer,
    CancelOrder,
    Fill,
    MarketEvent,
    OrderRejected,
    PlaceOrder,
    Side,
    Trade,
)
from tradetui.engine.engine import Engine
from tradetui.market.cache import load_events
from tradetui.market.files import ReplayError
from tradetui.market.instruments import (
    add_flag_arguments,
    flags_from_arguments,
    infer_instrument,
)
from tradetui.market.replay import drop_stale_bbo
from tradetui.matching.engine import MatchingConfig, MatchingEngine
from tradetui.matching.queue import QueueModel
from tradetui.venues.sim import SimLatency, SimVenue
from tradetui.venues.simtime import exchange_order

DEFAULT = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "binance-usdm"
) / "btcusdt_20240808.gz"
_NS_PER_S = 1_000_000_000
_NS_PER_MS = 1_000_000
LATENCY_NS = 5 * _NS_PER_MS
# After the last cancel: time for its report to come back.
_TAIL_NS = _NS_PER_S
# hftbacktest's side reads its orders every millisecond of its clock: fills of one order within
# one such step are seen as one (lots and the last one's time).
_POLL_NS = _NS_PER_MS


def _skip(file: Path, why: str) -> None:
    print(json.dumps({"bench": "queue_conformance", "file": file.name, "skipped": why}))


@dataclass(frozen=True, slots=True)
class ScriptOrder:
    """One order of the script: placed at ``place_ns``, cancelled at ``cancel_ns`` (the
    sender's clock; each reaches the exchange ``LATENCY_NS`` later)."""

    oid: int
    side: Side
    price_ticks: int
    lots: int
    place_ns: int
    cancel_ns: int
    behind: int  # ticks behind the touch when the script was written (-1: not known)


@dataclass(slots=True)
class Outcome:
    """What one side did with one order: fills at exchange time (ns, lots, price ticks)."""

    rejected: bool = False
    fills: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def lots(self) -> int:
        return sum(f[1] for f in self.fills)

    @property
    def first_ns(self) -> int:
        return self.fills[0][0]

    @property
    def avg_price(self) -> float:
        return sum(f[1] * f[2] for f in self.fills) / self.lots


def write_script(
    events: Iterable[MarketEvent],
    inst: Instrument,
    *,
    every_ns: int,
    cancel_after_ns: int,
    warmup_ns: int,
    lots: int,
    behind: int,
) -> list[ScriptOrder]:
    """The script over ``events`` (receive order): four orders every ``every_ns`` at the
    touch and ``behind`` ticks behind it, as the book stood at each round's exchange time."""
    market = list(events)
    end_ns = max(ev.exch_ns for ev in market[-64:])
    tracker = MatchingEngine(inst, MatchingConfig())  # the market book; no orders of ours
    book = tracker.book
    start_ms = (market[0].exch_ns + warmup_ns) // _NS_PER_MS
    t = start_ms * _NS_PER_MS + _NS_PER_MS // 2
    orders: list[ScriptOrder] = []
    for ev in exchange_order(market):
        while ev.exch_ns > t and t + cancel_after_ns + LATENCY_NS < end_ns:
            bid, ask = book.bid_ticks, book.ask_ticks
            if 0 < bid < ask:
                for d in (0, behind):
                    for side, px in ((BUY, bid - d), (SELL, ask + d)):
                        orders.append(
                            ScriptOrder(len(orders) + 1, side, px, lots, t, t + cancel_after_ns, d)
                        )
            t += every_ns
        tracker.on_market(ev, ev.exch_ns)
    return orders


# ---- ours ----------------------------------------------------------------------------------


class _ScriptTrader:
    """What ``SimVenue.run`` drives in place of the engine: a timer at each action of the
    script sends it; every fill and reject delivered is recorded."""

    def __init__(self, venue: SimVenue, script: list[ScriptOrder]) -> None:
        self._venue = venue
        actions = [(o.place_ns, 0, o) for o in script] + [(o.cancel_ns, 1, o) for o in script]
        actions.sort(key=lambda a: (a[0], a[1], a[2].oid))
        self._actions = actions
        self._next = 0
        self.end_ns = actions[-1][0] + _TAIL_NS
        self.out = {o.oid: Outcome() for o in script}

    @property
    def wakeup_ns(self) -> int | None:
        return self._actions[self._next][0] if self._next < len(self._actions) else None

    def on_timer(self) -> None:
        t, kind, o = self._actions[self._next]
        self._next += 1
        if kind == 0:
            intent: PlaceOrder | CancelOrder = PlaceOrder(
                client_id=str(o.oid),
                side=o.side,
                price_ticks=o.price_ticks,
                qty_lots=o.lots,
                post_only=True,
                created_ns=t,
            )
        else:
            intent = CancelOrder(client_id=str(o.oid), created_ns=t)
        self._venue.submit(intent)

    def on_event(self, ev: MarketEvent | AccountEvent) -> None:
        if type(ev) is Fill:
            self.out[int(ev.client_id)].fills.append((ev.exch_ns, ev.qty_lots, ev.price_ticks))
        elif type(ev) is OrderRejected:
            self.out[int(ev.client_id)].rejected = True


def run_ours(
    inst: Instrument,
    events: list[MarketEvent],
    script: list[ScriptOrder],
    model: QueueModel,
) -> dict[int, Outcome]:
    """``script`` through our SimVenue over ``events``, driven as a backtest drives it (the
    venue's ``run`` with the script's actions as timers); each order's outcome by id."""
    clock = VirtualClock(min(events[0].exch_ns, events[0].local_ns))
    latency = SimLatency(entry_ns=LATENCY_NS, ack_ns=LATENCY_NS, cancel_ns=LATENCY_NS)
    venue = SimVenue(inst, events, latency, MatchingConfig(queue_model=model), clock)
    trader = _ScriptTrader(venue, script)
    venue.run(trader, clock, trader.end_ns)  # type: ignore[arg-type]
    return trader.out


def backtest_script(
    inst: Instrument, events: list[MarketEvent], settings: Settings
) -> list[ScriptOrder]:
    """The post-only orders a backtest of ``settings`` sends (when, side, price, and when it
    cancels each), as a script of one-lot orders; one never cancelled lives to the end."""
    sent: list[tuple[int, PlaceOrder | CancelOrder]] = []

    def capture(engine: Engine, _bus: object) -> None:
        submit = engine.venue.submit

        def record(intent: Any) -> None:
            if type(intent) is PlaceOrder or type(intent) is CancelOrder:
                sent.append((engine.clock.now_ns(), intent))
            submit(intent)

        engine.venue.submit = record  # type: ignore[method-assign]  # a recording wrapper

    run_backtest(settings, inst, events, on_engine=capture)
    end_ns = max(ev.exch_ns for ev in events[-64:])
    cancels: dict[str, int] = {}
    for t, intent in sent:
        if type(intent) is CancelOrder:
            cancels.setdefault(intent.client_id, t)
    script: list[ScriptOrder] = []
    for t, intent in sent:
        if type(intent) is PlaceOrder and intent.post_only:
            cancel_ns = cancels.get(intent.client_id, end_ns)
            script.append(
                ScriptOrder(len(script) + 1, intent.side, intent.price_ticks, 1, t, cancel_ns, -1)
            )
    return script


# ---- theirs --------------------------------------------------------------------------------


def convert(path: Path) -> Any:
    """``path`` in hftbacktest's form, by its own Binance futures converter."""
    from hftbacktest.data.utils import binancefutures

    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its progress
        return binancefutures.convert(str(path))


def run_theirs(
    data: Any, inst: Instrument, script: list[ScriptOrder], models: list[str]
) -> dict[str, dict[int, Outcome]]:
    """``script`` through hftbacktest over ``data`` (``convert``), once per queue model."""
    import numpy as np
    from hftbacktest import GTX, LIMIT, BacktestAsset, HashMapMarketDepthBacktest
    from numba import njit

    tick, lot = inst.tick, inst.lot
    actions = sorted(
        [(o.place_ns, 0, o) for o in script] + [(o.cancel_ns, 1, o) for o in script],
        key=lambda a: (a[0], a[1], a[2].oid),
    )
    act_t = np.array([a[0] for a in actions], dtype=np.int64)
    act_kind = np.array([a[1] for a in actions], dtype=np.int64)
    act_oid = np.array([a[2].oid for a in actions], dtype=np.int64)
    n_orders = len(script)
    side = np.zeros(n_orders + 1, dtype=np.int64)
    price = np.zeros(n_orders + 1, dtype=np.float64)
    qty = np.zeros(n_orders + 1, dtype=np.float64)
    for o in script:
        side[o.oid] = int(o.side)
        price[o.oid] = o.price_ticks * tick
        qty[o.oid] = o.lots * lot
    max_fills = 64

    @njit  # type: ignore[untyped-decorator]
    def play(
        hbt: Any, end_ns: int, fill_ns: Any, fill_lots: Any, fill_px: Any, n_fill: Any, rej: Any
    ) -> None:
        """Run the actions; record each order's fills (exchange time, lots, price tick)."""
        done_lots = np.zeros(n_orders + 1, dtype=np.int64)
        final = np.zeros(n_orders + 1, dtype=np.bool_)
        lo, hi, i, n = 1, 0, 0, len(act_t)
        hbt.elapse(1)  # the clock reads the first row's time only once it has moved
        while True:
            now = hbt.current_timestamp
            if i < n and now >= act_t[i]:
                oid = act_oid[i]
                if act_kind[i] == 0:
                    hi = oid
                    if side[oid] > 0:
                        hbt.submit_buy_order(0, oid, price[oid], qty[oid], GTX, LIMIT, False)
                    else:
                        hbt.submit_sell_order(0, oid, price[oid], qty[oid], GTX, LIMIT, False)
                else:
                    o = hbt.orders(0).get(oid)
                    if o is not None and o.cancellable:
                        hbt.cancel(0, oid, False)
                i += 1
                continue
            until = act_t[i] if i < n else end_ns
            if now >= until:
                break
            r = hbt.elapse(min(_POLL_NS, until - now))
            orders = hbt.orders(0)
            for oid in range(lo, hi + 1):
                if final[oid]:
                    continue
                o = orders.get(oid)
                if o is None:
                    continue
                filled = round((o.qty - o.leaves_qty) / lot)
                if filled > done_lots[oid] and n_fill[oid] < max_fills:
                    k = n_fill[oid]
                    fill_ns[oid, k] = o.exch_timestamp
                    fill_lots[oid, k] = filled - done_lots[oid]
                    fill_px[oid, k] = o.exec_price_tick
                    n_fill[oid] = k + 1
                    done_lots[oid] = filled
                if o.status == 2 and filled == 0:  # EXPIRED: GTX would have crossed
                    rej[oid] = True
                if o.status == 2 or o.status == 3 or o.status == 4:  # expired, filled, cancelled
                    final[oid] = True
            while lo <= hi and final[lo]:
                lo += 1
            if r == 1:
                break

    builders = {
        "proportional": lambda a: a.power_prob_queue_model(1.0),
        "risk_averse": lambda a: a.risk_adverse_queue_model(),
    }
    out: dict[str, dict[int, Outcome]] = {}
    for name in models:
        asset = builders[name](
            BacktestAsset()
            .data([data])
            .linear_asset(1.0)
            .constant_order_latency(LATENCY_NS, LATENCY_NS)
        )
        asset = asset.no_partial_fill_exchange().tick_size(tick).lot_size(lot)
        asset = asset.last_trades_capacity(0)
        hbt = HashMapMarketDepthBacktest([asset])
        fill_ns = np.zeros((n_orders + 1, max_fills), dtype=np.int64)
        fill_lots = np.zeros((n_orders + 1, max_fills), dtype=np.int64)
        fill_px = np.zeros((n_orders + 1, max_fills), dtype=np.int64)
        n_fill = np.zeros(n_orders + 1, dtype=np.int64)
        rej = np.zeros(n_orders + 1, dtype=np.bool_)
        play(hbt, int(act_t[-1]) + _TAIL_NS, fill_ns, fill_lots, fill_px, n_fill, rej)
        hbt.close()
        out[name] = {
            o.oid: Outcome(
                rejected=bool(rej[o.oid]),
                fills=[
                    (int(fill_ns[o.oid, k]), int(fill_lots[o.oid, k]), int(fill_px[o.oid, k]))
                    for k in range(int(n_fill[o.oid]))
                ],
            )
            for o in script
        }
    return out


# ---- what the market did to each order -----------------------------------------------------


@dataclass(slots=True)
class Life:
    """The market during one order's life at the exchange (arrival to cancel arrival)."""

    queue_lots: int = 0  # displayed size at our price on arrival
    at_lots: int = 0  # traded at our price, aggressor against us
    through: int = 0  # trades strictly through our price
    depth_cross_ns: int | None = None  # the depth stream put the opposite touch at our price
    bbo_cross_ns: int | None = None  # a bookTicker did
    same_t_book_first: int = 0  # trades at our price received after a book update of their T


def market_lives(
    events: list[MarketEvent], inst: Instrument, script: list[ScriptOrder]
) -> dict[int, Life]:
    """What the market did during each order's life, read in the exchange's order."""
    tracker = MatchingEngine(inst, MatchingConfig())
    book = tracker.book
    lives = {o.oid: Life() for o in script}
    by_arrival = sorted(script, key=lambda o: o.place_ns)
    nxt, active = 0, []
    # Trades received after a book update of their own T (hftbacktest's stable sort by T
    # keeps that order; ours puts the trade first).
    late: set[int] = set()
    book_ts: set[int] = set()
    for ev in events:
        if type(ev) is Trade:
            if ev.exch_ns in book_ts:
                late.add(id(ev))
        else:
            book_ts.add(ev.exch_ns)
    for ev in exchange_order(events):
        t = ev.exch_ns
        while nxt < len(by_arrival) and by_arrival[nxt].place_ns + LATENCY_NS < t:
            o = by_arrival[nxt]
            lives[o.oid].queue_lots = book.qty_at(o.side, o.price_ticks)
            active.append(o)
            nxt += 1
        active = [o for o in active if o.cancel_ns + LATENCY_NS >= t]
        tracker.on_market(ev, t)
        for o in active:
            life = lives[o.oid]
            if type(ev) is Trade:
                if ev.aggressor is not o.side:
                    diff = (ev.price_ticks - o.price_ticks) * o.side
                    if diff == 0:
                        life.at_lots += ev.qty_lots
                        life.same_t_book_first += id(ev) in late
                    elif diff < 0:
                        life.through += 1
                continue
            opp = book.ask_ticks if o.side is BUY else book.bid_ticks
            if opp and (opp - o.price_ticks) * o.side <= 0:
                if type(ev) is BestBidOffer:
                    if life.bbo_cross_ns is None:
                        life.bbo_cross_ns = t
                elif life.depth_cross_ns is None:
                    life.depth_cross_ns = t
    return lives


def _same(a: Outcome, b: Outcome) -> bool:
    return (
        a.rejected == b.rejected and a.lots == b.lots and (not a.lots or a.first_ns == b.first_ns)
    )


def _explain(life: Life, ours: Outcome, theirs: Outcome, depth_only: Outcome | None) -> str:
    """Why ours and theirs disagree on one order. ``depth_only``: ours without bookTicker
    messages; when it agrees with theirs, the bookTickers made the difference."""
    if depth_only is not None and _same(depth_only, theirs):
        if ours.rejected:
            return "bookTicker: the touch had reached our price by arrival, post-only refused"
        if theirs.rejected:
            return "bookTicker: the touch had left our price by arrival, post-only accepted"
        if ours.lots and (not theirs.lots or ours.first_ns < theirs.first_ns):
            if ours.first_ns == life.bbo_cross_ns:
                return "bookTicker: showed the opposite touch at our price first, ours earlier"
            return "bookTicker: more size changes seen at our level, queue cut sooner, ours earlier"
        return "bookTicker: more size changes seen at our level, ours later or unfilled"
    if ours.rejected != theirs.rejected:
        return "post-only refused on one side only"
    if (
        life.same_t_book_first
        and theirs.lots
        and (not ours.lots or theirs.first_ns < ours.first_ns)
    ):
        return "a trade received after its own book update (same T): hftbacktest counts it twice"
    return "other"


def compare(
    script: list[ScriptOrder],
    lives: dict[int, Life],
    ours: dict[int, Outcome],
    theirs: dict[int, Outcome],
    depth_only: dict[int, Outcome] | None = None,
) -> dict[str, Any]:
    """Order-by-order match of our run of ``script`` with hftbacktest's."""

    def side_summary(runs: dict[int, Outcome]) -> dict[str, Any]:
        accepted = [o for o in script if not runs[o.oid].rejected]
        filled = [o for o in accepted if runs[o.oid].lots]
        summary = {
            "accepted": len(accepted),
            "rejected": len(script) - len(accepted),
            "filled": len(filled),
            "fill_rate": round(len(filled) / len(accepted), 4) if accepted else 0.0,
        }
        if script and script[0].behind >= 0:
            summary["filled_at_touch"] = sum(1 for o in filled if o.behind == 0)
            summary["filled_behind"] = sum(1 for o in filled if o.behind > 0)
        return summary

    both = [o for o in script if ours[o.oid].lots and theirs[o.oid].lots]
    dt_ms = sorted((ours[o.oid].first_ns - theirs[o.oid].first_ns) / _NS_PER_MS for o in both)
    differ = [o for o in script if not _same(ours[o.oid], theirs[o.oid])]
    causes = Counter(
        _explain(
            lives[o.oid],
            ours[o.oid],
            theirs[o.oid],
            None if depth_only is None else depth_only[o.oid],
        )
        for o in differ
    )

    def q(p: float) -> float | None:
        return round(dt_ms[min(len(dt_ms) - 1, int(p * len(dt_ms)))], 1) if dt_ms else None

    return {
        "ours": side_summary(ours),
        "hftbacktest": side_summary(theirs),
        "orders_identical": len(script) - len(differ),
        "filled_both": len(both),
        "filled_ours_only": sum(1 for o in script if ours[o.oid].lots and not theirs[o.oid].lots),
        "filled_theirs_only": sum(1 for o in script if theirs[o.oid].lots and not ours[o.oid].lots),
        "first_fill_ms_ours_minus_theirs": {
            "same_ms": sum(1 for d in dt_ms if abs(d) < 1.0),
            "ours_earlier": sum(1 for d in dt_ms if d <= -1.0),
            "ours_later": sum(1 for d in dt_ms if d >= 1.0),
            "median": q(0.5),
            "p10": q(0.1),
            "p90": q(0.9),
        },
        "fill_price_diff_ticks_max": max(
            (abs(ours[o.oid].avg_price - theirs[o.oid].avg_price) for o in both), default=0.0
        ),
        "disagreements_by_cause": dict(causes.most_common()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--every", type=float, default=2.0, help="seconds between rounds")
    ap.add_argument("--cancel-after", type=float, default=1.5, help="order life, seconds")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds before the first round")
    ap.add_argument("--behind", type=int, default=1, help="ticks behind the touch, 2nd pair")
    add_flag_arguments(ap)
    args = ap.parse_args()
    if not args.cancel_after < args.every:
        sys.exit("error: --cancel-after must be shorter than --every (orders would share prices)")
    if not args.file.exists():
        _skip(args.file, f"data file not found: {args.file}")
        return
    try:
        inst = infer_instrument([args.file], flags_from_arguments(args)).instrument
    except ReplayError as exc:
        sys.exit(f"error: {exc}")
    try:
        import hftbacktest
        import numba  # noqa: F401
    except ImportError as exc:
        _skip(args.file, f"hftbacktest is not installed ({exc}); see this file's docstring")
        return
    events = list(drop_stale_bbo(load_events([args.file], inst)[0]))
    real_inst = inst
    inst = dataclasses.replace(inst, min_notional=Decimal(0))  # one-lot orders (see above)
    depth_only = [ev for ev in events if type(ev) is not BestBidOffer]
    script = write_script(
        depth_only,
        inst,
        every_ns=int(args.every * _NS_PER_S),
        cancel_after_ns=int(args.cancel_after * _NS_PER_S),
        warmup_ns=int(args.warmup * _NS_PER_S),
        lots=1,
        behind=args.behind,
    )
    lives = market_lives(events, inst, script)
    models = ["proportional", "risk_averse"]
    data = convert(args.file)
    theirs = run_theirs(data, inst, script, models)
    pairs: dict[str, Any] = {}
    for name in models:
        model = QueueModel(name)
        depth = run_ours(inst, depth_only, script, model)
        pairs[name] = {
            "with_bookticker": compare(
                script, lives, run_ours(inst, events, script, model), theirs[name], depth
            ),
            "depth_only": compare(script, lives, depth, theirs[name]),
        }
    # The orders our AS strategy sends in a backtest, replayed the same way.
    strategies: dict[str, Any] = {}
    for label, settings in (
        ("default", Settings()),
        ("fee_floor_off", Settings().replace("strategy", fee_floor=False)),
    ):
        as_script = backtest_script(real_inst, events, settings)
        as_lives = market_lives(events, inst, as_script)
        as_theirs = run_theirs(data, inst, as_script, ["proportional"])["proportional"]
        as_depth = run_ours(inst, depth_only, as_script, QueueModel.PROPORTIONAL)
        strategies[label] = {
            "orders": len(as_script),
            "with_bookticker": compare(
                as_script,
                as_lives,
                run_ours(inst, events, as_script, QueueModel.PROPORTIONAL),
                as_theirs,
                as_depth,
            ),
            "depth_only": compare(as_script, as_lives, as_depth, as_theirs),
        }
    print(
        json.dumps(
            {
                "bench": "queue_conformance",
                "file": args.file.name,
                "hftbacktest": hftbacktest.__version__,
                "script": {
                    "orders": len(script),
                    "rounds": len(script) // 4,
                    "every_s": args.every,
                    "cancel_after_s": args.cancel_after,
                    "lots": 1,
                    "prices": f"touch and {args.behind} tick(s) behind, both sides",
                    "latency": "constant 5 ms entry, cancel and response",
                },
                "market": {
                    "orders_whose_price_traded": sum(1 for v in lives.values() if v.at_lots),
                    "orders_traded_through": sum(1 for v in lives.values() if v.through),
                    "orders_crossed": sum(
                        1 for v in lives.values() if v.depth_cross_ns or v.bbo_cross_ns
                    ),
                    "orders_crossed_by_bookticker_first": sum(
                        1
                        for v in lives.values()
                        if v.bbo_cross_ns and (v.depth_cross_ns or 0) > v.bbo_cross_ns
                    ),
                    "orders_with_a_same_t_trade_after_its_book_update": sum(
                        1 for v in lives.values() if v.same_t_book_first
                    ),
                },
                "pairs": pairs,
                "as_backtest_orders": strategies,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
