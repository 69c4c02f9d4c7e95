"""Where a live start looks for fills made while down, and that each is stored once."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from tests.instruments import btcusdt_perpetual
from tradetui.config import Settings
from tradetui.store.lifecycle import begin_session, session_meta, unlock
from tradetui.store.recovery import MARGIN_MS, recovery_anchor
from tradetui.store.rows import SQL, Kind

VENUE = "binanceusdm@127.0.0.1:9"
MS = 1_000_000


def _session(path: Path, started_ms: int) -> int:
    meta = session_meta("live", VENUE, btcusdt_perpetual(), Settings(), None, started_ms * MS)
    opened = begin_session(path, meta, 1000)
    unlock(opened.lock_fd)
    return opened.session_id


def _fill(sid: int, seq: int, trade_id: str, exch_ms: int, position: int) -> tuple[object, ...]:
    """A fills row: one lot bought at 100 ticks, maker, no mid."""
    return (
        sid,
        seq,
        VENUE,
        trade_id,
        "tt1-1",
        1,
        100,
        1,
        0,
        0.01,
        "USDT",
        1,
        exch_ms * MS,
        0,
        0,
        position,
        None,
        None,
        None,
        exch_ms * MS,
    )


def _put(path: Path, kind: Kind, row: tuple[object, ...]) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(SQL[kind], row)
        conn.commit()


def test_a_database_that_never_traded_there_recovers_nothing(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    sid = _session(db, 1_000)
    assert recovery_anchor(db, VENUE, "BTCUSDT", sid) is None


def test_without_fills_it_asks_from_the_latest_earlier_session(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    _session(db, 1_000_000)
    _session(db, 2_000_000)
    sid = _session(db, 3_000_000)
    anchor = recovery_anchor(db, VENUE, "BTCUSDT", sid)
    assert anchor is not None
    assert anchor.since_ms == 2_000_000 - MARGIN_MS
    assert anchor.position_lots == 0


def test_it_asks_from_the_last_fill_and_knows_what_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    first = _session(db, 1_000_000)
    _put(db, Kind.FILL, _fill(first, 1, "7", 1_500_000, 3))
    _put(db, Kind.FILL, _fill(first, 2, "8", 1_700_000, 4))
    sid = _session(db, 3_000_000)
    anchor = recovery_anchor(db, VENUE, "BTCUSDT", sid)
    assert anchor is not None
    assert anchor.since_ms == 1_700_000 - MARGIN_MS
    assert anchor.known == {"8"}
    assert anchor.position_lots == 4
    # A recovered fill is stored once, flagged, however often it is written.
    for _ in range(2):
        _put(db, Kind.RECOVERED_FILL, _fill(sid, 1, "9", 2_500_000, 5))
    _put(db, Kind.FILL, _fill(sid, 2, "9", 2_500_000, 5))
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT session_id, recovered FROM fills WHERE trade_id = '9'")
        assert rows.fetchall() == [(sid, 1)]
