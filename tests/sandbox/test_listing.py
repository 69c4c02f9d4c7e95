"""The sandbox lists every market of the simulated listing; every listed symbol has a book (the
others' a light model's touch), only the traded one takes our orders."""

from __future__ import annotations

import dataclasses

import aiohttp
import ccxt.async_support as ccxt_async
import pytest
from typer.testing import CliRunner

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import KEY, SECRET, still_market
from tradetui.cli import app
from tradetui.sandbox.client import loopback_client
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.sim_listing import listing_entries, sim_instrument


async def test_exchange_info_lists_every_listed_symbol_as_the_listing_has_it(
    sandbox: SandboxExchange,
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sandbox.rest_url}/fapi/v1/exchangeInfo") as resp,
    ):
        info = await resp.json()

    assert info["symbols"] == listing_entries("binanceusdm")
    assert [a["asset"] for a in info["assets"]] == ["USDT"]


async def test_a_spot_sandbox_lists_the_spot_listing_under_api_v3() -> None:
    inst = sim_instrument("ETHUSDT", "binance")
    assert inst is not None
    server = SandboxExchange(inst, still_market(), api_key=KEY, api_secret=SECRET)
    async with (
        server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.rest_url}/api/v3/exchangeInfo") as resp,
    ):
        info = await resp.json()

    assert info["symbols"] == listing_entries("binance")
    assert "assets" not in info


async def test_ccxt_loads_every_listed_market(sandbox: SandboxExchange) -> None:
    client = loopback_client(sandbox.rest_url, KEY, SECRET)
    try:
        markets = await client.load_markets()
    finally:
        await client.close()

    assert sorted(markets) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]


async def test_a_listed_symbol_not_traded_shows_its_touch_and_takes_no_orders(
    sandbox: SandboxExchange,
) -> None:
    client = loopback_client(sandbox.rest_url, KEY, SECRET)
    try:
        book = await client.fetch_order_book("ETH/USDT:USDT")
        orders = await client.fetch_open_orders("ETH/USDT:USDT")
        trades = await client.fetch_my_trades("ETH/USDT:USDT")
        with pytest.raises(ccxt_async.ExchangeError, match="-1122"):
            await client.create_order("ETH/USDT:USDT", "limit", "buy", 0.01, 2000.0)
    finally:
        await client.close()

    # As on Binance, a listed symbol has a book: here the light model's touch, one level a side.
    assert len(book["bids"]) == len(book["asks"]) == 1
    assert 0 < book["bids"][0][0] < book["asks"][0][0]
    assert (orders, trades) == ([], [])
    assert sandbox.account.orders == {}


def test_an_instrument_the_listing_lacks_is_refused_at_start() -> None:
    sol = dataclasses.replace(btcusdt_perpetual(), symbol="SOLUSDT", base="SOL")

    with pytest.raises(ValueError, match="binanceusdm does not list SOLUSDT"):
        SandboxExchange(sol, still_market(), api_key=KEY, api_secret=SECRET)


def test_command_refuses_a_symbol_the_listing_lacks_in_one_line() -> None:
    result = CliRunner().invoke(
        app, ["sandbox", "exchange", "--port", "0", "--venue", "coinm", "--symbol", "SOLUSD_PERP"]
    )

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --symbol 'SOLUSD_PERP': the simulated coinm listing has BTCUSD_PERP, ETHUSD_PERP"
    )
