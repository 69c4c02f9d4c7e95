"""The sandbox as Binance COIN-M, proven with ccxt's own binancecoinm clients (REST and pro).

BTCUSD_PERP on the still book: bid 60000.0, ask 60000.1; 100 USD a contract; wallet 1 BTC.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from tests.sandbox.conftest import COINM_BALANCE_BTC, COINM_SYMBOL, KEY, SECRET, refused_order
from tradetui.sandbox.client import loopback_client, loopback_pro_client
from tradetui.sandbox.exchange import SandboxExchange

ASK = 60_000.1
MARK = 60_000.05
TAKER = 0.0005  # the listing's taker rate (ccxt's binancecoinm fees)


def coin(contracts: int, price: float) -> float:
    """BTC worth of ``contracts`` of 100 USD at ``price``."""
    return contracts * 100 / price


async def test_load_markets_lists_the_inverse_contracts_with_their_sizes(
    coinm: SandboxExchange,
) -> None:
    exchange = loopback_client(coinm.rest_url, KEY, SECRET, exchange="binancecoinm")
    try:
        markets = await exchange.load_markets()
    finally:
        await exchange.close()

    sizes = {s: (m["id"], m["contractSize"], m["inverse"], m["settle"]) for s, m in markets.items()}
    assert sizes == {
        "BTC/USD:BTC": ("BTCUSD_PERP", 100.0, True, "BTC"),
        "ETH/USD:ETH": ("ETHUSD_PERP", 10.0, True, "ETH"),
    }
    assert list(coinm.requests) == [("GET", "/dapi/v1/exchangeInfo")]


async def test_orders_are_placed_queried_listed_and_cancelled_under_dapi(
    coinm: SandboxExchange, coinm_client: Any
) -> None:
    placed = await coinm_client.create_order(
        COINM_SYMBOL, "limit", "buy", 2, 59_990.0, {"postOnly": True, "clientOrderId": "c1"}
    )
    fetched = await coinm_client.fetch_order(placed["id"], COINM_SYMBOL)
    listed = await coinm_client.fetch_open_orders(COINM_SYMBOL)
    await coinm_client.cancel_order(placed["id"], COINM_SYMBOL)
    await coinm_client.create_order(COINM_SYMBOL, "limit", "sell", 1, 60_010.0, {"postOnly": True})
    await coinm_client.cancel_all_orders(COINM_SYMBOL)

    assert (placed["status"], placed["amount"], placed["clientOrderId"]) == ("open", 2.0, "c1")
    info = placed["info"]
    assert (info["pair"], info["cumBase"]) == ("BTCUSD", "0.00000000")
    assert "cumQuote" not in info
    assert fetched["id"] == placed["id"]
    assert [o["id"] for o in listed] == [placed["id"]]
    assert coinm.account.open_orders == []
    assert {path for _, path in coinm.requests} <= {
        "/dapi/v1/exchangeInfo",
        "/dapi/v1/order",
        "/dapi/v1/openOrders",
        "/dapi/v1/allOpenOrders",
    }


async def test_a_fill_is_counted_in_contracts_and_settled_in_the_coin(
    coinm: SandboxExchange, coinm_client: Any
) -> None:
    order = await coinm_client.create_order(COINM_SYMBOL, "market", "buy", 3)
    trades = await coinm_client.fetch_my_trades(COINM_SYMBOL)
    positions = await coinm_client.fetch_positions([COINM_SYMBOL])
    balance = await coinm_client.fetch_balance()

    fee = coin(3, ASK) * TAKER
    assert (order["filled"], order["average"]) == (3.0, ASK)
    assert float(order["info"]["cumBase"]) == pytest.approx(coin(3, ASK), abs=1e-8)
    assert [(t["amount"], t["fee"]["currency"]) for t in trades] == [(3.0, "BTC")]
    assert trades[0]["fee"]["cost"] == pytest.approx(fee, abs=1e-8)
    assert float(trades[0]["info"]["baseQty"]) == pytest.approx(coin(3, ASK), abs=1e-8)
    pos = positions[0]
    assert (pos["contracts"], pos["contractSize"], pos["side"]) == (3.0, 100.0, "long")
    assert pos["notional"] == pytest.approx(coin(3, MARK), abs=1e-8)
    # A long of 3 from 60000.1 marked at 60000.05: 300 × (1/60000.1 − 1/60000.05) BTC.
    unrealized = 300 * (1 / ASK - 1 / MARK)
    assert pos["unrealizedPnl"] == pytest.approx(unrealized, abs=1e-8)
    btc = balance["BTC"]
    assert btc["total"] == pytest.approx(COINM_BALANCE_BTC - fee + unrealized, abs=1e-8)
    # Initial margin at the default 20× leverage, in BTC.
    assert btc["used"] == pytest.approx(coin(3, MARK) / 20, abs=1e-8)
    assert "USDT" not in balance
    # The endpoints ccxt 4.5.90's binancecoinm calls for these (after exchangeInfo).
    assert list(coinm.requests)[1:] == [
        ("POST", "/dapi/v1/order"),
        ("GET", "/dapi/v1/userTrades"),
        ("GET", "/dapi/v2/leverageBracket"),
        ("GET", "/dapi/v1/positionRisk"),
        ("GET", "/dapi/v1/account"),
    ]


async def test_margin_is_checked_in_the_coin_and_refused_as_insufficient_funds(
    coinm: SandboxExchange, coinm_client: Any
) -> None:
    # 1 BTC at 20× carries 20 BTC of notional: 12,000 contracts of 100 USD at 60,000.
    await coinm_client.set_leverage(20, COINM_SYMBOL)
    await coinm_client.create_order(COINM_SYMBOL, "limit", "buy", 11_000, 59_000.0)

    with pytest.raises(ccxt_async.InsufficientFunds, match="-2019"):
        await coinm_client.create_order(COINM_SYMBOL, "limit", "buy", 1_000, 59_000.0)
    assert len(coinm.account.open_orders) == 1


@contextlib.asynccontextmanager
async def pro_client(server: SandboxExchange) -> AsyncIterator[Any]:
    """A ccxt.pro binancecoinm on ``server`` with its markets loaded, closed at the end."""
    pro = loopback_pro_client(server.rest_url, KEY, SECRET, exchange="binancecoinm")
    pro.timeout = 2_000
    try:
        await pro.load_markets()
        yield pro
    finally:
        await pro.close()


async def test_pro_client_streams_the_book_and_user_fills_in_the_coin(
    coinm_live: SandboxExchange,
) -> None:
    async with pro_client(coinm_live) as pro:
        book = await asyncio.wait_for(pro.watch_order_book(COINM_SYMBOL), 5)
        fills = asyncio.ensure_future(pro.watch_my_trades(COINM_SYMBOL))
        await asyncio.sleep(0.3)  # the user stream connects before the fill
        await pro.create_order(COINM_SYMBOL, "market", "sell", 2)
        trades = await asyncio.wait_for(fills, 5)

    assert (book["bids"][0], book["asks"][0]) == ([60_000.0, 500.0], [ASK, 400.0])
    assert [(t["amount"], t["side"], t["fee"]["currency"]) for t in trades] == [
        (2.0, "sell", "BTC")
    ]
    key = coinm_live._listen_key
    assert ("GET", f"/ws/{key}") in coinm_live.requests
    assert ("GET", "/dapi/v1/depth") in coinm_live.requests


async def test_user_stream_pushes_the_coin_balance_after_a_fill(
    coinm_live: SandboxExchange,
) -> None:
    async with pro_client(coinm_live) as pro:
        balance = asyncio.ensure_future(pro.watch_balance())
        await asyncio.sleep(0.3)  # the user stream connects before the fill
        await pro.create_order(COINM_SYMBOL, "market", "buy", 3)
        pushed = await asyncio.wait_for(balance, 5)

    fee = round(coin(3, ASK) * TAKER, 8)
    assert pushed["BTC"]["total"] == pytest.approx(COINM_BALANCE_BTC - fee, abs=1e-12)
    update = pushed["info"]
    assert (update["e"], update["a"]["P"][0]["pa"]) == ("ACCOUNT_UPDATE", "3")


async def test_depth_limit_binance_does_not_serve_is_refused_4021(coinm_client: Any) -> None:
    with pytest.raises(ccxt_async.BadRequest, match="-4021"):
        await coinm_client.fetch_order_book(COINM_SYMBOL, 200)


# BTCUSD_PERP on the still book (mid 60000.05): PERCENT_PRICE lets a buy go up to 63000.0 and a
# sell down to 57000.1; LOT_SIZE maxQty is 1000000 contracts, PRICE_FILTER maxPrice 4520958.
@pytest.mark.parametrize(
    ("side", "price", "quantity", "code", "msg"),
    [
        ("BUY", "59000.05", "1", -4014, "Price not increased by tick size."),
        ("BUY", "59000.0", "1.5", -4023, "Qty not increased by step size."),
        ("SELL", "61000.0", "1000001", -4005, "Quantity greater than max quantity."),
        ("SELL", "4520958.1", "1", -4002, "Price greater than max price."),
        ("BUY", "63000.1", "1", -4016, "Price is higher than mark price multiplier cap."),
        ("SELL", "57000.0", "1", -4024, "Price is lower than mark price multiplier floor."),
    ],
)
async def test_order_outside_the_filters_is_refused_with_binances_code_and_message(
    coinm_client: Any, side: str, price: str, quantity: str, code: int, msg: str
) -> None:
    post = coinm_client.dapiPrivatePostOrder
    refusal = await refused_order(post, "BTCUSD_PERP", side, price, quantity)

    assert f'"code": {code}, "msg": "{msg}"' in refusal


async def test_one_contract_has_no_minimum_notional(coinm_client: Any) -> None:
    # COIN-M lists no MIN_NOTIONAL filter: one 100 USD contract is a valid order.
    placed = await coinm_client.create_order(
        COINM_SYMBOL, "limit", "buy", 1, 59_000.0, {"postOnly": True}
    )

    assert placed["status"] == "open"
