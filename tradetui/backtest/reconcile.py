"""Backtest vs reality: a stored session's fills against a backtest of the market it recorded.

``session_plan`` reads what a stored paper or live session kept for this (its settings, seed,
instrument and recording files); ``compare_fills`` matches the two runs' fills one by one:
a backtest fill matches a session fill of the same side whose exchange time is within
``Tolerance.time_ns`` and whose price is within ``Tolerance.price_ticks``, the nearest in time
first (each fill matches at most once). docs/reconcile.md has the figures and the verdict.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradetui.config import ConfigError, Settings, settings_from_mapping
from tradetui.core.accounting import PositionLedger
from tradetui.core.clock import VirtualClock
from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    CancelOrder,
    Fill,
    MarketEvent,
    OrderIntent,
    OrderType,
    PlaceOrder,
    Side,
)
from tradetui.core.units import money_decimals
from tradetui.market.replay import drop_stale_bbo
from tradetui.session import feed_latency, market_source, sim_venue, with_sim_fees
from tradetui.store.queries import stored_instrument
from tradetui.venues.sim import ReceivedMarket

_NS_PER_MS = 1_000_000
# Matched share of all fills (matched over the union) for each verdict.
AGREE_SHARE = 0.95
CLOSE_SHARE = 0.80
# Unmatched fills listed in a report, per side.
_LISTED = 10


class ReconcileError(ValueError):
    """A session that cannot be reconciled; the message is the command's one error line."""


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far apart two fills may be and still be one: exchange time (ns), price (ticks)."""

    time_ns: int
    price_ticks: int


@dataclass(frozen=True, slots=True)
class FillPoint:
    """One fill as compared: exchange time (ns), side, price (ticks), size (lots)."""

    exch_ns: int
    side: Side
    price_ticks: int
    qty_lots: int


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What a backtest needs to repeat a stored session, and the session's own fills."""

    session_id: int
    mode: str
    settings: Settings
    seed: int
    instrument: Instrument
    recording: tuple[Path, ...]
    fills: tuple[FillPoint, ...]
    # When the session's market clock started and when it stopped trading (ns): the span
    # the backtest trades.
    market_started_ns: int
    trading_ended_ns: int

    @property
    def feed_offset_ns(self) -> int | None:
        """The recorder clock offset the backtest's feed removes (run_backtest's
        ``feed_offset_ns``): 0 where the session's engine received the market at the recorded
        times (paper on the synthetic or the live market: one clock); estimated from the files,
        as the session's own feed did, for paper on a replay and for live sessions."""
        if self.mode == "paper" and market_source(self.settings) != "replay":
            return 0
        return None

    @property
    def received(self) -> bool:
        """Whether the session was paper on an exchange's live market: its simulated exchange
        took each message at its receive time (run_backtest's ``received``)."""
        return self.mode == "paper" and market_source(self.settings) == "live"


def session_plan(conn: sqlite3.Connection, session_id: int) -> SessionPlan:
    """The stored session's settings, seed, instrument, recording and fills; ReconcileError
    when it cannot be backtested."""
    row = conn.execute(
        "SELECT mode, symbol, quote_asset, tick_size, lot_size, instrument_json, seed, "
        "settings_json, summary_json, market_started_ns, market_ended_ns "
        "FROM sessions WHERE id = ?",
        (session_id,),
    ).fetchone()
    mode, symbol, quote, tick, lot, spec, seed, settings_json, summary_json, started, ended = row
    where = f"session {session_id}"
    if mode not in ("paper", "live"):
        raise ReconcileError(f"{where} is a {mode} session; reconcile compares paper or live runs")
    if summary_json is None:
        raise ReconcileError(
            f"{where} has no recorded end (still running, or it crashed); "
            "reconcile a session that finished"
        )
    summary = json.loads(summary_json)
    files = summary.get("recording")
    if not files:
        raise ReconcileError(
            f"{where} recorded no market; run it with record.enabled = true to reconcile it"
        )
    recording = tuple(Path(f) for f in files)
    missing = [p for p in recording if not p.is_file()]
    if missing:
        raise ReconcileError(f"{where}: recording {missing[0]} is missing; restore the file")
    if settings_json is None:
        raise ReconcileError(
            f"{where} was stored before sessions kept their settings; "
            "reconcile a session run with this version or later"
        )
    try:
        settings = settings_from_mapping(json.loads(settings_json))
    except ConfigError as exc:
        raise ReconcileError(f"{where}: its stored settings do not load here ({exc})") from None
    fills = tuple(
        FillPoint(exch_ns, Side(side), price, qty)
        for exch_ns, side, price, qty in conn.execute(
            "SELECT exch_ns, side, price_ticks, qty_lots FROM fills "
            "WHERE session_id = ? AND recovered = 0 ORDER BY exch_ns, seq",
            (session_id,),
        )
    )
    return SessionPlan(
        session_id,
        mode,
        settings,
        seed or 0,
        stored_instrument(symbol, quote, tick, lot, spec),
        recording,
        fills,
        started,
        # The summary's duration runs to when trading stopped; the stop's cancels follow.
        started + round(summary["duration_s"] * 1e9) if "duration_s" in summary else ended,
    )


