"""A loopback stand-in for data.binance.vision: serves a folder in the archive's layout.

What it copies from the real one (so ``tradetui data download`` is tested against behaviour,
not against our client):

- Paths ``/data/<market>/daily/<kind>/<SYMBOL>/<SYMBOL>-<kind>-<day>.zip`` and a
  ``.zip.CHECKSUM`` beside each holding ``sha256sum`` output (Binance's README, "CHECKSUM":
  https://github.com/binance/binance-public-data). Each zip holds one CSV named like the zip;
  futures CSVs open with a header line, spot ones have none.
- The archive is an S3 bucket (``s3-ap-northeast-1.amazonaws.com/data.binance.vision``): a
  missing key answers 404 with an XML ``NoSuchKey`` error, and a GET honours one byte range
  (``Range: bytes=a-`` or ``a-b``) with ``206 Partial Content`` and ``Content-Range``, or ``416``
  when the range starts at or past the end (Amazon S3 API reference, GetObject:
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html; RFC 9110 §14).

Faults, for tests: ``cut_after[name] = n`` sends the headers of the whole file and only ``n``
bytes, then drops the connection (once); ``corrupt`` names files whose bytes arrive damaged
(every time). ``requests`` logs (path, Range header) of every GET.

``publish_day`` writes one day's zip and CHECKSUM; ``publish_capture`` turns a recorded
combined-stream capture (bookTicker and trade messages) into the daily files Binance would
have published for it, split by UTC day of the exchange time.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec

from tradetui.market.archive import DayFile
from tradetui.market.files import read_lines
from tradetui.venues.sim_listing import listed_instrument

BOOK_TICKER_HEADER = (
    "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time"
)
# USD-M trades (Binance's README, "Trades", USD-M Futures); COIN-M's fourth column is baseQty,
# the coin value of the contracts (README, "Trades", COIN-M Futures: "28457,9635.0,1,
# 0.01037883,...", 1 contract of 100 USD at 9,635.0; https://github.com/binance/binance-public-data).
TRADES_HEADER = "id,price,qty,quote_qty,time,is_buyer_maker"
COINM_TRADES_HEADER = "id,price,qty,base_qty,time,is_buyer_maker"


class ArchiveServer:
    """The archive on 127.0.0.1 (port 0: a free one) in a thread; a context manager."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root.resolve()
        self.cut_after: dict[str, int] = {}
        self.corrupt: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ArchiveServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ArchiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take_cut(self, name: str) -> int | None:
        with self._lock:
            return self.cut_after.pop(name, None)


