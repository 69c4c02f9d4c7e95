"""Build the exchange's book from a snapshot and sequenced diffs, and notice when we cannot.

Binance's rules, for a snapshot with id S:

- diffs that arrive before the snapshot are buffered; the first one applied is the diff that
  straddles it (USD-M: ``U <= S <= u``, or ``pu == S``; spot: ``U <= S + 1 <= u``), older
  ones are dropped;
- after that each diff must chain to the one before (USD-M: ``pu == previous u``; spot:
  ``U == previous u + 1``). Spot diffs are built with ``prev_id = U - 1``, so the chain check is
  ``prev_id == previous last_id`` for both.

A broken chain is a gap: the builder reports it, clears its book, emits an empty snapshot so
every consumer knows the book is unknown (never silently wrong), and waits for the next
snapshot (in a replay, the next snapshot line; live, a fresh REST snapshot).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import StrEnum

from tradetui.core.book import OrderBook
from tradetui.core.types import BookDelta, BookSnapshot, MarketEvent

# Diffs kept while waiting for a snapshot; older ones cannot straddle a snapshot fetched later.
_BUFFER_MAX = 10_000


class SyncState(StrEnum):
    WAITING = "waiting"  # no usable snapshot: diffs are buffered
    SYNCING = "syncing"  # snapshot applied: looking for the straddling diff
    SYNCED = "synced"  # the book is the exchange's book at ``last_id``


class SequencedBook:
    """An order book that is either provably in sync with the exchange or empty.

    ``on_issue`` receives one-line descriptions of gaps, stale snapshots and crossed books.
    """

    __slots__ = (
        "_buffer",
        "_on_issue",
        "book",
        "crossed",
        "gaps",
        "last_exch_ns",
        "last_id",
        "snapshots",
        "spot",
        "state",
    )

    def __init__(self, on_issue: Callable[[str], None], *, spot: bool) -> None:
        self.book = OrderBook()
        self.state = SyncState.WAITING
        self.spot = spot
        self.last_id = -1
        self.last_exch_ns = 0
        self.gaps = 0
        self.crossed = 0
        self.snapshots = 0
        self._buffer: deque[BookDelta] = deque(maxlen=_BUFFER_MAX)
        self._on_issue = on_issue

    def on_snapshot(self, snap: BookSnapshot) -> list[MarketEvent]:
        """Start over from ``snap``; returns it and any buffered diffs that now apply."""
        self.snapshots += 1
        self.book.apply_snapshot(snap.bids, snap.asks)
        self.last_id = snap.update_id
        self.last_exch_ns = snap.exch_ns
        self.state = SyncState.SYNCING
        out: list[MarketEvent] = [snap]
        pending = list(self._buffer)
        self._buffer.clear()
        for d in pending:
            out.extend(self.on_diff(d))
        return out

    def on_diff(self, d: BookDelta) -> list[MarketEvent]:
        """Apply ``d`` when it is the next in sequence; returns the events to pass on."""
        state = self.state
        if state is SyncState.SYNCED:
            if d.prev_id == self.last_id:
                return self._apply(d)
            if d.last_id <= self.last_id:
                self._on_issue(f"diff {d.first_id}..{d.last_id} is older than the book; skipped")
                return []
            return self._gap(d, f"expected a diff after id {self.last_id}, got prev {d.prev_id}")
        if state is SyncState.WAITING:
            self._buffer.append(d)
            return []
        target = self.last_id + 1 if self.spot else self.last_id
        if d.last_id < target:
            return []  # already contained in the snapshot
        # A diff that chains to the snapshot id also follows it without a hole.
        if d.first_id > target and d.prev_id != self.last_id:
            return self._gap(
                d, f"snapshot {self.last_id} is older than the first diff {d.first_id}"
            )
        return self._apply(d)

    def _apply(self, d: BookDelta) -> list[MarketEvent]:
        book = self.book
        book.apply_delta(d)
        self.last_id = d.last_id
        self.last_exch_ns = d.exch_ns
        self.state = SyncState.SYNCED
        if book.bid_ticks and book.ask_ticks and book.bid_ticks >= book.ask_ticks:
            self.crossed += 1
            self._on_issue(
                f"crossed book after id {d.last_id}: bid {book.bid_ticks} >= ask {book.ask_ticks}"
            )
        return [d]

    def _gap(self, d: BookDelta, why: str) -> list[MarketEvent]:
        self.gaps += 1
        self._on_issue(f"sequence gap: {why}; book cleared until the next snapshot")
        self.book.clear()
        self.state = SyncState.WAITING
        self._buffer.clear()
        self._buffer.append(d)
        return [
            BookSnapshot(
                exch_ns=d.exch_ns, local_ns=d.local_ns, update_id=d.prev_id, bids=(), asks=()
            )
        ]
