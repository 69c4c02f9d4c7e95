"""The real ccxt binanceusdm client against the sandbox exchange on loopback."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import (
    KEY,
    SECRET,
    SYMBOL,
    refused_order,
    rest_client,
    still_market,
)
from tradetui.sandbox.client import LoopbackBinanceUsdm, loopback_client
from tradetui.sandbox.exchange import SandboxExchange


async def test_load_markets_reads_tick_step_min_qty_and_min_notional(
    client: LoopbackBinanceUsdm,
) -> None:
    market = (await client.load_markets())[SYMBOL]

    assert market["precision"]["price"] == pytest.approx(0.1)
    assert market["precision"]["amount"] == pytest.approx(0.001)
    assert market["limits"]["amount"]["min"] == pytest.approx(0.001)
    assert market["limits"]["cost"]["min"] == pytest.approx(100.0)
    assert market["linear"]
    assert market["swap"]


async def test_load_markets_calls_only_exchange_info(
    sandbox: SandboxExchange, client: LoopbackBinanceUsdm
) -> None:
    await client.load_markets()

    assert list(sandbox.requests) == [("GET", "/fapi/v1/exchangeInfo")]


async def test_order_book_is_the_matching_engines_book(client: LoopbackBinanceUsdm) -> None:
    book = await client.fetch_order_book(SYMBOL, 5)

    assert book["bids"][0] == [60000.0, 0.5]
    assert book["asks"][0] == [60000.1, 0.4]
    assert book["nonce"] == 42


@pytest.mark.parametrize("limit", [7, 5000])
async def test_depth_limit_binance_does_not_serve_is_refused_4021(
    client: LoopbackBinanceUsdm, limit: int
) -> None:
    with pytest.raises(ccxt_async.BadRequest, match=f"-4021.*'{limit}' is not valid depth limit"):
        await client.fetch_order_book(SYMBOL, limit)


async def test_post_only_order_rests_and_is_listed_open(client: LoopbackBinanceUsdm) -> None:
    await client.load_markets()
    order = await client.create_order(
        SYMBOL, "limit", "buy", 0.01, 59990.0, params={"postOnly": True, "clientOrderId": "tt-1"}
    )

    listed = await client.fetch_open_orders(SYMBOL)
    assert order["status"] == "open"
    assert order["timeInForce"] == "PO"
    assert [(o["clientOrderId"], o["price"], o["amount"]) for o in listed] == [
        ("tt-1", 59990.0, 0.01)
    ]


async def test_cancel_order_closes_it_and_a_second_cancel_is_order_not_found(
    client: LoopbackBinanceUsdm,
) -> None:
    await client.load_markets()
    order = await client.create_order(
        SYMBOL, "limit", "sell", 0.01, 60010.0, params={"postOnly": True}
    )

    cancelled = await client.cancel_order(order["id"], SYMBOL)

    assert cancelled["status"] == "canceled"
    assert await client.fetch_open_orders(SYMBOL) == []
    with pytest.raises(ccxt_async.OrderNotFound):
        await client.cancel_order(order["id"], SYMBOL)


async def test_cancel_all_orders_empties_the_book_of_ours(client: LoopbackBinanceUsdm) -> None:
    await client.load_markets()
    for price in (59990.0, 59980.0):
        await client.create_order(SYMBOL, "limit", "buy", 0.01, price, params={"postOnly": True})

    await client.cancel_all_orders(SYMBOL)

    assert await client.fetch_open_orders(SYMBOL) == []


async def test_post_only_that_would_cross_is_order_not_fillable(
    client: LoopbackBinanceUsdm,
) -> None:
    await client.load_markets()
    with pytest.raises(ccxt_async.OrderNotFillable):
        await client.create_order(SYMBOL, "limit", "buy", 0.01, 60000.1, params={"postOnly": True})


async def test_order_beyond_the_margin_is_insufficient_funds(client: LoopbackBinanceUsdm) -> None:
    await client.load_markets()
    with pytest.raises(ccxt_async.InsufficientFunds):
        await client.create_order(SYMBOL, "limit", "buy", 5.0, 59000.0, params={"postOnly": True})


async def test_order_below_min_notional_is_invalid_order(client: LoopbackBinanceUsdm) -> None:
    await client.load_markets()
    with pytest.raises(ccxt_async.InvalidOrder, match="-4164"):
        await client.create_order(SYMBOL, "limit", "buy", 0.001, 59000.0, params={"postOnly": True})


# On the still book (mid 60000.05): the PERCENT_PRICE band (×1.05 up, ×0.95 down) lets a buy go
# up to 63000.0 and a sell down to 57000.1; LOT_SIZE maxQty is 1000, PRICE_FILTER maxPrice
# 4529764, MIN_NOTIONAL 100 USDT.
@pytest.mark.parametrize(
    ("side", "price", "quantity", "code", "msg"),
    [
        ("BUY", "59000.05", "0.01", -4014, "Price not increased by tick size."),
        ("BUY", "59000.0", "0.0105", -4023, "Qty not increased by step size."),
        ("BUY", "59000.0", "0", -4003, "Quantity less than or equal to zero."),
        ("SELL", "61000.0", "1000.001", -4005, "Quantity greater than max quantity."),
        ("SELL", "4529764.1", "0.001", -4002, "Price greater than max price."),
        ("BUY", "63000.1", "0.01", -4016, "Price is higher than mark price multiplier cap."),
        ("SELL", "57000.0", "0.01", -4024, "Price is lower than mark price multiplier floor."),
        (
            "BUY",
            "59000.0",
            "0.001",
            -4164,
            "Order's notional must be no smaller than 100 (unless you choose reduce only)",
        ),
    ],
)
async def test_order_outside_the_filters_is_refused_with_binances_code_and_message(
    client: LoopbackBinanceUsdm, side: str, price: str, quantity: str, code: int, msg: str
) -> None:
    post = client.fapiPrivatePostOrder
    refusal = await refused_order(post, "BTCUSDT", side, price, quantity)

    assert f'"code": {code}, "msg": "{msg}"' in refusal
    assert await client.fetch_open_orders(SYMBOL) == []


async def test_a_buy_far_below_the_band_and_a_sell_far_above_it_are_accepted(
    client: LoopbackBinanceUsdm,
) -> None:
    await client.load_markets()
    # PERCENT_PRICE bounds a buy from above and a sell from below only.
    await client.create_order(SYMBOL, "limit", "buy", 0.01, 50000.0, params={"postOnly": True})
    await client.create_order(SYMBOL, "limit", "sell", 0.01, 70000.0, params={"postOnly": True})

    assert len(await client.fetch_open_orders(SYMBOL)) == 2


async def test_quantity_below_the_minimum_is_refused_4004() -> None:
    # The listed BTCUSDT's minimum is one step; a market whose minimum is two steps refuses one.
    two_lot_minimum = replace(btcusdt_perpetual(), min_qty=Decimal("0.002"))
    async with (
        SandboxExchange(two_lot_minimum, still_market(), api_key=KEY, api_secret=SECRET) as server,
        rest_client(server) as exchange,
    ):
        refusal = await refused_order(
            exchange.fapiPrivatePostOrder, "BTCUSDT", "BUY", "59000.0", "0.001"
        )

    assert '"code": -4004, "msg": "Quantity less than min quantity."' in refusal


async def test_fetch_balance_starts_at_the_initial_wallet(client: LoopbackBinanceUsdm) -> None:
    balance = await client.fetch_balance()

    assert balance["USDT"]["total"] == pytest.approx(10_000.0)
    assert balance["USDT"]["free"] == pytest.approx(10_000.0)


async def test_market_buy_opens_a_position_and_charges_the_taker_fee(
    client: LoopbackBinanceUsdm,
) -> None:
    await client.load_markets()
    order = await client.create_order(SYMBOL, "market", "buy", 0.01)

    positions = await client.fetch_positions([SYMBOL])
    trades = await client.fetch_my_trades(SYMBOL)
    balance = await client.fetch_balance()
    assert order["status"] == "closed"
    assert order["average"] == pytest.approx(60000.1)
    assert [(p["side"], p["contracts"]) for p in positions] == [("long", 0.01)]
    assert [(t["side"], t["price"], t["takerOrMaker"]) for t in trades] == [
        ("buy", 60000.1, "taker")
    ]
    fee = 60000.1 * 0.01 * 0.0005
    assert trades[0]["fee"]["cost"] == pytest.approx(fee)
    assert balance["USDT"]["total"] == pytest.approx(10_000.0 - fee - 0.01 * 0.05)


async def test_fetch_order_by_client_id_finds_a_cancelled_order(
    client: LoopbackBinanceUsdm,
) -> None:
    await client.load_markets()
    placed = await client.create_order(
        SYMBOL, "limit", "buy", 0.01, 59990.0, params={"postOnly": True, "clientOrderId": "tt-9"}
    )
    await client.cancel_order(placed["id"], SYMBOL)

    found = await client.fetch_order(None, SYMBOL, params={"origClientOrderId": "tt-9"})

    assert (found["id"], found["status"]) == (placed["id"], "canceled")


async def test_clock_skew_is_invalid_nonce_until_the_time_difference_is_loaded(
    sandbox: SandboxExchange, client: LoopbackBinanceUsdm
) -> None:
    sandbox.faults.skew_ms = 30_000
    with pytest.raises(ccxt_async.InvalidNonce):
        await client.fetch_balance()

    await client.load_time_difference()

    assert (await client.fetch_balance())["USDT"]["total"] == pytest.approx(10_000.0)


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (429, -1001, ccxt_async.DDoSProtection),
        (418, -1001, ccxt_async.DDoSProtection),
        # Binance's 5xx bodies: ccxt raises OperationFailed (-1000/-1001/-1006) or
        # RequestTimeout (-1007); a bodiless 5xx (a proxy's) is ExchangeNotAvailable.
        (502, -1001, ccxt_async.OperationFailed),
        (503, -1006, ccxt_async.OperationFailed),
        (500, -1000, ccxt_async.OperationFailed),
        (503, -1007, ccxt_async.RequestTimeout),
        (503, 0, ccxt_async.ExchangeNotAvailable),
    ],
)
async def test_forced_status_maps_to_ccxts_error_then_clears(
    sandbox: SandboxExchange,
    client: LoopbackBinanceUsdm,
    status: int,
    code: int,
    error: type[Exception],
) -> None:
    sandbox.faults.fail_next(status, code=code)
    with pytest.raises(error):
        await client.fetch_balance()

    assert (await client.fetch_balance())["USDT"]["total"] == pytest.approx(10_000.0)


async def test_slow_answer_is_request_timeout(
    sandbox: SandboxExchange, client: LoopbackBinanceUsdm
) -> None:
    sandbox.faults.delay_s = 0.5
    client.timeout = 100
    with pytest.raises(ccxt_async.RequestTimeout):
        await client.fetch_time()


async def test_wrong_secret_is_authentication_error(sandbox: SandboxExchange) -> None:
    wrong = loopback_client(sandbox.rest_url, KEY, "not-the-secret")
    try:
        with pytest.raises(ccxt_async.AuthenticationError, match="-1022"):
            await wrong.fetch_balance()
    finally:
        await wrong.close()


async def test_wrong_key_is_authentication_error(sandbox: SandboxExchange) -> None:
    wrong = loopback_client(sandbox.rest_url, "someone-else", SECRET)
    try:
        with pytest.raises(ccxt_async.AuthenticationError, match="-2015"):
            await wrong.fetch_balance()
    finally:
        await wrong.close()


async def test_listen_key_is_issued_and_kept_alive(client: LoopbackBinanceUsdm) -> None:
    created = await client.fapiPrivatePostListenKey()
    renewed = await client.fapiPrivatePutListenKey()

    assert created["listenKey"] == renewed["listenKey"]
    assert len(created["listenKey"]) == 64


async def test_keys_and_signatures_never_reach_the_logs(
    client: LoopbackBinanceUsdm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.load_markets()
    await client.create_order(SYMBOL, "limit", "buy", 0.01, 59990.0, params={"postOnly": True})
    await client.fetch_balance()

    assert caplog.records
    assert KEY not in caplog.text
    assert SECRET not in caplog.text
    assert re.search(r"signature=[0-9a-f]{64}", caplog.text) is None
    assert "signature=<redacted>" in caplog.text


@pytest.mark.parametrize("status", [503, 0])
async def test_a_lost_answer_leaves_the_order_placed(
    sandbox: SandboxExchange, client: LoopbackBinanceUsdm, status: int
) -> None:
    sandbox.faults.lose_next(status, 1, only="POST /fapi/v1/order")
    with pytest.raises(ccxt_async.OperationFailed):
        await client.create_order(
            SYMBOL, "limit", "buy", 0.01, 59_000.0, {"clientOrderId": "lost-1"}
        )

    found = await client.fetch_order(None, SYMBOL, {"clientOrderId": "lost-1"})
    assert found["status"] == "open"


async def test_a_forced_5xx_leaves_the_order_unplaced(
    sandbox: SandboxExchange, client: LoopbackBinanceUsdm
) -> None:
    sandbox.faults.fail_next(503, 1, only="POST /fapi/v1/order")
    with pytest.raises(ccxt_async.OperationFailed):
        await client.create_order(
            SYMBOL, "limit", "buy", 0.01, 59_000.0, {"clientOrderId": "unplaced-1"}
        )

    with pytest.raises(ccxt_async.OrderNotFound):
        await client.fetch_order(None, SYMBOL, {"clientOrderId": "unplaced-1"})


async def test_the_fault_api_switches_lost_answers_and_refuses_unknown_codes(
    sandbox: SandboxExchange,
) -> None:
    state = await sandbox.apply_faults(
        {"lost": "503", "lost_count": "2", "lost_only": "POST /fapi/v1/order", "code": "-1006"}
    )

    assert (state["lost"], state["lost_count"], state["code"]) == (503, 2, -1006)
    assert state["lost_only"] == "POST /fapi/v1/order"
    with pytest.raises(ValueError, match="code must be"):
        await sandbox.apply_faults({"status": "503", "code": "-2019"})
    with pytest.raises(ValueError, match="lost must be"):
        await sandbox.apply_faults({"lost": "429"})
