"""The console over a live session on the sandbox: LIVE in the status bar, s quotes, x stops."""

from __future__ import annotations

import asyncio

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import KEY, SECRET, ManualFeed
from tests.sandbox.live_harness import ENV, keep_market_moving, live_settings
from tests.tui.conftest import WaitFor
from tradetui.engine.events import EngineState
from tradetui.host import EngineHost
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.session import open_live_session
from tradetui.tui.app import make_app
from tradetui.tui.widgets.status import Mode, StatusBar


async def test_console_trades_a_live_session_and_says_live(wait_for: WaitFor) -> None:
    feed = ManualFeed()
    async with SandboxExchange(
        btcusdt_perpetual(), feed, api_key=KEY, api_secret=SECRET
    ) as sandbox:
        mover = asyncio.create_task(keep_market_moving(feed, sandbox))
        session = await open_live_session(live_settings(sandbox), ENV)
        try:
            host = EngineHost(session, 1.0)
            app = make_app(host, mode=Mode.LIVE)
            async with app.run_test(size=(120, 35)) as pilot:
                assert await wait_for(pilot, lambda: session.engine.book.valid)
                await pilot.press("s")
                assert await wait_for(pilot, lambda: len(sandbox.account.open_orders) == 2)
                status = str(app.query_one(StatusBar).render())
                await pilot.press("x")
                assert await wait_for(pilot, lambda: session.engine.state is EngineState.STOPPED)
                await app.engine_stopped()
        finally:
            mover.cancel()
            await session.close()

    assert "LIVE — REAL MONEY" in status
    assert "live:binanceusdm" in status
    assert sandbox.account.open_orders == []
