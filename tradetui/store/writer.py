"""The write-behind writer: a bounded in-memory queue drained in batched transactions.

``put`` is synchronous and cheap (the bus calls it from inside the engine). A task takes up to
``batch_rows`` rows every ``batch_ms`` (or at once when that many are waiting) and commits
them in one transaction on aiosqlite's thread, so the event loop never waits on the disk. A
fill counts as stored only after its transaction committed.

When SQLite refuses a batch (disk full, locked past the busy timeout) or the queue overflows,
the writer fails once: it calls ``on_failure`` (the host halts the engine) and from then on
appends every row it holds or receives to the journal, which the next start replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import aiosqlite

from tradetui.store import journal
from tradetui.store.rows import SQL, Kind, Row

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriterConfig:
    """Batching and failure limits (rows, milliseconds, seconds)."""

    batch_rows: int = 1000
    batch_ms: float = 50.0
    queue_rows: int = 200_000
    busy_timeout_ms: int = 2000
    progress_interval_s: float = 0.25


class StoreWriter:
    """Owns one aiosqlite connection and the queue in front of it."""

    def __init__(
        self,
        path: Path,
        config: WriterConfig = WriterConfig(),
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.config = config
        self.on_failure = on_failure
        self.journal = journal.journal_path(path)
        self.fills_stored = 0
        self.fills_journaled = 0
        self.rows_stored = 0
        self.rows_journaled = 0
        self.batches = 0
        self.failed = ""
        self._pending: deque[Row] = deque()
        self._wake = asyncio.Event()
        # Set after every transaction (and at failure or close): ``wait_below`` waits on it.
        self._progressed = asyncio.Event()
        self._closing = False
        self._conn: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_progress = 0.0

    @property
    def pending(self) -> int:
        """Rows waiting for the next transaction."""
        return len(self._pending)

    async def start(self) -> None:
        """Connect and start the writer task."""
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        await conn.execute(f"PRAGMA busy_timeout = {int(self.config.busy_timeout_ms)}")
        # FULL: the WAL is fsynced at each commit, so "stored" survives power loss too.
        await conn.execute("PRAGMA synchronous = FULL")
        self._conn = conn
        self._task = asyncio.create_task(self._run(), name="store-writer")

    def put(self, row: Row) -> None:
        """Queue one row (never blocks; overflow fails the writer over to the journal)."""
        self._pending.append(row)
        n = len(self._pending)
        if n >= self.config.batch_rows:
            self._wake.set()
        if n > self.config.queue_rows and not self.failed:
            self._fail(f"store queue over {self.config.queue_rows} rows: the database is too slow")

    async def wait_below(self, rows: int) -> None:
        """Return once at most ``rows`` rows wait (at once if so already, or if the writer
        has failed over to the journal or stopped): an unpaced run, which never sleeps,
        awaits this to give the store its turn."""
        while len(self._pending) > rows and not self.failed and self._task is not None:
            if self._task.done():
                return
            self._wake.set()
            self._progressed.clear()
            await self._progressed.wait()

    async def close(self) -> None:
        """Drain every queued row (to the database, or the journal after a failure) and close."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def _fail(self, reason: str) -> None:
        self.failed = reason
        self._progressed.set()
        log.error("persistence failed: %s; unwritten rows go to %s", reason, self.journal)
        self._wake.set()
        if self.on_failure is not None:
            self.on_failure(reason)

    async def _run(self) -> None:
        cfg = self.config
        while True:
            if len(self._pending) < cfg.batch_rows and not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), cfg.batch_ms / 1000)
                self._wake.clear()
            if not self._pending:
                if self._closing:
                    self._progressed.set()
                    return
                continue
            take = len(self._pending) if self.failed else min(len(self._pending), cfg.batch_rows)
            batch = [self._pending.popleft() for _ in range(take)]
            if not self.failed:
                try:
                    await self._commit(batch)
                    continue
                except sqlite3.Error as exc:
                    self._fail(f"{type(exc).__name__}: {exc}")
            await self._journal(batch)

    async def _commit(self, batch: list[Row]) -> None:
        conn = self._conn
        assert conn is not None
        # One executemany per kind (each is a round trip to aiosqlite's thread, taken only when
        # the loop gets a turn). The sort is stable and the kinds are numbered so that an
        # order's insert comes before its status updates and the session's end comes last.
        ordered = sorted(batch, key=lambda r: r[0])
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for kind, group in groupby(ordered, key=lambda r: r[0]):
                await conn.executemany(SQL[kind], [p for _, p in group])
            await conn.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("ROLLBACK")
            raise
        fills = sum(1 for k, _ in batch if k == Kind.FILL)
        self.fills_stored += fills
        self.rows_stored += len(batch)
        self.batches += 1
        self._progressed.set()
        if fills:
            self._progress()

    async def _journal(self, batch: list[Row]) -> None:
        try:
            await asyncio.to_thread(journal.append, self.journal, batch)
        except OSError as exc:
            log.critical(
                "cannot write journal %s (%s): %d rows lost", self.journal, exc, len(batch)
            )
            return
        self.rows_journaled += len(batch)
        self.fills_journaled += sum(1 for k, _ in batch if k == Kind.FILL)

    def _progress(self) -> None:
        # One parseable line at most every progress_interval_s: scripts (and the crash test)
        # learn how many fills are durably stored.
        now = time.monotonic()
        if now - self._last_progress >= self.config.progress_interval_s:
            self._last_progress = now
            log.info("store %s", json.dumps({"fills_stored": self.fills_stored}))
