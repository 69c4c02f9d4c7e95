"""A paper session of three markets (BTCUSDT and ETHUSDT on USD-M, BTCUSD_PERP on COIN-M) from
one config: each quotes, the stored fills rebuild each market's position, a portfolio drawdown
limit halts all three with its reason, and the control socket addresses one market or all."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.multi.book import SYMBOLS, book_settings
from tradetui.cli import app
from tradetui.control import ControlServer, send_request
from tradetui.core.instrument import Instrument
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.host import BookHost, StoreOptions
from tradetui.lifecycle import HeadlessFace, Lifecycle, RunPlan
from tradetui.session import build_book_session


async def _run(tmp_path: Path, extra: str = "", duration_s: float = 300.0) -> dict[str, Any]:
    plan = RunPlan(seed=None, speed=None, store=StoreOptions(tmp_path / "book.db"))
    return await Lifecycle(book_settings(extra), plan).run(HeadlessFace(duration_s))


async def test_three_markets_quote_and_their_fills_rebuild_each_position(tmp_path: Path) -> None:
    summary = await _run(tmp_path)
    markets = summary["markets"]
    assert [m["symbol"] for m in markets] == SYMBOLS
    for m in markets:
        assert m["orders_placed"] > 0, m["symbol"]
        assert m["fills"] > 0, m["symbol"]
        assert m["state"] == "stopped"
    assert summary["total"]["fills"] == sum(m["fills"] for m in markets)
    assert summary["fills_stored"] == summary["total"]["fills"]
    with sqlite3.connect(tmp_path / "book.db") as db:
        rows = db.execute(
            "SELECT id, symbol, book, instrument_json FROM sessions ORDER BY id"
        ).fetchall()
        assert [r[1] for r in rows] == SYMBOLS
        assert len({r[2] for r in rows}) == 1
        assert rows[0][2] is not None
        assert [r[0] for r in rows] == summary["session_ids"]
        for (sid, symbol, _book, spec), m in zip(rows, markets, strict=True):
            inst = Instrument.from_spec(json.loads(spec))
            fills = db.execute(
                "SELECT side, qty_lots, position_lots FROM fills WHERE session_id = ? ORDER BY seq",
                (sid,),
            ).fetchall()
            assert len(fills) == m["fills"], symbol
            rebuilt = 0
            for side, qty, position in fills:
                rebuilt += qty if side > 0 else -qty
                assert position == rebuilt, symbol
            assert float(inst.qty(rebuilt)) == m["position_size"], symbol
            (end_state,) = db.execute(
                "SELECT end_state FROM sessions WHERE id = ?", (sid,)
            ).fetchone()
            assert end_state == "stopped"
    # The stored book, read back: each market's report and the same total as the run's.
    r = CliRunner().invoke(app, ["report", "--db", str(tmp_path / "book.db"), "--book", "--json"])
    assert r.exit_code == 0, r.output
    stored = json.loads(r.output)
    assert [m["symbol"] for m in stored["markets"]] == SYMBOLS
    assert stored["total"] == {k: v for k, v in summary["total"].items() if k != "open_orders"}


async def test_a_portfolio_drawdown_halts_every_market_with_its_reason(tmp_path: Path) -> None:
    # A few cents of drawdown: the fees of the first fills cross it.
    summary = await _run(tmp_path, "[portfolio]\nmax_drawdown_usd = 0.05\n", duration_s=600.0)
    portfolio = summary["portfolio"]
    assert portfolio["halt_limit"] == "portfolio.max_drawdown_usd"
    assert portfolio["halt_reason"].startswith("portfolio drawdown ")
    assert summary["state"] == "halted"
    for m in summary["markets"]:
        assert m["state"] == "halted", m["symbol"]
        assert m["halt_reason"] == f"portfolio: {portfolio['halt_reason']}"
        assert m["open_orders"] == 0
    with sqlite3.connect(tmp_path / "book.db") as db:
        why = db.execute(
            "SELECT DISTINCT s.symbol FROM events e JOIN sessions s ON s.id = e.session_id "
            "WHERE e.detail LIKE '%portfolio: portfolio drawdown%'"
        ).fetchall()
        ended = db.execute("SELECT symbol, end_state FROM sessions ORDER BY id").fetchall()
    # Each market stored the portfolio reason (a halt, or the flatten of risk.flatten_on_halt
    # that ends halted) and ended halted.
    assert sorted(symbol for (symbol,) in why) == sorted(SYMBOLS)
    assert ended == [(symbol, "halted") for symbol in SYMBOLS]


async def _ask(path: Path, request: dict[str, object]) -> dict[str, Any]:
    return await asyncio.to_thread(send_request, path, request)


async def test_control_addresses_one_market_or_all(tmp_path: Path) -> None:
    book = build_book_session(book_settings(), virtual=True)
    host = BookHost(book, speed=20.0)
    server = ControlServer(host, tmp_path / "ctl.sock")
    await server.start()
    host.apply_now(Command(CommandKind.START))
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop.is_set))
    try:
        await asyncio.sleep(0.3)
        status = await _ask(server.path, {"command": "status"})
        assert status["ok"] is True
        assert [m["symbol"] for m in status["markets"]] == SYMBOLS
        assert status["state"] == "running"
        answer = await _ask(
            server.path, {"command": "halt", "symbol": "ethusdt", "reason": "eth only"}
        )
        assert answer["ok"] is True
        assert [m["symbol"] for m in answer["markets"]] == ["ETHUSDT"]
        eth, btc, perp = (h.engine for h in host.hosts[1:2] + host.hosts[:1] + host.hosts[2:])
        for _ in range(100):
            if eth.state is EngineState.HALTED:
                break
            await asyncio.sleep(0.05)
        assert eth.state is EngineState.HALTED
        assert eth.halt_reason == "eth only"
        assert btc.state is EngineState.RUNNING
        assert perp.state is EngineState.RUNNING
        one = await _ask(server.path, {"command": "status", "symbol": "usdm:BTCUSDT"})
        assert [m["state"] for m in one["markets"]] == ["running"]
        unknown = await _ask(server.path, {"command": "stop", "symbol": "SOLUSDT"})
        assert unknown["ok"] is False
        assert "no market 'SOLUSDT'" in unknown["message"]
        restarted = await _ask(
            server.path, {"command": "start", "symbol": "ETHUSDT", "confirm": True}
        )
        assert restarted["ok"] is True
        everything = await _ask(server.path, {"command": "stop"})
        assert everything["ok"] is True
        for _ in range(100):
            if all(h.engine.state is EngineState.STOPPED for h in host.hosts):
                break
            await asyncio.sleep(0.05)
        assert [h.engine.state for h in host.hosts] == [EngineState.STOPPED] * 3
    finally:
        stop.set()
        await task
        await server.close()
