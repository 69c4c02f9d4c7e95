"""``backtest --db``: a backtest kept as a stored session, so ``tradetui report`` and
``fills`` read it as they read a paper run.

The same SessionRecorder as paper and live sessions turns the engine's events into rows; they
are written synchronously in batches (a backtest has no event loop to hand them to), and the
file holds ``backtest`` sessions only, as paper and live each keep their own.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tradetui.engine.bus import Bus
from tradetui.engine.engine import Engine
from tradetui.store.journal import write_rows
from tradetui.store.lifecycle import begin_session, session_meta, unlock
from tradetui.store.recorder import SessionRecorder
from tradetui.store.rows import Row
from tradetui.store.schema import StoreError

MODE = "backtest"


class BacktestStore:
    """One backtest session in the database at ``path``, opened (validated and locked) when
    the engine is attached, before it starts trading."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: list[Row] = []
        self._batch_rows = 1
        self._conn: sqlite3.Connection | None = None
        self._lock_fd = -1
        self.session_id = 0
        self.recorder: SessionRecorder | None = None

    def attach(self, engine: Engine, bus: Bus) -> None:
        """Start the session and record ``engine``'s events (run_backtest's ``on_engine``)."""
        st = engine.settings.store
        start_ns = engine.clock.now_ns()
        meta = session_meta(MODE, "sim", engine.instrument, engine.settings, engine.seed, start_ns)
        opened = begin_session(self.path, meta, st.busy_timeout_ms)
        self._lock_fd, self.session_id = opened.lock_fd, opened.session_id
        self._batch_rows = st.batch_rows
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute(f"PRAGMA busy_timeout = {int(st.busy_timeout_ms)}")
        # The simulated exchange numbers its trades from 1 in every run: scope them.
        self.recorder = SessionRecorder(
            opened.session_id,
            f"sim:{opened.uuid[:12]}",
            engine.instrument.settle,
            self._put,
            lambda: engine.mid_ticks,
            engine.pnl,
            int(st.snapshot_interval_s * 1e9),
        )
        bus.subscribe(self.recorder.on_event)

    def _put(self, row: Row) -> None:
        self._pending.append(row)
        if len(self._pending) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        conn = self._conn
        if conn is None or not self._pending:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            write_rows(conn, self._pending)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"{self.path}: cannot store the backtest ({exc})") from None
        self._pending.clear()

    def finish(self, ts_ns: int, end_state: str, summary: dict[str, Any]) -> int:
        """Record the end (final mid, snapshot, summary), write everything, release the file;
        the session id."""
        try:
            if self.recorder is not None:
                self.recorder.finish(ts_ns, end_state, summary)
            self._flush()
        finally:
            self.close()
        return self.session_id

    def close(self) -> None:
        """Release the file (after a failed run the session reads as unclean next time)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd >= 0:
            unlock(self._lock_fd)
            self._lock_fd = -1
