"""Binance's public daily archives (data.binance.vision): where a day's file is, and fetching it.

The layout, from Binance's own description (https://github.com/binance/binance-public-data,
README: "Where do I access it", "CHECKSUM"), daily interval:

    <base>/data/<market>/daily/<kind>/<SYMBOL>/<SYMBOL>-<kind>-<YYYY-MM-DD>.zip
    <the same>.zip.CHECKSUM      sha256sum output: "<64 hex digits>  <SYMBOL>-<kind>-<day>.zip"

with ``<market>`` ``futures/um`` (USD-M), ``futures/cm`` (COIN-M) or ``spot``. Futures publish
trades, aggTrades and bookTicker; spot publishes trades and aggTrades only (no bookTicker).
A day is uploaded the day after; a day not published answers 404.

Files land under ``dest`` in the same tree (``dest/data/futures/um/daily/...``), so the folder
names tell the readers the venue. A download goes to ``<name>.part`` and continues from its
size with an HTTP Range request; it becomes ``<name>`` only once its sha256 matches the
published CHECKSUM, which is kept beside it (``<name>.CHECKSUM``): a file with a matching local
CHECKSUM is complete and is skipped without asking the server. A mismatch deletes the part.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

ARCHIVE_URL = "https://data.binance.vision"
MARKETS = {"usdm": "futures/um", "coinm": "futures/cm", "spot": "spot"}
KINDS = ("bookTicker", "trades", "aggTrades")
# What a backtest needs: the touch (bookTicker, futures only) and the trade prints.
DEFAULT_KINDS = {"usdm": "bookTicker,trades", "coinm": "bookTicker,trades", "spot": "trades"}
# More days than this in one command is most likely a typo in a date.
MAX_DAYS = 366
_CHUNK = 1 << 16
_SHA256 = re.compile(r"^([0-9a-fA-F]{64})\b")


class ArchiveError(Exception):
    """A request the archive cannot serve as asked (one line: what, and how to fix it)."""


class Outcome(StrEnum):
    SKIPPED = "already here"
    DOWNLOADED = "downloaded"
    MISSING = "missing"
    BAD_CHECKSUM = "checksum mismatch"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class DayFile:
    """One published day of one kind of one symbol."""

    venue: str  # usdm, coinm or spot
    kind: str  # one of KINDS
    symbol: str  # upper case, as in the archive's paths
    day: date

    @property
    def name(self) -> str:
        return f"{self.symbol}-{self.kind}-{self.day.isoformat()}.zip"

    @property
    def path(self) -> str:
        """The path below the archive's base URL (and below the local folder)."""
        return f"data/{MARKETS[self.venue]}/daily/{self.kind}/{self.symbol}/{self.name}"

    def url(self, base: str) -> str:
        return f"{base.rstrip('/')}/{self.path}"

    def local(self, dest: Path) -> Path:
        return dest / self.path


@dataclass(frozen=True, slots=True)
class DayResult:
    file: DayFile
    outcome: Outcome
    detail: str  # one line for people
    size: int  # bytes of the local file (or of the part kept)
    path: Path

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.SKIPPED, Outcome.DOWNLOADED)


