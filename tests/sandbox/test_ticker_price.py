"""The sandbox's "Symbol Price Ticker" on USD-M, COIN-M and spot: every listed symbol's last
price, in each venue's own shape, read by the real ccxt clients (``fetch_last_prices``, what
`tradetui markets sync` caches)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from tests.sandbox.conftest import KEY, SECRET, rest_client, still_market
from tradetui.sandbox.client import rewrite_urls
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.sim_listing import listed_instrument, listing_entries


async def _get(url: str) -> Any:
    """``url``'s JSON, fetched off the event loop the sandbox serves from."""

    def fetch() -> Any:
        with urllib.request.urlopen(url) as answer:
            return json.load(answer)

    return await asyncio.to_thread(fetch)


def _sandbox(symbol: str, venue: str) -> SandboxExchange:
    """The sandbox of ``venue`` trading the listing's ``symbol`` on a still book."""
    return SandboxExchange(
        listed_instrument(symbol, venue), still_market(), api_key=KEY, api_secret=SECRET
    )


async def test_usdm_prices_every_listed_symbol_on_v1_and_v2() -> None:
    async with _sandbox("BTCUSDT", "usdm") as server:
        rows = await _get(f"{server.rest_url}/fapi/v2/ticker/price")
        one = await _get(f"{server.rest_url}/fapi/v1/ticker/price?symbol=BTCUSDT")
        async with rest_client(server) as client:
            await client.load_markets()
            last = await client.fetch_last_prices()
            with pytest.raises(ccxt.BadSymbol):
                await client.fetch_last_prices(["ETH/USDT:USDT"], {"symbol": "NOPEUSDT"})

    listed = {str(e["symbol"]) for e in listing_entries("usdm")}
    assert {r["symbol"] for r in rows} == listed
    assert set(rows[0]) == {"symbol", "price", "time"}
    # The traded symbol's last price before any trade: its still book's mid on the tick grid.
    assert one["symbol"] == "BTCUSDT"
    assert Decimal(one["price"]) in (Decimal("60000.0"), Decimal("60000.1"))
    assert set(last) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    for row in rows:
        tick = listed_instrument(row["symbol"], "usdm").tick_size
        assert Decimal(row["price"]) % tick == 0


async def test_coinm_answers_a_list_naming_each_pair_and_filters_by_pair() -> None:
    async with _sandbox("BTCUSD_PERP", "coinm") as server:
        rows = await _get(f"{server.rest_url}/dapi/v1/ticker/price")
        eth = await _get(f"{server.rest_url}/dapi/v1/ticker/price?pair=ETHUSD")
        one = await _get(f"{server.rest_url}/dapi/v1/ticker/price?symbol=BTCUSD_PERP")
        async with rest_client(server, "binancecoinm") as client:
            await client.load_markets()
            last = await client.fetch_last_prices()

    assert {(r["symbol"], r["ps"]) for r in rows} == {
        ("BTCUSD_PERP", "BTCUSD"),
        ("ETHUSD_PERP", "ETHUSD"),
    }
    assert [r["symbol"] for r in eth] == ["ETHUSD_PERP"]
    assert isinstance(one, list)
    assert [r["symbol"] for r in one] == ["BTCUSD_PERP"]
    # ETHUSD_PERP's synthetic market starts at the listing's reference price (2,681 USD).
    assert float(eth[0]["price"]) == pytest.approx(2_681, rel=0.01)
    assert set(last) == {"BTC/USD:BTC", "ETH/USD:ETH"}


async def test_spot_answers_without_a_time_under_api_v3() -> None:
    async with _sandbox("ETHUSDT", "binance") as server:
        rows = await _get(f"{server.rest_url}/api/v3/ticker/price")
        with pytest.raises(urllib.error.HTTPError) as refused:
            await _get(f"{server.rest_url}/api/v3/ticker/price?symbol=NOPEUSDT")
        assert refused.value.code == 400
        assert json.load(refused.value) == {"code": -1121, "msg": "Invalid symbol."}
        client = ccxt_async.binance({"options": {"fetchMarkets": ["spot"]}})
        client.urls["api"] = rewrite_urls(client.urls["api"], server.rest_url)
        try:
            await client.load_markets()
            last = await client.fetch_last_prices()
        finally:
            await client.close()

    assert {r["symbol"] for r in rows} == {"BTCUSDT", "ETHUSDT"}
    assert all(set(r) == {"symbol", "price"} for r in rows)
    assert set(last) == {"BTC/USDT", "ETH/USDT"}
