"""The append-only journal of rows SQLite could not take, replayed on the next start.

One JSON array ``[kind, [params...]]`` per line, fsynced after each append. A crash in the
middle of an append leaves a torn last line, which replay skips: that row was never reported
as stored.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

import msgspec

from tradetui.store.rows import SQL, Kind, Row

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(tuple[int, tuple[int | str | float | None, ...]])
# A fill row as written by schema version 2 (before charged_asset, charged_fee, charged_rate)
# and 3 or 4 (before wall_ns); a session end before version 5 (no market_ended_ns: its one
# time was the session clock's, stored as both).
_FILL_PARAMS_V2 = 16
_FILL_PARAMS_V3 = 19
_SESSION_END_PARAMS_V3 = 4


def journal_path(db: Path) -> Path:
    """Where rows for ``db`` go when the database refuses them."""
    return db.with_name(db.name + ".unwritten.jsonl")


def append(path: Path, rows: Sequence[Row]) -> None:
    """Append ``rows`` and fsync (blocking: call from a worker thread)."""
    data = b"".join(_encoder.encode(r) + b"\n" for r in rows)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_rows(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
    """Apply rows in order inside the caller's transaction, one executemany per run of a kind."""
    for kind, group in groupby(rows, key=lambda r: r[0]):
        conn.executemany(SQL[kind], [params for _, params in group])


def read(path: Path) -> list[Row]:
    """Rows in the journal; a torn final line (crash mid-append) is dropped."""
    rows: list[Row] = []
    lines = path.read_bytes().split(b"\n")
    for i, line in enumerate(lines):
        if not line:
            continue
        try:
            kind, params = _decoder.decode(line)
        except msgspec.DecodeError:
            if i < len(lines) - 1 and any(lines[i + 1 :]):
                raise
            log.warning("%s: dropped a torn last line (crash during append)", path)
            continue
        if kind == Kind.FILL and len(params) == _FILL_PARAMS_V2:
            params = (*params, None, None, None, None)  # written before the charged_* columns
        elif kind in (Kind.FILL, Kind.RECOVERED_FILL) and len(params) == _FILL_PARAMS_V3:
            params = (*params, None)  # written before wall_ns
        elif kind == Kind.SESSION_END and len(params) == _SESSION_END_PARAMS_V3:
            params = (*params[:3], params[0], params[3])
        rows.append((kind, params))
    return rows


def replay(conn: sqlite3.Connection, path: Path) -> int:
    """Write the journal into the database in one transaction, then delete it; rows replayed."""
    if not path.exists():
        return 0
    rows = read(path)
    conn.execute("BEGIN IMMEDIATE")
    try:
        write_rows(conn, rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    # Deleting after commit: a crash in between replays again, which the unique keys absorb.
    path.unlink()
    return len(rows)
