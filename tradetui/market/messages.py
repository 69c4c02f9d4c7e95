"""Binance combined-stream messages → our MarketEvents: one code path for replays and live feeds.

``StreamDecoder.message(local_ns, body)`` takes one message exactly as it came (a capture
line's JSON, or a websocket frame): a combined-stream ``{"stream": ..., "data": ...}`` wrapper or
a REST depth snapshot. Depth diffs and snapshots go through ``SequencedBook``, so the events
that come out are those of a book that is provably the exchange's book, or an empty snapshot
when it is not. Replays (market/replay.py) and the live websocket feed
(venues/binance_stream.py) both decode through here.

Times: ``exch_ns`` is the exchange's transaction time ``T`` where the message has one (trades;
futures depth and bookTicker), else its event time ``E``; ``local_ns`` the receive time. ``E``
is when the exchange pushed the message, up to several ms after the change it reports (5 ms and
more on COIN-M), so ordering a trade against the depth change it caused needs ``T``. Spot
bookTicker messages carry neither: their exchange time is the receive time plus the
receive-to-exchange offset of the latest message that had one.
"""

from __future__ import annotations

from collections.abc import Callable

from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent, Side, Trade
from tradetui.market import decode
from tradetui.market.books import SequencedBook
from tradetui.market.decode import Grid
from tradetui.market.files import SPEC_PREFIX, ReplayReport, parse_spec

_MS = 1_000_000
_SNAPSHOT_PREFIX = b'{"lastUpdateId"'


def is_depth_snapshot(body: bytes) -> bool:
    """True for a REST depth snapshot body (as opposed to a combined-stream message)."""
    return body.startswith(_SNAPSHOT_PREFIX)


def _no_offset() -> int:
    return 0


def _ignore(_name: str) -> None:
    return None


