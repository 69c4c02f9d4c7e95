"""Replay recorded markets as our MarketEvents.

``replay_events(paths, instrument, report)`` reads any mix of supported files: raw captures are
one continuous stream in the order given (their diff chains continue across files), every CSV
file is a stream of its own, and streams are merged by exchange time. The book is rebuilt by
``SequencedBook``; a gap empties it (an empty BookSnapshot) until the next snapshot.

Times: ``exch_ns`` is the exchange's event time (``E``); ``local_ns`` is the capture's receive
time. Spot bookTicker messages carry no ``E``: their exchange time is the receive time plus the
receive-to-exchange offset of the latest message that had one (the collector's clock may be
off by seconds, so the receive time itself is never used as exchange time).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    MarketEvent,
    Side,
    Trade,
)
from tradetui.market import decode
from tradetui.market.books import SequencedBook
from tradetui.market.csvfiles import CSV_READERS
from tradetui.market.decode import Grid, OffGridError
from tradetui.market.files import (
    Format,
    ReplayError,
    ReplayReport,
    detect_format,
    read_lines,
)

_MS = 1_000_000


def read_capture(
    paths: list[Path], instrument: Instrument, report: ReplayReport
) -> Iterator[MarketEvent]:
    """Events of raw captures read as one continuous stream (files in the order given)."""
    prices, sizes = Grid(instrument.tick_size), Grid(instrument.lot_size)
    symbol = instrument.symbol.lower()
    where: list[str | int] = ["", 0]

    def on_issue(message: str) -> None:
        report.issue(str(where[0]), int(where[1]), message)

    builder = SequencedBook(on_issue, spot=False)
    try:
        yield from _capture(paths, builder, prices, sizes, symbol, where, report)
    finally:
        report.gaps += builder.gaps
        report.crossed += builder.crossed
        report.snapshots += builder.snapshots


def _capture(
    paths: list[Path],
    builder: SequencedBook,
    prices: Grid,
    sizes: Grid,
    symbol: str,
    where: list[str | int],
    report: ReplayReport,
) -> Iterator[MarketEvent]:
    offset_ns: int | None = None  # exchange time − receive time, from the latest ``E``
    chain_known = False
    for path in paths:
        where[0], where[1] = str(path), 0

        def file_issue(line: int, message: str, p: Path = path) -> None:
            report.issue(str(p), line, message)

        lineno = 0
        for lineno, line in enumerate(read_lines(path, file_issue), 1):
            where[1] = lineno
            sp = line.find(b" ")
            try:
                local_ns = int(line[:sp])
                body = line[sp + 1 :]
                name = decode.stream_name(body)
                if name is None:
                    if not body.startswith(b'{"lastUpdateId"'):
                        raise ValueError("neither a stream message nor a depth snapshot")
                    s = decode.SNAPSHOT.decode(body)
                    if s.E:
                        offset_ns = s.E * _MS - local_ns
                    elif offset_ns is None:
                        offset_ns = _first_offset(paths)
                    snap = BookSnapshot(
                        exch_ns=s.E * _MS if s.E else local_ns + offset_ns,
                        local_ns=local_ns,
                        update_id=s.last_update_id,
                        bids=sizes.levels(prices, s.bids),
                        asks=sizes.levels(prices, s.asks),
                    )
                    report.count("snapshot")
                    report.span(snap.exch_ns, local_ns)
                    if not chain_known:
                        builder.spot = not s.E
                    yield from builder.on_snapshot(snap)
                    continue
                sym, _, rest = name.partition("@")
                kind = rest.partition("@")[0]
                if sym != symbol:
                    report.count(f"other:{name}")
                    continue
                report.count(kind)
                if kind == "depth":
                    d = decode.DEPTH.decode(body).data
                    exch_ns = d.E * _MS
                    offset_ns = exch_ns - local_ns
                    report.span(exch_ns, local_ns)
                    if not chain_known:
                        builder.spot, chain_known = d.pu is None, True
                    delta = BookDelta(
                        exch_ns=exch_ns,
                        local_ns=local_ns,
                        first_id=d.U,
                        last_id=d.u,
                        prev_id=d.U - 1 if d.pu is None else d.pu,
                        bids=sizes.levels(prices, d.b),
                        asks=sizes.levels(prices, d.a),
                    )
                    yield from builder.on_diff(delta)
                elif kind == "bookTicker":
                    t = decode.BOOK_TICKER.decode(body).data
                    if t.E:
                        exch_ns = t.E * _MS
                        offset_ns = exch_ns - local_ns
                    else:
                        if offset_ns is None:
                            offset_ns = _first_offset(paths)
                        exch_ns = local_ns + offset_ns
                    report.span(exch_ns, local_ns)
                    yield BestBidOffer(
                        exch_ns=exch_ns,
                        local_ns=local_ns,
                        update_id=t.u,
                        bid_ticks=prices.steps(t.b),
                        bid_lots=sizes.steps(t.B),
                        ask_ticks=prices.steps(t.a),
                        ask_lots=sizes.steps(t.A),
                    )
                elif kind == "trade" or kind == "aggTrade":
                    tr: decode.TradeMsg | decode.AggTradeMsg
                    if kind == "trade":
                        tr = decode.TRADE.decode(body).data
                        if tr.X != "MARKET":
                            continue  # insurance-fund and ADL prints are not market trades
                        trade_id = tr.t
                    else:
                        tr = decode.AGG_TRADE.decode(body).data
                        trade_id = tr.a
                    exch_ns = tr.E * _MS
                    offset_ns = exch_ns - local_ns
                    report.span(exch_ns, local_ns)
                    yield Trade(
                        exch_ns=exch_ns,
                        local_ns=local_ns,
                        trade_id=trade_id,
                        price_ticks=prices.steps(tr.p),
                        qty_lots=sizes.steps(tr.q),
                        aggressor=Side.SELL if tr.m else Side.BUY,
                    )
            except (ValueError, msgspec.DecodeError, OffGridError) as exc:
                report.issue(str(path), lineno, f"unreadable line skipped: {exc}")
        if lineno == 0:
            report.issue(str(path), 0, "empty file")


def _first_offset(paths: list[Path]) -> int:
    """Exchange − receive time (ns) of the first message carrying an event time ``E``."""
    for path in paths:
        for line in read_lines(path, lambda _line, _msg: None):
            sp = line.find(b" ")
            body = line[sp + 1 :]
            if decode.stream_name(body) is None:
                continue
            try:
                data = msgspec.json.decode(body).get("data", {})
                if data.get("E"):
                    return int(data["E"]) * _MS - int(line[:sp])
            except (ValueError, msgspec.DecodeError, AttributeError):
                continue
    return 0


def replay_events(
    paths: Iterable[Path], instrument: Instrument, report: ReplayReport | None = None
) -> Iterator[MarketEvent]:
    """All events of ``paths`` in one stream: captures chained in the given order, CSV files
    merged in by exchange time. Raises ReplayError for unknown formats or no data at all."""
    report = report if report is not None else ReplayReport()
    captures: list[Path] = []
    streams: list[Iterator[MarketEvent]] = []
    for path in paths:
        fmt = detect_format(path)
        if fmt is None:
            report.issue(str(path), 0, "empty file")
        elif fmt is Format.CAPTURE:
            captures.append(path)
        else:
            streams.append(CSV_READERS[fmt](path, instrument, report))
    if captures:
        streams.insert(0, read_capture(captures, instrument, report))
    if not streams:
        raise ReplayError("no market data: every file given is empty")
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=_exch_ns)


def _exch_ns(ev: MarketEvent) -> int:
    return ev.exch_ns


def drop_stale_bbo(events: Iterable[MarketEvent]) -> Iterator[MarketEvent]:
    """Pass events on, minus best bid/offers older than the book already passed on.

    bookTicker and depth are separate streams: a bookTicker can arrive after a diff that
    already includes its update. Applied late it would roll the touch back, so it is dropped.
    """
    book_id = -1
    for ev in events:
        tp = type(ev)
        if tp is BestBidOffer:
            if ev.update_id < book_id:  # type: ignore[union-attr]
                continue
        elif tp is BookDelta:
            book_id = ev.last_id  # type: ignore[union-attr]
        elif tp is BookSnapshot:
            book_id = ev.update_id  # type: ignore[union-attr]
        yield ev
