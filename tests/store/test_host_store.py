"""A paper session persisted through EngineHost: report = summary, failure halts trading."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradetui.config import Settings
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.host import EngineHost, StoreOptions
from tradetui.session import build_paper_session
from tradetui.store.journal import journal_path
from tradetui.store.lifecycle import unlock
from tradetui.store.queries import session_report
from tradetui.store.writer import WriterConfig


async def _run(path: Path, seconds: float) -> tuple[dict[str, Any], dict[str, Any]]:
    # The fee floor off: these checks want many fills (it cuts them about tenfold).
    settings = Settings().replace("strategy", fee_floor=False)
    session = build_paper_session(settings, seed=3, virtual=True)
    host = EngineHost(session, None)
    host.open_store(StoreOptions(path))
    await host.start_store()
    end = session.start_ns + int(seconds * 1e9)
    host.engine.control(Command(CommandKind.START, reason="test"))
    await host.run(lambda: host.now_ns() >= end)
    await host.wind_down(flatten=False)
    summary = host.summary()
    figures = await host.close_store(summary)
    return summary, figures


def naive_pnl_from_fills_table(conn: sqlite3.Connection, session_id: int) -> Decimal:
    """PnL rebuilt with a deliberately simple loop straight from the tables."""
    tick, lot = (
        Decimal(x)
        for x in conn.execute(
            "SELECT tick_size, lot_size FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
    )
    cash = Decimal(0)
    position = Decimal(0)
    for side, price_ticks, qty_lots, fee in conn.execute(
        "SELECT side, price_ticks, qty_lots, fee_quote FROM fills WHERE session_id = ? ORDER BY id",
        (session_id,),
    ):
        cash -= side * price_ticks * tick * qty_lots * lot
        position += side * qty_lots * lot
        cash -= Decimal(repr(fee))
    last_mid_half_ticks: int
    (last_mid_half_ticks,) = conn.execute(
        "SELECT mid_half_ticks FROM marks WHERE session_id = ? ORDER BY seq DESC LIMIT 1",
        (session_id,),
    ).fetchone()
    return cash + position * last_mid_half_ticks * tick / 2


async def test_stored_session_report_matches_the_run_summary(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    summary, figures = await _run(path, 120)
    assert summary["fills"] > 10
    assert figures["fills_stored"] == summary["fills"]
    conn = sqlite3.connect(path)
    report = session_report(conn, figures["session_id"])
    for key in ("fills", "volume_quote", "fees", "rebates", "pnl_total", "pnl_realized"):
        assert report[key] == summary[key], key
    naive = naive_pnl_from_fills_table(conn, figures["session_id"])
    assert naive == summary["pnl_total"]  # exact: both are Decimals of the same fills
    assert report["end_state"] == "stopped"
    orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert orders == summary["orders_placed"]
    open_orders = conn.execute(
        "SELECT count(*) FROM orders WHERE status IN ('sent', 'accepted', 'cancel_sent')"
    ).fetchone()[0]
    assert open_orders == 0
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] > 100
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


async def test_persistence_failure_halts_the_engine_and_journals_the_fills(
    tmp_path: Path,
) -> None:
    path = tmp_path / "paper.db"
    session = build_paper_session(Settings(), seed=3, virtual=True)
    host = EngineHost(session, None)
    host.open_store(StoreOptions(path, writer=WriterConfig(batch_ms=5, busy_timeout_ms=20)))
    await host.start_store()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    end = session.start_ns + int(120 * 1e9)
    host.engine.control(Command(CommandKind.START, reason="test"))
    await host.run(lambda: host.now_ns() >= end or host.engine.state is EngineState.HALTED)
    # The halt command is applied from the inbox: give the runner one more turn.
    await host.run(lambda: host.engine.state is EngineState.HALTED)
    assert host.engine.state is EngineState.HALTED
    assert "persistence failed" in host.engine.halt_reason
    summary = host.summary()
    figures = await host.close_store(summary)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert figures["store_failed"]
    assert figures["fills_stored"] + figures["fills_journaled"] == summary["fills"]
    assert journal_path(path).exists()

    # The next start replays the journal: every fill is in the database.
    nxt = EngineHost(build_paper_session(Settings(), seed=4, virtual=True), None)
    opened = nxt.open_store(StoreOptions(path))
    unlock(opened.lock_fd)
    conn = sqlite3.connect(path)
    stored = conn.execute(
        "SELECT count(*) FROM fills WHERE session_id = ?", (figures["session_id"],)
    ).fetchone()[0]
    halts = conn.execute(
        "SELECT count(*) FROM events WHERE kind = 'store_error' AND session_id = ?",
        (figures["session_id"],),
    ).fetchone()[0]
    conn.close()
    assert stored == summary["fills"]
    assert halts == 1


async def test_an_unpaced_run_commits_while_it_trades_and_keeps_the_queue_short(
    tmp_path: Path,
) -> None:
    # Unpaced (--speed max) runs never sleep: the store must still get its turn, so a kill
    # at any moment loses at most about one batch, and memory stays flat.
    path = tmp_path / "paper.db"
    session = build_paper_session(Settings(), seed=3, virtual=True)
    host = EngineHost(session, None)
    host.open_store(StoreOptions(path, writer=WriterConfig(batch_rows=200)))
    await host.start_store()
    writer = host.writer
    assert writer is not None
    end = session.start_ns + int(600 * 1e9)
    half = session.start_ns + int(300 * 1e9)
    seen: dict[str, int] = {"max_pending": 0, "fills_at_half": -1, "engine_fills_at_half": 0}

    def done() -> bool:
        seen["max_pending"] = max(seen["max_pending"], writer.pending)
        if seen["fills_at_half"] < 0 and host.now_ns() >= half:
            seen["fills_at_half"] = writer.fills_stored
            seen["engine_fills_at_half"] = host.engine.ledger.fills
        return host.now_ns() >= end

    host.engine.control(Command(CommandKind.START, reason="test"))
    await host.run(done)
    await host.wind_down(flatten=False)
    await host.close_store(host.summary())

    assert seen["engine_fills_at_half"] > 10
    assert seen["fills_at_half"] >= seen["engine_fills_at_half"] - 20
    assert seen["max_pending"] <= 5 * 200
