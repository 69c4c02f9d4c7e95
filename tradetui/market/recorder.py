"""Recording markets in the capture format: ``<local ns> <JSON>`` lines, gzip, one file an hour.

``CaptureWriter`` takes raw messages (bytes as the venue sent them) and writes them as they
come; every file starts with a REST depth snapshot so it replays on its own. A flusher thread
sync-flushes the gzip stream at least every ``flush_s`` seconds: after a crash the file reads
back (as a truncated gzip) up to the last flush, so at most that much is lost.

``CaptureEncoder`` turns our MarketEvents back into Binance combined-stream JSON (USD-M or spot
flavour, by the instrument), so a market we generate records exactly like a live one.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterable
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

_NS_PER_S = 1_000_000_000
_NS_PER_MS = 1_000_000
_HOUR_NS = 3600 * _NS_PER_S
# More levels than any book holds: a snapshot carries the whole book.
_ALL_LEVELS = 1 << 30


class CaptureWriter:
    """Raw messages to ``DIR/<prefix>_<YYYYMMDD>_<HH>.gz`` (UTC hour of the receive time).

    ``snapshot()`` returns the REST depth snapshot body that opens each new file (live: a fresh
    REST call; for our own markets, the current book). Thread-safe: the flusher thread and the
    writing thread share one lock.
    """

    def __init__(
        self,
        out_dir: Path,
        prefix: str,
        snapshot: Callable[[], bytes],
        *,
        flush_s: float = 1.0,
        clock_ns: Callable[[], int] | None = None,
    ) -> None:
        if not flush_s > 0:
            raise ValueError(f"flush_s must be > 0 (got {flush_s})")
        self.out_dir = out_dir
        self.prefix = prefix
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
        """
        with self._lock:
            hour = local_ns // _HOUR_NS
            if hour != self._hour:
                self._rotate(hour, local_ns, body if snapshot else None)
                if snapshot:
                    return
            assert self._gz is not None
            self._gz.write(b"%d %b\n" % (local_ns, body))
            self.lines += 1
            self._dirty = True

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
    encoder keeps the book, so ``snapshot()`` can open a new file at any point.
    """

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.spot = instrument.kind is InstrumentKind.SPOT
        self.book = OrderBook()
        self.update_id = 0
        self.exch_ns = 0
        sym = instrument.symbol.lower()
        self._depth = f"{sym}@depth@{'100ms' if self.spot else '0ms'}"
        self._ticker = f"{sym}@bookTicker"
        self._trade = f"{sym}@trade"
        self._json = msgspec.json.Encoder()

    def encode(self, ev: MarketEvent) -> bytes:
        """The message body for ``ev`` (a snapshot becomes a REST depth snapshot body)."""
        e_ms = ev.exch_ns // _NS_PER_MS
        self.exch_ns = ev.exch_ns
        px, qty = self._px, self._qty
        obj: dict[str, object]
        if type(ev) is BookDelta:
            self.book.apply_delta(ev.bids, ev.asks)
            self.update_id = ev.last_id
            data: dict[str, object] = {
                "e": "depthUpdate",
                "E": e_ms,
                "T": e_ms,
                "s": self.instrument.symbol,
                "U": ev.first_id,
                "u": ev.last_id,
            }
            if not self.spot:
                data["pu"] = ev.prev_id
            data["b"] = self._levels(ev.bids)
            data["a"] = self._levels(ev.asks)
            obj = {"stream": self._depth, "data": data}
        elif type(ev) is BestBidOffer:
            data = {"e": "bookTicker", "u": ev.update_id, "s": self.instrument.symbol}
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
            return self.snapshot()
        else:
            raise TypeError(f"not a market event: {type(ev).__name__}")
        return self._json.encode(obj)

    def snapshot(self) -> bytes:
        """A REST depth snapshot body of the current book (all levels)."""
        book = self.book
        obj: dict[str, object] = {"lastUpdateId": self.update_id}
        if not self.spot:
            e_ms = self.exch_ns // _NS_PER_MS
            obj |= {"E": e_ms, "T": e_ms}
        obj["bids"] = self._levels(book.levels(Side.BUY, _ALL_LEVELS))
        obj["asks"] = self._levels(book.levels(Side.SELL, _ALL_LEVELS))
        return self._json.encode(obj)

    def _px(self, ticks: int) -> str:
        return format(self.instrument.price(ticks), "f")

    def _qty(self, lots: int) -> str:
        return format(self.instrument.qty(lots), "f")

    def _levels(self, levels: tuple[Level, ...] | list[Level]) -> list[list[str]]:
        px, qty = self._px, self._qty
        return [[px(p), qty(q)] for p, q in levels]


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
    wall0_ns = time.monotonic_ns()
    t0_ns: int | None = None
    for ev in events:
        local_ns = ev.local_ns
        if local_ns >= end_ns:
            break
        if speed is not None:
            if t0_ns is None:
                t0_ns = local_ns
            ahead_s = ((local_ns - t0_ns) / speed - (time.monotonic_ns() - wall0_ns)) / 1e9
            if ahead_s > 0:
                time.sleep(ahead_s)
        writer.write(local_ns, encoder.encode(ev), snapshot=type(ev) is BookSnapshot)
        written += 1
    return written
