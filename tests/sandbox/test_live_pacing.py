"""The live venue against a sandbox with low rate limits: a quoting session on a moving book
slows down from Binance's headers and never meets a 429 or 418, the engine keeps quoting; near
the weight limit a cancel still goes at once while a fill poll waits and a quote is not sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import (
    ASK_TICKS,
    BID_TICKS,
    KEY,
    SECRET,
    SYMBOL,
    ManualFeed,
    still_market,
)
from tests.sandbox.live_harness import live_settings, running_live
from tradetui.core.types import (
    CancelOrder,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    PlaceOrder,
    RejectCode,
    Side,
)
from tradetui.engine.engine import CommandKind
from tradetui.engine.events import EngineState
from tradetui.sandbox.client import loopback_client
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.live import LiveOptions, LiveVenue

# Low enough that the session's natural rate crosses them within seconds: account checks
# every 0.5 s alone weigh 12 a second (position 5, open orders 1, twice); connecting weighs
# about 60 (position mode 30, commission rates 20, account 5, ...).
WEIGHT_LIMIT = 260
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


async def test_near_the_weight_limit_a_cancel_goes_at_once_a_poll_waits_a_quote_is_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tradetui.venues.live")
    server = SandboxExchange(
        btcusdt_perpetual(), still_market(), api_key=KEY, api_secret=SECRET, weight_limit=80
    )
    async with server:
        # The server clock 0.2 s into a minute: everything below falls in one window.
        now_ms = server.now_ns() // 1_000_000
        server.faults.skew_ms = 60_000 - now_ms % 60_000 + 200
        client = loopback_client(server.rest_url, KEY, SECRET)
        client.timeout = 2_000
        # No user stream; the fill-poll timer's first round is 30 s away: the poll below is
        # the first.
        options = LiveOptions(fill_poll_s=30.0, user_stream=False)
        venue = LiveVenue(client, SYMBOL, options=options)
        try:
            await venue.connect()  # reads the limits, syncs to the server clock
            venue.submit(
                PlaceOrder(client_id="q-1", side=Side.BUY, price_ticks=BID_TICKS - 100, qty_lots=10)
            )
            await venue.idle()
            assert isinstance(venue.pop(), OrderAccepted)
            # Another program on the same IP spends the weight; the venue hears of it in its
            # next answer.
            while True:
                await client.fapiPublicGetDepth({"symbol": "BTCUSDT", "limit": 100})
                used = int(client.last_response_headers["X-MBX-USED-WEIGHT-1M"])
                if used >= 69:
                    break
            await venue._read(client.fapiPublicGetTime)  # 70-74 of 80: above 80%, under 95%

            poll = asyncio.create_task(venue.poll_fills())
            venue.submit(CancelOrder(client_id="q-1"))
            await asyncio.wait_for(venue.idle(), 2.0)
            assert isinstance(venue.pop(), OrderCancelled)
            assert not poll.done()  # the fill poll waits for the next minute
            poll.cancel()

            venue.submit(
                PlaceOrder(client_id="q-2", side=Side.BUY, price_ticks=BID_TICKS - 100, qty_lots=10)
            )
            await asyncio.wait_for(venue.idle(), 2.0)
            refused = venue.pop()
            assert isinstance(refused, OrderRejected)
            assert refused.code is RejectCode.RATE_LIMITED
            assert "not sent: pacing" in refused.reason
        finally:
            await venue.close()
            await client.close()
    assert server.limits.limited == 0
    assert ("POST", "/fapi/v1/order") in server.requests
    assert [m for m in caplog.messages if m.startswith("rate pacing on")]
