"""Session start against a database file: lock, replay the journal, find unclean sessions.

Runs synchronously before the engine starts (nothing is trading yet, so blocking is fine).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import msgspec

from tradetui.config import Settings
from tradetui.core.instrument import Instrument
from tradetui.store import journal
from tradetui.store.schema import StoreError, db_error, open_db


@dataclass(frozen=True, slots=True)
class SessionMeta:
    """What a session row records about the run: ``started_ns`` on the wall clock,
    ``market_started_ns`` on the session's own (virtual in a fast or replayed run)."""

    mode: str
    venue: str
    symbol: str
    quote_asset: str
    tick_size: str
    lot_size: str
    config_digest: str
    version: str
    seed: int | None
    started_ns: int
    instrument_json: str  # Instrument.to_spec() as JSON
    market_started_ns: int
    settings_json: str  # the Settings as JSON (config_digest is its hash)


def session_meta(
    mode: str,
    venue: str,
    instrument: Instrument,
    settings: Settings,
    seed: int | None,
    market_started_ns: int,
) -> SessionMeta:
    """The session row of a run of ``settings`` on ``instrument`` (its spec kept as JSON),
    whose clock starts at ``market_started_ns``, started now on the wall clock."""
    settings_json = json.dumps(dataclasses.asdict(settings), sort_keys=True)
    digest = hashlib.sha256(settings_json.encode()).hexdigest()[:16]
    try:
        build = version("tradetui")
    except PackageNotFoundError:
        build = "unknown"
    return SessionMeta(
        mode=mode,
        venue=venue,
        symbol=instrument.symbol,
        quote_asset=instrument.quote,
        tick_size=str(instrument.tick_size),
        lot_size=str(instrument.lot_size),
        config_digest=digest,
        version=build,
        seed=seed,
        started_ns=time.time_ns(),
        instrument_json=json.dumps(instrument.to_spec(), sort_keys=True),
        market_started_ns=market_started_ns,
        settings_json=settings_json,
    )


@dataclass(frozen=True, slots=True)
class UncleanSession:
    """A previous session that never recorded its end (crash, kill -9, power loss)."""

    session_id: int
    started_ns: int
    last_seen_ns: int
    fills: int


@dataclass(slots=True)
class OpenedSession:
    session_id: int
    uuid: str
    unclean: list[UncleanSession]
    replayed_rows: int
    lock_fd: int


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(
            f"{lock_path}: cannot lock the database ({exc.strerror}); it must be a file you "
            "may write beside the database: move it aside or pass another --db"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(
            f"{path}: in use by another tradetui run; stop it or pass another --db"
        ) from None
    return fd


def unlock(fd: int) -> None:
    """Release the session lock taken by ``begin_session``."""
    with contextlib.suppress(OSError):
        os.close(fd)


def _close_unclean(conn: sqlite3.Connection) -> list[UncleanSession]:
    """End every session left open: its market end is its last stored activity; its wall end
    is estimated as that much after its wall start (exact at speed 1), at least its last fill's
    wall time and at most now."""
    found: list[UncleanSession] = []
    now = time.time_ns()
    rows = conn.execute(
        "SELECT id, started_ns, coalesce(market_started_ns, started_ns) FROM sessions "
        "WHERE ended_ns IS NULL ORDER BY id"
    ).fetchall()
    for sid, started, market_started in rows:
        last = conn.execute(
            "SELECT max(t) FROM (SELECT max(local_ns) AS t FROM fills WHERE session_id = ?1 "
            "UNION ALL SELECT max(ts_ns) FROM marks WHERE session_id = ?1 "
            "UNION ALL SELECT max(ts_ns) FROM events WHERE session_id = ?1 "
            "UNION ALL SELECT max(ts_ns) FROM order_events WHERE session_id = ?1)",
            (sid,),
        ).fetchone()[0]
        fills, last_fill_wall = conn.execute(
            "SELECT count(*), max(wall_ns) FROM fills WHERE session_id = ?", (sid,)
        ).fetchone()
        market_last = int(last) if last is not None else int(market_started)
        wall_last = int(started) + max(0, market_last - int(market_started))
        if last_fill_wall is not None:
            wall_last = max(wall_last, int(last_fill_wall))
        wall_last = max(int(started), min(wall_last, now))
        conn.execute(
            "UPDATE sessions SET ended_ns = ?, market_ended_ns = ?, end_state = 'unclean' "
            "WHERE id = ?",
            (wall_last, market_last, sid),
        )
        found.append(UncleanSession(int(sid), int(started), wall_last, int(fills)))
    return found


def begin_session(path: Path, meta: SessionMeta, busy_timeout_ms: int) -> OpenedSession:
    """Validate and lock the file, replay its journal, close unclean sessions, add ours.

    Raises StoreError with one line when the file is not usable.
    """
    conn = open_db(path, meta.mode, busy_timeout_ms=busy_timeout_ms)
    try:
        fd = _lock(path)
        try:
            try:
                replayed = journal.replay(conn, journal.journal_path(path))
            except (msgspec.DecodeError, sqlite3.Error, KeyError, OSError) as exc:
                why = exc.strerror if isinstance(exc, OSError) else exc
                raise StoreError(
                    f"{journal.journal_path(path)}: cannot replay unwritten rows ({why}); "
                    "move the file aside to start without them"
                ) from None
            conn.execute("BEGIN IMMEDIATE")
            unclean = _close_unclean(conn)
            sid_uuid = uuid.uuid4().hex
            cur = _insert_session(conn, sid_uuid, meta, None)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            unlock(fd)
            raise
    except sqlite3.Error as exc:
        raise db_error(path, exc) from None
    finally:
        conn.close()
    assert cur.lastrowid is not None
    return OpenedSession(cur.lastrowid, sid_uuid, unclean, replayed, fd)


def _insert_session(
    conn: sqlite3.Connection, sid_uuid: str, meta: SessionMeta, book: str | None
) -> sqlite3.Cursor:
    return conn.execute(
        "INSERT INTO sessions (uuid, mode, venue, symbol, quote_asset, tick_size, "
        "lot_size, config_digest, version, seed, started_ns, instrument_json, "
        "market_started_ns, settings_json, book) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            sid_uuid,
            meta.mode,
            meta.venue,
            meta.symbol,
            meta.quote_asset,
            meta.tick_size,
            meta.lot_size,
            meta.config_digest,
            meta.version,
            meta.seed,
            meta.started_ns,
            meta.instrument_json,
            meta.market_started_ns,
            meta.settings_json,
            book,
        ),
    )


def join_book(
    path: Path, first: OpenedSession, meta: SessionMeta, busy_timeout_ms: int
) -> OpenedSession:
    """Add another market of a several-market run as a session of its own, in the book of
    ``first`` (opened by ``begin_session``, whose lock covers it); marks ``first``'s row as
    the book's too. Raises StoreError (one line)."""
    conn = open_db(path, meta.mode, busy_timeout_ms=busy_timeout_ms)
    try:
        with conn:
            conn.execute(
                "UPDATE sessions SET book = ?1 WHERE id = ?2", (first.uuid, first.session_id)
            )
            sid_uuid = uuid.uuid4().hex
            cur = _insert_session(conn, sid_uuid, meta, first.uuid)
    except sqlite3.Error as exc:
        raise db_error(path, exc) from None
    finally:
        conn.close()
    assert cur.lastrowid is not None
    return OpenedSession(cur.lastrowid, sid_uuid, [], 0, first.lock_fd)
