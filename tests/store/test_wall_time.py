"""Wall-clock and market time apart: a fast run is listed when it ran, not when its market did.

A ``--speed max`` run trades minutes of market in seconds on a virtual clock. Its session row
keeps both: started/ended on the wall clock (what `sessions`, its order and `--since` use)
and market_started/market_ended on the session's clock (what fills and markouts are timed on).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.instruments import btcusdt_perpetual
from tradetui.config import Settings
from tradetui.store import journal
from tradetui.store.lifecycle import begin_session, session_meta, unlock
from tradetui.store.queries import list_fills, list_sessions, session_report
from tradetui.store.rows import Kind, Row
from tradetui.store.schema import MIGRATIONS, SCHEMA_VERSION, open_db, open_readonly

TRADETUI = [sys.executable, "-m", "tradetui"]
MARKET_S = 240


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data")}
    return subprocess.run(
        [*TRADETUI, *args], capture_output=True, text=True, timeout=180, cwd=tmp, env=env
    )


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1e9)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """A stored --speed max run of four minutes of market: the db and the wall clock around it."""
    tmp = tmp_path_factory.mktemp("fast")
    db = tmp / "x.db"
    before = time.time_ns()
    r = _run(
        tmp, "run", "--headless", "--speed", "max", "--duration", str(MARKET_S), "--db", str(db)
    )
    after = time.time_ns()
    assert r.returncode == 0, r.stderr
    return db, before, after


def _json(db: Path, *args: str) -> Any:
    r = _run(db.parent, *args, "--db", str(db))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_fast_run_stores_wall_times_and_its_market_times_apart(
    fast_run: tuple[Path, int, int],
) -> None:
    db, before, after = fast_run
    (s,) = _json(db, "sessions", "--json")
    # Listed when it ran: its wall-clock start and end lie within the seconds it took.
    assert before <= _ns(s["started"]) <= _ns(s["ended"]) <= after
    # Its market ran four minutes (from a whole minute), ending minutes after the wall did.
    market_s = (_ns(s["market_ended"]) - _ns(s["market_started"])) / 1e9
    assert MARKET_S <= market_s < MARKET_S + 5
    assert _ns(s["market_ended"]) > after
    assert s["market_time_differs"] is True
    report = _json(db, "report", "--json")
    assert (report["started"], report["ended"]) == (s["started"], s["ended"])
    assert (report["market_started"], report["market_ended"]) == (
        s["market_started"],
        s["market_ended"],
    )
    # Durations and markouts stay on the market clock.
    assert report["duration_s"] == pytest.approx(MARKET_S, abs=5)
    human = _run(db.parent, "report", "--db", str(db)).stdout
    assert re.search(
        "^market time +" + re.escape(f"{s['market_started']} → {s['market_ended']}") + "$",
        human,
        re.M,
    )


def test_sessions_since_uses_wall_time(fast_run: tuple[Path, int, int]) -> None:
    db, before, after = fast_run
    assert len(_json(db, "sessions", "--json", "--since", _iso(before))) == 1
    assert len(_json(db, "sessions", "--json", "--since", "10m")) == 1
    # After it ended on the wall clock, though its market ran on for minutes more.
    assert _json(db, "sessions", "--json", "--since", _iso(after + 1_000_000_000)) == []


def test_fills_since_uses_the_wall_time_they_were_recorded(
    fast_run: tuple[Path, int, int],
) -> None:
    db, before, after = fast_run
    every = _json(db, "fills", "--format", "json")
    assert every
    for f in every:
        assert before <= _ns(f["wall_time"]) <= after
    assert max(_ns(f["time"]) for f in every) > after  # their own (market) times run ahead
    assert _json(db, "fills", "--format", "json", "--since", _iso(after + 1_000_000_000)) == []
    cut = every[len(every) // 2]["wall_time"]
    later = _json(db, "fills", "--format", "json", "--since", cut)
    assert later == [f for f in every if f["wall_time"] >= cut]


def test_sessions_are_listed_newest_wall_start_first(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    conn = open_db(path, "paper")
    for uid, wall, market in (("a", 2_000, 9_000), ("b", 1_000, 8_000), ("c", 3_000, 1_000)):
        conn.execute(
            "INSERT INTO sessions (uuid, mode, venue, symbol, quote_asset, tick_size, lot_size, "
            "config_digest, version, seed, started_ns, market_started_ns) VALUES "
            "(?, 'paper', 'sim', 'BTCUSDT', 'USDT', '0.1', '0.001', 'd', 'v', 1, ?, ?)",
            (uid, wall * 10**9, market * 10**9),
        )
    conn.close()
    conn = open_readonly(path)
    assert [s["id"] for s in list_sessions(conn)] == [3, 1, 2]
    conn.close()


def test_a_database_from_before_wall_times_reads_its_one_time_as_both(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = open_db(path, "paper", migrations=MIGRATIONS[:3])
    conn.execute(
        "INSERT INTO sessions (uuid, mode, venue, symbol, quote_asset, tick_size, lot_size, "
        "config_digest, version, seed, started_ns, ended_ns, end_state) VALUES "
        "('u', 'paper', 'sim', 'BTCUSDT', 'USDT', '0.1', '0.001', 'd', 'v', 1, "
        "60000000000, 120000000000, 'stopped')"
    )
    conn.execute(
        "INSERT INTO fills (session_id, seq, venue, trade_id, client_id, side, price_ticks, "
        "qty_lots, leaves_lots, fee_quote, fee_asset, is_maker, exch_ns, local_ns, "
        "mid_half_ticks, position_lots) VALUES "
        "(1, 1, 'sim', 't1', 'c', 1, 600000, 10, 0, 0.12, 'USDT', 1, 90000000000, "
        "90000000000, 1200001, 10)"
    )
    conn.close()
    before = path.read_bytes()
    conn = open_readonly(path)  # migrated in memory, the file is left as it was
    (s,) = list_sessions(conn)
    report = session_report(conn, 1)
    (fill,) = list_fills(conn, None, 90_000_000_000)
    assert list_fills(conn, None, 90_000_000_001) == []
    conn.close()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.db"]
    assert (s["market_started"], s["market_ended"]) == (s["started"], s["ended"])
    assert s["market_time_differs"] is False
    assert report["market_time_differs"] is False
    assert fill["wall_time"] == fill["time"]
    # Opened for writing, the file is migrated for good.
    open_db(path, "paper").close()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    row = raw.execute("SELECT market_started_ns, market_ended_ns FROM sessions").fetchone()
    raw.close()
    assert row == (60_000_000_000, 120_000_000_000)


def test_an_unclean_fast_session_gets_an_estimated_wall_end(tmp_path: Path) -> None:
    """Killed mid-run: its market end is its last activity; its wall end is that much after
    its wall start, never later than when the next run found it."""
    path = tmp_path / "x.db"
    conn = open_db(path, "paper")
    wall0 = time.time_ns() - 30 * 10**9
    market0 = wall0 + 600 * 10**9  # a replay shifted ahead, say
    conn.execute(
        "INSERT INTO sessions (uuid, mode, venue, symbol, quote_asset, tick_size, lot_size, "
        "config_digest, version, seed, started_ns, market_started_ns) VALUES "
        "('u', 'paper', 'sim', 'BTCUSDT', 'USDT', '0.1', '0.001', 'd', 'v', 1, ?, ?)",
        (wall0, market0),
    )
    for seq, ts in ((1, market0 + 5 * 10**9), (2, market0 + 3600 * 10**9)):
        conn.execute("INSERT INTO marks VALUES (1, ?, ?, 1200001)", (seq, ts))
    conn.close()
    found = time.time_ns()
    meta = session_meta("paper", "sim", btcusdt_perpetual(), Settings(), 1, found)
    opened = begin_session(path, meta, 1000)
    unlock(opened.lock_fd)
    (u,) = opened.unclean
    raw = sqlite3.connect(path)
    ended, m_ended, state = raw.execute(
        "SELECT ended_ns, market_ended_ns, end_state FROM sessions WHERE id = 1"
    ).fetchone()
    raw.close()
    assert state == "unclean"
    assert m_ended == market0 + 3600 * 10**9
    assert wall0 <= ended <= time.time_ns()
    assert ended >= found - 10**9
    assert u.last_seen_ns == ended


def test_a_journal_written_before_wall_times_still_replays(tmp_path: Path) -> None:
    """Rows an older tradetui left in the journal (a fill without wall_ns, a session end with
    its one time) replay into the current schema."""
    path = tmp_path / "x.db"
    t = time.time_ns()
    first = begin_session(
        path, session_meta("paper", "sim", btcusdt_perpetual(), Settings(), 1, t), 1000
    )
    sid = first.session_id
    fill = (sid, 1, "v", "t1", "c1", 1, 600_000, 10, 0, 0.12, "USDT", 1, t, t, 1_200_001, 10)
    old_rows: list[Row] = [
        (Kind.FILL, (*fill, None, None, None)),
        (Kind.SESSION_END, (t + 5, "stopped", "{}", sid)),
    ]
    journal.append(journal.journal_path(path), old_rows)
    unlock(first.lock_fd)
    nxt = begin_session(
        path, session_meta("paper", "sim", btcusdt_perpetual(), Settings(), 1, t), 1000
    )
    unlock(nxt.lock_fd)
    assert nxt.replayed_rows == 2
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT wall_ns FROM fills").fetchall() == [(None,)]
    row = raw.execute(
        "SELECT ended_ns, market_ended_ns, end_state FROM sessions WHERE id = ?", (sid,)
    ).fetchone()
    raw.close()
    assert row == (t + 5, t + 5, "stopped")
