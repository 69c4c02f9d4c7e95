"""Recording markets in the capture format: ``<local ns> <JSON>`` lines, gzip, one file an hour.

``CaptureWriter`` takes raw messages (bytes as the venue sent them) and writes them as they
come; every file starts with the instrument line (files.SPEC_PREFIX: the instrument's spec, so
it replays on any machine without a catalog) and a REST depth snapshot of the book when one is
known, so it replays on its own. A flusher thread
sync-flushes the gzip stream at least every ``flush_s`` seconds: after a crash the file reads
back (as a truncated gzip) up to the last flush, so at most that much is lost.

``CaptureEncoder`` turns our MarketEvents back into Binance combined-stream JSON (USD-M, COIN-M
or spot flavour, by the instrument), so a market we generate records exactly like a live one;
``recorded(events, ...)`` records a paper session's market as the engine consumes it.

``FeedRecorder`` records a live feed's raw messages (its ``on_raw`` hook). A file opens only
while the feed's book is in sync, with that book as its depth snapshot (it is the exchange's
book at that update id, proven by the diff chain), so every file replays on its own; REST
snapshots fetched on a resync are recorded where they arrived.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO

import msgspec

from tradetui.core.book import OrderBook
from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.core.types import (
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    Level,
    MarketEvent,
    Side,
    Trade,
)
from tradetui.market.books import SequencedBook, SyncState
from tradetui.market.files import spec_body
from tradetui.market.messages import is_depth_snapshot

_NS_PER_S = 1_000_000_000
_NS_PER_MS = 1_000_000
_HOUR_NS = 3600 * _NS_PER_S
# More levels than any book holds: a snapshot carries the whole book.
_ALL_LEVELS = 1 << 30
_JSON = msgspec.json.Encoder()


class CaptureWriter:
    """Raw messages of ``instrument`` to ``DIR/<prefix>_<YYYYMMDD>_<HH>.gz`` (UTC hour of the
    receive time); each file opens with the instrument line.

    ``snapshot()`` returns the REST depth snapshot body that opens each new file (live: a fresh
    REST call; for our own markets, the current book; empty when no book is known yet, and
    the file then opens without one). Thread-safe: the flusher thread and the
    writing thread share one lock.
    """

    def __init__(
        self,
        out_dir: Path,
        prefix: str,
        snapshot: Callable[[], bytes],
        *,
        instrument: Instrument,
        flush_s: float = 1.0,
        clock_ns: Callable[[], int] | None = None,
    ) -> None:
        if not flush_s > 0:
            raise ValueError(f"flush_s must be > 0 (got {flush_s})")
        self.out_dir = out_dir
        self.prefix = prefix
        self._spec = spec_body(instrument)
        self.files: list[Path] = []
        self.lines = 0
        self._snapshot = snapshot
        self._flush_s = flush_s
        self._lock = threading.Lock()
        self._gz: gzip.GzipFile | None = None
        self._raw: IO[bytes] | None = None
        self._hour = -1
        self._dirty = False
        self._closed = threading.Event()
        out_dir.mkdir(parents=True, exist_ok=True)
        self._flusher = threading.Thread(target=self._flush_loop, name="capture-flush", daemon=True)
        self._flusher.start()

    def write(self, local_ns: int, body: bytes, *, snapshot: bool = False) -> None:
        """Append one message received at ``local_ns``; opens the next hour's file as needed.

        ``snapshot`` marks a REST depth snapshot: one that opens a new file is not repeated.
        After ``close()`` a message is dropped: the recording has ended (a session closes it
        before its feed has stopped).
        """
        with self._lock:
            if self._closed.is_set():
                return
            hour = local_ns // _HOUR_NS
            if hour != self._hour:
                self._rotate(hour, local_ns, body if snapshot else None)
                if snapshot:
                    return
            assert self._gz is not None
            self._gz.write(b"%d %b\n" % (local_ns, body))
            self.lines += 1
            self._dirty = True

    def opens_file(self, local_ns: int) -> bool:
        """True when a message received at ``local_ns`` would open a new file."""
        return local_ns // _HOUR_NS != self._hour

    def end_file(self) -> None:
        """Finish the open file now; the next write opens a new one (with a snapshot)."""
        with self._lock:
            self._close_file()
            self._hour = -1

    def flush(self) -> None:
        """Sync-flush the open file: everything written so far becomes readable."""
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        """Finish the open file (a complete gzip member) and stop the flusher."""
        self._closed.set()
        self._flusher.join()
        with self._lock:
            self._close_file()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _rotate(self, hour: int, local_ns: int, snapshot: bytes | None) -> None:
        self._close_file()
        stamp = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y%m%d_%H")
        path = self.out_dir / f"{self.prefix}_{stamp}.gz"
        n = 1
        while path.exists():  # never overwrite an earlier recording of the same hour
            n += 1
            path = self.out_dir / f"{self.prefix}_{stamp}_{n}.gz"
        self._raw = path.open("xb")
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        self._hour = hour
        self.files.append(path)
        body = snapshot if snapshot is not None else self._snapshot()
        self._gz.write(b"%d %b\n" % (local_ns, self._spec))
        if body:  # none while no book is known: the file starts on the streams alone
            self._gz.write(b"%d %b\n" % (local_ns, body))
        self.lines += 1
        self._dirty = True

    def _flush_locked(self) -> None:
        if self._gz is not None and self._dirty:
            self._gz.flush(zlib.Z_SYNC_FLUSH)
            assert self._raw is not None
            self._raw.flush()
            self._dirty = False

    def _close_file(self) -> None:
        if self._gz is not None:
            self._gz.close()
            assert self._raw is not None
            self._raw.close()
            self._gz = self._raw = None

    def _flush_loop(self) -> None:
        while not self._closed.wait(self._flush_s):
            self.flush()


class CaptureEncoder:
    """Our MarketEvents as Binance combined-stream messages of ``instrument``.

    Exchange times are whole milliseconds on the wire (``E``), as Binance sends them. The
    encoder keeps the book, so ``snapshot()`` can open a new file at any point once a
    snapshot has set it (before, a replay of diffs alone, it returns b"": no book is known).
    """

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.spot = instrument.kind is InstrumentKind.SPOT
        self._pair = _coinm_pair(instrument)
        self.book = OrderBook()
        self.update_id = 0
        self.exch_ns = 0
        self._synced = False
        sym = instrument.symbol.lower()
        self._depth = f"{sym}@depth@{'100ms' if self.spot else '0ms'}"
        self._ticker = f"{sym}@bookTicker"
        self._trade = f"{sym}@trade"

    def encode(self, ev: MarketEvent) -> bytes:
        """The message body for ``ev`` (a snapshot becomes a REST depth snapshot body)."""
        e_ms = ev.exch_ns // _NS_PER_MS
        self.exch_ns = ev.exch_ns
        px, qty = self._px, self._qty
        obj: dict[str, object]
        if type(ev) is BookDelta:
            self.book.apply_delta(ev)
            self.update_id = ev.last_id
            data: dict[str, object] = {
                "e": "depthUpdate",
                "E": e_ms,
                "T": e_ms,
                "s": self.instrument.symbol,
            }
            if self._pair:
                data["ps"] = self._pair
            data |= {"U": ev.first_id, "u": ev.last_id}
            if not self.spot:
                data["pu"] = ev.prev_id
            data["b"] = self._levels(ev.bids)
            data["a"] = self._levels(ev.asks)
            obj = {"stream": self._depth, "data": data}
        elif type(ev) is BestBidOffer:
            data = {"e": "bookTicker", "u": ev.update_id, "s": self.instrument.symbol}
            if self._pair:
                data["ps"] = self._pair
            data |= {"b": px(ev.bid_ticks), "B": qty(ev.bid_lots)}
            data |= {"a": px(ev.ask_ticks), "A": qty(ev.ask_lots)}
            if not self.spot:
                data |= {"T": e_ms, "E": e_ms}
            obj = {"stream": self._ticker, "data": data}
        elif type(ev) is Trade:
            data = {"e": "trade", "E": e_ms, "T": e_ms, "s": self.instrument.symbol}
            data |= {"t": ev.trade_id, "p": px(ev.price_ticks), "q": qty(ev.qty_lots)}
            if not self.spot:
                data["X"] = "MARKET"
            data["m"] = ev.aggressor < 0  # a sell aggressor means the buyer was the maker
            obj = {"stream": self._trade, "data": data}
        elif type(ev) is BookSnapshot:
            self.book.apply_snapshot(ev.bids, ev.asks)
            self.update_id = ev.update_id
            self._synced = True
            return self.snapshot()
        else:
            raise TypeError(f"not a market event: {type(ev).__name__}")
        return _JSON.encode(obj)

    def snapshot(self) -> bytes:
        """A REST depth snapshot body of the current book (all levels); b"" before any
        snapshot set the book."""
        if not self._synced:
            return b""
        return depth_snapshot_body(self.instrument, self.book, self.update_id, self.exch_ns)

    def _px(self, ticks: int) -> str:
        return format(self.instrument.price(ticks), "f")

    def _qty(self, lots: int) -> str:
        return format(self.instrument.qty(lots), "f")

    def _levels(self, levels: tuple[Level, ...] | list[Level]) -> list[list[str]]:
        return _levels(self.instrument, levels)


def _levels(inst: Instrument, levels: tuple[Level, ...] | list[Level]) -> list[list[str]]:
    price, qty = inst.price, inst.qty
    return [[format(price(p), "f"), format(qty(q), "f")] for p, q in levels]


def _coinm_pair(inst: Instrument) -> str:
    """The ``pair`` COIN-M messages name (ETHUSD for ETHUSD_PERP), '' for other venues.

    Binance's COIN-M contracts are its inverse ones; a pair is base and quote asset.
    """
    return f"{inst.base}{inst.quote}" if inst.inverse else ""


def depth_snapshot_body(inst: Instrument, book: OrderBook, update_id: int, exch_ns: int) -> bytes:
    """``book`` (all levels) as a REST depth snapshot body at ``update_id``; futures bodies
    carry the exchange time ``exch_ns`` as ``E``/``T`` (ms), spot ones carry no time, and
    COIN-M ones name ``symbol`` and ``pair``, as Binance's."""
    obj: dict[str, object] = {"lastUpdateId": update_id}
    if inst.kind is not InstrumentKind.SPOT:
        e_ms = exch_ns // _NS_PER_MS
        obj |= {"E": e_ms, "T": e_ms}
    pair = _coinm_pair(inst)
    if pair:
        obj |= {"symbol": inst.symbol, "pair": pair}
    obj["bids"] = _levels(inst, book.levels(Side.BUY, _ALL_LEVELS))
    obj["asks"] = _levels(inst, book.levels(Side.SELL, _ALL_LEVELS))
    return _JSON.encode(obj)


