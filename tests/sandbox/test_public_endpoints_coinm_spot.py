"""The public market data and account history in Binance COIN-M's and spot's dialects: COIN-M
names the ``pair``, counts volumes in contracts and in the coin and answers lists; spot's
ticker carries the touch and its trades are under /api/v3. The real ccxt binancecoinm and
binance clients read them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from tests.sandbox.conftest import (
    ASK_TICKS,
    BID_TICKS,
    COINM_SYMBOL,
    KEY,
    SECRET,
    ManualFeed,
    rest_client,
)
from tradetui.core.types import Side
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.clients import make_client, market_data_options
from tradetui.venues.sim_listing import sim_instrument

_MINUTE_MS = 60_000


async def test_coinm_figures_are_in_contracts_and_coin_and_name_the_pair(
    coinm_live: SandboxExchange, feed: ManualFeed
) -> None:
    async with rest_client(coinm_live, "binancecoinm") as client:
        await client.load_markets()
        (before,) = await client.dapiPublicGetTicker24hr({"symbol": "BTCUSD_PERP"})
        feed.trade(BID_TICKS, 6, Side.SELL)
        feed.trade(ASK_TICKS, 4, Side.BUY)
        coinm_live.advance()
        (after,) = await client.dapiPublicGetTicker24hr({"symbol": "BTCUSD_PERP"})
        by_pair = await client.dapiPublicGetTicker24hr({"pair": "BTCUSD"})
        ticker = await client.fetch_ticker(COINM_SYMBOL)
        book = await client.fetch_order_book(COINM_SYMBOL, 5)
        touch = (await client.fetch_bids_asks([COINM_SYMBOL]))[COINM_SYMBOL]
        raw_touch = await client.dapiPublicGetTickerBookTicker({"pair": "BTCUSD"})
        raw_trades = await client.dapiPublicGetTrades({"symbol": "BTCUSD_PERP"})
        trades = await client.fetch_trades(COINM_SYMBOL)
        klines = await client.dapiPublicGetKlines({"symbol": "BTCUSD_PERP", "interval": "1m"})
        premium = await client.dapiPublicGetPremiumIndex({"pair": "BTCUSD"})
        funding = await client.fetch_funding_rate(COINM_SYMBOL)
        history = await client.fetch_funding_rate_history(COINM_SYMBOL)
        fee = await client.fetch_trading_fee(COINM_SYMBOL)
        with pytest.raises(ccxt_async.BadSymbol, match="-1121"):
            await client.dapiPublicGetKlines({"symbol": "BTCUSD_NOPE", "interval": "1m"})

    # 10 contracts of 100 USD: their count, and their worth in BTC at the prices they traded.
    coin = 6 * 100 / 60000.0 + 4 * 100 / 60000.1
    assert after["pair"] == "BTCUSD"
    assert float(after["volume"]) - float(before["volume"]) == 10
    assert float(after["baseVolume"]) - float(before["baseVolume"]) == pytest.approx(coin)
    assert "quoteVolume" not in after
    assert [t["symbol"] for t in by_pair] == ["BTCUSD_PERP"]
    assert ticker["last"] == trades[-1]["price"] == 60000.1
    assert [(t["side"], t["amount"]) for t in trades] == [("sell", 6), ("buy", 4)]
    assert [t["baseQty"] for t in raw_trades] == [f"{6 * 100 / 60000.0:.8f}", "0.00666666"]
    assert (touch["bid"], touch["ask"]) == (book["bids"][0][0], book["asks"][0][0])
    assert [(t["symbol"], t["pair"]) for t in raw_touch] == [("BTCUSD_PERP", "BTCUSD")]
    assert raw_touch[0]["lastUpdateId"] == 42  # the book's, as the depth snapshot's
    volume_contracts = sum(int(k[5]) for k in klines)
    volume_coin = sum(float(k[7]) for k in klines)
    assert volume_contracts == 10
    assert volume_coin == pytest.approx(coin)
    assert [(p["symbol"], p["pair"]) for p in premium] == [("BTCUSD_PERP", "BTCUSD")]
    assert funding["fundingRate"] == 0.0001
    assert funding["markPrice"] == 60000.05
    assert len(history) == 3
    inst = coinm_live.instrument
    assert (fee["maker"], fee["taker"]) == (inst.maker_fee_rate, inst.taker_fee_rate)


async def test_coinm_order_history_by_symbol_or_pair_and_our_fill_in_the_trades(
    coinm_live: SandboxExchange,
) -> None:
    async with rest_client(coinm_live, "binancecoinm") as client:
        await client.load_markets()
        resting = await client.create_order(COINM_SYMBOL, "limit", "buy", 1, 59000.0)
        filled = await client.create_order(COINM_SYMBOL, "market", "sell", 2)
        orders = await client.fetch_orders(COINM_SYMBOL)
        by_pair = await client.dapiPrivateGetAllOrders({"pair": "BTCUSD"})
        trades = await client.fetch_trades(COINM_SYMBOL)
        eth = await client.dapiPrivateGetAllOrders({"pair": "ETHUSD"})

    assert [(o["id"], o["status"]) for o in orders] == [
        (resting["id"], "open"),
        (filled["id"], "closed"),
    ]
    assert [str(o["orderId"]) for o in by_pair] == [resting["id"], filled["id"]]
    assert all(o["pair"] == "BTCUSD" and "cumBase" in o for o in by_pair)
    # A market sell hits the bid: a seller-taker print of our 2 contracts.
    assert (trades[-1]["side"], trades[-1]["price"], trades[-1]["amount"]) == ("sell", 60000.0, 2)
    assert eth == []


@pytest.fixture
async def spot(feed: ManualFeed) -> AsyncIterator[tuple[SandboxExchange, Any]]:
    """A spot sandbox on the manual feed and a ccxt binance (spot) client on it."""
    inst = sim_instrument("BTCUSDT", "binance")
    assert inst is not None
    async with SandboxExchange(inst, feed, api_key=KEY, api_secret=SECRET) as server:
        client = make_client(
            "binance",
            rest_url=server.rest_url,
            rate_limit=False,
            options=market_data_options("binance"),
        )
        try:
            await client.load_markets()
            yield server, client
        finally:
            await client.close()


async def test_spot_serves_its_tickers_trades_and_klines_under_api_v3(
    spot: tuple[SandboxExchange, Any], feed: ManualFeed
) -> None:
    server, client = spot
    feed.trade(BID_TICKS, 7, Side.SELL)
    feed.trade(ASK_TICKS, 2, Side.BUY)
    server.advance()
    symbol = "BTC/USDT"
    ticker = await client.fetch_ticker(symbol)
    tickers = await client.fetch_tickers()
    book = await client.fetch_order_book(symbol, 5)
    touch = (await client.fetch_bids_asks([symbol]))[symbol]
    trades = await client.fetch_trades(symbol)
    raw = await client.publicGetTrades({"symbol": "BTCUSDT"})
    candles = await client.fetch_ohlcv(symbol, "1m")
    with pytest.raises(ccxt_async.BadSymbol, match="-1121"):
        await client.publicGetTicker24hr({"symbol": "NOPEUSDT"})
    with pytest.raises(ccxt_async.BadRequest, match="-1120"):
        await client.publicGetKlines({"symbol": "BTCUSDT", "interval": "1s"})

    bid, ask = book["bids"][0], book["asks"][0]
    # Spot's 24 h ticker carries the touch: the same as the book's and the book ticker's.
    assert (ticker["bid"], ticker["bidVolume"], ticker["ask"], ticker["askVolume"]) == (
        bid[0],
        bid[1],
        ask[0],
        ask[1],
    )
    assert (touch["bid"], touch["ask"]) == (bid[0], ask[0])
    assert ticker["last"] == trades[-1]["price"] == ask[0]
    assert sorted(tickers) == ["BTC/USDT", "ETH/USDT"]
    assert [t["side"] for t in trades] == ["sell", "buy"]
    assert all(t["isBestMatch"] is True for t in raw)
    assert [t["amount"] for t in trades] == [
        float(server.instrument.qty(7)),
        float(server.instrument.qty(2)),
    ]
    (candle,) = [c for c in candles if c[5]]
    assert candle[5] == pytest.approx(sum(t["amount"] for t in trades))
    assert (candle[1], candle[4]) == (bid[0], ask[0])
    assert candle[0] % _MINUTE_MS == 0
