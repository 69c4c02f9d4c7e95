"""The screener from the console: w opens it on the venue's symbols, o reorders, Esc closes
it and its streams."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable

from tests.sandbox.conftest import KEY, SECRET, still_market
from tradetui.config import Settings
from tradetui.host import EngineHost
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.sandbox.universe import UniverseSpec
from tradetui.tui.app import make_app
from tradetui.tui.screens.screener import ScreenerScreen
from tradetui.venues.sim_listing import listed_instrument


def spreads_shown(table: DataTable[str]) -> int:
    return sum(table.get_row_at(i)[2] != "-" for i in range(table.row_count))


def top(app: App[None]) -> Screen[object]:
    """The screen on top now (a call: mypy's narrowing of ``app.screen`` must not stick)."""
    return app.screen


async def wait_long(pilot: Pilot[None], condition: Callable[[], bool]) -> bool:
    """Until ``condition()`` holds, up to 30 s: the screener reads a listing and subscribes
    over the network first (bounded; not a timing test)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if condition():
            return True
        await pilot.pause(0.05)
    return condition()


async def test_w_opens_the_screener_on_every_symbol(
    make_host: Callable[..., EngineHost],
) -> None:
    spec = UniverseSpec(40, bbo_hz=40.0, trade_hz=10.0, decay=0.2)
    server = SandboxExchange(
        listed_instrument("BTCUSDT"), still_market(), api_key=KEY, api_secret=SECRET, universe=spec
    )
    async with server:
        settings = Settings().replace(
            "venue", rest_url=server.rest_url, ws_url=f"ws://127.0.0.1:{server.port}"
        )
        app = make_app(make_host(settings=settings, started=False))
        async with app.run_test(size=(120, 35)) as pilot:
            await pilot.press("w")
            assert isinstance(app.screen, ScreenerScreen)
            screen = app.screen
            table = screen.query_one(DataTable)
            assert await wait_long(pilot, lambda: table.row_count == 40)
            # Every symbol but the traded one (its still book never moves) shows a spread.
            assert await wait_long(pilot, lambda: spreads_shown(table) == 39)
            assert screen.screener is not None
            feed = screen.screener.feed
            await pilot.press("o")  # volume → trades
            await pilot.press("escape")
            assert not isinstance(top(app), ScreenerScreen)
            assert await wait_long(pilot, lambda: all(s.state == "closed" for s in feed.status))
