"""The fault matrix for several markets: a headless book of BTCUSDT and ETHUSDT, paper on the
live feeds of a `tradetui sandbox exchange` process, under a depth gap on one market's feed and
then every websocket dropped. The four invariants hold for EVERY market (matrix.py's
``assert_book_invariants``): engine position == the one the stored fills rebuild (the
simulated exchange's fills), each fill stored once, no order left open, no halt; and the real
account is untouched."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.sandbox.matrix import (
    Run,
    assert_book_invariants,
    exchange_view,
    finish,
    headless_args,
    read_until,
    sandbox_process,
    set_faults,
    spawn_tradetui,
)
from tests.sandbox.test_paper_live_book import BOOK_ARGS, SYMBOLS
from tests.sandbox.test_paper_live_cli import paper_env

RESYNC = "resyncing from a fresh snapshot"


async def test_a_gap_on_one_market_and_dropped_sockets_keep_every_market_whole(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    async with sandbox_process() as url:
        proc = await spawn_tradetui(*headless_args(9, db, *BOOK_ARGS), env=paper_env(url, tmp_path))
        head = await read_until(proc, "ETHUSDT feed live: book in sync")
        if "BTCUSDT feed live: book in sync" not in head:
            head += await read_until(proc, "BTCUSDT feed live: book in sync")
        await asyncio.sleep(1.5)  # quotes rest, some fill
        # BTCUSDT's diff stream loses an update: its book resyncs, ETHUSDT's is untouched.
        await set_faults(url, gap=1)
        head += await read_until(proc, RESYNC)
        await asyncio.sleep(1.5)
        # Then every websocket of the exchange drops: both markets reconnect and resync.
        await set_faults(url, drop="all")
        run = await finish(proc, 60)
        views = {
            "BTCUSDT": await exchange_view(url),
            "ETHUSDT": await exchange_view(url, "ETH/USDT:USDT"),
        }
    run = Run(run.code, run.out, head + run.err)

    err = run.err
    assert run.code == 0, err[-3000:]
    gap = err.index(RESYNC)
    assert "BTCUSDT feed syncing" in err[err.rindex("\n", 0, gap) : gap], err[-3000:]
    dropped = err.index("feed disconnected: websocket closed 1001")
    assert "ETHUSDT feed syncing" not in err[gap:dropped], err[-3000:]
    for symbol in SYMBOLS:
        assert f"{symbol} feed live: book in sync" in err[dropped:], (symbol, err[-3000:])
    markets = run.summary["markets"]
    for m in markets:
        assert m["fills"] > 0, (m["symbol"], err[-3000:])
        assert m["position_size"] == 0, m  # --flatten-on-exit, per market
    assert_book_invariants(run, db)
    for symbol, view in views.items():  # paper: the exchange's account saw nothing
        assert (view.position, view.trades, view.open_orders) == (0, {}, []), symbol