def _handler(server: ArchiveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and the command print what matters

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            rng = self.headers.get("Range")
            if not head:
                with server._lock:
                    server.requests.append((path, rng))
            target = (server.root / path.lstrip("/")).resolve()
            if not target.is_file() or not target.is_relative_to(server.root):
                key = path.lstrip("/")
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
                    f"<Message>The specified key does not exist.</Message><Key>{key}</Key>"
                    "</Error>"
                ).encode()
                self._reply(404, body, {"Content-Type": "application/xml"}, head)
                return
            data = target.read_bytes()
            if target.name in server.corrupt and len(data) > 1:
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
            size = len(data)
            status, extra = 200, {"Accept-Ranges": "bytes"}
            if rng:
                parsed = _byte_range(rng, size)
                if parsed is None:
                    self._reply(416, b"", {"Content-Range": f"bytes */{size}"}, head)
                    return
                first, last = parsed
                data = data[first : last + 1]
                status = 206
                extra["Content-Range"] = f"bytes {first}-{last}/{size}"
            cut = None if head else server._take_cut(target.name)
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if head:
                return
            if cut is not None:
                self.wfile.write(data[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

        def _reply(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler


def _byte_range(value: str, size: int) -> tuple[int, int] | None:
    """(first, last) of one ``bytes=a-[b]`` range within ``size``; None if unsatisfiable."""
    unit, _, spec = value.partition("=")
    first_s, _, last_s = spec.partition("-")
    if unit.strip() != "bytes" or not first_s.strip().isdigit():
        return (0, size - 1) if size else None  # not a range we honour: the whole file
    first = int(first_s)
    last = int(last_s) if last_s.strip().isdigit() else size - 1
    if first >= size:
        return None
    return first, min(last, size - 1)


# ---- publishing --------------------------------------------------------------------------------


def publish_day(root: Path, f: DayFile, rows: list[str]) -> Path:
    """Write ``f``'s zip (one CSV of ``rows``, lines without ends) and its CHECKSUM."""
    target = f.local(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f.name.removesuffix(".zip") + ".csv", "".join(r + "\n" for r in rows))
    data = buf.getvalue()
    target.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    target.with_name(target.name + ".CHECKSUM").write_text(f"{digest}  {f.name}\n")
    return target


class _Msg(msgspec.Struct):
    stream: str = ""
    data: dict[str, Any] = {}


def publish_capture(capture: Path, root: Path, venue: str) -> list[DayFile]:
    """Publish the bookTicker and trade messages of a capture as Binance's daily files
    (usdm, coinm or spot; spot gets trades only, as Binance publishes; a COIN-M symbol's
    contract size, for ``base_qty``, is the simulated listing's). Returns what was written."""
    if venue not in ("usdm", "coinm", "spot"):
        raise ValueError(f"publish_capture: usdm, coinm or spot, not {venue!r}")
    decoder = msgspec.json.Decoder(_Msg)
    books: dict[date, list[str]] = defaultdict(list)
    trades: dict[date, list[str]] = defaultdict(list)
    symbol = ""
    for line in read_lines(capture, lambda _line, _msg: None):
        _, _, body = line.partition(b" ")
        if not body.startswith(b'{"stream"'):
            continue
        try:
            msg = decoder.decode(body)
        except msgspec.DecodeError:
            continue
        d = msg.data
        kind = msg.stream.rpartition("@")[2]
        if kind == "bookTicker" and venue != "spot" and "T" in d:
            symbol = d["s"]
            books[_day(d["T"])].append(
                f"{d['u']},{d['b']},{d['B']},{d['a']},{d['A']},{d['T']},{d['E']}"
            )
        elif kind == "trade":
            symbol = d["s"]
            if venue == "spot":  # headerless, with isBestMatch (Binance's README, SPOT Trades)
                row = f"{d['t']},{d['p']},{d['q']},{_quote(d)},{d['T']},{_b(d['m'])},True"
            elif venue == "coinm":
                base = _base_qty(d, listed_instrument(symbol, "coinm").contract_size)
                row = f"{d['t']},{d['p']},{d['q']},{base},{d['T']},{str(d['m']).lower()}"
            else:
                row = f"{d['t']},{d['p']},{d['q']},{_quote(d)},{d['T']},{str(d['m']).lower()}"
            trades[_day(d["T"])].append(row)
    out: list[DayFile] = []
    for kind, by_day, header in (
        ("bookTicker", books, BOOK_TICKER_HEADER),
        ("trades", trades, {"spot": None, "coinm": COINM_TRADES_HEADER}.get(venue, TRADES_HEADER)),
    ):
        for day, rows in sorted(by_day.items()):
            f = DayFile(venue, kind, symbol, day)
            publish_day(root, f, ([header] if header else []) + rows)
            out.append(f)
    return out


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _quote(d: dict[str, Any]) -> str:
    return str((Decimal(d["p"]) * Decimal(d["q"])).normalize())


def _base_qty(d: dict[str, Any], contract_size: Decimal) -> str:
    """The coin value of a COIN-M trade's contracts at its price, to Binance's 8 decimals."""
    value = Decimal(d["q"]) * contract_size / Decimal(d["p"])
    return str(value.quantize(Decimal("1e-8")))


def _b(flag: bool) -> str:
    return "True" if flag else "False"
