"""Binance USD-M orders through ccxt's own endpoints: the same request as the unified call, sent
with the signed query in the URL, answered in the venue's terms; other exchanges stay unified."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt.async_support as ccxt
import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import ASK_TICKS, BID_TICKS, SYMBOL
from tradetui.core.types import OrderType, PlaceOrder, Side
from tradetui.sandbox.client import LoopbackBinanceUsdmPro
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.clients import make_client, order_query_in_url
from tradetui.venues.orders import BinanceFuturesOrders, UnifiedOrders, order_route

INTENTS = [
    PlaceOrder(client_id="po-1", side=Side.BUY, price_ticks=BID_TICKS - 100, qty_lots=12),
    PlaceOrder(
        client_id="gtc-1",
        side=Side.SELL,
        price_ticks=ASK_TICKS + 100,
        qty_lots=10,
        post_only=False,
    ),
    PlaceOrder(
        client_id="mkt-1",
        side=Side.SELL,
        price_ticks=0,
        qty_lots=10,
        order_type=OrderType.MARKET,
        post_only=False,
        reduce_only=True,
    ),
]


def _sent_fields(url: str, body: str | None) -> dict[str, str]:
    query = urlsplit(url).query
    fields = dict(parse_qsl("&".join(p for p in (query, body or "") if p)))
    for per_request in ("timestamp", "signature", "recvWindow"):
        fields.pop(per_request)
    return fields


def _as_numbers(fields: dict[str, str]) -> dict[str, Any]:
    return {k: Decimal(v) if k in ("price", "quantity") else v for k, v in fields.items()}


async def _captured(pro: Any, place: Any) -> dict[str, str]:
    """The fields of the order request ``place()`` makes ccxt send (the answer is ignored)."""
    sent: list[tuple[str, str | None]] = []
    fetch = pro.fetch

    async def capture(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        if method == "POST" and urlsplit(url).path == "/fapi/v1/order":
            sent.append((url, body))
        return await fetch(url, method, headers, body)

    pro.fetch = capture
    try:
        # A reduce-only close is refused when flat (-2022), after it was sent.
        with contextlib.suppress(ccxt.InvalidOrder):
            await place()
    finally:
        pro.fetch = fetch
    assert len(sent) == 1
    return _sent_fields(*sent[0])


@pytest.mark.parametrize("intent", INTENTS, ids=lambda i: i.client_id)
async def test_native_request_matches_what_create_order_sends(
    pro: LoopbackBinanceUsdmPro, intent: PlaceOrder
) -> None:
    inst = btcusdt_perpetual()
    unified = UnifiedOrders(pro, SYMBOL, inst)
    native = BinanceFuturesOrders(pro, "BTCUSDT", inst)

    by_ccxt = await _captured(pro, lambda: unified.place(intent))
    ours = await _captured(pro, lambda: native.place(intent))

    # ccxt writes 59990 where we write 59990.0: the same number, as the exchange reads it.
    assert _as_numbers(ours) == _as_numbers(by_ccxt)
    assert ours == native.request(intent)


async def test_native_placement_answers_id_status_and_time(
    pro: LoopbackBinanceUsdmPro, live_sandbox: SandboxExchange
) -> None:
    native = BinanceFuturesOrders(pro, "BTCUSDT", btcusdt_perpetual())

    order = await native.place(INTENTS[0])
    await native.cancel("po-1", None)

    assert order["clientOrderId"] == "po-1"
    assert order["status"] == "open"
    assert isinstance(order["id"], str)
    assert order["id"]
    assert isinstance(order["timestamp"], int)
    assert order["timestamp"] > 0
    assert live_sandbox.account.open_orders == []


def test_prices_and_sizes_are_written_exactly_without_exponents() -> None:
    native = BinanceFuturesOrders(None, "BTCUSDT", btcusdt_perpetual())  # tick 0.1, lot 0.001

    fields = native.request(
        PlaceOrder(client_id="x", side=Side.BUY, price_ticks=1, qty_lots=1_000_000)
    )

    assert (fields["price"], fields["quantity"]) == ("0.1", "1000.000")


def test_only_new_orders_carry_their_signed_query_in_the_url() -> None:
    def signed(method: str, body: str | None) -> dict[str, Any]:
        return {"url": "https://x/fapi/v1/order", "method": method, "body": body, "headers": {}}

    moved = order_query_in_url(signed("POST", "a=1&signature=f0"), "order", ["fapiPrivate"], "POST")
    listen = order_query_in_url(signed("POST", "a=1"), "listenKey", ["fapiPrivate"], "POST")
    leverage = order_query_in_url(signed("POST", "a=1"), "leverage", ["fapiPrivate"], "POST")

    assert (moved["url"], moved["body"]) == ("https://x/fapi/v1/order?a=1&signature=f0", None)
    assert listen["body"] == "a=1"
    assert leverage["body"] == "a=1"


async def test_binance_clients_choose_the_native_route_others_the_unified_one(
    pro: LoopbackBinanceUsdmPro,
) -> None:
    inst = btcusdt_perpetual()
    unloaded = make_client("binanceusdm", rest_url="http://127.0.0.1:1")
    other = make_client("okx")
    try:
        assert isinstance(order_route(pro, SYMBOL, inst, native=True), BinanceFuturesOrders)
        assert isinstance(order_route(pro, SYMBOL, inst, native=False), UnifiedOrders)
        assert isinstance(order_route(unloaded, SYMBOL, inst, native=True), UnifiedOrders)
        assert isinstance(order_route(other, "BTC/USDT:USDT", inst, native=True), UnifiedOrders)
    finally:
        await unloaded.close()
        await other.close()