class StreamDecoder:
    """Decodes one symbol's messages and keeps its sequenced book.

    ``report`` counts messages by stream kind and tracks time spans; ``on_issue`` receives the
    book's one-line issues (gaps, stale diffs, crossed books). ``spot`` selects the diff chain
    rule; None infers it from the data (a snapshot without ``E`` or a diff without ``pu`` is
    spot). ``first_offset`` gives the exchange − receive offset (ns) to use before any message
    carried an event time; ``on_unknown`` is told the name of a stream this decoder does not
    read. Messages of other symbols are counted as ``other:<stream>`` and skipped, unless
    ``on_other`` is given: it is told the other symbol (and may raise to refuse the data).
    The instrument line of our recordings (files.SPEC_PREFIX) is no data: it is skipped, and
    one naming another symbol is another symbol's message.
    """

    __slots__ = (
        "_chain_known",
        "_first_offset",
        "_on_other",
        "_on_unknown",
        "_prices",
        "_sizes",
        "_symbol",
        "book",
        "offset_ns",
        "report",
    )

    def __init__(
        self,
        instrument: Instrument,
        report: ReplayReport,
        on_issue: Callable[[str], None],
        *,
        spot: bool | None = None,
        first_offset: Callable[[], int] = _no_offset,
        on_unknown: Callable[[str], None] = _ignore,
        on_other: Callable[[str], None] | None = None,
    ) -> None:
        self._prices, self._sizes = Grid(instrument.tick_size), Grid(instrument.lot_size)
        self._symbol = instrument.symbol.lower()
        self.book = SequencedBook(on_issue, spot=bool(spot))
        self._chain_known = spot is not None
        self._first_offset = first_offset
        self._on_unknown = on_unknown
        self._on_other = on_other
        self.offset_ns: int | None = None  # exchange time − receive time, from the latest ``E``
        self.report = report

    def message(self, local_ns: int, body: bytes) -> list[MarketEvent]:
        """The events of one message received at ``local_ns``.

        Raises ValueError (incl. OffGridError) or msgspec.DecodeError for an unreadable one;
        the book is untouched then.
        """
        report = self.report
        name = decode.stream_name(body)
        if name is None:
            if body.startswith(SPEC_PREFIX):
                self._check_symbol(parse_spec(body).symbol, "instrument")
                return []
            if not body.startswith(_SNAPSHOT_PREFIX):
                again = decode.canonical(body)
                if again is None or again == body:
                    raise ValueError("neither a stream message nor a depth snapshot")
                return self.message(local_ns, again)
            return self._snapshot(local_ns, body)
        sym, _, rest = name.partition("@")
        kind = rest.partition("@")[0]
        if sym != self._symbol:
            self._check_symbol(sym, name)
            return []
        report.count(kind)
        prices, sizes = self._prices, self._sizes
        if kind == "depth":
            d = decode.DEPTH.decode(body).data
            exch_ns = (d.T or d.E) * _MS
            self.offset_ns = exch_ns - local_ns
            report.span(exch_ns, local_ns)
            if not self._chain_known:
                self.book.spot, self._chain_known = d.pu is None, True
            return self.book.on_diff(
                BookDelta.of(
                    exch_ns=exch_ns,
                    local_ns=local_ns,
                    first_id=d.U,
                    last_id=d.u,
                    prev_id=d.U - 1 if d.pu is None else d.pu,
                    bids=sizes.levels(prices, d.b),
                    asks=sizes.levels(prices, d.a),
                )
            )
        if kind == "bookTicker":
            t = decode.BOOK_TICKER.decode(body).data
            if t.T or t.E:
                exch_ns = (t.T or t.E) * _MS
                self.offset_ns = exch_ns - local_ns
            else:
                exch_ns = local_ns + self._offset()
            report.span(exch_ns, local_ns)
            return [
                BestBidOffer(
                    exch_ns=exch_ns,
                    local_ns=local_ns,
                    update_id=t.u,
                    bid_ticks=prices.steps(t.b),
                    bid_lots=sizes.steps(t.B),
                    ask_ticks=prices.steps(t.a),
                    ask_lots=sizes.steps(t.A),
                )
            ]
        if kind == "trade" or kind == "aggTrade":
            tr: decode.TradeMsg | decode.AggTradeMsg
            if kind == "trade":
                tr = decode.TRADE.decode(body).data
                if tr.X != "MARKET":
                    return []  # insurance-fund and ADL prints are not market trades
                trade_id = tr.t
            else:
                tr = decode.AGG_TRADE.decode(body).data
                trade_id = tr.a
            exch_ns = tr.T * _MS
            self.offset_ns = exch_ns - local_ns
            report.span(exch_ns, local_ns)
            return [
                Trade(
                    exch_ns=exch_ns,
                    local_ns=local_ns,
                    trade_id=trade_id,
                    price_ticks=prices.steps(tr.p),
                    qty_lots=sizes.steps(tr.q),
                    aggressor=Side.SELL if tr.m else Side.BUY,
                )
            ]
        self._on_unknown(name)
        return []

    def _check_symbol(self, symbol: str, stream: str) -> None:
        if symbol.lower() == self._symbol:
            return
        if self._on_other is not None:
            self._on_other(symbol)
        self.report.count(f"other:{stream}")

    def _offset(self) -> int:
        if self.offset_ns is None:
            self.offset_ns = self._first_offset()
        return self.offset_ns

    def _snapshot(self, local_ns: int, body: bytes) -> list[MarketEvent]:
        s = decode.SNAPSHOT.decode(body)
        if s.symbol and s.symbol.lower() != self._symbol:
            self._check_symbol(s.symbol, "snapshot")
            return []
        prices, sizes = self._prices, self._sizes
        if s.E:
            self.offset_ns = s.E * _MS - local_ns
            exch_ns = s.E * _MS
        else:
            exch_ns = local_ns + self._offset()
        snap = BookSnapshot(
            exch_ns=exch_ns,
            local_ns=local_ns,
            update_id=s.last_update_id,
            bids=sizes.levels(prices, s.bids),
            asks=sizes.levels(prices, s.asks),
        )
        self.report.count("snapshot")
        self.report.span(exch_ns, local_ns)
        if not self._chain_known:
            self.book.spot = not s.E
        return self.book.on_snapshot(snap)
