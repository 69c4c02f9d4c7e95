"""The database file: validation before touching it, schema versions and forward migrations.

A file is opened only when it is ours: an SQLite header carrying our ``application_id`` and a
``user_version`` this build knows. Anything else (empty, random bytes, another application's
database, a newer schema) raises StoreError with one line and leaves the file untouched,
because the checks read the raw header before SQLite ever opens the file.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

# "TTUI" as a big-endian int: PRAGMA application_id marks the file as ours.
APPLICATION_ID = 0x54545549
_MAGIC = b"SQLite format 3\x00"
_HEADER_BYTES = 100

# MIGRATIONS[v] upgrades a schema at user_version v to v + 1; append, never edit.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        mode TEXT NOT NULL,
        venue TEXT NOT NULL,
        symbol TEXT NOT NULL,
        quote_asset TEXT NOT NULL,
        tick_size TEXT NOT NULL,
        lot_size TEXT NOT NULL,
        config_digest TEXT NOT NULL,
        version TEXT NOT NULL,
        seed INTEGER,
        started_ns INTEGER NOT NULL,
        ended_ns INTEGER,
        end_state TEXT,
        summary_json TEXT
    ) STRICT;
    CREATE TABLE orders (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        client_id TEXT NOT NULL,
        venue_id TEXT,
        side INTEGER NOT NULL,
        price_ticks INTEGER NOT NULL,
        qty_lots INTEGER NOT NULL,
        order_type TEXT,
        post_only INTEGER,
        reduce_only INTEGER,
        created_ns INTEGER NOT NULL,
        status TEXT NOT NULL,
        updated_ns INTEGER NOT NULL,
        PRIMARY KEY (session_id, client_id)
    ) STRICT;
    CREATE TABLE order_events (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        seq INTEGER NOT NULL,
        ts_ns INTEGER NOT NULL,
        client_id TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) STRICT;
    CREATE TABLE fills (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        seq INTEGER NOT NULL,
        venue TEXT NOT NULL,
        trade_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        side INTEGER NOT NULL,
        price_ticks INTEGER NOT NULL,
        qty_lots INTEGER NOT NULL,
        leaves_lots INTEGER NOT NULL,
        fee_quote REAL NOT NULL,
        fee_asset TEXT NOT NULL,
        is_maker INTEGER NOT NULL,
        exch_ns INTEGER NOT NULL,
        local_ns INTEGER NOT NULL,
        mid_half_ticks INTEGER NOT NULL,
        position_lots INTEGER NOT NULL,
        UNIQUE (venue, trade_id)
    ) STRICT;
    CREATE INDEX fills_by_session ON fills (session_id, local_ns);
    CREATE TABLE marks (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        seq INTEGER NOT NULL,
        ts_ns INTEGER NOT NULL,
        mid_half_ticks INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) STRICT;
    CREATE TABLE snapshots (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        seq INTEGER NOT NULL,
        ts_ns INTEGER NOT NULL,
        position_lots INTEGER NOT NULL,
        mid_half_ticks INTEGER NOT NULL,
        realized_quote REAL NOT NULL,
        unrealized_quote REAL NOT NULL,
        fees_quote REAL NOT NULL,
        rebates_quote REAL NOT NULL,
        total_quote REAL NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) STRICT;
    CREATE TABLE events (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        seq INTEGER NOT NULL,
        ts_ns INTEGER NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) STRICT;
    """,
    # 2: the instrument a session traded, as Instrument.to_spec() JSON (contract size,
    # inverse, settlement asset...), so a report rebuilds its contract math; NULL for sessions
    # stored before, which were all linear.
    """
    ALTER TABLE sessions ADD COLUMN instrument_json TEXT;
    """,
    # 3: a fee the exchange charged in another asset than fee_asset (the settlement asset of
    # fee_quote), e.g. BNB under Binance's fee discount: that asset, the amount exactly as the
    # exchange stated it, and the rate (fee_asset per unit) fee_quote was valued at (0: none
    # known, fee_quote is 0). NULL for fees charged in fee_asset and for older fills.
    """
    ALTER TABLE fills ADD COLUMN charged_asset TEXT;
    ALTER TABLE fills ADD COLUMN charged_fee TEXT;
    ALTER TABLE fills ADD COLUMN charged_rate REAL;
    """,
    # 4: fills made while no session ran (after a crash or kill), found at the next live start
    # and stored with the session that found them (docs/shutdown.md); 0 for every other fill.
    """
    ALTER TABLE fills ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: wall-clock and market time apart. started_ns/ended_ns are wall-clock times from now
    # on; market_started_ns/market_ended_ns the session's own clock (the virtual clock of a
    # fast or replayed run), copied from started_ns/ended_ns for older sessions, which stored
    # only that. A fill's wall_ns is when it was recorded (NULL for older fills: local_ns).
    """
    ALTER TABLE sessions ADD COLUMN market_started_ns INTEGER;
    ALTER TABLE sessions ADD COLUMN market_ended_ns INTEGER;
    UPDATE sessions SET market_started_ns = started_ns, market_ended_ns = ended_ns;
    ALTER TABLE fills ADD COLUMN wall_ns INTEGER;
    """,
    # 6: the settings a session ran with, as JSON (dataclasses.asdict of Settings: key names,
    # never secrets, which live in the environment), so ``reconcile`` backtests its recorded
    # market with the same parameters; NULL for older sessions.
    """
    ALTER TABLE sessions ADD COLUMN settings_json TEXT;
    """,
    # 7: several markets in one run (docs/multi-market.md): each market is a session row of
    # its own (its symbol and instrument, so every order, fill and snapshot row is tagged with
    # its market through session_id); ``book`` is the uuid of the run's first market, shared by
    # all its markets. NULL for a one-market session.
    """
    ALTER TABLE sessions ADD COLUMN book TEXT;
    CREATE INDEX sessions_by_book ON sessions (book);
    """,
    # 8: each order request a live session sent (a placement or a cancel, by client id; a
    # request sent again replaces its row): wall-clock send and answer times, the exchange's
    # time of handling it, the estimated exchange − local clock offset, the outcome, and the
    # user-stream update's arrival and transaction time (venues/latency.py). NULL where the
    # exchange gave no time or nothing came.
    """
    CREATE TABLE order_requests (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        client_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        sent_ns INTEGER NOT NULL,
        answered_ns INTEGER,
        exchange_ns INTEGER,
        offset_ns INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        stream_ns INTEGER,
        stream_exchange_ns INTEGER,
        PRIMARY KEY (session_id, client_id, kind)
    ) STRICT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """A user-fixable database problem; the message is one line naming the file and the fix."""


