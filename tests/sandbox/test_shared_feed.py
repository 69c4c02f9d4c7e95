"""Several symbols' feeds on one websocket connection (``share_connections``), against the
sandbox: each symbol syncs its own book from its own snapshot and gets only its own streams,
a gap resyncs one symbol alone, and a dropped connection resyncs every symbol on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import BID_TICKS, KEY, SECRET, ManualFeed
from tradetui.core.types import BestBidOffer, BookDelta, MarketEvent
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.binance_stream import (
    MAX_STREAMS,
    BinanceStreamFeed,
    FeedState,
    share_connections,
)
from tradetui.venues.sim_listing import listed_instrument


@pytest.fixture
async def server(feed: ManualFeed) -> AsyncIterator[SandboxExchange]:
    """The sandbox trading BTCUSDT on a market the test moves; ETHUSDT is its light model."""
    async with SandboxExchange(btcusdt_perpetual(), feed, api_key=KEY, api_secret=SECRET) as s:
        yield s


def feed_of(server: SandboxExchange, symbol: str) -> BinanceStreamFeed:
    inst = server.instrument if symbol == server.instrument.symbol else listed_instrument(symbol)
    assert inst is not None
    return BinanceStreamFeed(
        inst,
        ws_url=server.rest_url.replace("http://", "ws://"),
        rest_url=server.rest_url,
        stale_s=0.0,
    )


async def until(
    check: Callable[[], bool], market: ManualFeed, server: SandboxExchange, timeout_s: float = 10.0
) -> None:
    """Move BTCUSDT's book (a diff every 20 ms) until ``check()``."""

    async def wait() -> None:
        while not check():
            market.delta(bids=((BID_TICKS - 3, 7),))
            server.advance()
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout_s)


async def test_two_symbols_share_one_connection_and_resync_apart(
    server: SandboxExchange, feed: ManualFeed
) -> None:
    btc, eth = feed_of(server, "BTCUSDT"), feed_of(server, "ETHUSDT")
    share_connections([btc, eth])
    assert "ethusdt@depth@0ms" in btc.url
    assert "btcusdt@trade" in btc.url
    got: dict[str, list[MarketEvent]] = {"BTCUSDT": [], "ETHUSDT": []}
    # The carried feed runs first: the carrier connects once it has.
    tasks = [
        asyncio.create_task(eth.run(got["ETHUSDT"].append)),
        asyncio.create_task(btc.run(got["BTCUSDT"].append)),
    ]

    def live() -> bool:
        return btc.state is FeedState.LIVE and eth.state is FeedState.LIVE

    try:
        await until(live, feed, server)
        assert server.streams.connection_count == 1
        await until(lambda: any(type(e) is BookDelta for e in got["BTCUSDT"]), feed, server)
        # Each sink has its own symbol's market only: BTCUSDT's diffs, ETHUSDT's touch.
        assert any((BID_TICKS - 3, 7) in e.bids for e in got["BTCUSDT"] if type(e) is BookDelta)
        eth_bids = [
            float(eth.instrument.price(e.bid_ticks))
            for e in got["ETHUSDT"]
            if type(e) is BestBidOffer
        ]
        assert eth_bids
        assert all(1_000 < b < 5_000 for b in eth_bids), eth_bids[:5]
        # A gap on BTCUSDT's diffs resyncs its book alone, on the same connection.
        server.streams.faults.gap = 1
        await until(lambda: btc.stats.gaps == 1, feed, server)
        await until(live, feed, server)
        assert (eth.stats.gaps, btc.stats.connects) == (0, 1)
        # A dropped connection is both symbols': each resyncs from a fresh snapshot.
        snapshots = eth.stats.snapshots
        await server.drop_websockets()
        await until(lambda: btc.stats.connects == 2, feed, server)
        await until(live, feed, server)
        assert eth.stats.snapshots > snapshots
        assert server.streams.connection_count == 1
    finally:
        await btc.close()
        await eth.close()
        for t in tasks:
            with contextlib.suppress(Exception):
                await t
    assert (btc.state, eth.state) == (FeedState.CLOSED, FeedState.CLOSED)


def test_a_connection_holds_at_most_binances_stream_limit(server: SandboxExchange) -> None:
    feeds = [feed_of(server, "BTCUSDT") for _ in range(MAX_STREAMS // 3 + 1)]
    share_connections(feeds)
    carried = [f for f in feeds if f._carrier is not None]
    assert len(carried) == MAX_STREAMS // 3 - 1  # the first carries 341 feeds' streams
    assert feeds[MAX_STREAMS // 3]._carrier is None  # the next one opens its own
    with pytest.raises(ValueError, match="1026 streams on one connection"):
        feeds[0].carry(feed_of(server, "ETHUSDT"))
