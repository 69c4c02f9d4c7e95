"""CSV market data: Binance public daily archives and tardis.dev exports.

Binance archives (bookTicker, trades, aggTrades) carry exchange times only, so ``local_ns`` is
the latest exchange-side time in the row (bookTicker's event time, else the trade time).
tardis.dev rows carry both the exchange ``timestamp`` and the ``local_timestamp`` (µs). tardis
incremental_book_L2 has no update ids: rows are grouped into snapshots and deltas with
synthetic consecutive ids, and a BestBidOffer is derived whenever the rebuilt touch changes.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    Level,
    MarketEvent,
    Side,
    Trade,
)
from tradetui.market.books import SequencedBook
from tradetui.market.decode import Grid, OffGridError
from tradetui.market.files import Format, ReplayReport, other_symbol, read_lines

_HEADER_FIRST = frozenset({"exchange", "update_id", "id", "agg_trade_id"})

Reader = Callable[[Path, Instrument, ReplayReport], Iterator[MarketEvent]]


def to_ns(stamp: str) -> int:
    """A Binance/tardis integer timestamp in ms, µs or ns (told apart by size) → ns."""
    t = int(stamp)
    if t < 10**14:
        return t * 1_000_000
    if t < 10**17:
        return t * 1_000
    return t


def _rows(path: Path, report: ReplayReport) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of data rows; a header line is skipped."""

    def on_damage(line: int, message: str) -> None:
        report.damage(str(path), line, message)

    lines = read_lines(path, on_damage)
    text = (b.decode("utf-8", "replace") for b in lines)
    for lineno, row in enumerate(csv.reader(text), 1):
        if not row or (lineno == 1 and row[0].strip().lower() in _HEADER_FIRST):
            continue
        yield lineno, row


def _bad(report: ReplayReport, path: Path, lineno: int, exc: Exception) -> None:
    if isinstance(exc, OffGridError):
        report.off_grid_value(str(path), lineno, str(exc))
    else:
        report.issue(str(path), lineno, f"unreadable row skipped: {exc}")


def read_book_ticker(path: Path, inst: Instrument, report: ReplayReport) -> Iterator[MarketEvent]:
    """Binance bookTicker archive: update_id, bid px, bid qty, ask px, ask qty, T, E (ms)."""
    prices, sizes = Grid(inst.tick_size), Grid(inst.lot_size)
    for lineno, r in _rows(path, report):
        try:
            exch_ns = to_ns(r[5])
            ev = BestBidOffer(
                exch_ns=exch_ns,
                local_ns=to_ns(r[6]) if len(r) > 6 and r[6] else exch_ns,
                update_id=int(r[0]),
                bid_ticks=prices.steps(r[1]),
                bid_lots=sizes.steps(r[2]),
                ask_ticks=prices.steps(r[3]),
                ask_lots=sizes.steps(r[4]),
            )
        except (ValueError, IndexError, OffGridError) as exc:
            _bad(report, path, lineno, exc)
            continue
        report.count("bookTicker")
        report.span(ev.exch_ns, ev.local_ns)
        yield ev


def _read_trades(
    path: Path, inst: Instrument, report: ReplayReport, agg: bool
) -> Iterator[MarketEvent]:
    # trades: id, price, qty, quote_qty, time, is_buyer_maker[, is_best_match]
    # aggTrades: id, price, qty, first_id, last_id, time, is_buyer_maker[, is_best_match]
    prices, sizes = Grid(inst.tick_size), Grid(inst.lot_size)
    t_col, m_col = (5, 6) if agg else (4, 5)
    stream = "aggTrade" if agg else "trade"
    for lineno, r in _rows(path, report):
        try:
            exch_ns = to_ns(r[t_col])
            maker = r[m_col].strip().lower()
            if maker not in ("true", "false"):
                raise ValueError(f"is_buyer_maker must be true or false (got {r[m_col]!r})")
            ev = Trade(
                exch_ns=exch_ns,
                local_ns=exch_ns,
                trade_id=int(r[0]),
                price_ticks=prices.steps(r[1]),
                qty_lots=sizes.steps(r[2]),
                aggressor=Side.SELL if maker == "true" else Side.BUY,
            )
        except (ValueError, IndexError, OffGridError) as exc:
            _bad(report, path, lineno, exc)
            continue
        report.count(stream)
        report.span(ev.exch_ns, ev.local_ns)
        yield ev


def read_trades(path: Path, inst: Instrument, report: ReplayReport) -> Iterator[MarketEvent]:
    """Binance trades archive (futures with a header, spot without)."""
    return _read_trades(path, inst, report, agg=False)


def read_agg_trades(path: Path, inst: Instrument, report: ReplayReport) -> Iterator[MarketEvent]:
    """Binance aggTrades archive: one Trade per aggregate (same taker order and price)."""
    return _read_trades(path, inst, report, agg=True)