def parse_day(flag: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ArchiveError(f"{flag}: expected a day as YYYY-MM-DD (got {text!r})") from None


def parse_kinds(text: str, venue: str) -> tuple[str, ...]:
    """The kinds of ``--kind`` (comma-separated; case as Binance spells them, or any case)."""
    by_lower = {k.lower(): k for k in KINDS}
    out: list[str] = []
    for part in text.split(","):
        word = part.strip()
        if not word:
            continue
        kind = by_lower.get(word.lower())
        if kind is None:
            raise ArchiveError(f"--kind: unknown kind {word!r}; use {', '.join(KINDS)}")
        if kind == "bookTicker" and venue == "spot":
            raise ArchiveError(
                "--kind bookTicker: Binance publishes no spot bookTicker archive (spot has "
                "trades and aggTrades); use --kind trades, or a futures venue"
            )
        if kind not in out:
            out.append(kind)
    if not out:
        raise ArchiveError(f"--kind: give at least one of {', '.join(KINDS)}")
    if "trades" in out and "aggTrades" in out:
        raise ArchiveError(
            "--kind: trades and aggTrades hold the same prints (an aggTrade merges the trades "
            "of one taker order at one price); a backtest takes one of them, so pick one"
        )
    return tuple(out)


def day_files(
    venue: str, symbol: str, kinds: tuple[str, ...], first: date, last: date
) -> list[DayFile]:
    """Every (kind, day) of the range, ``first`` to ``last`` inclusive, day by day."""
    if last < first:
        raise ArchiveError(f"--to {last} is before --from {first}; swap them")
    n = (last - first).days + 1
    if n > MAX_DAYS:
        raise ArchiveError(
            f"--from {first} --to {last} is {n} days; at most {MAX_DAYS} in one command"
        )
    sym = symbol.strip().upper()
    if not re.fullmatch(r"[A-Z0-9_]+", sym):
        raise ArchiveError(f"--symbol: {symbol!r} is not a Binance symbol (e.g. BTCUSDT)")
    return [
        DayFile(venue, kind, sym, first + timedelta(days=i)) for i in range(n) for kind in kinds
    ]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def parse_checksum(text: str, where: str) -> str:
    """The sha256 of a CHECKSUM file's text; ArchiveError when it holds none."""
    m = _SHA256.match(text.strip())
    if m is None:
        raise ArchiveError(f"{where}: no sha256 in the CHECKSUM file (got {text[:40]!r})")
    return m.group(1).lower()


Progress = Callable[[int, int | None], None]  # (bytes done, bytes in all if known)


def fetch_day(
    f: DayFile, base: str, dest: Path, on_bytes: Progress | None = None, timeout_s: float = 30.0
) -> DayResult:
    """Bring ``f`` to ``dest``: skip it when complete and verified, else (re)fetch or continue
    its part, and verify. Network trouble is an INTERRUPTED result (the part is kept), never
    an exception; only a local folder that cannot be written raises (OSError)."""
    target = f.local(dest)
    sums = target.with_name(target.name + ".CHECKSUM")
    part = target.with_name(target.name + ".part")
    url = f.url(base)

    def result(outcome: Outcome, detail: str, path: Path = target) -> DayResult:
        size = path.stat().st_size if path.exists() else 0
        return DayResult(f, outcome, detail, size, path)

    if target.exists() and sums.exists():
        try:
            if sha256_file(target) == parse_checksum(sums.read_text(), str(sums)):
                return result(Outcome.SKIPPED, "complete, sha256 verified")
        except ArchiveError:
            pass  # a damaged local CHECKSUM: fetch both again
    try:
        published = _get_text(url + ".CHECKSUM", timeout_s)
    except _NotPublishedError:
        return result(Outcome.MISSING, f"not published ({url} answers 404)")
    except _TransferError as exc:
        return result(Outcome.INTERRUPTED, f"{url}.CHECKSUM: {exc}; run again")
    try:
        expected = parse_checksum(published, url + ".CHECKSUM")
    except ArchiveError as exc:
        return result(Outcome.BAD_CHECKSUM, str(exc))
    if target.exists() and sha256_file(target) == expected:
        sums.write_text(published)  # complete, only its CHECKSUM was missing
        return result(Outcome.SKIPPED, "complete, sha256 verified")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _download(url, part, on_bytes, timeout_s)
    except _NotPublishedError:
        return result(Outcome.MISSING, f"not published ({url} answers 404)")
    except _TransferError as exc:
        kept = part.stat().st_size if part.exists() else 0
        return result(
            Outcome.INTERRUPTED,
            f"{exc}; {kept:,} bytes kept in {part.name}, run again to continue",
            part,
        )
    got = sha256_file(part)
    if got != expected:
        part.unlink()
        return result(
            Outcome.BAD_CHECKSUM,
            f"sha256 {got[:12]}… is not the published {expected[:12]}…; the file was "
            "deleted, run again to fetch it afresh",
            part,
        )
    part.replace(target)
    sums.write_text(published)
    return result(Outcome.DOWNLOADED, "sha256 verified")


class _NotPublishedError(Exception):
    """The archive answered 404: no such day (or symbol) is published."""


class _TransferError(Exception):
    """A transfer that did not complete (connection, timeout, server error)."""


_NET_ERRORS = (OSError, http.client.HTTPException, TimeoutError)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _open(req: urllib.request.Request, timeout_s: float) -> http.client.HTTPResponse:
    """urlopen, through the environment's proxy (HTTPS_PROXY...) except for a loopback host."""
    host = urllib.parse.urlsplit(req.full_url).hostname or ""
    handlers = [urllib.request.ProxyHandler({})] if host in _LOOPBACK else []
    resp: http.client.HTTPResponse = urllib.request.build_opener(*handlers).open(
        req, timeout=timeout_s
    )
    return resp


def _get_text(url: str, timeout_s: float) -> str:
    req = urllib.request.Request(url, headers={"User-Agent": "tradetui"})
    try:
        with _open(req, timeout_s) as resp:
            body: bytes = resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _NotPublishedError from None
        raise _TransferError(f"HTTP {exc.code} {exc.reason}") from None
    except _NET_ERRORS as exc:
        raise _TransferError(_net_reason(exc)) from None
    return body.decode("utf-8", "replace")


def _download(url: str, part: Path, on_bytes: Progress | None, timeout_s: float) -> None:
    """Fetch ``url`` into ``part``, continuing from the bytes already there (Range)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "tradetui"}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = _open(req, timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _NotPublishedError from None
        if exc.code == 416 and have:
            return  # nothing after what we have: the part is whole (the checksum will tell)
        raise _TransferError(f"HTTP {exc.code} {exc.reason}") from None
    except _NET_ERRORS as exc:
        raise _TransferError(_net_reason(exc)) from None
    with resp:
        if resp.status == 206:
            start, total = _content_range(resp.headers.get("Content-Range", ""))
            if start != have:
                raise _TransferError(f"the server resumed at byte {start}, not {have}")
            mode = "ab"
        else:  # 200: the whole file (a server that ignores Range starts over)
            have, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        done = have
        with part.open(mode) as out:
            try:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if on_bytes is not None:
                        on_bytes(done, total)
            except http.client.IncompleteRead as exc:
                out.write(exc.partial)  # keep every byte that came: the next run continues
                done += len(exc.partial)
                raise _TransferError(f"the connection closed after {done:,} bytes") from None
            except _NET_ERRORS as exc:
                raise _TransferError(_net_reason(exc)) from None
    if total is not None and done < total:
        raise _TransferError(f"the connection closed after {done:,} of {total:,} bytes")


def _content_range(value: str) -> tuple[int, int | None]:
    """(first byte, full size or None) of ``Content-Range: bytes a-b/size``."""
    m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", value.strip())
    if m is None:
        raise _TransferError(f"unreadable Content-Range {value!r}")
    return int(m.group(1)), None if m.group(2) == "*" else int(m.group(2))


def _net_reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        return f"cannot reach the archive ({exc.reason})"
    return f"transfer failed ({exc.__class__.__name__}: {exc})"
