"""Plain-text answers for the chat commands and the heartbeat, from an engine snapshot.

Pure functions of an ``EngineSnapshot`` (and settings): no I/O, so they are tested directly.
Sizes in the snapshot's ``size_unit`` (the base asset, or contracts), money in the settlement
asset (the quote asset, or the coin of an inverse contract) and named, prices in quote per base.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from tradetui.config import Settings
from tradetui.core.types import Side
from tradetui.core.units import at_mark, markout_text, money, paid
from tradetui.engine.snapshot import EngineSnapshot

PARAM_SECTIONS = ("strategy", "quoting")


def _dur(ns: int) -> str:
    s = int(ns // 1_000_000_000)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _money(snap: EngineSnapshot, amount: Decimal) -> str:
    return money(amount, snap.pnl.settle, snap.quote)


def _size(snap: EngineSnapshot, size: float) -> str:
    return f"{size:+.6g} {snap.size_unit}"


def status_text(snap: EngineSnapshot, mode: str) -> str:
    """/status: state, risk, position, PnL, orders and market."""
    lines = [
        f"{snap.symbol} on {snap.venue} · {mode.upper()} · {snap.state}",
    ]
    if snap.halt_reason:
        lines.append(f"halt reason: {snap.halt_reason}")
    lines += [
        f"risk: {snap.risk_status or '-'}",
        f"position {_size(snap, snap.pnl.position_size)} ({snap.inventory_pct:.0f}% of limit), "
        f"PnL {_money(snap, snap.pnl.total)}",
        f"open orders {len(snap.quotes)}, fills {snap.fills}, "
        f"mid {snap.mid_ticks * snap.tick_size:,.2f}",
        f"session {_dur(snap.session_ns)}",
    ]
    return "\n".join(lines)


def pnl_text(snap: EngineSnapshot) -> str:
    """/pnl: the PnL split in the settlement asset; an inverse contract's total again in quote
    at the mark."""
    p = snap.pnl
    total = f"PnL total {_money(snap, p.total)}"
    if p.settle != snap.quote:
        total += f" ({at_mark(p.total, p.mark):+,.2f} {snap.quote} at {p.mark:,.2f})"
    return "\n".join(
        [
            total,
            f"realized {_money(snap, p.realized)}, unrealized {_money(snap, p.unrealized)}",
            f"spread capture {_money(snap, p.spread_capture)}, "
            f"inventory {_money(snap, p.inventory_pnl)}",
            f"fees paid {paid(p.fees, p.settle, snap.quote)}, "
            f"rebates received {paid(p.rebates, p.settle, snap.quote)}",
            f"volume {p.volume_quote:,.2f} {snap.quote}, cost per 10k {p.cost_per_10k:+.3f}",
            f"markout {markout_text(snap.markouts)}",
        ]
    )


def position_text(snap: EngineSnapshot) -> str:
    """/position: size, entry, mark and share of the limit."""
    p = snap.pnl
    return (
        f"position {_size(snap, p.position_size)}\n"
        f"entry {p.avg_entry:,.2f}, mark {p.mark:,.2f}, unrealized {_money(snap, p.unrealized)}\n"
        f"{snap.inventory_pct:.0f}% of the position limit"
    )


def orders_text(snap: EngineSnapshot, limit: int = 20) -> str:
    """/orders: working orders, best price first."""
    if not snap.quotes:
        return "no working orders"
    lines = [f"{len(snap.quotes)} working order(s)"]
    for q in snap.quotes[:limit]:
        side = "BUY " if q.side is Side.BUY else "SELL"
        flags = "".join(
            [" cancelling" if q.cancel_pending else "", " unacked" if not q.acked else ""]
        )
        lines.append(
            f"{side} {q.leaves_lots * snap.lot_size:.6g} {snap.size_unit} "
            f"@ {q.price_ticks * snap.tick_size:,.2f} "
            f"({q.touch_distance_ticks:+d} ticks from touch, {q.age_ns / 1e9:.1f} s){flags}"
        )
    if len(snap.quotes) > limit:
        lines.append(f"… {len(snap.quotes) - limit} more")
    return "\n".join(lines)


def params_text(settings: Settings, symbol: str) -> str:
    """/params: every parameter /set can change, with its current value; ``symbol`` is the
    instrument traded (market.source can name another than venue.symbol)."""
    lines = [f"venue.symbol = {symbol} (only while stopped)"]
    for section in PARAM_SECTIONS:
        obj = getattr(settings, section)
        for f in dataclasses.fields(obj):
            lines.append(f"{section}.{f.name} = {getattr(obj, f.name)}")
    return "\n".join(lines)


def heartbeat_text(snap: EngineSnapshot) -> str:
    """The periodic summary: state, PnL, position, activity."""
    return (
        f"{snap.symbol} {snap.state}, session {_dur(snap.session_ns)}\n"
        f"PnL {_money(snap, snap.pnl.total)}, position {_size(snap, snap.pnl.position_size)}, "
        f"fills {snap.fills}, open orders {len(snap.quotes)}\n"
        f"risk: {snap.risk_status or '-'}"
    )