def read_tardis_trades(path: Path, inst: Instrument, report: ReplayReport) -> Iterator[MarketEvent]:
    """tardis trades: exchange, symbol, timestamp, local_timestamp, id, side, price, amount."""
    prices, sizes = Grid(inst.tick_size), Grid(inst.lot_size)
    symbol = inst.symbol.upper()
    for lineno, r in _rows(path, report):
        try:
            if r[1].upper() != symbol:
                raise other_symbol(f"{path}:{lineno}", r[1], symbol)
            side = r[5].lower()
            if side not in ("buy", "sell"):
                raise ValueError(f"taker side must be buy or sell (got {r[5]!r})")
            ev = Trade(
                exch_ns=to_ns(r[2]),
                local_ns=to_ns(r[3]),
                trade_id=int(r[4]) if r[4].isdigit() else lineno,
                price_ticks=prices.steps(r[6]),
                qty_lots=sizes.steps(r[7]),
                aggressor=Side.BUY if side == "buy" else Side.SELL,
            )
        except (ValueError, IndexError, OffGridError) as exc:
            _bad(report, path, lineno, exc)
            continue
        report.count("trade")
        report.span(ev.exch_ns, ev.local_ns)
        yield ev


def read_tardis_book(path: Path, inst: Instrument, report: ReplayReport) -> Iterator[MarketEvent]:
    """tardis incremental_book_L2: exchange, symbol, timestamp, local_timestamp, is_snapshot,
    side, price, amount. Rows of one message share timestamps; a run of is_snapshot rows
    is a full book (tardis re-sends one after every reconnect)."""
    prices, sizes = Grid(inst.tick_size), Grid(inst.lot_size)
    symbol = inst.symbol.upper()
    where = [0]
    builder = SequencedBook(lambda m: report.issue(str(path), where[0], m), spot=False)
    bids: list[Level] = []
    asks: list[Level] = []
    key: tuple[bool, int, int] | None = None
    next_id = 1
    touch = (0, 0, 0, 0)

    def flush() -> Iterator[MarketEvent]:
        nonlocal next_id, touch
        assert key is not None
        is_snap, exch_ns, local_ns = key
        if is_snap:
            snap = BookSnapshot(
                exch_ns=exch_ns,
                local_ns=local_ns,
                update_id=next_id,
                bids=tuple(sorted(bids, reverse=True)),
                asks=tuple(sorted(asks)),
            )
            report.count("snapshot")
            out = builder.on_snapshot(snap)
        else:
            report.count("depth")
            out = builder.on_diff(
                BookDelta.of(
                    exch_ns=exch_ns,
                    local_ns=local_ns,
                    first_id=next_id,
                    last_id=next_id,
                    prev_id=next_id - 1,
                    bids=tuple(bids),
                    asks=tuple(asks),
                )
            )
        report.span(exch_ns, local_ns)
        next_id += 1
        bids.clear()
        asks.clear()
        yield from out
        book = builder.book
        now = (book.bid_ticks, book.bid_lots, book.ask_ticks, book.ask_lots)
        if book.valid and now != touch:
            touch = now
            yield BestBidOffer(
                exch_ns=exch_ns,
                local_ns=local_ns,
                update_id=builder.last_id,
                bid_ticks=now[0],
                bid_lots=now[1],
                ask_ticks=now[2],
                ask_lots=now[3],
            )

    try:
        for lineno, r in _rows(path, report):
            where[0] = lineno
            try:
                if r[1].upper() != symbol:
                    raise other_symbol(f"{path}:{lineno}", r[1], symbol)
                snap_flag = r[4].lower() == "true"
                exch_ns, local_ns = to_ns(r[2]), to_ns(r[3])
                level = (prices.steps(r[6]), sizes.steps(r[7]))
                side = r[5].lower()
                if side not in ("bid", "ask"):
                    raise ValueError(f"side must be bid or ask (got {r[5]!r})")
            except (ValueError, IndexError, OffGridError) as exc:
                _bad(report, path, lineno, exc)
                continue
            if key is not None and (bids or asks):
                # A snapshot is one run of is_snapshot rows, whatever their timestamps.
                same = (snap_flag and key[0]) or key == (snap_flag, exch_ns, local_ns)
                if not same:
                    yield from flush()
                    key = None
            if key is None:
                key = (snap_flag, exch_ns, local_ns)
            (bids if side == "bid" else asks).append(level)
        if key is not None and (bids or asks):
            yield from flush()
    finally:
        report.gaps += builder.gaps
        report.crossed += builder.crossed
        report.snapshots += builder.snapshots


CSV_READERS: dict[Format, Reader] = {
    Format.BINANCE_BOOK_TICKER: read_book_ticker,
    Format.BINANCE_TRADES: read_trades,
    Format.BINANCE_AGG_TRADES: read_agg_trades,
    Format.TARDIS_BOOK: read_tardis_book,
    Format.TARDIS_TRADES: read_tardis_trades,
}