# SQLite's primary result codes (the low byte of an extended code) meaning "may not write".
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_CANTOPEN = 3, 8, 14


def _cannot_write(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_CANTOPEN)


def _read_only(path: Path, why: str) -> StoreError:
    return StoreError(
        f"{path}: read-only ({why}); a run writes the file and its -wal, -shm and .lock beside "
        "it: give yourself write access to the file and its folder (chmod u+w), or pass "
        "another --db"
    )


def db_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """The one line for an SQLite error on ``path``: a file or folder we may not write, or a
    damaged database."""
    if _cannot_write(exc):
        return _read_only(path, str(exc))
    return StoreError(
        f"{path}: damaged database ({exc}); restore a backup, or pass another --db "
        "(`sqlite3 FILE .recover` may save what is left)"
    )


def _header(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEADER_BYTES)
    except OSError as exc:
        raise StoreError(f"{path}: cannot read database ({exc.strerror})") from None


def check_file(path: Path, known_version: int = SCHEMA_VERSION) -> bool:
    """Whether ``path`` exists; raises StoreError unless it is a tradetui database we can read.

    Reads only the 100-byte SQLite header, so a refused file is never opened by SQLite.
    """
    if not path.exists():
        return False
    if path.is_dir():
        raise StoreError(f"{path}: is a directory; --db needs a database file path")
    head = _header(path)
    if not head:
        raise StoreError(f"{path}: empty file, not a tradetui database; pass another --db path")
    if len(head) < _HEADER_BYTES or not head.startswith(_MAGIC):
        raise StoreError(f"{path}: not an SQLite database; pass another --db path")
    app_id = int.from_bytes(head[68:72], "big")
    if app_id != APPLICATION_ID:
        raise StoreError(
            f"{path}: an SQLite database of another application; tradetui will not write to it"
        )
    version = int.from_bytes(head[60:64], "big")
    if version > known_version:
        raise StoreError(
            f"{path}: schema version {version} is newer than this tradetui knows "
            f"({known_version}); upgrade tradetui"
        )
    return True