@dataclass(frozen=True, slots=True)
class FillMatch:
    """The fills of both runs paired: ``pairs`` (session, backtest) and the unmatched."""

    pairs: tuple[tuple[FillPoint, FillPoint], ...]
    only_session: tuple[FillPoint, ...]
    only_backtest: tuple[FillPoint, ...]

    @property
    def share(self) -> float:
        """Matched fills over all distinct fills (matched + only in one); 1.0 with none."""
        union = len(self.pairs) + len(self.only_session) + len(self.only_backtest)
        return len(self.pairs) / union if union else 1.0


def compare_fills(
    session: Sequence[FillPoint], backtest: Sequence[FillPoint], tol: Tolerance
) -> FillMatch:
    """Pair each session fill (in exchange-time order) with the nearest unmatched backtest
    fill of its side within ``tol``; both sequences in exchange-time order."""
    taken = [False] * len(backtest)
    pairs: list[tuple[FillPoint, FillPoint]] = []
    only_session: list[FillPoint] = []
    lo = 0
    for f in session:
        while lo < len(backtest) and backtest[lo].exch_ns < f.exch_ns - tol.time_ns:
            lo += 1
        best = -1
        j = lo
        while j < len(backtest) and backtest[j].exch_ns <= f.exch_ns + tol.time_ns:
            b = backtest[j]
            if (
                not taken[j]
                and b.side is f.side
                and abs(b.price_ticks - f.price_ticks) <= tol.price_ticks
                and (
                    best < 0 or abs(b.exch_ns - f.exch_ns) < abs(backtest[best].exch_ns - f.exch_ns)
                )
            ):
                best = j
            j += 1
        if best < 0:
            only_session.append(f)
        else:
            taken[best] = True
            pairs.append((f, backtest[best]))
    only_backtest = tuple(b for b, t in zip(backtest, taken, strict=True) if not t)
    return FillMatch(tuple(pairs), tuple(only_session), only_backtest)