class FeedRecorder:
    """A live feed's raw messages into hourly capture files; ``on_raw`` is the feed's hook.

    ``book()`` returns the feed's sequenced book (None before it connects). A file opens at the
    first message while that book is in sync, with the book as its snapshot line; at the turn
    of the hour the next file opens the same way (when the book is unknown then, the old file
    ends and the next one waits until it is known again).
    """

    def __init__(
        self,
        out_dir: Path,
        prefix: str,
        instrument: Instrument,
        book: Callable[[], SequencedBook | None],
        *,
        flush_s: float = 1.0,
    ) -> None:
        self.instrument = instrument
        self._book = book
        self.writer = CaptureWriter(
            out_dir, prefix, self._opening, instrument=instrument, flush_s=flush_s
        )

    def on_raw(self, local_ns: int, body: bytes) -> None:
        """Record one message (called after the feed applied it)."""
        w = self.writer
        snapshot = is_depth_snapshot(body)
        if w.opens_file(local_ns):
            book = self._book()
            if book is None or book.state is not SyncState.SYNCED:
                w.end_file()
                return
            if snapshot:
                # The book already holds this snapshot and the buffered diffs applied on it;
                # the snapshot alone would miss those diffs, which went into no file.
                w.write(local_ns, self._opening(), snapshot=True)
                return
        w.write(local_ns, body, snapshot=snapshot)

    def close(self) -> None:
        self.writer.close()

    def _opening(self) -> bytes:
        book = self._book()
        assert book is not None, "a file opens only while the feed has a book"
        return depth_snapshot_body(self.instrument, book.book, book.last_id, book.last_exch_ns)


