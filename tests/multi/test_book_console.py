"""The console over several markets: a markets table selects the market the panes show and
the single-market keys act on; shifted keys act on every market; quitting winds every market
down through the one lifecycle. Usable at 80×24."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.multi.book import SYMBOLS, book_settings
from tests.tui.conftest import _no_idle_wait  # noqa: F401  (pilot waits for outcomes, not idle)
from tradetui.config import Settings
from tradetui.engine.events import EngineState
from tradetui.host import BookHost, EngineHost, StoreOptions
from tradetui.lifecycle import Lifecycle, RunPlan
from tradetui.session import build_book_session, build_paper_session
from tradetui.tui.app import ConsoleFace, TradeApp, make_app
from tradetui.tui.screens.confirm import ConfirmScreen
from tradetui.tui.screens.help import KEYS, HelpScreen
from tradetui.tui.widgets.markets import MarketsTable
from tradetui.tui.widgets.position import PositionPane
from tradetui.tui.widgets.status import StatusBar

SMALL = (80, 24)


async def _until(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


def _book(extra: str = "") -> BookHost:
    return BookHost(build_book_session(book_settings(extra), virtual=True), speed=5.0)


def _states(book: BookHost) -> list[EngineState]:
    return [h.engine.state for h in book.hosts]


async def test_the_table_lists_every_market_at_80x24_and_selects_the_one_shown() -> None:
    book = _book()
    app = make_app(book)
    async with app.run_test(size=SMALL) as pilot:
        table = app.query_one(MarketsTable)
        await _until(lambda: table.row_count == 3)
        assert [str(table.get_row_at(i)[0]) for i in range(3)] == SYMBOLS
        # Header and three rows, inside the 80×24 screen, nothing scrolled away.
        assert table.region.height == 4
        assert table.region.right <= SMALL[0]
        assert table.virtual_size.width <= table.region.width
        assert app.engine.instrument.symbol == "BTCUSDT"
        await pilot.press("down")
        await _until(lambda: app.snapshot is not None and app.snapshot.symbol == "ETHUSDT")
        assert app.engine is book.hosts[1].engine
        assert "│ETHUSDT│" in str(app.query_one(StatusBar).render())
        await pilot.press("down")
        await _until(lambda: app.snapshot is not None and app.snapshot.symbol == "BTCUSD_PERP")
        await pilot.press("up", "up")
        await _until(lambda: app.engine.instrument.symbol == "BTCUSDT")
        # Below 80×24 the message replaces the layout, table included.
        await pilot.resize_terminal(70, 20)
        await _until(lambda: not table.display or not table.region.height)


async def test_keys_act_on_the_selected_market_and_shifted_keys_on_all() -> None:
    book = _book()
    app = make_app(book)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("S")  # every market quotes
        await _until(lambda: all(h.engine.orders for h in book.hosts))
        # Every market's position in the positions pane.
        position = app.query_one(PositionPane)
        await _until(lambda: all(s in str(position.render()) for s in SYMBOLS))
        await pilot.press("down")  # ETHUSDT
        await pilot.press("k", "k")
        await _until(lambda: book.hosts[1].engine.state is EngineState.HALTED)
        assert _states(book) == [EngineState.RUNNING, EngineState.HALTED, EngineState.RUNNING]
        assert book.hosts[1].engine.halt_reason == "kill switch (console)"
        await pilot.press("x")  # the halted market stays halted; the others quote on
        await pilot.press("up")  # BTCUSDT
        await pilot.press("x")
        await _until(lambda: book.hosts[0].engine.state is EngineState.STOPPED)
        assert book.hosts[2].engine.state is EngineState.RUNNING
        # The portfolio-wide halt asks first; then every market halts.
        await pilot.press("H")
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        assert book.hosts[2].engine.state is EngineState.RUNNING
        await pilot.press("y")
        await _until(lambda: _states(book) == [EngineState.HALTED] * 3)
        # Starting every market after a halt asks first too.
        await pilot.press("S")
        await _until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await _until(lambda: _states(book) == [EngineState.RUNNING] * 3)
        await pilot.press("X")
        await _until(lambda: _states(book) == [EngineState.STOPPED] * 3)


async def test_shifted_keys_do_nothing_with_one_market() -> None:
    app = make_app(EngineHost(build_paper_session(Settings(), virtual=True), speed=5.0))
    async with app.run_test(size=SMALL) as pilot:
        assert not app.query(MarketsTable)
        await pilot.press("S", "H")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.engine.state is EngineState.STOPPED


async def test_help_lists_every_binding() -> None:
    app = make_app(_book())
    listed = {k for key, _ in KEYS for k in key.split()}
    bound = {b.key for b in app.BINDINGS if not isinstance(b, tuple)} - {"escape"}
    names = {"question_mark": "?", "slash": "/"}
    assert {names.get(k, k) for k in bound} <= listed
    assert {"w", "a", "S", "X", "F", "H"} <= listed
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("question_mark")
        await _until(lambda: isinstance(app.screen, HelpScreen))


class StartStopQuit(ConsoleFace):
    """Starts every market with S, stops the selected (first) one with x, the rest with X,
    quits."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        super().__init__()
        self.lifecycle = lifecycle
        self.shown = ""
        self.after_x: list[EngineState] = []
        self.after_stop: list[EngineState] = []

    async def show(self, app: TradeApp) -> None:
        book = self.lifecycle.host
        assert isinstance(book, BookHost)
        engines = [h.engine for h in book.hosts]
        async with app.run_test(size=SMALL) as pilot:
            self.shown = app.engine.instrument.symbol
            await pilot.press("S")
            await _until(lambda: all(e.orders for e in engines))
            await pilot.press("x")
            await _until(lambda: engines[0].state is EngineState.STOPPED)
            self.after_x = [e.state for e in engines]
            await pilot.press("X")
            await _until(lambda: all(e.state is EngineState.STOPPED for e in engines))
            self.after_stop = [e.state for e in engines]
            await pilot.press("q")
            await pilot.pause()
            await pilot.press("y")
            await _until(lambda: not app.is_running)


async def test_console_over_a_book_through_the_lifecycle(tmp_path: Path) -> None:
    plan = RunPlan(speed=5.0, store=StoreOptions(tmp_path / "c.db"))
    lifecycle = Lifecycle(book_settings(), plan)
    face = StartStopQuit(lifecycle)
    summary = await lifecycle.run(face)
    assert face.shown == "BTCUSDT"
    running, stopped = EngineState.RUNNING, EngineState.STOPPED
    assert face.after_x == [stopped, running, running]
    assert face.after_stop == [stopped] * 3
    assert [m["symbol"] for m in summary["markets"]] == SYMBOLS
    assert all(m["orders_placed"] > 0 for m in summary["markets"])
    assert summary["state"] == "stopped"
    with sqlite3.connect(tmp_path / "c.db") as db:
        books = {b for (b,) in db.execute("SELECT book FROM sessions")}
    assert len(books) == 1
    assert None not in books
