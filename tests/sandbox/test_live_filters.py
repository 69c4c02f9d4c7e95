"""Binance's order-filter refusals reach the engine through LiveVenue as our reject codes, with
the exchange's reason: the real ccxt clients (both order routes) against the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import BID_TICKS, KEY, SECRET, coinm_sandbox, still_market
from tradetui.core.instrument import Instrument
from tradetui.core.types import MarketEvent, OrderRejected, PlaceOrder, RejectCode, Side
from tradetui.sandbox.client import loopback_client
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.live import LiveOptions, LiveVenue

WAIT_S = 10.0
# The still book's mid is 60000.05 (600000.5 ticks): PERCENT_PRICE (×1.05, ×0.95) lets a buy
# go up to 630000 ticks and a sell down to 570001 ticks, on USD-M and COIN-M alike.
BUY_CAP_TICKS = 630_000
SELL_FLOOR_TICKS = 570_001


@contextlib.asynccontextmanager
async def live_venue(
    server: SandboxExchange, symbol: str, exchange: str, native: bool
) -> AsyncIterator[LiveVenue]:
    client = loopback_client(server.rest_url, KEY, SECRET, exchange=exchange)
    client.timeout = 2_000
    await client.load_markets()
    venue = LiveVenue(
        client,
        symbol,
        options=LiveOptions(fill_poll_s=0.0, user_stream=False, native_orders=native),
        secrets=(KEY, SECRET),
        instrument=server.instrument,
    )
    try:
        yield venue
    finally:
        await venue.close()
        await client.close()


async def refusal(venue: LiveVenue, side: Side, price_ticks: int, lots: int) -> OrderRejected:
    venue.submit(PlaceOrder(client_id="f-1", side=side, price_ticks=price_ticks, qty_lots=lots))
    await asyncio.wait_for(venue.idle(), WAIT_S)
    ev = venue.pop()
    assert isinstance(ev, OrderRejected)
    return ev


def usdm(inst: Instrument, market: Iterator[MarketEvent]) -> SandboxExchange:
    return SandboxExchange(inst, market, api_key=KEY, api_secret=SECRET)


CASES = [
    # (side, price ticks, lots, our code, Binance's reason)
    (Side.BUY, BUY_CAP_TICKS + 1, 10, RejectCode.ABOVE_PRICE_BAND, "mark price multiplier cap"),
    (Side.SELL, SELL_FLOOR_TICKS - 1, 10, RejectCode.BELOW_PRICE_BAND, "multiplier floor"),
    (Side.SELL, 45_297_641, 1, RejectCode.ABOVE_MAX_PRICE, "Price greater than max price."),
]


@pytest.mark.parametrize("native", [True, False], ids=["native-orders", "unified-orders"])
@pytest.mark.parametrize(
    ("side", "price_ticks", "lots", "code", "reason"),
    [
        *CASES,
        (Side.SELL, 610_000, 1_000_001, RejectCode.ABOVE_MAX_QTY, "greater than max quantity"),
        (Side.BUY, BID_TICKS - 100, 1, RejectCode.BELOW_MIN_NOTIONAL, "no smaller than 100"),
    ],
)
async def test_usdm_filter_refusal_arrives_as_our_code_with_binances_reason(
    native: bool, side: Side, price_ticks: int, lots: int, code: RejectCode, reason: str
) -> None:
    async with (
        usdm(btcusdt_perpetual(), still_market()) as server,
        live_venue(server, "BTC/USDT:USDT", "binanceusdm", native) as venue,
    ):
        rejected = await refusal(venue, side, price_ticks, lots)
        assert server.account.open_orders == []

    assert rejected.code is code
    assert reason in rejected.reason


@pytest.mark.parametrize("native", [True, False], ids=["native-orders", "unified-orders"])
async def test_usdm_quantity_below_the_minimum_arrives_as_below_min_qty(native: bool) -> None:
    # A market whose minimum is two steps (the listed BTCUSDT's is one).
    two_lot_minimum = replace(btcusdt_perpetual(), min_qty=Decimal("0.002"))
    async with (
        usdm(two_lot_minimum, still_market()) as server,
        live_venue(server, "BTC/USDT:USDT", "binanceusdm", native) as venue,
    ):
        rejected = await refusal(venue, Side.BUY, BID_TICKS - 100, 1)

    assert rejected.code is RejectCode.BELOW_MIN_QTY
    assert "Quantity less than min quantity." in rejected.reason


@pytest.mark.parametrize("native", [True, False], ids=["native-orders", "unified-orders"])
@pytest.mark.parametrize(
    ("side", "price_ticks", "lots", "code", "reason"),
    [
        *CASES[:2],
        (Side.SELL, 45_209_581, 1, RejectCode.ABOVE_MAX_PRICE, "Price greater than max price."),
        (Side.SELL, 610_000, 1_000_001, RejectCode.ABOVE_MAX_QTY, "greater than max quantity"),
    ],
)
async def test_coinm_filter_refusal_arrives_as_our_code_with_binances_reason(
    native: bool, side: Side, price_ticks: int, lots: int, code: RejectCode, reason: str
) -> None:
    async with (
        coinm_sandbox(still_market()) as server,
        live_venue(server, "BTC/USD:BTC", "binancecoinm", native) as venue,
    ):
        rejected = await refusal(venue, side, price_ticks, lots)

    assert rejected.code is code
    assert reason in rejected.reason
