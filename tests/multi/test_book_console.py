"""The console over a several-market run: it shows the first market, its keys act on every
market, and quitting winds every market down through the one lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.multi.book import SYMBOLS, book_settings
from tradetui.engine.events import EngineState
from tradetui.host import StoreOptions
from tradetui.lifecycle import Lifecycle, RunPlan
from tradetui.tui.app import ConsoleFace, TradeApp


async def _until(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


class StopAllThenQuit(ConsoleFace):
    """Starts with `s`, waits until every market quotes, stops all with `x`, quits."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        super().__init__()
        self.lifecycle = lifecycle
        self.shown = ""
        self.after_stop: list[EngineState] = []

    async def show(self, app: TradeApp) -> None:
        from tradetui.host import BookHost

        book = self.lifecycle.host
        assert isinstance(book, BookHost)
        engines = [h.engine for h in book.hosts]
        async with app.run_test(size=(120, 35)) as pilot:
            self.shown = app.engine.instrument.symbol
            await pilot.press("s")
            await _until(lambda: all(e.orders for e in engines))
            await pilot.press("x")
            await _until(lambda: all(e.state is EngineState.STOPPED for e in engines))
            self.after_stop = [e.state for e in engines]
            await pilot.press("q")
            await pilot.pause()
            await pilot.press("y")
            await _until(lambda: not app.is_running)


async def test_console_shows_the_first_market_and_its_keys_act_on_all(tmp_path: Path) -> None:
    plan = RunPlan(speed=5.0, store=StoreOptions(tmp_path / "c.db"))
    lifecycle = Lifecycle(book_settings(), plan)
    face = StopAllThenQuit(lifecycle)
    summary = await lifecycle.run(face)
    assert face.shown == "BTCUSDT"
    assert face.after_stop == [EngineState.STOPPED] * 3
    assert [m["symbol"] for m in summary["markets"]] == SYMBOLS
    assert all(m["orders_placed"] > 0 for m in summary["markets"])
    assert summary["state"] == "stopped"
