"""Several markets paper traded on the exchange's live market (docs/multi-market.md): one
`tradetui run --headless` process quoting BTCUSDT and ETHUSDT on the live feeds of a
`tradetui sandbox exchange` process, each market with its own book and simulated exchange, their
streams on one websocket connection, on the wall clock and one event loop."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from tests.sandbox.matrix import (
    assert_book_invariants,
    exchange_view,
    finish,
    sandbox_process,
    spawn_tradetui,
)
from tests.sandbox.test_paper_live_cli import paper_env
from tradetui.cli import app

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
BOOK_ARGS = ["--market", "live", "--venue", "usdm", "--symbol", ",".join(SYMBOLS)]


async def test_two_markets_quote_on_their_live_feeds_and_store_each_position(
    tmp_path: Path,
) -> None:
    # The instance's default name and database: a paper book of the two symbols.
    db = tmp_path / "paper-book-btcusdt-ethusdt.db"
    async with sandbox_process() as url:
        env = paper_env(url, tmp_path) | {"TRADETUI_STORE__DIR": str(tmp_path)}
        proc = await spawn_tradetui(
            "run", "--headless", *BOOK_ARGS, "--duration", "6", "--json", env=env
        )
        run = await finish(proc)
        views = {
            "BTCUSDT": await exchange_view(url),
            "ETHUSDT": await exchange_view(url, "ETH/USDT:USDT"),
        }

    assert run.code == 0, run.err[-3000:]
    summary = run.summary
    assert summary["mode"] == "paper"
    assert summary["db"] == str(db)
    assert [m["symbol"] for m in summary["markets"]] == SYMBOLS
    for m in summary["markets"]:
        assert (m["market_source"], m["market_venue"]) == ("live", "binanceusdm")
        assert m["orders_placed"] > 0, m["symbol"]
        assert m["fills"] > 0, (m["symbol"], run.err[-3000:])
    # Each market synced its own book, both over one connection (BTCUSDT's carries ETHUSDT's
    # streams: Binance's combined stream).
    for symbol in SYMBOLS:
        assert f"{symbol} feed live: book in sync" in run.err
    assert run.err.count("feed connecting: connecting to") == 1, run.err[-3000:]
    assert "BTCUSDT feed connecting" in run.err
    assert_book_invariants(run, db)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT symbol, mode, venue FROM sessions ORDER BY id").fetchall()
    assert rows == [(s, "paper", "sim") for s in SYMBOLS]
    # Paper: the exchange's account never saw an order, a trade or a position.
    for symbol, view in views.items():
        assert (view.position, view.trades, view.open_orders) == (0, {}, []), symbol


def test_a_book_with_a_live_market_at_another_speed_is_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    config = tmp_path / "book.toml"
    config.write_text(
        '[[markets]]\nsymbol = "BTCUSDT"\n\n[[markets]]\nsymbol = "ETHUSDT"\n'
        'source = "live:usdm:ETHUSDT"\n'
    )
    env = paper_env("http://127.0.0.1:9", tmp_path)

    result = CliRunner().invoke(
        app,
        ["run", "--headless", "--config", str(config), "--speed", "10", "--duration", "1"],
        env=env,
    )

    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith(
        "error: --speed 10: the live market (live:usdm:ETHUSDT) comes in real time"
    )


def test_a_book_whose_exchange_cannot_be_read_is_refused_and_stores_nothing(
    tmp_path: Path,
) -> None:
    env = paper_env("http://127.0.0.1:9", tmp_path) | {"TRADETUI_VENUE__REQUEST_TIMEOUT_MS": "300"}
    db = tmp_path / "p.db"

    result = CliRunner().invoke(
        app, ["run", "--headless", *BOOK_ARGS, "--duration", "1", "--db", str(db)], env=env
    )

    assert result.exit_code == 5, result.output  # the start was refused
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith(
        "error: markets[0] (BTCUSDT): market.source: binanceusdm's markets could not be read"
    )
    assert not db.exists()
