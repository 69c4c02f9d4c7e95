"""From the console's screener, `a` adds the highlighted symbol to the running session as a
paper market: to a book of several markets, or a one-market paper session becomes a book of
two. The new market quotes, is stored in the book and is under the portfolio guard. The
screener watches the loopback sandbox's many-symbol listing through the real ccxt client."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from tests.multi.book import SYMBOLS, book_settings
from tests.sandbox.conftest import KEY, SECRET, still_market
from tests.tui.conftest import _no_idle_wait  # noqa: F401  (pilot waits for outcomes, not idle)
from tradetui.config import Settings
from tradetui.host import BookHost, StoreOptions
from tradetui.lifecycle import Lifecycle, RunPlan
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.sandbox.universe import UniverseSpec
from tradetui.tui.app import ConsoleFace, TradeApp
from tradetui.tui.screens.screener import ScreenerScreen
from tradetui.tui.widgets.markets import MarketsTable
from tradetui.venues.sim_listing import listed_instrument


async def _until(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Until ``check()`` holds (bounded: the screener reads a listing and subscribes over
    the loopback network first; not a timing test)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxExchange]:
    spec = UniverseSpec(12, bbo_hz=40.0, trade_hz=10.0, decay=0.2)
    server = SandboxExchange(
        listed_instrument("BTCUSDT"), still_market(), api_key=KEY, api_secret=SECRET, universe=spec
    )
    async with server:
        yield server


def _on(settings: Settings, server: SandboxExchange) -> Settings:
    return settings.replace(
        "venue", rest_url=server.rest_url, ws_url=f"ws://127.0.0.1:{server.port}"
    )


class AddFromScreener(ConsoleFace):
    """Starts quoting, opens the screener, adds the first symbol with a touch that is not
    traded yet with `a`, tries to add it again, waits until it quotes, quits."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        super().__init__()
        self.lifecycle = lifecycle
        self.added = ""
        self.again: tuple[bool, str] = (True, "")
        self.markets_shown = 0
        self.exposures = 0
        self.book: BookHost | None = None

    async def show(self, app: TradeApp) -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("S" if app.book is not None else "s")
            await _until(lambda: bool(app.engine.orders))
            traded = {h.engine.instrument.symbol for h in app._hosts()}
            await pilot.press("w")
            screen = app.screen
            assert isinstance(screen, ScreenerScreen)
            table = screen.query_one(DataTable)

            def candidate() -> int | None:
                """A symbol not traded yet, with a touch, and a tick as fine as the book's
                markets' (the strategy's parameters are in ticks: on a coarse tick it quotes
                wide, see docs/multi-market.md)."""
                s = screen.screener
                if s is None:
                    return None
                ticks = {x.symbol: x.tick for x in s.instruments}
                for r in s.rows(screen.sort_key):
                    mid = (r.bid + r.ask) / 2
                    if r.symbol not in traded and mid > 0 and ticks[r.symbol] / mid < 0.5e-4:
                        return table.get_row_index(r.symbol) if r.symbol in table.rows else None
                return None

            await _until(lambda: candidate() is not None)
            i = candidate()
            assert i is not None
            table.move_cursor(row=i)
            self.added = str(table.get_row_at(i)[0])
            assert screen.highlighted() == self.added
            await pilot.press("a")
            book = app.book
            await _until(lambda: app.book is not None and len(app.book.hosts) == len(traded) + 1)
            assert isinstance(app.book, BookHost)
            book = self.book = app.book
            new = book.hosts[-1]
            assert new.engine.instrument.symbol == self.added
            await _until(lambda: bool(new.engine.orders) and new.engine.fills > 0, 60.0)
            # The same symbol again is refused with one line.
            assert screen.screener is not None
            row = next(r for r in screen.screener.rows("volume") if r.symbol == self.added)
            inst = next(x for x in screen.screener.instruments if x.symbol == self.added)
            self.again = await app.add_screened_market(inst, row)
            await pilot.press("escape")
            markets = app.query_one(MarketsTable)
            await _until(lambda: markets.row_count == len(traded) + 1)
            self.markets_shown = markets.row_count
            self.exposures = len(book.exposures())
            await pilot.press("q")
            await pilot.pause()
            await pilot.press("y")
            await _until(lambda: not app.is_running)


def _stored(db: Path) -> list[tuple[str, str | None, int]]:
    with sqlite3.connect(db) as conn:
        return list(
            conn.execute(
                "SELECT s.symbol, s.book, (SELECT count(*) FROM orders o WHERE o.session_id = "
                "s.id) FROM sessions s ORDER BY s.id"
            )
        )


async def _run(
    settings: Settings, server: SandboxExchange, db: Path
) -> tuple[Lifecycle, AddFromScreener, dict[str, Any], list[tuple[str, str | None, int]]]:
    """A console session of ``settings`` screening ``server``, through the lifecycle with its
    store at ``db``: the lifecycle, the face, the summary and the stored sessions."""
    lifecycle = Lifecycle(_on(settings, server), RunPlan(speed=5.0, store=StoreOptions(db)))
    face = AddFromScreener(lifecycle)
    summary = await lifecycle.run(face)
    return lifecycle, face, summary, _stored(db)


async def test_a_adds_the_screened_symbol_to_a_book(
    sandbox: SandboxExchange, tmp_path: Path
) -> None:
    _, face, summary, stored = await _run(book_settings(), sandbox, tmp_path / "b.db")
    assert face.added
    assert face.added not in SYMBOLS
    assert face.again == (False, f"{face.added} is traded in this session already")
    assert face.markets_shown == 4
    assert face.exposures == 4  # the portfolio guard measures it
    assert [m["symbol"] for m in summary["markets"]] == [*SYMBOLS, face.added]
    assert summary["markets"][-1]["fills"] > 0
    assert [s for s, _, _ in stored] == [*SYMBOLS, face.added]
    assert len({b for _, b, _ in stored}) == 1
    assert stored[0][1] is not None
    assert stored[-1][2] > 0  # its orders, under its own session


async def test_a_one_market_paper_session_becomes_a_book_of_two(
    sandbox: SandboxExchange, tmp_path: Path
) -> None:
    lifecycle, face, summary, stored = await _run(Settings(), sandbox, tmp_path / "one.db")
    assert face.markets_shown == 2
    assert face.exposures == 2
    assert lifecycle.host is face.book
    assert [m["symbol"] for m in summary["markets"]] == ["BTCUSDT", face.added]
    assert all(m["orders_placed"] > 0 for m in summary["markets"])
    assert [s for s, _, _ in stored] == ["BTCUSDT", face.added]
    assert stored[0][1] is not None
    assert stored[0][1] == stored[1][1]
    assert all(n > 0 for _, _, n in stored)
