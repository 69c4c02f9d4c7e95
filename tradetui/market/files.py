"""Recorded market files: opening (plain, gzip, zip), format detection, the instrument line.

Errors a user can cause (unknown format, another symbol, unreadable file) raise ReplayError
with one line naming the file; damage inside a file is reported as an Issue and reading goes
on wherever that is safe.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from tradetui.core.instrument import Instrument

# Issues kept verbatim per report; the rest are only counted.
_ISSUES_KEPT = 50


class ReplayError(Exception):
    """A file that cannot be replayed at all (the message names it and says why)."""


class Format(StrEnum):
    CAPTURE = "capture"  # "<local ns> <combined-stream JSON>", first session line a snapshot
    BINANCE_BOOK_TICKER = "binance-bookticker-csv"
    BINANCE_TRADES = "binance-trades-csv"
    BINANCE_AGG_TRADES = "binance-aggtrades-csv"
    TARDIS_BOOK = "tardis-incremental-book-l2"
    TARDIS_TRADES = "tardis-trades"


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
    # Values off the instrument's tick or lot grid (each also an issue).
    off_grid: int = 0
    # True when the grids came from the user's flags: a value off them is a refusal.
    strict_grid: bool = False
    # Files whose compressed stream ended early (cut short or corrupt): read up to the issue's
    # line only. Each is also an issue; a command replaying them ends with damage_error().
    damaged: list[Issue] = field(default_factory=list)

    def issue(self, path: str, line: int, message: str) -> None:
        self.issue_count += 1
        if len(self.issues) < _ISSUES_KEPT:
            self.issues.append(Issue(path, line, message))

    def damage(self, path: str, line: int, message: str) -> None:
        """A file whose compressed data ends early: an issue, and kept in ``damaged``."""
        self.issue(path, line, message)
        self.damaged.append(Issue(path, line, message))

    def damage_error(self) -> str | None:
        """The one error line a command ends with after replaying a damaged file, else None."""
        if not self.damaged:
            return None
        return (
            f"{self.damaged[0]}; the events before it were replayed (reported above); use a "
            "complete copy of the file, or leave it out"
        )

    def off_grid_value(self, path: str, line: int, message: str) -> None:
        """A price or size off the grid: an issue, or a refusal when the grid was a flag's."""
        if self.strict_grid:
            raise ReplayError(
                f"{path}:{line}: {message}; the --tick-size/--lot-size given contradict the data"
            )
        self.off_grid += 1
        self.issue(path, line, f"off-grid value skipped: {message}")

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


def not_a_data_file(path: Path) -> str | None:
    """Why ``path`` cannot be a recorded file (one line naming it), None when it is a file."""
    if path.is_file():
        return None
    if path.is_dir():
        return f"{path}: is a directory; give the recorded files in it (e.g. {path}/*.gz)"
    return f"{path}: no such file"


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


def read_lines(path: Path, on_damage: Callable[[int, str], None]) -> Iterator[bytes]:
    """Lines of a plain, gzip or zip file without line ends; a damaged stream ends early
    and calls ``on_damage`` (line, message naming the last good line) instead of raising."""
    n = 0
    with _raw(path) as f:
        try:
            for line in f:
                n += 1
                yield line.rstrip(b"\r\n")
        except (EOFError, gzip.BadGzipFile, zlib.error, zipfile.BadZipFile, OSError) as exc:
            on_damage(n + 1, f"truncated or damaged after line {n} ({exc})")


def head_lines(path: Path, n: int) -> list[bytes]:
    """The first ``n`` non-blank lines of ``path`` (fewer when it is shorter)."""
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
    # COIN-M's trades: qty in contracts, then their coin value (Binance's README, "Trades").
    "id,price,qty,base_qty,time,is_buyer_maker": Format.BINANCE_TRADES,
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
    head = head_lines(path, 1)
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


# ---- the instrument line of our own recordings ----------------------------------------------

# A capture we write opens every file with ``<ns> {"tradetui":{"instrument":{...}}}`` (the
# spec of Instrument.to_spec), so it replays without a catalog; readers skip it as data.
SPEC_PREFIX = b'{"tradetui":'


def spec_body(instrument: Instrument) -> bytes:
    """The instrument line's JSON body for ``instrument``."""
    return json.dumps(
        {"tradetui": {"instrument": instrument.to_spec()}}, separators=(",", ":")
    ).encode()


def parse_spec(body: bytes) -> Instrument:
    """The instrument of an instrument line's body; ValueError when it is damaged."""
    try:
        return Instrument.from_spec(json.loads(body)["tradetui"]["instrument"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"damaged instrument line ({exc})") from None


def recorded_instrument(path: Path) -> Instrument | None:
    """The instrument a capture of ours names on its first line, or None (other captures).
    Raises ReplayError for a damaged one."""
    head = head_lines(path, 1)
    if not head:
        return None
    _, _, body = head[0].partition(b" ")
    if not body.startswith(SPEC_PREFIX):
        return None
    try:
        return parse_spec(body)
    except ValueError as exc:
        raise ReplayError(
            f"{path}:1: {exc}; delete that line to read the file with the catalog or flags"
        ) from None


def no_market_data(paths: list[Path], report: ReplayReport) -> ReplayError:
    """The refusal of a run that read no market update (no diff, bookTicker or trade)."""
    read = ", ".join(f"{k} {v:,}" for k, v in sorted(report.messages.items())) or "nothing"
    why = f"; first issue: {report.issues[0]}" if report.issues else ""
    return ReplayError(
        f"no market data in {', '.join(map(str, paths))} (read: {read}; "
        f"{report.issue_count:,} issue(s){why})"
    )


def other_symbol(where: str, theirs: str, ours: str) -> ReplayError:
    """The refusal of data that names another market than the one chosen."""
    return ReplayError(
        f"{where}: the data is {theirs.upper()}, not {ours.upper()}; "
        f"pass --symbol {theirs.upper()} (or give only files of one market)"
    )
