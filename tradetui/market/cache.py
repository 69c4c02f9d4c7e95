"""A decoded form of recorded files, cached on disk so later runs skip parsing.

The cache holds the events and the reading report as msgpack; its key covers the files
(absolute path, size, modification time), the instrument's symbol and grids and the cache
version, so a changed file or instrument is decoded afresh.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import msgspec
import platformdirs

from tradetui.core.instrument import Instrument
from tradetui.core.types import MarketEvent
from tradetui.market.files import ReplayReport
from tradetui.market.replay import replay_events

# Bump when the decoded form or the reading rules change.
CACHE_VERSION = 6

_DECODER = msgspec.msgpack.Decoder(tuple[ReplayReport, list[MarketEvent]])


def cache_dir() -> Path:
    """$TRADETUI_CACHE_DIR, else the user cache folder (platformdirs) / replay."""
    env = os.environ.get("TRADETUI_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("tradetui")) / "replay"


def cache_key(paths: list[Path], instrument: Instrument) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    # The decoded form depends on the symbol and the grids only: contract terms (inverse,
    # contract size) and the venue change what the events are worth, not the events.
    h.update(
        f"{instrument.symbol}|{instrument.kind}|{instrument.tick_size}|{instrument.lot_size}".encode()
    )
    for p in paths:
        st = p.stat()
        h.update(f"|{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def load_events(
    paths: list[Path], instrument: Instrument, *, use_cache: bool = True, strict_grid: bool = False
) -> tuple[list[MarketEvent], ReplayReport, bool]:
    """(events, report, came_from_cache) for ``paths``; decodes and writes the cache on a miss.

    ``strict_grid`` refuses a value off the instrument's grids (ReplayError) instead of
    reporting it; a cached decode that skipped such values is decoded again to say where.
    An unreadable cache file is ignored and rewritten; a cache folder that cannot be written
    only costs the next run a fresh decode.
    """
    target = cache_dir() / f"{cache_key(paths, instrument)}.msgpack" if use_cache else None
    if target is not None and target.exists():
        try:
            report, events = _DECODER.decode(target.read_bytes())
            if not (strict_grid and report.off_grid):
                return events, report, True
        except (msgspec.DecodeError, OSError):
            pass
    report = ReplayReport(strict_grid=strict_grid)
    events = list(replay_events(paths, instrument, report))
    if target is not None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(msgspec.msgpack.encode((report, events)))
            tmp.replace(target)
        except OSError:
            pass
    return events, report, False
