"""CSV market data: Binance public daily archives and tardis.dev exports.

Binance's archives come one file per day and kind; ``read_days`` joins the files of one kind
into one stream in time order, and marks a gap between two of them (a day not given or not
published) so a backtest does not trade across it.

Binance archives (bookTicker, trades, aggTrades) carry exchange times only, so ``local_ns`` is
the latest exchange-side time in the row (bookTicker's event time, else the trade time).
tardis.dev rows carry both the exchange ``timestamp`` and the ``local_timestamp`` (µs). tardis
incremental_book_L2 has no update ids: rows are grouped into snapshots and deltas with
synthetic consecutive ids, and a BestBidOffer is derived whenever the rebuilt touch changes.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Generator, Iterator
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
from tradetui.market.files import Format, ReplayError, ReplayReport, other_symbol, read_lines

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
    # trades: id, price, qty, quote_qty (COIN-M: base_qty), time, is_buyer_maker[, is_best_match]
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


# Binance's daily files of one kind meet at midnight within milliseconds; a silence this long
# between the end of one file and the start of the next is data missing (a day not given, not
# published, or cut short), not a quiet market.
DAY_GAP_NS = 60 * 1_000_000_000
# Files whose rows overlap by more than this are the same day twice (or a daily and a
# monthly file): refused, as the merged stream would replay those prints twice.
_OVERLAP_NS = 1_000_000_000
DAILY_FORMATS = frozenset(
    {Format.BINANCE_BOOK_TICKER, Format.BINANCE_TRADES, Format.BINANCE_AGG_TRADES}
)


def read_days(
    paths: list[Path], fmt: Format, inst: Instrument, report: ReplayReport
) -> Iterator[MarketEvent]:
    """Binance archive files of one kind as one stream, files in the order of their first row.

    Where one file ends more than DAY_GAP_NS before the next begins, the gap is reported
    (file, times) and, for bookTicker files, marked as a feed gap is: an empty BookSnapshot
    (the book is unknown: quotes are pulled, nothing fills against a stale touch) right after
    the last row before it, and a one-level snapshot of the first touch after it, which
    brings the book back. A file starting before the previous one ended is refused.
    """
    reader = CSV_READERS[fmt]
    starts: list[tuple[int, int, Path]] = []
    for i, path in enumerate(paths):
        peek = reader(path, inst, ReplayReport(strict_grid=report.strict_grid))
        head = next(peek, None)
        if isinstance(peek, Generator):
            peek.close()  # the file is read again in order below
        if head is not None:
            starts.append((head.exch_ns, i, path))
        else:
            report.issue(str(path), 0, "no data rows")
    starts.sort()
    stream = "bookTicker" if fmt is Format.BINANCE_BOOK_TICKER else "trades"
    last: MarketEvent | None = None
    last_path: Path | None = None
    for _, _, path in starts:
        rows = reader(path, inst, report)
        first = next(rows, None)
        if first is None:
            continue
        if last is not None:
            if first.exch_ns < last.exch_ns - _OVERLAP_NS:
                raise ReplayError(
                    f"{path}: starts at {_iso(first.exch_ns)}, before {last_path} ends "
                    f"({_iso(last.exch_ns)}); give each day once"
                )
            if first.exch_ns - last.exch_ns > DAY_GAP_NS:
                yield from _gap(report, path, stream, last, first)
                if type(first) is BestBidOffer:
                    first = _touch_snapshot(first)
                    report.snapshots += 1
        yield first
        last, last_path = first, path
        for ev in rows:
            yield ev
            last = ev


def _gap(
    report: ReplayReport, path: Path, stream: str, before: MarketEvent, after: MarketEvent
) -> Iterator[MarketEvent]:
    """Report the gap between two files; for the book, the empty snapshot that marks it."""
    book = type(before) is BestBidOffer
    report.issue(
        str(path),
        1,
        f"no {stream} from {_iso(before.exch_ns)} to {_iso(after.exch_ns)} (a day missing?)"
        + ("; the book is unknown over the gap" if book else ""),
    )
    if book:
        report.gaps += 1
        yield BookSnapshot(
            exch_ns=before.exch_ns + 1,
            local_ns=before.local_ns + 1,
            update_id=before.update_id,  # type: ignore[union-attr]
            bids=(),
            asks=(),
        )


def _touch_snapshot(ev: BestBidOffer) -> BookSnapshot:
    """The book as a bookTicker shows it: one level a side."""
    return BookSnapshot(
        exch_ns=ev.exch_ns,
        local_ns=ev.local_ns,
        update_id=ev.update_id,
        bids=((ev.bid_ticks, ev.bid_lots),) if ev.bid_ticks else (),
        asks=((ev.ask_ticks, ev.ask_lots),) if ev.ask_ticks else (),
    )


def _iso(ns: int) -> str:
    from tradetui.store.queries import iso_utc  # sqlite3: loaded only to report a gap

    return iso_utc(ns)
