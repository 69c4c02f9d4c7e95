"""The generic ccxt.pro feed against the sandbox: book snapshots, trades, resync on faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import BID_TICKS, SYMBOL, ManualFeed
from tradetui.core.types import BookSnapshot, MarketEvent, Side, Trade
from tradetui.sandbox.client import LoopbackBinanceUsdmPro
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.binance_stream import FeedState, FeedStatus, ReconnectPolicy
from tradetui.venues.ccxt_feed import CcxtFeed

WAIT_S = 5.0


class Running:
    def __init__(self, feed: CcxtFeed) -> None:
        self.feed = feed
        self.events: list[MarketEvent] = []
        self.statuses: list[FeedStatus] = []

    def snapshots(self) -> list[BookSnapshot]:
        return [e for e in self.events if isinstance(e, BookSnapshot)]

    async def until(self, check: Callable[[], bool]) -> None:
        async def poll() -> None:
            while not check():
                await asyncio.sleep(0.005)

        await asyncio.wait_for(poll(), WAIT_S)


@pytest.fixture
async def running(pro: LoopbackBinanceUsdmPro) -> AsyncIterator[Running]:
    run: Running
    feed = CcxtFeed(
        btcusdt_perpetual(),
        pro,
        SYMBOL,
        on_status=lambda s: run.statuses.append(s),
        reconnect=ReconnectPolicy(0.01, max_s=0.05),
        seed=1,
    )
    run = Running(feed)
    task = asyncio.create_task(feed.run(run.events.append))
    try:
        yield run
    finally:
        await feed.close()
        await asyncio.wait_for(task, WAIT_S)


async def test_book_arrives_as_a_snapshot_and_follows_diffs(
    running: Running, feed: ManualFeed
) -> None:
    await running.until(lambda: bool(running.snapshots()))
    feed.delta(bids=((BID_TICKS, 900),))
    await running.until(lambda: running.snapshots()[-1].bids[0] == (BID_TICKS, 900))

    assert running.snapshots()[0].bids[0] == (BID_TICKS, 500)
    assert running.feed.state is FeedState.LIVE


async def test_public_trades_arrive_with_the_aggressor_side(
    running: Running, live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    await running.until(lambda: bool(running.snapshots()))
    await asyncio.sleep(0.05)  # the trade channel subscribes on its own
    feed.trade(BID_TICKS, 3, Side.SELL)
    live_sandbox.advance()
    await running.until(lambda: any(isinstance(e, Trade) for e in running.events))

    trade = next(e for e in running.events if isinstance(e, Trade))
    assert (trade.price_ticks, trade.qty_lots, trade.aggressor) == (BID_TICKS, 3, Side.SELL)


async def test_sequence_gap_empties_the_book_then_resyncs(
    running: Running, live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    await running.until(lambda: bool(running.snapshots()))
    live_sandbox.streams.faults.gap = 1
    feed.delta(bids=((BID_TICKS, 700),))
    feed.delta(bids=((BID_TICKS, 800),))
    await running.until(lambda: any(not s.bids for s in running.snapshots()))
    feed.delta(bids=((BID_TICKS, 810),))
    await running.until(lambda: running.snapshots()[-1].bids[:1] == ((BID_TICKS, 810),))

    states = [s.state for s in running.statuses]
    assert FeedState.DISCONNECTED in states
    assert states[-1] is FeedState.LIVE


async def test_dropped_websocket_empties_the_book_then_reconnects(
    running: Running, live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    await running.until(lambda: bool(running.snapshots()))
    await live_sandbox.drop_websockets()
    await running.until(lambda: any(not s.bids for s in running.snapshots()))
    feed.delta(bids=((BID_TICKS, 650),))
    await running.until(lambda: running.snapshots()[-1].bids[:1] == ((BID_TICKS, 650),))

    assert running.feed.state is FeedState.LIVE