def _apply(conn: sqlite3.Connection, migrations: Sequence[str], start: int) -> None:
    for version in range(start, len(migrations)):
        # executescript commits first; BEGIN makes each step all-or-nothing.
        step = migrations[version]
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{step}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
        )


def open_db(
    path: Path,
    mode: str,
    *,
    create: bool = True,
    migrations: Sequence[str] = MIGRATIONS,
    busy_timeout_ms: int = 5000,
) -> sqlite3.Connection:
    """Open (creating or migrating) the ``mode`` database at ``path``; raises StoreError.

    A new file is created in rollback-journal mode so its header (application id, version)
    is in the main file before WAL is switched on.
    """
    known = len(migrations)
    exists = check_file(path, known)
    if not exists and not create:
        raise StoreError(f"{path}: no such database; run `tradetui run --db {path}` first")
    if exists:
        # Checked before SQLite opens it: it would open a read-only file read-only, then fail
        # at the first write after leaving -wal, -shm and the lock behind.
        folder = path.parent
        if not os.access(path, os.W_OK):
            raise _read_only(path, "you may not write the file")
        if not os.access(folder, os.W_OK):
            raise _read_only(path, f"you may not write in {folder}")
    if not exists:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path.parent}: cannot create directory ({exc.strerror})") from None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open database ({exc})") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if not exists:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > known:
            raise StoreError(
                f"{path}: schema version {version} is newer than this tradetui knows "
                f"({known}); upgrade tradetui"
            )
        _apply(conn, migrations, version)
        if version == 0:
            conn.execute("INSERT INTO meta (key, value) VALUES ('mode', ?)", (mode,))
        row = conn.execute("SELECT value FROM meta WHERE key = 'mode'").fetchone()
        if row is None or row[0] != mode:
            held = row[0] if row else "no"
            raise StoreError(
                f"{path}: holds {held} sessions, not {mode}; paper and live never share a file"
            )
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk (WAL fsynced) before a fill is reported as stored.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise db_error(path, exc) from None
    except StoreError:
        conn.close()
        raise
    return conn


def open_readonly(path: Path) -> sqlite3.Connection:
    """Open an existing database for queries, read-only; raises StoreError when it is missing,
    not ours or damaged.

    Nothing on disk changes and no file is added. A database with a -wal file (a live
    writer's, or a crashed one's rows not yet merged) is opened with mode=ro: SQLite reads
    the -wal and never checkpoints or deletes it. Without one every row is in the main file,
    which is read as immutable, so SQLite creates no -wal or -shm beside it (and a folder we
    may not write is no obstacle); a run that starts during such a query is not seen by it
    (its first rows go to a new -wal). A schema older than this build is migrated in a private
    copy in memory, never in the file.
    """
    if not check_file(path):
        raise StoreError(f"{path}: no such database; pass --db or run `tradetui run` first")
    wal = path.with_name(path.name + "-wal")
    live = wal.exists()
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro{'' if live else '&immutable=1'}",
        uri=True,
        isolation_level=None,
    )
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # a damaged file fails here
    except sqlite3.DatabaseError as exc:
        conn.close()
        if live and _cannot_write(exc):
            raise StoreError(
                f"{path}: cannot be read in a folder you may not write while {wal.name} holds "
                "rows not yet in the file; copy the folder somewhere writable"
            ) from None
        raise db_error(path, exc) from None
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        conn.close()
        raise StoreError(
            f"{path}: schema version {version} is newer than this tradetui knows "
            f"({SCHEMA_VERSION}); upgrade tradetui"
        )
    if version < SCHEMA_VERSION:
        memory = sqlite3.connect(":memory:", isolation_level=None)
        try:
            conn.backup(memory)
            _apply(memory, MIGRATIONS, version)
        except sqlite3.DatabaseError as exc:
            memory.close()
            raise db_error(path, exc) from None
        finally:
            conn.close()
        return memory
    return conn
