"""The sandbox's Binance rate limits, seen through the real ccxt client: the used-weight header
on every answer with each endpoint's weight, the order counts on order answers, 429 over a
limit and 418 for a client that keeps going."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import KEY, SECRET, SYMBOL, rest_client, still_market
from tradetui.sandbox.exchange import SandboxExchange


def limited_sandbox(**limits: int) -> SandboxExchange:
    return SandboxExchange(
        btcusdt_perpetual(), still_market(), api_key=KEY, api_secret=SECRET, **limits
    )


async def at_window_start(server: SandboxExchange, client: Any) -> None:
    """Put the server clock 0.2 s into a minute (so into a 10 s window too) and sync the
    client's clock to it: the test's requests all fall in one window."""
    now_ms = server.now_ns() // 1_000_000
    server.faults.skew_ms = 60_000 - now_ms % 60_000 + 200
    await client.load_time_difference()


def used(client: Any, name: str) -> int | None:
    headers = {k.lower(): v for k, v in (client.last_response_headers or {}).items()}
    value = headers.get(name.lower())
    return None if value is None else int(value)


@pytest.fixture
async def server() -> AsyncIterator[SandboxExchange]:
    async with limited_sandbox() as s:
        yield s


async def test_every_answer_carries_the_weight_used_with_each_endpoints_weight(
    server: SandboxExchange,
) -> None:
    async with rest_client(server) as client:
        await client.load_markets()
        await at_window_start(server, client)
        base = used(client, "X-MBX-USED-WEIGHT-1M")
        assert base is not None
        steps = [
            (client.fapiPublicGetTime, {}, 1),
            (client.fapiPublicGetDepth, {"symbol": "BTCUSDT", "limit": 5}, 2),
            (client.fapiPublicGetDepth, {"symbol": "BTCUSDT", "limit": 100}, 5),
            (client.fapiPublicGetDepth, {"symbol": "BTCUSDT", "limit": 1000}, 20),
            (client.fapiPrivateV2GetPositionRisk, {}, 5),
            (client.fapiPrivateGetUserTrades, {"symbol": "BTCUSDT"}, 5),
            (client.fapiPrivateGetOpenOrders, {"symbol": "BTCUSDT"}, 1),
            (client.fapiPrivateGetOpenOrders, {}, 40),
        ]
        for call, params, weight in steps:
            await call(params)
            now = used(client, "X-MBX-USED-WEIGHT-1M")
            assert now == base + weight, (call.__name__, params)
            assert used(client, "X-MBX-ORDER-COUNT-10S") is None
            base = now
        # A refusal carries it too.
        with pytest.raises(ccxt_async.BadRequest):
            await client.fapiPublicGetDepth({"symbol": "BTCUSDT", "limit": 7})
        after = used(client, "X-MBX-USED-WEIGHT-1M")
        assert after is not None
        assert after >= base


async def test_order_answers_carry_the_order_counts_and_weigh_nothing(
    server: SandboxExchange,
) -> None:
    async with rest_client(server) as client:
        await client.load_markets()
        await at_window_start(server, client)
        weight = used(client, "X-MBX-USED-WEIGHT-1M")
        for n in (1, 2):
            order = await client.create_order(
                SYMBOL, "limit", "buy", 0.002, 59_000, {"timeInForce": "GTX"}
            )
            assert used(client, "X-MBX-ORDER-COUNT-10S") == n
            assert used(client, "X-MBX-ORDER-COUNT-1M") == n
            assert used(client, "X-MBX-USED-WEIGHT-1M") == weight
        await client.cancel_order(order["id"], SYMBOL)
        assert used(client, "X-MBX-ORDER-COUNT-10S") is None  # a cancel is no new order
        assert used(client, "X-MBX-USED-WEIGHT-1M") == weight + 1


async def test_exchange_info_advertises_the_limits_configured() -> None:
    server = limited_sandbox(weight_limit=50, order_limit_10s=3)
    async with server, rest_client(server) as client:
        info = await client.fapiPublicGetExchangeInfo()
    assert info["rateLimits"] == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 50},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 3},
    ]


async def test_over_the_weight_limit_429_with_retry_after_then_418_for_keeping_on() -> None:
    async with limited_sandbox(weight_limit=30) as server, rest_client(server) as client:
        await client.load_markets()
        await at_window_start(server, client)
        while True:
            try:
                await client.fapiPublicGetDepth({"symbol": "BTCUSDT", "limit": 100})
            except ccxt_async.DDoSProtection:
                break
        body = json.loads(client.last_http_response)
        assert body["code"] == -1003
        assert "current limit is 30 requests per minute" in body["msg"]
        headers = {k.lower(): v for k, v in client.last_response_headers.items()}
        assert 55 <= int(headers["retry-after"]) <= 60  # to the minute's end
        assert server.limits.limited == 1
        # A cheaper request that still fits goes through, but sending during the back-off
        # counts against us: the third such request is answered with a ban.
        outcomes = []
        for _ in range(3):
            try:
                await client.fapiPublicGetTime()
                outcomes.append("ok")
            except ccxt_async.DDoSProtection:
                outcomes.append(json.loads(client.last_http_response)["msg"][:21])
        assert outcomes[-1] == "Way too many requests"
        assert server.limits.banned == 1
        headers = {k.lower(): v for k, v in client.last_response_headers.items()}
        assert 119 <= int(headers["retry-after"]) <= 120  # Binance's shortest ban


async def test_over_an_order_limit_429_too_many_new_orders() -> None:
    async with limited_sandbox(order_limit_10s=2) as server, rest_client(server) as client:
        await client.load_markets()
        await at_window_start(server, client)
        for _ in range(2):
            await client.create_order(SYMBOL, "limit", "buy", 0.002, 59_000, {"timeInForce": "GTX"})
        with pytest.raises(ccxt_async.DDoSProtection):
            await client.create_order(SYMBOL, "limit", "buy", 0.002, 59_000, {"timeInForce": "GTX"})
        body = json.loads(client.last_http_response)
        assert body == {
            "code": -1015,
            "msg": "Too many new orders; current limit is 2 orders per 10 SECOND.",
        }
        assert len(server.account.open_orders) == 2
        # Cancels are not orders: they still go.
        await client.cancel_all_orders(SYMBOL)
        assert server.account.open_orders == []
