"""A recorded market as the paper market: replayed events moved to start now, optionally looped.

The replay is shifted in time so its first event happens at the session start (on the wall
clock at speed 1, so the market is live-like; on the virtual clock otherwise). With ``loop``
the files start over when they end, shifted again so time keeps running forward; each pass
begins with the files' snapshot, so the book is rebuilt from scratch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from msgspec.structs import replace

from tradetui.core.instrument import Instrument
from tradetui.core.types import MarketEvent
from tradetui.market.files import ReplayReport, not_a_data_file
from tradetui.market.replay import drop_stale_bbo, replay_events

REPLAY_PREFIX = "replay:"
# Pause between the end of one pass and the start of the next, ns.
LOOP_GAP_NS = 1_000_000
_NS_PER_MS = 1_000_000

log = logging.getLogger(__name__)


def replay_paths(source: str) -> list[Path] | None:
    """The files of a "replay:PATH[,PATH...]" market source; None for any other source.

    Raises ValueError when the list is empty or a file does not exist.
    """
    if not source.startswith(REPLAY_PREFIX):
        return None
    paths = [Path(p.strip()).expanduser() for p in source[len(REPLAY_PREFIX) :].split(",")]
    paths = [p for p in paths if str(p) not in ("", ".")]
    if not paths:
        raise ValueError(f"{source!r}: no files after 'replay:'")
    for p in paths:
        problem = not_a_data_file(p)
        if problem:
            raise ValueError(problem)
    return paths


def retimed(events: Iterable[MarketEvent], shift_ns: int) -> Iterator[MarketEvent]:
    """``events`` with exchange and receive times moved by ``shift_ns``."""
    for ev in events:
        yield replace(ev, exch_ns=ev.exch_ns + shift_ns, local_ns=ev.local_ns + shift_ns)


class ReplayFeed:
    """Replayed events of ``paths`` starting at ``start_ns``; endless with ``loop``.

    The files are opened (and their format checked) on construction, so a bad file fails
    here rather than inside the running session (ReplayError). ``ended`` turns true once the
    last event has been taken.
    """

    def __init__(
        self, paths: list[Path], instrument: Instrument, start_ns: int, *, loop: bool = False
    ) -> None:
        # What reading the files found (the first pass): a damaged file ends its run in error.
        self.report = ReplayReport()
        first = drop_stale_bbo(replay_events(paths, instrument, self.report))
        self._events = _passes(first, paths, instrument, start_ns, loop)
        self.ended = False

    def __iter__(self) -> Iterator[MarketEvent]:
        return self

    def __next__(self) -> MarketEvent:
        try:
            return next(self._events)
        except StopIteration:
            self.ended = True
            raise


def _passes(
    first: Iterator[MarketEvent],
    paths: list[Path],
    instrument: Instrument,
    start_ns: int,
    loop: bool,
) -> Iterator[MarketEvent]:
    events = first
    begin_ns = start_ns
    passes = 0
    while True:
        head = next(events, None)
        if head is None:
            return
        shift_ns = begin_ns - min(head.exch_ns, head.local_ns)
        # A whole number of ms, up: exchange times stay on the exchange's 1 ms grid, so a
        # recording of the replay (ms times, as Binance sends them) replays the same market.
        shift_ns += -shift_ns % _NS_PER_MS
        last_ns = begin_ns
        for ev in retimed(_chain(head, events), shift_ns):
            # Receive times may run behind exchange times (collector clock skew): the next
            # pass starts after whichever is latest, so no time ever runs backwards.
            if ev.exch_ns > last_ns:
                last_ns = ev.exch_ns
            if ev.local_ns > last_ns:
                last_ns = ev.local_ns
            yield ev
        if not loop:
            return
        passes += 1
        log.info("replay: end of the files (pass %d); starting them over", passes)
        begin_ns = last_ns + LOOP_GAP_NS
        events = drop_stale_bbo(replay_events(paths, instrument))


def _chain(head: MarketEvent, rest: Iterator[MarketEvent]) -> Iterator[MarketEvent]:
    yield head
    yield from rest
