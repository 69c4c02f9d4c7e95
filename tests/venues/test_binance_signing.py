"""Our Binance USD-M clients sign exactly as ccxt does; a new order's query just moves into the
URL, and queries that need no percent-encoding are encoded faster to the same bytes."""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt_async
from ccxt.base.exchange import Exchange as CcxtExchange
from hypothesis import given
from hypothesis import strategies as st

from tradetui.venues.clients import LoopbackBinanceUsdm, plain_query

ORDER = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "newClientOrderId": "tt0lk3x9a-1f",
    "newOrderRespType": "RESULT",
    "type": "LIMIT",
    "quantity": "0.002",
    "price": "59980.0",
    "timeInForce": "GTX",
}

_TEXT = st.text(alphabet=st.sampled_from("aZ09_.-~ /&=%+é:"), max_size=8)
_VALUES = st.one_of(_TEXT, st.booleans(), st.integers(), st.floats(allow_nan=False))


@given(st.dictionaries(_TEXT, _VALUES, max_size=6))
def test_plain_query_is_ccxts_urlencode_or_defers_to_it(params: dict[str, Any]) -> None:
    fast = plain_query(params)
    expected = CcxtExchange.urlencode(params)

    if fast is not None:
        assert fast == expected
    assert LoopbackBinanceUsdm.urlencode(params) == expected


def _signers() -> tuple[Any, Any]:
    keys = {"apiKey": "k" * 64, "secret": "s" * 64, "options": {"timeDifference": 0}}
    ours, ccxts = LoopbackBinanceUsdm(keys), ccxt_async.binanceusdm(keys)
    for client in (ours, ccxts):
        client.milliseconds = lambda: 1_796_294_965_102
    return ours, ccxts


def test_a_new_orders_signed_query_moves_into_the_url_unchanged() -> None:
    ours, ccxts = _signers()

    mine = ours.sign("order", ["fapiPrivate"], "POST", dict(ORDER))
    theirs = ccxts.sign("order", ["fapiPrivate"], "POST", dict(ORDER))

    assert theirs["body"]
    assert "signature=" in theirs["body"]
    assert mine["url"] == f"{theirs['url']}?{theirs['body']}"
    assert mine["body"] is None
    assert mine["headers"] == theirs["headers"]


def test_cancels_and_reads_are_signed_as_ccxt_signs_them() -> None:
    ours, ccxts = _signers()
    cancel = {"symbol": "BTCUSDT", "origClientOrderId": "tt0lk3x9a-1f"}

    for method, path, params in (
        ("DELETE", "order", cancel),
        ("GET", "openOrders", {"symbol": "BTCUSDT"}),
        ("POST", "leverage", {"symbol": "BTCUSDT", "leverage": 2}),
    ):
        assert ours.sign(path, ["fapiPrivate"], method, dict(params)) == ccxts.sign(
            path, ["fapiPrivate"], method, dict(params)
        )
