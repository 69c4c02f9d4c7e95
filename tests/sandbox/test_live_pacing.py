"""The live venue against a sandbox with low rate limits: a quoting session on a moving book
slows down from Binance's headers and never meets a 429 or 418; the engine keeps quoting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import ASK_TICKS, BID_TICKS, KEY, SECRET, ManualFeed
from tests.sandbox.live_harness import live_settings, running_live
from tradetui.engine.engine import CommandKind
from tradetui.engine.events import EngineState
from tradetui.sandbox.exchange import SandboxExchange

# Low enough that the session's natural rate crosses them within seconds: account checks
# every 0.5 s alone weigh 12 a second (position 5, open orders 1, twice).
WEIGHT_LIMIT = 240
ORDERS_10S = 16


@pytest.fixture
async def tight(feed: ManualFeed) -> AsyncIterator[SandboxExchange]:
    server = SandboxExchange(
        btcusdt_perpetual(),
        feed,
        api_key=KEY,
        api_secret=SECRET,
        weight_limit=WEIGHT_LIMIT,
        order_limit_10s=ORDERS_10S,
    )
    async with server:
        yield server


async def walk_the_touch(feed: ManualFeed, sandbox: SandboxExchange) -> None:
    """The touch steps one tick up or down every 150 ms, so quotes keep being replaced."""
    offset = 0
    step = 1
    while True:
        await asyncio.sleep(0.15)
        if abs(offset + step) > 3:
            step = -step
        old_bid, old_ask = BID_TICKS + offset, ASK_TICKS + offset
        offset += step
        feed.delta(
            bids=((old_bid, 0), (BID_TICKS + offset, 500)),
            asks=((old_ask, 0), (ASK_TICKS + offset, 400)),
        )
        sandbox.advance()


async def test_a_quoting_session_near_the_limits_slows_down_and_is_never_refused(
    tight: SandboxExchange, feed: ManualFeed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tradetui.venues.live")
    settings = live_settings(
        tight,
        strategy={"decision_interval_ms": 50.0, "min_spread_ticks": 1},
        quoting={"min_age_ms": 0.0, "price_tolerance_ticks": 0},
        risk={"stale_market_s": 0.0, "account_check_s": 0.5},
    )
    async with running_live(tight, feed, settings) as live:
        walker = asyncio.create_task(walk_the_touch(feed, tight))
        try:
            await live.until(lambda: live.engine.book.valid)
            ok, _ = await live.command(CommandKind.START, reason="test")
            assert ok
            await asyncio.sleep(12.0)
            engine = live.engine
            assert engine.state is EngineState.RUNNING, engine.state
            await live.command(CommandKind.STOP, reason="test stop")
            await live.until(lambda: engine.state is EngineState.STOPPED, 20.0)
        finally:
            walker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await walker
    placed = sum(
        1 for method, path in tight.requests if (method, path) == ("POST", "/fapi/v1/order")
    )
    assert tight.limits.limited == 0, caplog.text[-3000:]
    assert tight.limits.banned == 0
    assert tight.account.open_orders == []
    # It kept quoting: more orders than one 10 s window allows went out over the session.
    assert placed > ORDERS_10S, placed
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("rate pacing on from 80% of a limit") for m in messages), messages
