"""The clock skew fault: the sandbox's exchange clock runs ``skew_ms`` off ours, and every
time it stamps shows it alike, as all of Binance's times come from its one clock: /time and
exchangeInfo's serverTime, the order's updateTime in REST answers, trade times, the user
stream's E and T, and the market streams' E and T."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.sandbox.conftest import ASK_TICKS, BID_TICKS, SYMBOL, ManualFeed
from tests.sandbox.test_streams import WAIT_S, receive, subscribed
from tradetui.core.types import Side
from tradetui.sandbox.client import LoopbackBinanceUsdmPro
from tradetui.sandbox.exchange import SandboxExchange

# A stamp minus the skew falls within our clock's span around what caused it, give or take
# this much (the sandbox's market tick is 50 ms); far below the skews tried.
SLACK_MS = 100
SKEWS = pytest.mark.parametrize("skew_ms", [1500, -1500])


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def unskewed(stamps: list[Any], skew_ms: int, since_ms: int) -> list[bool]:
    """Whether each exchange stamp, the skew taken off, is our clock between ``since_ms`` and
    now (so the skew shows in it exactly once)."""
    until = now_ms()
    return [since_ms - SLACK_MS <= int(s) - skew_ms <= until + SLACK_MS for s in stamps]


@SKEWS
async def test_rest_answers_and_the_user_stream_carry_the_skewed_clock(
    pro: LoopbackBinanceUsdmPro, live_sandbox: SandboxExchange, skew_ms: int
) -> None:
    live_sandbox.faults.skew_ms = skew_ms
    await pro.load_time_difference()
    since = now_ms()
    info = await pro.fapiPublicGetExchangeInfo()
    assert unskewed([info["serverTime"]], skew_ms, since) == [True]
    orders_task = asyncio.ensure_future(pro.watch_orders(SYMBOL))
    trades_task = asyncio.ensure_future(pro.watch_my_trades(SYMBOL))
    await asyncio.sleep(0.3)

    since = now_ms()
    placed = await pro.create_order(SYMBOL, "limit", "buy", 0.01, 60000.1)  # takes the ask
    streamed = await asyncio.wait_for(orders_task, WAIT_S)
    fills = await asyncio.wait_for(trades_task, WAIT_S)
    fetched = await pro.fetch_my_trades(SYMBOL)
    stamps = {
        "updateTime": [placed["info"]["updateTime"]],
        "ORDER_TRADE_UPDATE T": [o["info"]["T"] for o in streamed],
        "trade T": [f["timestamp"] for f in fills],
        "userTrades time": [t["timestamp"] for t in fetched],
    }

    got = {name: unskewed(s, skew_ms, since) for name, s in stamps.items()}
    assert got == {name: [True] * len(s) for name, s in stamps.items()}, stamps
    assert all(stamps.values())


@SKEWS
async def test_market_streams_carry_the_skewed_clock(
    live_sandbox: SandboxExchange, feed: ManualFeed, skew_ms: int
) -> None:
    live_sandbox.faults.skew_ms = skew_ms
    async with aiohttp.ClientSession() as session:
        ws = await subscribed(
            session, live_sandbox, "btcusdt@depth@100ms", "btcusdt@bookTicker", "btcusdt@trade"
        )
        since = now_ms()
        feed.delta(bids=((BID_TICKS, 700),))
        feed.bbo((BID_TICKS, 700), (ASK_TICKS, 400))
        feed.trade(ASK_TICKS, 25, Side.BUY)
        live_sandbox.advance()
        got = [await receive(ws) for _ in range(3)]
        await ws.close()

    assert sorted(m["e"] for m in got) == ["bookTicker", "depthUpdate", "trade"]
    assert unskewed([m["E"] for m in got], skew_ms, since) == [True] * 3, got
    assert [m["T"] for m in got] == [m["E"] for m in got]
