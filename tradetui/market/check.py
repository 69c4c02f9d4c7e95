"""``data check``: rebuild the book from recorded files and hold it against the exchange's own
best bid/offer stream.

Our book after a diff ending at id u_k stays the exchange's book for every update id up to
(not including) the next diff's first id: the chain proves nothing changed in between. A
bookTicker whose id falls in such a window is comparable and must match our touch exactly
(prices and sizes); one whose id falls inside a batched diff shows a state the diff stream
never publishes, and is not comparable. A snapshot in the middle of a recording (a resync
after a gap or a reconnect) ends the window of the book before it at that book's own id: the
diffs in between may be missing or recorded after the snapshot.
"""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path
from typing import Any

from tradetui.core.book import OrderBook
from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot
from tradetui.market.files import ReplayReport, no_market_data
from tradetui.market.replay import replay_events

_SHOWN = 5
_NS_PER_S = 1e9

Touch = tuple[int, int, int, int]  # bid_ticks, bid_lots, ask_ticks, ask_lots
_UNKNOWN: Touch = (0, 0, 0, 0)  # the touch of an empty book


def check_files(
    paths: list[Path], instrument: Instrument, *, strict_grid: bool = False
) -> dict[str, Any]:
    """The check report (JSON-ready) for ``paths`` read as one market of ``instrument``.

    Raises ReplayError when nothing but snapshots was read: a check of no data proves nothing.
    ``strict_grid`` refuses values off the instrument's grids (see ReplayReport).
    """
    report = ReplayReport(strict_grid=strict_grid)
    updates = 0
    book = OrderBook()
    last_ids: list[int] = []  # id of the book state k (ascending while the chain holds)
    until_ids: list[int] = []  # first id of the diff that ended state k (exclusive bound)
    touches: list[Touch] = []
    tickers: list[tuple[int, Touch]] = []
    for ev in replay_events(paths, instrument, report):
        tp = type(ev)
        updates += tp is not BookSnapshot
        if tp is BookDelta:
            assert isinstance(ev, BookDelta)
            if until_ids:
                until_ids[-1] = ev.first_id
            book.apply_delta(ev)
            _state(book, ev.last_id, last_ids, until_ids, touches)
        elif tp is BookSnapshot:
            assert isinstance(ev, BookSnapshot)
            if until_ids and touches[-1] != _UNKNOWN:
                # The diffs that led from the book before to the snapshot may arrive after it
                # (and are dropped as contained in it) or not at all (a gap, a reconnect):
                # the book before is only known to hold at its own id. An unknown book
                # (after a gap) holds at no id.
                until_ids[-1] = last_ids[-1] + 1
            book.apply_snapshot(ev.bids, ev.asks)
            _state(book, ev.update_id, last_ids, until_ids, touches)
            if not (ev.bids or ev.asks):
                until_ids[-1] = -1  # unknown book after a gap: nothing compares to it
        elif tp is BestBidOffer:
            assert isinstance(ev, BestBidOffer)
            tickers.append((ev.update_id, (ev.bid_ticks, ev.bid_lots, ev.ask_ticks, ev.ask_lots)))
    if not updates:
        raise no_market_data(paths, report)
    if until_ids:
        until_ids[-1] = -1  # the book after the last diff is valid for an unknown span
    return {
        "files": [str(p) for p in paths],
        "symbol": instrument.symbol,
        "kind": str(instrument.kind),
        "messages": dict(sorted(report.messages.items())),
        "time_span": {
            "first_exch_ns": report.first_exch_ns,
            "last_exch_ns": report.last_exch_ns,
            "seconds": round((report.last_exch_ns - report.first_exch_ns) / _NS_PER_S, 3),
            "receive_minus_exchange_s": round(
                (report.first_local_ns - report.first_exch_ns) / _NS_PER_S, 3
            ),
        },
        "snapshots": report.snapshots,
        "gaps": report.gaps,
        "crossed": report.crossed,
        "issues": report.issue_count,
        "first_issues": [str(i) for i in report.issues[:20]],
        "bbo_agreement": _agreement(instrument, tickers, last_ids, until_ids, touches),
    }


def _state(
    book: OrderBook, update_id: int, last_ids: list[int], until_ids: list[int], touches: list[Touch]
) -> None:
    last_ids.append(update_id)
    until_ids.append(-1)
    touches.append((book.bid_ticks, book.bid_lots, book.ask_ticks, book.ask_lots))


def _agreement(
    inst: Instrument,
    tickers: list[tuple[int, Touch]],
    last_ids: list[int],
    until_ids: list[int],
    touches: list[Touch],
) -> dict[str, Any]:
    comparable = agree = price_agree = 0
    first: list[dict[str, Any]] = []
    for uid, theirs in tickers:
        k = bisect_right(last_ids, uid) - 1
        if k < 0 or not uid < until_ids[k]:
            continue
        comparable += 1
        ours = touches[k]
        if ours == theirs:
            agree += 1
            price_agree += 1
            continue
        if (ours[0], ours[2]) == (theirs[0], theirs[2]):
            price_agree += 1
        if len(first) < _SHOWN:
            first.append(
                {
                    "update_id": uid,
                    "book_id": last_ids[k],
                    "ours": _show(inst, ours),
                    "bookTicker": _show(inst, theirs),
                }
            )
    return {
        "book_tickers": len(tickers),
        "comparable": comparable,
        "agree": agree,
        "agree_fraction": agree / comparable if comparable else None,
        "price_agree_fraction": price_agree / comparable if comparable else None,
        "first_disagreements": first,
        "note": (
            "a bookTicker is comparable when its update id falls between two diffs (the book "
            "cannot have changed); ids inside a batched diff show states the diff stream never "
            "publishes"
        ),
    }


def _show(inst: Instrument, t: Touch) -> list[str]:
    return [str(inst.price(t[0])), str(inst.qty(t[1])), str(inst.price(t[2])), str(inst.qty(t[3]))]