def _spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, median, 95th percentile and largest absolute value of ``values``."""
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max_abs": 0.0}
    ordered = sorted(values)
    return {
        "mean": statistics.fmean(values),
        "p50": statistics.median(values),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max_abs": max(abs(v) for v in values),
    }


def _listed(fills: Sequence[FillPoint], inst: Instrument) -> list[dict[str, Any]]:
    return [
        {
            "exch_ns": f.exch_ns,
            "side": "buy" if f.side is Side.BUY else "sell",
            "price": str(inst.price(f.price_ticks)),
            "size": f"{inst.qty(f.qty_lots):f}",
        }
        for f in fills[:_LISTED]
    ]


def verdict(share: float) -> str:
    """``agree`` (≥ 95 % of fills matched), ``close`` (≥ 80 %) or ``differ``."""
    if share >= AGREE_SHARE:
        return "agree"
    return "close" if share >= CLOSE_SHARE else "differ"


PNL_KEYS = ("pnl_total", "spread_capture", "inventory_pnl", "fees")


def reconcile_report(
    plan: SessionPlan,
    match: FillMatch,
    tol: Tolerance,
    session_figures: dict[str, Any],
    backtest_figures: dict[str, Any],
) -> dict[str, Any]:
    """The comparison as JSON-ready figures: fills matched and not, time and price differences
    of the matched (backtest − session), PnL of each and the difference, and the verdict.
    ``*_figures`` hold PNL_KEYS, ``markouts`` and ``orders_placed`` of each run."""
    inst = plan.instrument
    dt_ms = [(b.exch_ns - s.exch_ns) / _NS_PER_MS for s, b in match.pairs]
    dp_ticks = [float(b.price_ticks - s.price_ticks) for s, b in match.pairs]
    size_differs = sum(1 for s, b in match.pairs if s.qty_lots != b.qty_lots)
    pnl: dict[str, dict[str, Decimal]] = {}
    for key in PNL_KEYS:
        if key not in backtest_figures:
            continue
        a, b = Decimal(session_figures[key]), Decimal(backtest_figures[key])
        pnl[key] = {"session": a, "backtest": b, "difference": b - a}
    return {
        "session": plan.session_id,
        "mode": plan.mode,
        "symbol": inst.symbol,
        "settle_asset": inst.settle,
        "quote_asset": inst.quote,
        "recording": [str(p) for p in plan.recording],
        "tolerance": {"time_ms": tol.time_ns / _NS_PER_MS, "price_ticks": tol.price_ticks},
        "session_fills": len(plan.fills),
        "backtest_fills": len(match.pairs) + len(match.only_backtest),
        "matched": len(match.pairs),
        "only_session": len(match.only_session),
        "only_backtest": len(match.only_backtest),
        "matched_share": match.share,
        "size_differs": size_differs,
        "fill_time_diff_ms": _spread(dt_ms),
        "price_diff_ticks": _spread(dp_ticks),
        "orders_placed": {
            "session": session_figures["orders_placed"],
            "backtest": backtest_figures["orders_placed"],
        },
        "pnl": pnl,
        "markout_5s_bps": {
            "session": session_figures["markouts"]["5s"]["mean_bps"],
            "backtest": backtest_figures["markouts"]["5s"]["mean_bps"],
        }
        if "markouts" in backtest_figures
        else None,
        "first_only_session": _listed(match.only_session, inst),
        "first_only_backtest": _listed(match.only_backtest, inst),
        "verdict": verdict(match.share),
    }


def format_reconcile(r: dict[str, Any]) -> str:
    """The comparison as aligned lines for people."""
    settle = r["settle_asset"]
    d = money_decimals(settle, r["quote_asset"])  # a coin to 8 decimals, quote to 4
    tol = r["tolerance"]
    dt, dp = r["fill_time_diff_ms"], r["price_diff_ticks"]
    rows = [
        ("session", f"{r['session']} ({r['mode']}, {r['symbol']})"),
        ("replayed", r["replayed"]),
        ("recording", ", ".join(r["recording"])),
        ("tolerance", f"{tol['time_ms']:g} ms, {tol['price_ticks']} ticks"),
        (
            "fills",
            f"session {r['session_fills']}, backtest {r['backtest_fills']}, matched "
            f"{r['matched']} ({r['matched_share']:.1%} of all), only in session "
            f"{r['only_session']}, only in backtest {r['only_backtest']}",
        ),
        (
            "fill time",
            f"backtest − session: mean {dt['mean']:+.3f} ms, median {dt['p50']:+.3f}, "
            f"p95 {dt['p95']:+.3f}, max |{dt['max_abs']:.3f}| ms",
        ),
        (
            "price",
            f"mean {dp['mean']:+.3f} ticks, max |{dp['max_abs']:g}|; "
            f"size differs in {r['size_differs']} matched fills",
        ),
        (
            "orders placed",
            f"session {r['orders_placed']['session']}, backtest {r['orders_placed']['backtest']}",
        ),
    ]
    for key, p in r["pnl"].items():
        rows.append(
            (
                key.replace("_", " "),
                f"session {p['session']:+,.{d}f}, backtest {p['backtest']:+,.{d}f}, "
                f"difference {p['difference']:+,.{d}f} {settle}",
            )
        )
    m = r["markout_5s_bps"]
    if m is not None:
        rows.append(
            ("markout 5s", f"session {m['session']:+.3f} bps, backtest {m['backtest']:+.3f}")
        )
    rows.append(("verdict", f"{r['verdict']} ({r['matched_share']:.1%} of fills matched)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


# After trading stopped, the session's cancels still reach the venue within this (ns).
_ORDERS_SETTLE_NS = 60 * 1_000_000_000


def order_script(conn: sqlite3.Connection, session_id: int) -> list[tuple[int, OrderIntent]]:
    """The session's own placements and cancel requests, each at the time its engine sent it
    (ns), in the order it sent them (a venue drawing latencies draws them in that order)."""
    script: list[tuple[int, int, OrderIntent]] = []
    for cid, side, price, qty, otype, post, reduce, t, seq in conn.execute(
        "SELECT o.client_id, o.side, o.price_ticks, o.qty_lots, o.order_type, o.post_only, "
        "o.reduce_only, o.created_ns, min(e.seq) FROM orders o LEFT JOIN order_events e "
        "ON e.session_id = o.session_id AND e.client_id = o.client_id AND e.status = ? "
        "WHERE o.session_id = ? GROUP BY o.client_id",
        ("sent", session_id),
    ):
        place = PlaceOrder(
            client_id=cid,
            side=Side(side),
            price_ticks=price,
            qty_lots=qty,
            order_type=OrderType(otype) if otype else OrderType.LIMIT,
            post_only=bool(post),
            reduce_only=bool(reduce),
            created_ns=t,
        )
        script.append((t, seq or 0, place))
    for seq, t, cid in conn.execute(
        "SELECT seq, ts_ns, client_id FROM order_events WHERE session_id = ? AND status = ?",
        (session_id, "cancel_sent"),
    ):
        script.append((t, seq, CancelOrder(client_id=cid, created_ns=t)))
    script.sort(key=lambda s: (s[0], s[1]))
    return [(t, intent) for t, _, intent in script]


def replay_orders(
    plan: SessionPlan, events: list[MarketEvent], script: Sequence[tuple[int, OrderIntent]]
) -> list[Fill]:
    """The fills the sim venue gives ``script`` on the recorded market (no strategy: the
    session's orders at their times), with the session's settings, seed and feed. A paper
    session on a live market had its orders meet the market as received by then, not in
    exchange time; so does its replay."""
    settings = plan.settings
    inst = with_sim_fees(plan.instrument, settings)
    market = list(feed_latency(settings).retime(drop_stale_bbo(events), plan.feed_offset_ns))
    first_ns = min(market[0].exch_ns, market[0].local_ns)
    clock = VirtualClock(min(plan.market_started_ns, first_ns))
    if plan.received:
        venue = sim_venue(
            settings, inst, ReceivedMarket(clock, market), clock, plan.seed, live=True
        )
    else:
        venue = sim_venue(settings, inst, market, clock, plan.seed)
    end_ns = plan.trading_ended_ns + _ORDERS_SETTLE_NS
    fills: list[Fill] = []
    i = 0
    while True:
        due_ns = venue.peek_ns()
        if i < len(script) and (due_ns is None or script[i][0] <= due_ns):
            clock.advance_to(max(clock.now_ns(), script[i][0]))
            venue.submit(script[i][1])
            i += 1
            continue
        if due_ns is None or due_ns > end_ns:
            return fills
        clock.advance_to(due_ns)
        ev = venue.pop()
        if type(ev) is Fill:
            fills.append(ev)


def order_figures(inst: Instrument, fills: Sequence[Fill], mark_ticks: float) -> dict[str, Any]:
    """PnL total and fees of ``fills`` (no strategy ran, so no mid path: the open position is
    valued at ``mark_ticks``)."""
    ledger = PositionLedger(inst)
    for f in fills:
        ledger.on_fill(f.side, f.price_ticks, f.qty_lots, f.fee, 0.0)
    snap = ledger.snapshot(mark_ticks)
    return {"pnl_total": snap.total, "fees": snap.fees}
