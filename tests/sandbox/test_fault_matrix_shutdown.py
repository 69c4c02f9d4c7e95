"""Issue 18's fault matrix, shutdown cases: a hurried stop (a second SIGINT while every request
is slow) and a kill -9 with orders that fill while tradetui is down. The four invariants of
tests/sandbox/matrix.py hold after each."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from pathlib import Path

from tests.sandbox.matrix import (
    Run,
    assert_invariants,
    exchange_view,
    finish,
    headless,
    read_until,
    sandbox_process,
    session_env,
    set_faults,
    spawn_tradetui,
    stored_trade_ids,
)
from tests.sandbox.test_fault_matrix import QUOTING
from tradetui.commands.common import EXIT_UNCONFIRMED


async def test_double_sigint_with_slow_requests_leaves_nothing_working(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    args = ["run", "--headless", "--json", "--flatten-on-exit", "--db", str(db)]
    async with sandbox_process() as url:
        proc = await spawn_tradetui(*args, env=session_env(url, tmp_path, **QUOTING))
        head = await read_until(proc, "→ running")
        await asyncio.sleep(2.0)  # quotes rest, some fill
        # From now on the exchange answers every request 3 s late (issue 18 item 7's repro).
        await set_faults(url, delay_ms=3000, delay_count=-1)
        await asyncio.sleep(0.3)  # the next requotes are on their way
        proc.send_signal(signal.SIGINT)
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        run = await finish(proc, 90)
        await set_faults(url, clear="1")
        view = await exchange_view(url)
    run = Run(run.code, run.out, head + run.err)

    summary = run.summary
    assert summary["hurried"] is True, run.err[-3000:]
    assert "cancel-all" in run.err
    # The contract: 0 only when the exchange confirmed everything, else 6 naming what not.
    if summary["unconfirmed"]:
        assert run.code == EXIT_UNCONFIRMED, run.err[-3000:]
    else:
        assert run.code == 0, run.err[-3000:]
    assert summary["open_orders"] == 0, summary
    assert_invariants(run, view, [db])


def _recovered(db: Path) -> list[tuple[str, int]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT trade_id, session_id FROM fills WHERE recovered = 1")
        return [(str(t), int(s)) for t, s in rows]


async def _killed_with_fills_pending(url: str, db: Path, env: dict[str, str]) -> set[str]:
    """A session killed with -9 while quoting; returns once the exchange holds trades of ours
    that the database does not (the ids)."""
    proc = await spawn_tradetui("run", "--headless", "--json", "--db", str(db), env=env)
    await read_until(proc, "→ running")
    await asyncio.sleep(3.0)
    # Killed while orders of ours rest at the exchange (not between a cancel and its
    # replacement), so the market can fill one while tradetui is down.
    for _ in range(100):
        if (await exchange_view(url)).open_orders:
            break
        await asyncio.sleep(0.1)
    proc.kill()  # kill -9: orders stay resting, the writer's queue is lost
    await proc.wait()
    for _ in range(180):  # the market comes to a resting quote within seconds, mostly
        view = await exchange_view(url)
        missing = set(view.trades) - set(stored_trade_ids(db))
        if missing:
            return missing
        await asyncio.sleep(0.5)
    raise AssertionError("no order of ours filled while tradetui was down")


async def test_fills_made_while_down_are_stored_once_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    async with sandbox_process() as url:
        env = session_env(url, tmp_path, **QUOTING)
        missing = await _killed_with_fills_pending(url, db, env)
        run = await headless(3, db, env)
        view = await exchange_view(url)

    assert run.code == 0, run.err[-3000:]
    assert_invariants(run, view, [db])
    recovered = _recovered(db)
    assert run.summary["recovered_fills"] == len(recovered)
    assert missing <= {t for t, _ in recovered}, (missing, recovered)
    # Attached to the session that found them: the restart's.
    assert {s for _, s in recovered} == {run.summary["session_id"]}


async def test_a_start_that_cannot_read_the_trades_made_while_down_does_not_quote(
    tmp_path: Path,
) -> None:
    db = tmp_path / "live.db"
    async with sandbox_process() as url:
        env = session_env(url, tmp_path, **QUOTING)
        missing = await _killed_with_fills_pending(url, db, env)
        await set_faults(url, status=503, count=-1, only="GET /fapi/v1/userTrades", code=-1001)
        refused = await headless(3, db, env)
        await set_faults(url, clear="1")
        run = await headless(3, db, env)
        view = await exchange_view(url)

    assert "fills made while down could not be fetched" in refused.err
    assert refused.summary["fills"] == 0
    assert refused.summary["orders_placed"] == 0
    assert run.code == 0, run.err[-3000:]
    assert_invariants(run, view, [db])
    assert missing <= {t for t, _ in _recovered(db)}


async def _hurried(tmp_path: Path, signals: int, **faults: str | int) -> Run:
    """A session stopped by ``signals`` SIGINTs 0.3 s apart once every request is 3 s late
    (and ``faults`` are on); the exchange's view is checked by the caller's asserts."""
    db = tmp_path / "live.db"
    args = ["run", "--headless", "--json", "--flatten-on-exit", "--db", str(db)]
    async with sandbox_process() as url:
        proc = await spawn_tradetui(*args, env=session_env(url, tmp_path, **QUOTING))
        head = await read_until(proc, "→ running")
        await asyncio.sleep(2.0)
        await set_faults(url, delay_ms=3000, delay_count=-1, **faults)
        await asyncio.sleep(0.3)
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
            await asyncio.sleep(0.3)
        run = await finish(proc, 90)
        await set_faults(url, clear="1")
        view = await exchange_view(url)
    run = Run(run.code, run.out, head + run.err)
    if signals < 3:
        assert_invariants(run, view, [db])
    return run


async def test_a_third_sigint_exits_at_once_and_says_nothing_was_confirmed(
    tmp_path: Path,
) -> None:
    run = await _hurried(tmp_path, 3)
    assert run.code == EXIT_UNCONFIRMED, run.err[-3000:]
    assert run.summary["hurried"] is True
    assert any("third signal" in item for item in run.summary["unconfirmed"])


async def test_a_refused_cancel_all_still_ends_with_nothing_of_ours_working(
    tmp_path: Path,
) -> None:
    # Every cancel-all answered 503 with Binance's -1000 body ("unknown error").
    run = await _hurried(
        tmp_path, 2, status=503, count=-1, only="DELETE /fapi/v1/allOpenOrders", code=-1000
    )
    assert "cancel-all for BTC/USDT:USDT failed" in run.err
    assert run.code == 0, run.err[-3000:]
    assert run.summary["unconfirmed"] == []
