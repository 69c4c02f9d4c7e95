"""A sandbox exchange on an ephemeral loopback port over a still book, and a ccxt client on it;
the same on Binance COIN-M (BTCUSD_PERP, whose tick is BTCUSDT's: the still book serves both)."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from tests.instruments import btcusdt_perpetual
from tradetui.core.types import (
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    Level,
    MarketEvent,
    Side,
    Trade,
)
from tradetui.sandbox.client import (
    LoopbackBinanceUsdm,
    LoopbackBinanceUsdmPro,
    loopback_client,
    loopback_pro_client,
)
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.sim_listing import sim_instrument

KEY = "sandbox-test-key-0123456789"
SECRET = "sandbox-test-secret-abcdefghij"
SYMBOL = "BTC/USDT:USDT"
COINM_SYMBOL = "BTC/USD:BTC"
# The COIN-M sandbox's wallet, BTC.
COINM_BALANCE_BTC = 1
# The still book: best bid 60000.0, best ask 60000.1 (ticks of 0.1, lots of 0.001).
BID_TICKS = 600_000
ASK_TICKS = 600_001


def still_market() -> Iterator[MarketEvent]:
    """One snapshot long in the past, then nothing: the book never moves."""
    yield BookSnapshot(
        exch_ns=1_000_000_000,
        local_ns=1_000_000_000,
        update_id=42,
        bids=((BID_TICKS, 500), (BID_TICKS - 1, 800), (BID_TICKS - 10, 2000)),
        asks=((ASK_TICKS, 400), (ASK_TICKS + 1, 900), (ASK_TICKS + 10, 2500)),
    )


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxExchange]:
    server = SandboxExchange(btcusdt_perpetual(), still_market(), api_key=KEY, api_secret=SECRET)
    async with server:
        yield server


@contextlib.asynccontextmanager
async def rest_client(server: SandboxExchange, exchange: str = "binanceusdm") -> AsyncIterator[Any]:
    """A ccxt ``exchange`` (REST only) on ``server``, closed at the end of the block."""
    client = loopback_client(server.rest_url, KEY, SECRET, exchange=exchange)
    client.timeout = 2_000
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def client(sandbox: SandboxExchange) -> AsyncIterator[LoopbackBinanceUsdm]:
    async with rest_client(sandbox) as exchange:
        yield exchange


class ManualFeed:
    """A market the test drives: the still book first, then whatever it pushes, stamped now.

    Delta ids continue the snapshot's chain (``prev_id`` = previous ``last_id``).
    """

    def __init__(self) -> None:
        self._queue: deque[MarketEvent] = deque(still_market())
        self.last_id = 42
        self._trade_id = 0

    def __iter__(self) -> Iterator[MarketEvent]:
        return self

    def __next__(self) -> MarketEvent:
        if not self._queue:
            raise StopIteration
        return self._queue.popleft()

    def delta(self, bids: tuple[Level, ...] = (), asks: tuple[Level, ...] = ()) -> BookDelta:
        """Push a depth change; returns it."""
        now = time.time_ns()
        first = self.last_id + 1
        ev = BookDelta.of(
            exch_ns=now,
            local_ns=now,
            first_id=first,
            last_id=first + len(bids) + len(asks) - 1,
            prev_id=self.last_id,
            bids=bids,
            asks=asks,
        )
        self.last_id = ev.last_id
        self._queue.append(ev)
        return ev

    def bbo(self, bid: Level, ask: Level) -> None:
        """Push a best bid/offer."""
        now = time.time_ns()
        self._queue.append(
            BestBidOffer(
                exch_ns=now,
                local_ns=now,
                update_id=self.last_id,
                bid_ticks=bid[0],
                bid_lots=bid[1],
                ask_ticks=ask[0],
                ask_lots=ask[1],
            )
        )

    def trade(self, price_ticks: int, qty_lots: int, aggressor: Side) -> None:
        """Push a public trade."""
        now = time.time_ns()
        self._trade_id += 1
        self._queue.append(
            Trade(
                exch_ns=now,
                local_ns=now,
                trade_id=self._trade_id,
                price_ticks=price_ticks,
                qty_lots=qty_lots,
                aggressor=aggressor,
            )
        )


@pytest.fixture
def feed() -> ManualFeed:
    return ManualFeed()


@pytest.fixture
async def live_sandbox(feed: ManualFeed) -> AsyncIterator[SandboxExchange]:
    server = SandboxExchange(btcusdt_perpetual(), feed, api_key=KEY, api_secret=SECRET)
    async with server:
        yield server


@pytest.fixture
async def pro(live_sandbox: SandboxExchange) -> AsyncIterator[LoopbackBinanceUsdmPro]:
    exchange = loopback_pro_client(live_sandbox.rest_url, KEY, SECRET)
    exchange.timeout = 2_000
    try:
        await exchange.load_markets()
        yield exchange
    finally:
        await exchange.close()


def coinm_sandbox(market: Iterator[MarketEvent]) -> SandboxExchange:
    """A COIN-M sandbox trading the listing's BTCUSD_PERP (100 USD a contract) on ``market``,
    its wallet ``COINM_BALANCE_BTC``."""
    inst = sim_instrument("BTCUSD_PERP", "binancecoinm")
    assert inst is not None
    return SandboxExchange(
        inst,
        market,
        api_key=KEY,
        api_secret=SECRET,
        initial_balance=Decimal(COINM_BALANCE_BTC),
    )


@pytest.fixture
async def coinm() -> AsyncIterator[SandboxExchange]:
    async with coinm_sandbox(still_market()) as server:
        yield server


@pytest.fixture
async def coinm_client(coinm: SandboxExchange) -> AsyncIterator[Any]:
    """A ccxt binancecoinm (REST) on the COIN-M sandbox, its markets loaded."""
    async with rest_client(coinm, "binancecoinm") as exchange:
        await exchange.load_markets()
        yield exchange


@pytest.fixture
async def coinm_live(feed: ManualFeed) -> AsyncIterator[SandboxExchange]:
    async with coinm_sandbox(feed) as server:
        yield server


async def refused_order(
    post: Callable[[dict[str, str]], Awaitable[Any]],
    symbol: str,
    side: str,
    price: str,
    quantity: str,
) -> str:
    """The error a post-only limit order, sent exactly as written through ccxt's raw order
    call ``post`` (no rounding by ccxt), is refused with; fails the test when it is accepted."""
    params = {
        "symbol": symbol,
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTX",
        "price": price,
        "quantity": quantity,
    }
    with pytest.raises(ccxt_async.ExchangeError) as info:
        await post(params)
    return str(info.value)
