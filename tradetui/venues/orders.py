"""How a live venue's orders reach the exchange: ccxt's unified calls, or Binance futures' own.

Both go through ccxt: it signs, paces, sends and maps the exchange's errors to its exception
classes in either case. ``UnifiedOrders`` (any exchange) calls ``create_order`` /
``cancel_order``. ``BinanceFuturesOrders`` calls the endpoints those end in on Binance USD-M
(``fapiPrivatePostOrder`` / ``fapiPrivateDeleteOrder``) and COIN-M (``dapiPrivatePostOrder`` /
``dapiPrivateDeleteOrder``: the same fields, Binance COIN-M "New Order") with the request fields
ccxt's unified layer would send, prices and sizes written exactly from integer ticks and lots
(contracts on COIN-M). It skips the
unified layer's per-order work — market lookups, option parsing, ``decimal_to_precision``
going in and the full order structure coming back — about 0.3 ms of a loop that is deciding
the next quote in the meantime (bench/live_latency.py).

A placement answers with what the venue needs of an order: ``id``, ``clientOrderId``,
``timestamp`` (ms), ccxt's unified ``status`` ('open', 'closed', 'canceled', 'expired',
'rejected') and ``filled`` (the executed size as the exchange wrote it). A cancel answers with
the order as it ended (``status`` and ``filled`` at least), or None where the exchange says
nothing: the size it filled before the cancel is what the venue waits to have seen.
"""

from __future__ import annotations

from typing import Any, Protocol

from tradetui.core.instrument import Instrument
from tradetui.core.types import OrderType, PlaceOrder, Side


class OrderRoute(Protocol):
    """Places and cancels one symbol's orders by our client order id."""

    async def place(self, intent: PlaceOrder) -> dict[str, Any]: ...

    async def cancel(self, client_id: str, order_id: str | None) -> dict[str, Any] | None: ...


class UnifiedOrders:
    """Orders through ccxt's unified ``create_order`` / ``cancel_order`` (any exchange)."""

    def __init__(self, client: Any, symbol: str, instrument: Instrument) -> None:
        self._client = client
        self._symbol = symbol
        self._inst = instrument

    async def place(self, intent: PlaceOrder) -> dict[str, Any]:
        inst = self._inst
        params: dict[str, Any] = {"clientOrderId": intent.client_id}
        if intent.post_only and intent.order_type is OrderType.LIMIT:
            params["postOnly"] = True
        if intent.reduce_only:
            params["reduceOnly"] = True
        limit = intent.order_type is OrderType.LIMIT
        order: dict[str, Any] = await self._client.create_order(
            self._symbol,
            intent.order_type.value,
            "buy" if intent.side is Side.BUY else "sell",
            float(inst.qty(intent.qty_lots)),
            float(inst.price(intent.price_ticks)) if limit else None,
            params,
        )
        return order

    async def cancel(self, client_id: str, order_id: str | None) -> dict[str, Any] | None:
        order: dict[str, Any] | None = await self._client.cancel_order(
            order_id, self._symbol, {"clientOrderId": client_id}
        )
        return order


def _decimal_text(value: Any) -> str:
    """A Decimal as plain digits (never exponent notation, which Binance refuses)."""
    return format(value, "f")


# ccxt's implicit order endpoints (place, cancel) of Binance's futures exchanges, by ccxt id.
_NATIVE_ENDPOINTS = {
    "binanceusdm": ("fapiPrivatePostOrder", "fapiPrivateDeleteOrder"),
    "binancecoinm": ("dapiPrivatePostOrder", "dapiPrivateDeleteOrder"),
}


class BinanceFuturesOrders:
    """Binance USD-M or COIN-M orders through ccxt's implicit order endpoints of the client's
    exchange (``market_id``: 'BTCUSDT', 'BTCUSD_PERP')."""

    def __init__(self, client: Any, market_id: str, instrument: Instrument) -> None:
        self._client = client
        self._market_id = market_id
        self._inst = instrument
        place, cancel = _NATIVE_ENDPOINTS[getattr(client, "id", "binanceusdm")]
        self._post: Any = getattr(client, place, None)
        self._delete: Any = getattr(client, cancel, None)

    def request(self, intent: PlaceOrder) -> dict[str, str]:
        """The POST /fapi/v1/order (/dapi/v1/order) fields for ``intent``, as ccxt's
        ``create_order`` builds them (before ccxt adds timestamp, recvWindow and signature)."""
        inst = self._inst
        fields = {
            "symbol": self._market_id,
            "side": "BUY" if intent.side is Side.BUY else "SELL",
            "newClientOrderId": intent.client_id,
            # The order as it stands after matching, not just an acknowledgement.
            "newOrderRespType": "RESULT",
            "type": "LIMIT" if intent.order_type is OrderType.LIMIT else "MARKET",
            "quantity": _decimal_text(inst.qty(intent.qty_lots)),
        }
        if intent.order_type is OrderType.LIMIT:
            fields["price"] = _decimal_text(inst.price(intent.price_ticks))
            fields["timeInForce"] = "GTX" if intent.post_only else "GTC"
        if intent.reduce_only:
            fields["reduceOnly"] = "true"
        return fields

    async def place(self, intent: PlaceOrder) -> dict[str, Any]:
        client = self._client
        raw: dict[str, Any] = await self._post(self.request(intent))
        return _order_fields(client, raw)

    async def cancel(self, client_id: str, order_id: str | None) -> dict[str, Any] | None:
        # By our id, as ccxt's cancel_order does when given a clientOrderId. Binance answers
        # with the order as it ended, executedQty included ("Cancel Order (TRADE)").
        raw = await self._delete({"symbol": self._market_id, "origClientOrderId": client_id})
        return _order_fields(self._client, raw) if isinstance(raw, dict) else None


def _order_fields(client: Any, raw: dict[str, Any]) -> dict[str, Any]:
    """What the venue reads of a Binance futures order answer, in ccxt's unified names."""
    order_id = raw.get("orderId")
    stamp = raw.get("updateTime")
    return {
        "id": None if order_id is None else str(order_id),
        "clientOrderId": raw.get("clientOrderId"),
        "timestamp": None if stamp is None else int(stamp),
        "status": client.parse_order_status(raw.get("status")),
        "filled": raw.get("executedQty"),
    }


def order_route(client: Any, symbol: str, instrument: Instrument, native: bool) -> OrderRoute:
    """Binance futures' own endpoints when ``native`` and the client is a Binance USD-M or
    COIN-M one with its markets loaded, else ccxt's unified calls."""
    markets = getattr(client, "markets", None)
    endpoints = _NATIVE_ENDPOINTS.get(getattr(client, "id", ""))
    if (
        native
        and endpoints is not None
        and all(hasattr(client, name) for name in endpoints)
        and markets
        and symbol in markets
    ):
        return BinanceFuturesOrders(client, str(markets[symbol]["id"]), instrument)
    return UnifiedOrders(client, symbol, instrument)
