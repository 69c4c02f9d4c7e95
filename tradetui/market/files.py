"""Recorded market files: opening (plain, gzip, zip), format detection, instrument inference.

Errors a user can cause (unknown format, unknown symbol, unreadable file) raise ReplayError
with one line naming the file; damage inside a file is reported as an Issue and reading goes
on wherever that is safe.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from tradetui.core.instrument import Instrument, InstrumentKind, btcusdt_perpetual

# Issues kept verbatim per report; the rest are only counted.
_ISSUES_KEPT = 50
_SNIFF_LINES = 400


class ReplayError(Exception):
    """A file that cannot be replayed at all (the message names it and says why)."""


class Format(StrEnum):
    CAPTURE = "capture"  # "<local ns> <combined-stream JSON>", first session line a snapshot
    BINANCE_BOOK_TICKER = "binance-bookticker-csv"
    BINANCE_TRADES = "binance-trades-csv"
    BINANCE_AGG_TRADES = "binance-aggtrades-csv"
    TARDIS_BOOK = "tardis-incremental-book-l2"
    TARDIS_TRADES = "tardis-trades"


class Venue(StrEnum):
    USDM = "usdm"
    SPOT = "spot"


@dataclass(frozen=True, slots=True)
class Issue:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(slots=True)
class ReplayReport:
    """What reading found: counts by stream, time spans (ns), and issues with file:line."""

    messages: dict[str, int] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    issue_count: int = 0
    gaps: int = 0
    crossed: int = 0
    snapshots: int = 0
    first_exch_ns: int = 0
    last_exch_ns: int = 0
    first_local_ns: int = 0
    last_local_ns: int = 0

    def issue(self, path: str, line: int, message: str) -> None:
        self.issue_count += 1
        if len(self.issues) < _ISSUES_KEPT:
            self.issues.append(Issue(path, line, message))

    def count(self, stream: str) -> None:
        self.messages[stream] = self.messages.get(stream, 0) + 1

    def span(self, exch_ns: int, local_ns: int) -> None:
        if not self.first_exch_ns or exch_ns < self.first_exch_ns:
            self.first_exch_ns = exch_ns
        if exch_ns > self.last_exch_ns:
            self.last_exch_ns = exch_ns
        if not self.first_local_ns or local_ns < self.first_local_ns:
            self.first_local_ns = local_ns
        if local_ns > self.last_local_ns:
            self.last_local_ns = local_ns


# ---- opening -----------------------------------------------------------------------------------


def _raw(path: Path) -> io.BufferedIOBase:
    try:
        with path.open("rb") as f:
            magic = f.read(4)
        if magic[:2] == b"\x1f\x8b":
            return gzip.open(path, "rb")
        if magic == b"PK\x03\x04":
            zf = zipfile.ZipFile(path)
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise ReplayError(f"{path}: expected one file inside the zip, found {len(names)}")
            return zf.open(names[0])  # type: ignore[return-value]
        return path.open("rb")
    except OSError as exc:
        raise ReplayError(f"{path}: cannot open ({exc.strerror or exc})") from None


def read_lines(path: Path, on_issue: Callable[[int, str], None]) -> Iterator[bytes]:
    """Lines of a plain, gzip or zip file without line ends; a damaged stream ends early
    with an issue naming the last good line instead of an exception."""
    n = 0
    with _raw(path) as f:
        try:
            for line in f:
                n += 1
                yield line.rstrip(b"\r\n")
        except (EOFError, gzip.BadGzipFile, zlib.error, zipfile.BadZipFile, OSError) as exc:
            on_issue(n + 1, f"compressed data is damaged or truncated after line {n} ({exc})")


def _head(path: Path, n: int) -> list[bytes]:
    out: list[bytes] = []
    for line in read_lines(path, lambda _line, _msg: None):
        if line.strip():
            out.append(line)
        if len(out) >= n:
            break
    return out


# ---- detection ---------------------------------------------------------------------------------

_CAPTURE_LINE = re.compile(rb"^\d{10,20} \{")
_HEADERS: dict[str, Format] = {
    "update_id,best_bid_price": Format.BINANCE_BOOK_TICKER,
    "id,price,qty,quote_qty,time,is_buyer_maker": Format.BINANCE_TRADES,
    "agg_trade_id,price,quantity": Format.BINANCE_AGG_TRADES,
    "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount": Format.TARDIS_BOOK,
    "exchange,symbol,timestamp,local_timestamp,id,side,price,amount": Format.TARDIS_TRADES,
}
_NAME_HINTS = (
    ("aggtrades", Format.BINANCE_AGG_TRADES),
    ("booktick", Format.BINANCE_BOOK_TICKER),
    ("trades", Format.BINANCE_TRADES),
)


def detect_format(path: Path) -> Format | None:
    """The format of ``path`` from its first line (and name, for headerless archives);
    None for an empty file. Raises ReplayError for an unknown format."""
    head = _head(path, 1)
    if not head:
        return None
    first = head[0]
    if _CAPTURE_LINE.match(first):
        return Format.CAPTURE
    text = first.decode("utf-8", "replace").strip().lower()
    for prefix, fmt in _HEADERS.items():
        if text.startswith(prefix):
            return fmt
    if re.match(r"^\d+,", text):
        name = path.name.lower()
        for hint, fmt in _NAME_HINTS:
            if hint in name:
                return fmt
    raise ReplayError(
        f"{path}: unknown format (first line {text[:60]!r}); expected a raw capture "
        "('<ns> {json}'), a Binance bookTicker/trades/aggTrades CSV or a tardis "
        "incremental_book_L2/trades CSV"
    )


# ---- instruments -------------------------------------------------------------------------------


def _spot(symbol: str, base: str, step: str) -> Instrument:
    # Book sizes on spot are published to the base asset's precision (1e-8; e.g. 25.426189
    # BTC), finer than the order step, so the lot is 1e-8 and the step is the minimum size.
    return Instrument(
        symbol=symbol,
        base=base,
        quote="USDT",
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00000001"),
        min_qty=Decimal(step),
        min_notional=Decimal("5"),
        kind=InstrumentKind.SPOT,
        maker_fee_rate=0.001,
        taker_fee_rate=0.001,
    )


INSTRUMENTS: dict[tuple[Venue, str], Callable[[], Instrument]] = {
    (Venue.USDM, "BTCUSDT"): btcusdt_perpetual,
    (Venue.SPOT, "BTCUSDT"): lambda: _spot("BTCUSDT", "BTC", "0.00001"),
    (Venue.SPOT, "ETHUSDT"): lambda: _spot("ETHUSDT", "ETH", "0.0001"),
}

_SYMBOL_IN_NAME = re.compile(r"^([a-z0-9]+?usdt|[a-z0-9]+?usdc|[a-z0-9]+?busd)[_\-.]", re.I)
_STREAM = re.compile(rb'"stream":"([a-z0-9]+)@([a-zA-Z]+)')


def _sniff_market(path: Path) -> tuple[Venue | None, str | None]:
    venue: Venue | None = None
    symbol: str | None = None
    for line in _head(path, _SNIFF_LINES):
        m = _STREAM.search(line)
        if m:
            symbol = symbol or m.group(1).decode().upper()
            if m.group(2) == b"depth":
                venue = Venue.USDM if b'"pu":' in line else Venue.SPOT
        elif line.count(b",") >= 7 and not line[:1].isdigit():
            parts = line.decode("utf-8", "replace").split(",")
            if parts[0] in ("binance-futures", "binance-delivery"):
                venue, symbol = Venue.USDM, parts[1].upper()
            elif parts[0] in ("binance", "binance-us"):
                venue, symbol = Venue.SPOT, parts[1].upper()
        if venue and symbol:
            break
    return venue, symbol


def _venue_from_path(path: Path) -> Venue | None:
    parts = {p.lower() for p in path.resolve().parts[:-1]}
    words = set()
    for p in parts:
        words.update(re.split(r"[^a-z0-9]+", p))
    if words & {"usdm", "um", "futures"}:
        return Venue.USDM
    if "spot" in words:
        return Venue.SPOT
    return None


def infer_instrument(
    paths: list[Path], venue: str | None = None, symbol: str | None = None
) -> Instrument:
    """The instrument of recorded files: ``venue``/``symbol`` when given, else from the
    stream names and content, the folder names and the file name. Raises ReplayError."""
    if venue and venue.lower() not in {x.value for x in Venue}:
        raise ReplayError(f"--venue: unknown venue {venue!r}; use usdm or spot")
    v = Venue(venue.lower()) if venue else None
    sym = symbol.upper() if symbol else None
    empty: list[Path] = []
    for path in paths:
        if v and sym:
            break
        fmt = detect_format(path)
        if fmt is None:
            empty.append(path)
            continue
        sv, ss = _sniff_market(path)
        v = v or sv or _venue_from_path(path)
        if fmt is Format.BINANCE_BOOK_TICKER:
            v = v or Venue.USDM  # Binance publishes bookTicker archives for futures only
        m = _SYMBOL_IN_NAME.match(path.name)
        sym = sym or ss or (m.group(1).upper() if m else None)
    if empty and len(empty) == len(paths):
        raise ReplayError(
            f"{empty[0]}: no data lines (the file is empty, or not readable as text or gzip); "
            "pick another recording"
        )
    if sym is None:
        raise ReplayError(f"{paths[0]}: cannot tell the symbol; pass --symbol (e.g. BTCUSDT)")
    if v is None:
        raise ReplayError(f"{paths[0]}: cannot tell the venue; pass --venue usdm or spot")
    make = INSTRUMENTS.get((v, sym))
    if make is None:
        known = ", ".join(f"{a}:{b}" for a, b in INSTRUMENTS)
        raise ReplayError(f"no instrument for {v}:{sym}; known: {known}")
    return make()