def recorded(
    events: Iterable[MarketEvent], encoder: CaptureEncoder, writer: CaptureWriter
) -> Iterator[MarketEvent]:
    """``events`` passed on unchanged, each recorded (as Binance JSON) when it is taken."""
    for ev in events:
        writer.write(ev.local_ns, encoder.encode(ev), snapshot=type(ev) is BookSnapshot)
        yield ev


def record_events(
    events: Iterable[MarketEvent],
    encoder: CaptureEncoder,
    writer: CaptureWriter,
    end_ns: int,
    *,
    speed: float | None = None,
) -> int:
    """Record ``events`` received before ``end_ns``; returns the number of messages written.

    ``speed`` paces the recording against the wall clock (1 = as received, N = N× faster);
    None records as fast as the events come.
    """
    written = 0
    for _ in recorded(_paced(events, end_ns, speed), encoder, writer):
        written += 1
    return written


def _paced(
    events: Iterable[MarketEvent], end_ns: int, speed: float | None
) -> Iterator[MarketEvent]:
    wall0_ns = time.monotonic_ns()
    t0_ns: int | None = None
    for ev in events:
        local_ns = ev.local_ns
        if local_ns >= end_ns:
            return
        if speed is not None:
            if t0_ns is None:
                t0_ns = local_ns
            ahead_s = ((local_ns - t0_ns) / speed - (time.monotonic_ns() - wall0_ns)) / 1e9
            if ahead_s > 0:
                time.sleep(ahead_s)
        yield ev
