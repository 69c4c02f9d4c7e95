"""Market streams for the sandbox exchange, timed on the wall clock from a start time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from tradetui.core.instrument import Instrument
from tradetui.core.types import MarketEvent
from tradetui.market.synthetic import SyntheticMarket


def synthetic_feed(instrument: Instrument, seed: int, start_ns: int) -> Iterator[MarketEvent]:
    """The synthetic market beginning at ``start_ns`` (ns since the epoch)."""
    return SyntheticMarket(instrument, seed=seed, start_ns=start_ns).events()


def shifted(events: Sequence[MarketEvent], start_ns: int) -> Iterator[MarketEvent]:
    """Recorded ``events`` moved in time so the first happens at ``start_ns`` (ns); spacing kept."""
    if not events:
        return
    offset_ns = start_ns - events[0].exch_ns
    for ev in events:
        yield msgspec.structs.replace(
            ev, exch_ns=ev.exch_ns + offset_ns, local_ns=ev.local_ns + offset_ns
        )


def replay_feed(paths: list[Path], start_ns: int) -> tuple[Instrument, Iterator[MarketEvent]]:
    """The instrument of recorded ``paths`` and their events replayed from ``start_ns`` (ns).

    Raises ``tradetui.market.files.ReplayError`` for files that cannot be read.
    """
    from tradetui.market.cache import load_events
    from tradetui.market.files import infer_instrument

    instrument = infer_instrument(paths)
    events, _, _ = load_events(paths, instrument)
    return instrument, shifted(events, start_ns)
