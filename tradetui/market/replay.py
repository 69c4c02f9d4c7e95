"""Replay recorded markets as our MarketEvents.

``replay_events(paths, instrument, report)`` reads any mix of supported files: raw captures are
one continuous stream in the order given (their diff chains continue across files), Binance's
daily archives of one kind are one stream (files in time order, gaps between them marked:
``csvfiles.read_days``), every other CSV file is a stream of its own, and streams are merged by
exchange time. The book is rebuilt by
``SequencedBook``; a gap empties it (an empty BookSnapshot) until the next snapshot.

Times: ``exch_ns`` is the exchange's transaction time (``T``, else the event time ``E``);
``local_ns`` is the capture's receive time. Spot bookTicker messages carry neither: their
exchange time is the receive time plus the receive-to-exchange offset of the latest message
that had one (the collector's clock may be
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
)
from tradetui.market import decode
from tradetui.market.csvfiles import CSV_READERS, DAILY_FORMATS, read_days
from tradetui.market.decode import OffGridError
from tradetui.market.files import (
    Format,
    ReplayError,
    ReplayReport,
    detect_format,
    other_symbol,
    read_lines,
)
from tradetui.market.messages import StreamDecoder

_MS = 1_000_000


def read_capture(
    paths: list[Path], instrument: Instrument, report: ReplayReport
) -> Iterator[MarketEvent]:
    """Events of raw captures read as one continuous stream (files in the order given)."""
    where: list[str | int] = ["", 0]

    def on_issue(message: str) -> None:
        report.issue(str(where[0]), int(where[1]), message)

    def on_other(symbol: str) -> None:
        raise other_symbol(f"{where[0]}:{where[1]}", symbol, instrument.symbol)

    decoder = StreamDecoder(
        instrument,
        report,
        on_issue,
        first_offset=lambda: _first_offset(paths),
        on_other=on_other,
    )
    builder = decoder.book
    try:
        for path in paths:
            where[0], where[1] = str(path), 0

            def file_damage(line: int, message: str, p: Path = path) -> None:
                report.damage(str(p), line, message)

            lineno = 0
            for lineno, line in enumerate(read_lines(path, file_damage), 1):
                where[1] = lineno
                sp = line.find(b" ")
                try:
                    events = decoder.message(int(line[:sp]), line[sp + 1 :])
                except OffGridError as exc:
                    report.off_grid_value(str(path), lineno, str(exc))
                    continue
                except (ValueError, msgspec.DecodeError) as exc:
                    report.issue(str(path), lineno, f"unreadable line skipped: {exc}")
                    continue
                yield from events
            if lineno == 0:
                report.issue(str(path), 0, "empty file")
    finally:
        report.gaps += builder.gaps
        report.crossed += builder.crossed
        report.snapshots += builder.snapshots


def _first_offset(paths: list[Path]) -> int:
    """Exchange − receive time (ns) of the first message carrying an exchange time."""
    for path in paths:
        for line in read_lines(path, lambda _line, _msg: None):
            sp = line.find(b" ")
            body = line[sp + 1 :]
            if decode.stream_name(body) is None:
                body = decode.canonical(body) or b""  # another collector's way of writing it
                if decode.stream_name(body) is None:
                    continue
            try:
                data = msgspec.json.decode(body).get("data", {})
                exch_ms = data.get("T") or data.get("E")
                if exch_ms:
                    return int(exch_ms) * _MS - int(line[:sp])
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
    days: dict[Format, list[Path]] = {}
    streams: list[Iterator[MarketEvent]] = []
    for path in paths:
        fmt = detect_format(path)
        if fmt is None:
            report.issue(str(path), 0, "empty file")
        elif fmt is Format.CAPTURE:
            captures.append(path)
        elif fmt in DAILY_FORMATS:
            days.setdefault(fmt, []).append(path)
        else:
            streams.append(CSV_READERS[fmt](path, instrument, report))
    if Format.BINANCE_TRADES in days and Format.BINANCE_AGG_TRADES in days:
        raise ReplayError(
            f"{days[Format.BINANCE_AGG_TRADES][0]}: Binance trades and aggTrades archives "
            "given together hold the same prints twice; give one kind"
        )
    for fmt, group in days.items():
        streams.append(read_days(group, fmt, instrument, report))
    if captures:
        streams.insert(0, read_capture(captures, instrument, report))
    if not streams:
        raise ReplayError("no market data: every file given is empty")
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=_exch_ns)


def has_market_data(events: Iterable[MarketEvent]) -> bool:
    """True when ``events`` hold a market update (a diff, best bid/offer or trade), not
    only snapshots: a run over no update has nothing to say."""
    return any(type(ev) is not BookSnapshot for ev in events)


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
