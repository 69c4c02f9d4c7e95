"""Read queries behind ``tradetui sessions``, ``fills`` and ``report`` (synchronous sqlite3).

Prices and sizes come back as exact decimal text built from integer ticks/lots and the
session's tick and lot size; sizes count the session instrument's ``size_unit`` (the base
asset, or contracts), fees its settlement asset (``fee_asset``).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradetui.core.instrument import Instrument
from tradetui.core.money import fee_amount, plain
from tradetui.core.types import Side
from tradetui.store.reports import StoredFill, StoredMark, build_report
from tradetui.store.schema import StoreError


def iso_utc(ns: int | None) -> str:
    """Nanoseconds since the epoch as ISO 8601 UTC with milliseconds ('' for None)."""
    if ns is None:
        return ""
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


def stored_instrument(
    symbol: str, quote: str, tick: str, lot: str, spec_json: str | None
) -> Instrument:
    """The instrument a session traded: its stored spec, or for sessions stored before specs
    were kept (all linear) one rebuilt from the symbol, quote asset, tick and lot size."""
    if spec_json is not None:
        try:
            return Instrument.from_spec(json.loads(spec_json))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"session {symbol}: stored instrument unreadable ({exc})") from None
    return Instrument(
        symbol=symbol,
        base="",
        quote=quote,
        tick_size=Decimal(tick),
        lot_size=Decimal(lot),
        min_qty=Decimal(lot),
        min_notional=Decimal(0),
    )


# Wall-clock and market times closer than this are the same time (a speed-1 session's clock
# starts a moment before its row is written).
_SAME_TIME_NS = 1_000_000_000


def market_times(
    started: int, ended: int | None, market_started: int | None, market_ended: int | None
) -> dict[str, Any]:
    """A session's market start and end (its own clock: virtual in a fast or replayed run),
    and whether they differ from its wall-clock start and end."""
    m_start = started if market_started is None else market_started
    m_end = ended if market_ended is None else market_ended
    differs = abs(m_start - started) >= _SAME_TIME_NS or (
        ended is not None and m_end is not None and abs(m_end - ended) >= _SAME_TIME_NS
    )
    return {
        "market_started": iso_utc(m_start),
        "market_ended": iso_utc(m_end),
        "market_time_differs": differs,
    }


def list_sessions(conn: sqlite3.Connection, since_ns: int | None = None) -> list[dict[str, Any]]:
    """Every session (with ``since_ns``: those still running or ended at or after it, on the
    wall clock), newest start first, with its wall-clock and market times, fill count and
    traded volume in quote (USD face value for inverse contracts)."""
    where = " WHERE s.ended_ns IS NULL OR s.ended_ns >= ?" if since_ns is not None else ""
    rows = conn.execute(
        "SELECT s.id, s.mode, s.venue, s.symbol, s.started_ns, s.ended_ns, s.end_state, "
        "s.quote_asset, s.tick_size, s.lot_size, s.instrument_json, s.seed, "
        "(SELECT count(*) FROM fills f WHERE f.session_id = s.id), "
        "(SELECT coalesce(sum(f.price_ticks * f.qty_lots), 0) FROM fills f "
        " WHERE f.session_id = s.id), "
        "(SELECT coalesce(sum(f.qty_lots), 0) FROM fills f WHERE f.session_id = s.id), "
        "s.market_started_ns, s.market_ended_ns, "
        "(SELECT min(b.id) FROM sessions b WHERE b.book = s.book) "
        f"FROM sessions s{where} ORDER BY s.started_ns DESC, s.id DESC",
        () if since_ns is None else (since_ns,),
    ).fetchall()
    out = []
    for r in rows:
        sid, mode, venue, symbol, started, ended, state = r[:7]
        quote, tick, lot, spec, seed, n, ticklots, lots, m_started, m_ended, book = r[7:]
        inst = stored_instrument(symbol, quote, tick, lot, spec)
        face = inst.lot_size * inst.contract_size
        volume = lots * face if inst.inverse else ticklots * inst.tick_size * face
        out.append(
            {
                "id": sid,
                "mode": mode,
                "venue": venue,
                "symbol": symbol,
                "seed": seed,
                "started": iso_utc(started),
                "ended": iso_utc(ended),
                **market_times(started, ended, m_started, m_ended),
                "end_state": state if state is not None else "running",
                "fills": n,
                "volume_quote": volume,
                "quote_asset": quote,
                # Several markets in one run: the id of its first market's session (None:
                # a one-market session).
                "book": book,
            }
        )
    return out


def book_sessions(conn: sqlite3.Connection, session_id: int) -> list[int]:
    """The sessions of the several-market run ``session_id`` belongs to, by id (just it,
    for a one-market session)."""
    rows = conn.execute(
        "SELECT b.id FROM sessions s JOIN sessions b ON b.book = s.book WHERE s.id = ? "
        "ORDER BY b.id",
        (session_id,),
    ).fetchall()
    return [int(r[0]) for r in rows] or [session_id]


def resolve_session(conn: sqlite3.Connection, session_id: int | None) -> int:
    """The given session id (checked), or the newest one; raises StoreError."""
    if session_id is None:
        row = conn.execute("SELECT max(id) FROM sessions").fetchone()
        if row[0] is None:
            raise StoreError("no sessions stored yet; run `tradetui run --headless` first")
        return int(row[0])
    if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
        raise StoreError(f"--session {session_id}: no such session; `tradetui sessions` lists them")
    return session_id


def list_fills(
    conn: sqlite3.Connection, session_id: int | None, since_ns: int | None
) -> list[dict[str, Any]]:
    """Fills (all sessions unless one is given) recorded at or after ``since_ns`` on the wall
    clock, oldest first. ``time`` is the fill's own (market) time, ``wall_time`` when it was
    recorded; they differ in a fast or replayed run. Fills stored before wall times were kept
    use their own time for both."""
    where, args = [], []
    if session_id is not None:
        where.append("f.session_id = ?")
        args.append(session_id)
    if since_ns is not None:
        where.append("coalesce(f.wall_ns, f.local_ns) >= ?")
        args.append(since_ns)
    sql = (
        "SELECT f.session_id, f.local_ns, f.exch_ns, f.venue, f.trade_id, f.client_id, f.side, "
        "f.price_ticks, f.qty_lots, f.fee_quote, f.fee_asset, f.is_maker, f.position_lots, "
        "f.charged_asset, f.charged_fee, f.charged_rate, f.recovered, "
        "coalesce(f.wall_ns, f.local_ns), "
        "s.symbol, s.quote_asset, s.tick_size, s.lot_size, s.instrument_json "
        "FROM fills f JOIN sessions s ON s.id = f.session_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY f.session_id, f.seq"
    )
    out = []
    instruments: dict[int, Instrument] = {}
    for r in conn.execute(sql, args):
        sid, local, exch, venue, trade, cid, side, pt, ql, fee, asset, maker, pos = r[:13]
        charged_asset, charged_fee, charged_rate, rec, wall = r[13:18]
        if sid not in instruments:
            instruments[sid] = stored_instrument(*r[18:])
        inst = instruments[sid]
        out.append(
            {
                "session": sid,
                "time": iso_utc(local),
                "wall_time": iso_utc(wall),
                "local_ns": local,
                "exch_ns": exch,
                "symbol": inst.symbol,
                "venue": venue,
                "trade_id": trade,
                "client_id": cid,
                "side": "buy" if side > 0 else "sell",
                "price": str(inst.price(pt)),
                # Fixed-point: zero of a spot 1e-8 lot would read 0E-8.
                "qty": f"{inst.qty(ql):f}",
                "size_unit": inst.size_unit if inst.base else "",
                "fee": plain(fee_amount(fee)),
                "fee_asset": asset,
                # Charged in another asset (BNB): as the exchange stated it, and the rate
                # (fee_asset per unit) ``fee`` was valued at, 0 when none was known.
                "charged_fee": charged_fee or "",
                "charged_asset": charged_asset or "",
                "charged_rate": repr(charged_rate) if charged_asset else "",
                "liquidity": "maker" if maker else "taker",
                "position": f"{inst.qty(pos):f}",
                "recovered": bool(rec),
            }
        )
    return out


def session_report(conn: sqlite3.Connection, session_id: int) -> dict[str, Any]:
    """The report of one stored session (see reports.build_report) plus its identity."""
    row = conn.execute(
        "SELECT id, mode, venue, symbol, quote_asset, tick_size, lot_size, instrument_json, "
        "started_ns, ended_ns, end_state, market_started_ns, market_ended_ns "
        "FROM sessions WHERE id = ?",
        (session_id,),
    ).fetchone()
    sid, mode, venue, symbol, quote, tick, lot, spec, started, ended, state = row[:11]
    market = market_times(started, ended, *row[11:])
    market_start = started if row[11] is None else row[11]
    inst = stored_instrument(symbol, quote, tick, lot, spec)
    fills = [
        StoredFill(seq, Side(side), pt, ql, fee, bool(maker), local, mid)
        for seq, side, pt, ql, fee, maker, local, mid in conn.execute(
            "SELECT seq, side, price_ticks, qty_lots, fee_quote, is_maker, local_ns, "
            "mid_half_ticks FROM fills WHERE session_id = ? AND recovered = 0 ORDER BY seq",
            (sid,),
        )
    ]
    # Fills made while no session ran, found by this one: listed apart, outside its PnL (the
    # position it adopted at start holds them).
    n_recovered, recovered_fees = conn.execute(
        "SELECT count(*), coalesce(sum(fee_quote), 0) FROM fills "
        "WHERE session_id = ? AND recovered = 1",
        (sid,),
    ).fetchone()
    marks = [
        StoredMark(seq, ts, mid)
        for seq, ts, mid in conn.execute(
            "SELECT seq, ts_ns, mid_half_ticks FROM marks WHERE session_id = ? ORDER BY seq",
            (sid,),
        )
    ]
    report = build_report(inst, fills, marks, market_start)
    charged: dict[str, Decimal] = {}
    unvalued: dict[str, Decimal] = {}
    for asset, amount, rate in conn.execute(
        "SELECT charged_asset, charged_fee, charged_rate FROM fills "
        "WHERE session_id = ? AND charged_asset IS NOT NULL ORDER BY seq",
        (sid,),
    ):
        charged[asset] = charged.get(asset, Decimal(0)) + Decimal(amount)
        if not rate:
            unvalued[asset] = unvalued.get(asset, Decimal(0)) + Decimal(amount)
    if charged:
        # As in the session summary: fees charged in another asset (BNB), and those no rate
        # valued (``fees`` leaves them out).
        report |= {"fees_charged": charged, "fees_unvalued": unvalued}
    halts = [
        detail
        for (detail,) in conn.execute(
            "SELECT detail FROM events WHERE session_id = ? AND state = 'halted' ORDER BY seq",
            (sid,),
        )
    ]
    head = {
        "session": sid,
        "mode": mode,
        "venue": venue,
        "symbol": symbol,
        "started": iso_utc(started),
        "ended": iso_utc(ended),
        **market,
        "end_state": state if state is not None else "running",
        "halts": halts,
        "recovered_fills": n_recovered,
        "recovered_fees": recovered_fees,
    }
    return head | report


def daily_history(conn: sqlite3.Connection, since_ns: int | None = None) -> list[dict[str, Any]]:
    """Sessions summed per UTC day, newest day first: a session counts on the day it started
    (at or after ``since_ns``), with its fills, traded volume in quote, PnL (its open position
    valued at its last stored mid, as ``report`` does), fees paid and rebates received, exact.
    One row per day and money asset pair (``settle_asset``, ``quote_asset``), never summed
    across assets."""
    sql = "SELECT id FROM sessions" + (" WHERE started_ns >= ?" if since_ns is not None else "")
    ids = [
        sid
        for (sid,) in conn.execute(sql + " ORDER BY id", () if since_ns is None else (since_ns,))
    ]
    days: dict[tuple[str, str, str], dict[str, Any]] = {}
    for sid in ids:
        r = session_report(conn, sid)
        key = (r["started"][:10], r["settle_asset"], r["quote_asset"])
        if key not in days:
            zero = Decimal(0)
            days[key] = {
                "day": key[0],
                "settle_asset": key[1],
                "quote_asset": key[2],
                "sessions": 0,
                "symbols": [],
                "fills": 0,
                "volume_quote": zero,
                "pnl_total": zero,
                "fees": zero,
                "rebates": zero,
            }
        d = days[key]
        d["sessions"] += 1
        if r["symbol"] not in d["symbols"]:
            d["symbols"].append(r["symbol"])
        d["fills"] += r["fills"]
        for money in ("volume_quote", "pnl_total", "fees", "rebates"):
            d[money] += r[money]
    return [days[k] for k in sorted(days, reverse=True)]
