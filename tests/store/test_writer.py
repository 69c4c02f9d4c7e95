"""The write-behind writer, its journal and session start: batches, counts fills only after
commit, drains, fails over to the journal, replays it, and finds unclean sessions."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tests.instruments import btcusdt_perpetual
from tradetui.config import Settings
from tradetui.store import journal
from tradetui.store.journal import write_rows
from tradetui.store.lifecycle import (
    OpenedSession,
    SessionMeta,
    begin_session,
    session_meta,
    unlock,
)
from tradetui.store.rows import Kind, Row
from tradetui.store.schema import StoreError
from tradetui.store.writer import StoreWriter, WriterConfig

T0_NS = 1_700_000_000_000_000_000


def meta(mode: str = "paper") -> SessionMeta:
    return session_meta(mode, "sim", btcusdt_perpetual(), Settings(), 1, T0_NS)


def start(path: Path) -> OpenedSession:
    return begin_session(path, meta(), busy_timeout_ms=100)


def fill_row(session_id: int, n: int, *, side: int = 1, venue: str = "v") -> Row:
    """Fill number ``n`` (trade id ``t<n>``) one millisecond apart, at 600000 ± n ticks."""
    return (
        Kind.FILL,
        (
            session_id,
            n,
            venue,
            f"t{n}",
            f"c{n}",
            side,
            600_000 + n % 7,
            10,
            0,
            0.12,
            "USDT",
            1,
            T0_NS + n * 1_000_000,
            T0_NS + n * 1_000_000,
            1_200_001,
            10 * side,
            None,
            None,
            None,
            T0_NS + n * 1_000_000,
        ),
    )


def _count(path: Path, sql: str = "SELECT count(*) FROM fills") -> int:
    c = sqlite3.connect(path)
    try:
        return int(c.execute(sql).fetchone()[0])
    finally:
        c.close()


async def test_fills_are_counted_stored_only_after_commit(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    s = start(path)
    w = StoreWriter(path, WriterConfig(batch_rows=100, batch_ms=10_000))
    await w.start()
    for n in range(50):
        w.put(fill_row(s.session_id, n))
    await asyncio.sleep(0.05)
    # Below batch_rows and before the interval: nothing committed, nothing counted.
    assert w.fills_stored == 0
    assert _count(path) == 0
    for n in range(50, 100):
        w.put(fill_row(s.session_id, n))
    for _ in range(200):
        if w.fills_stored:
            break
        await asyncio.sleep(0.01)
    assert w.fills_stored == 100
    assert _count(path) == 100
    await w.close()
    unlock(s.lock_fd)


async def test_close_drains_every_queued_row(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    s = start(path)
    w = StoreWriter(path, WriterConfig(batch_rows=64, batch_ms=10_000))
    await w.start()
    for n in range(1000):
        w.put(fill_row(s.session_id, n))
    await w.close()
    assert w.fills_stored == 1000
    assert w.batches >= 1000 // 64
    assert _count(path) == 1000
    unlock(s.lock_fd)


async def test_same_venue_trade_id_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    s = start(path)
    w = StoreWriter(path, WriterConfig(batch_rows=10, batch_ms=5))
    await w.start()
    for n in (1, 2, 2, 3, 1):
        w.put(fill_row(s.session_id, n))
    w.put(fill_row(s.session_id, 1, venue="other"))
    await w.close()
    assert _count(path) == 4
    unlock(s.lock_fd)


async def test_locked_database_fails_over_to_journal_then_replays(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    s = start(path)
    reasons: list[str] = []
    w = StoreWriter(path, WriterConfig(batch_rows=10, batch_ms=5, busy_timeout_ms=50))
    w.on_failure = reasons.append
    await w.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    for n in range(25):
        w.put(fill_row(s.session_id, n))
    await w.close()
    blocker.execute("ROLLBACK")
    blocker.close()
    assert len(reasons) == 1
    assert "locked" in reasons[0]
    assert w.fills_stored == 0
    assert w.fills_journaled == 25
    assert journal.journal_path(path).exists()
    unlock(s.lock_fd)
    nxt = start(path)
    assert nxt.replayed_rows == 25
    assert not journal.journal_path(path).exists()
    assert _count(path) == 25
    unlock(nxt.lock_fd)


def test_a_journal_written_before_charged_fees_still_replays(tmp_path: Path) -> None:
    # A fill row of schema 2 (16 values, no charged_asset/charged_fee/charged_rate) left in the
    # journal by an older tradetui replays into the current schema with those unknown.
    path = tmp_path / "x.db"
    s = start(path)
    kind, params = fill_row(s.session_id, 1)
    journal.append(journal.journal_path(path), [(kind, params[:16])])
    unlock(s.lock_fd)
    nxt = start(path)
    assert nxt.replayed_rows == 1
    sql = "SELECT count(*) FROM fills WHERE charged_asset IS NULL AND fee_asset = 'USDT'"
    assert _count(path, sql) == 1
    unlock(nxt.lock_fd)


async def test_queue_overflow_fails_and_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    s = start(path)
    reasons: list[str] = []
    w = StoreWriter(path, WriterConfig(batch_rows=1000, batch_ms=10_000, queue_rows=100))
    w.on_failure = reasons.append
    await w.start()
    for n in range(150):
        w.put(fill_row(s.session_id, n))
    await w.close()
    assert len(reasons) == 1
    assert "queue over 100 rows" in reasons[0]
    assert w.fills_stored + w.fills_journaled == 150
    unlock(s.lock_fd)
    unlock(start(path).lock_fd)
    assert _count(path) == 150


def test_rows_round_trip_exactly(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    rows = [fill_row(1, n) for n in range(5)]
    rows.append((rows[0][0], (1, 0.1 + 0.2, "é", None, 2**62)))
    journal.append(path, rows)
    assert journal.read(path) == rows


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal.append(path, [fill_row(1, 1), fill_row(1, 2)])
    with path.open("ab") as f:
        f.write(b'[0,[1,3,"v","t3"')
    assert [r[1][3] for r in journal.read(path)] == ["t1", "t2"]


def test_replaying_twice_stores_each_fill_once(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    s = start(db)
    unlock(s.lock_fd)
    jpath = journal.journal_path(db)
    rows = [fill_row(s.session_id, n) for n in range(10)]
    journal.append(jpath, rows)
    conn = sqlite3.connect(db, isolation_level=None)
    assert journal.replay(conn, jpath) == 10
    journal.append(jpath, rows)
    assert journal.replay(conn, jpath) == 10
    assert conn.execute("SELECT count(*) FROM fills").fetchone()[0] == 10
    conn.close()


def test_unclean_session_is_reported_once_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    first = start(path)
    conn = sqlite3.connect(path, isolation_level=None)
    write_rows(conn, [fill_row(first.session_id, n) for n in range(3)])
    conn.close()
    unlock(first.lock_fd)  # as a kill -9 would: no session end recorded

    second = start(path)
    assert [u.session_id for u in second.unclean] == [first.session_id]
    u = second.unclean[0]
    assert u.fills == 3
    # Its last activity on the wall clock: the 2 ms its market ran after its wall start (or
    # now, if sooner).
    assert u.started_ns < u.last_seen_ns <= u.started_ns + 2 * 1_000_000
    unlock(second.lock_fd)

    conn = sqlite3.connect(path)
    state = conn.execute(
        "SELECT end_state, market_ended_ns FROM sessions WHERE id = ?", (first.session_id,)
    )
    assert state.fetchone() == ("unclean", T0_NS + 2 * 1_000_000)
    conn.close()
    third = start(path)
    assert [u.session_id for u in third.unclean] == [second.session_id]
    unlock(third.lock_fd)


def test_second_writer_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    first = start(path)
    with pytest.raises(StoreError, match="in use by another tradetui run"):
        start(path)
    unlock(first.lock_fd)
