"""Binance's position mode (one-way or hedge) in the sandbox, through the real ccxt clients,
and the live venue refusing a hedge-mode account before it sends anything (issue 18 item 3;
facts and sources in docs/position-mode.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import (
    COINM_SYMBOL,
    KEY,
    SECRET,
    SYMBOL,
    coinm_sandbox,
    rest_client,
    still_market,
)
from tests.sandbox.test_live_stream import FAST, close_venue, open_venue
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.errors import SetupError

# A post-only bid well below the sandbox's touch (60000.0 / 60000.1): it rests.
RESTING_BID = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTX",
    "price": "59000.0",
    "quantity": "0.002",
}


def hedge_sandbox() -> SandboxExchange:
    return SandboxExchange(
        btcusdt_perpetual(), still_market(), api_key=KEY, api_secret=SECRET, hedge_mode=True
    )


@pytest.fixture
async def hedged() -> AsyncIterator[SandboxExchange]:
    async with hedge_sandbox() as server:
        yield server


@pytest.fixture
async def hedged_client(hedged: SandboxExchange) -> AsyncIterator[Any]:
    async with rest_client(hedged) as client:
        await client.load_markets()
        yield client


async def refusal(call: Any) -> str:
    with pytest.raises(ccxt_async.ExchangeError) as info:
        await call
    return str(info.value)


# ---- GET / POST positionSide/dual -------------------------------------------------------


async def test_position_mode_is_read_and_switched_as_binance_answers(
    sandbox: SandboxExchange, client: Any
) -> None:
    await client.load_markets()
    assert (await client.fetch_position_mode(SYMBOL))["hedged"] is False

    answer = await client.set_position_mode(True, SYMBOL)

    assert answer == {"code": 200, "msg": "success"}
    assert (await client.fetch_position_mode(SYMBOL))["info"] == {"dualSidePosition": True}
    assert ("GET", "/fapi/v1/positionSide/dual") in sandbox.requests
    assert ("POST", "/fapi/v1/positionSide/dual") in sandbox.requests
    assert "-4059" in await refusal(client.set_position_mode(True, SYMBOL))
    await client.set_position_mode(False, SYMBOL)
    assert (await client.fetch_position_mode(SYMBOL))["hedged"] is False


async def test_switch_refused_while_an_order_is_open_then_while_a_position_is_held(
    client: Any,
) -> None:
    await client.load_markets()
    order = await client.fapiPrivatePostOrder(RESTING_BID)

    text = await refusal(client.set_position_mode(True, SYMBOL))
    assert "-4067" in text
    assert "Position side cannot be changed if there exists open orders." in text

    await client.cancel_order(str(order["orderId"]), SYMBOL)
    await client.create_order(SYMBOL, "market", "buy", 0.002)
    text = await refusal(client.set_position_mode(True, SYMBOL))
    assert "-4068" in text
    assert "Position side cannot be changed if there exists position." in text
    assert (await client.fetch_position_mode(SYMBOL))["hedged"] is False


async def test_coinm_reads_its_position_mode_under_dapi() -> None:
    async with coinm_sandbox(still_market()) as server, rest_client(server, "binancecoinm") as c:
        await c.load_markets()
        assert (await c.fetch_position_mode(COINM_SYMBOL))["hedged"] is False
        await c.set_position_mode(True, COINM_SYMBOL)
        assert (await c.fetch_position_mode(COINM_SYMBOL))["hedged"] is True
        assert ("POST", "/dapi/v1/positionSide/dual") in server.requests


# ---- orders against the mode ------------------------------------------------------------


async def test_one_way_takes_both_and_refuses_long_or_short_4061(client: Any) -> None:
    await client.load_markets()
    accepted = await client.fapiPrivatePostOrder(RESTING_BID | {"positionSide": "BOTH"})
    assert accepted["positionSide"] == "BOTH"

    for side in ("LONG", "SHORT"):
        text = await refusal(client.fapiPrivatePostOrder(RESTING_BID | {"positionSide": side}))
        assert "-4061" in text
        assert "Order's position side does not match user's setting." in text
    assert "-4060" in await refusal(
        client.fapiPrivatePostOrder(RESTING_BID | {"positionSide": "NET"})
    )


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        pytest.param({}, "-4061", id="no-positionSide"),
        pytest.param({"positionSide": "BOTH"}, "-4061", id="BOTH"),
        pytest.param({"positionSide": "LONG", "reduceOnly": "true"}, "-1106", id="reduceOnly"),
        pytest.param({"positionSide": "SHORT", "reduceOnly": "false"}, "-1106", id="reduceOnly-f"),
    ],
)
async def test_hedge_mode_refuses_orders_one_way_would_take(
    hedged: SandboxExchange, hedged_client: Any, extra: dict[str, str], code: str
) -> None:
    text = await refusal(hedged_client.fapiPrivatePostOrder(RESTING_BID | extra))

    assert code in text
    assert hedged.account.orders == {}


async def test_hedge_mode_refuses_ccxts_unified_order_and_lists_two_flat_positions(
    hedged: SandboxExchange, hedged_client: Any
) -> None:
    text = await refusal(
        hedged_client.create_order(SYMBOL, "limit", "buy", 0.002, 59000.0, {"postOnly": True})
    )
    assert "-4061" in text
    # A well-formed hedge-mode order is refused as not modelled, never booked on the one
    # net position.
    modelled = await refusal(
        hedged_client.fapiPrivatePostOrder(RESTING_BID | {"positionSide": "LONG"})
    )
    assert "-1020" in modelled
    assert hedged.account.orders == {}

    positions = await hedged_client.fapiPrivateV3GetPositionRisk({"symbol": "BTCUSDT"})

    assert sorted(p["positionSide"] for p in positions) == ["LONG", "SHORT"]
    assert all(float(p["positionAmt"]) == 0 for p in positions)


# ---- the live venue ---------------------------------------------------------------------


async def test_live_venue_refuses_a_hedge_mode_account_before_anything_is_sent(
    hedged: SandboxExchange,
) -> None:
    options = dataclasses.replace(FAST, leverage=5, margin_mode="isolated")

    with pytest.raises(SetupError) as info:
        await open_venue(hedged, options)

    text = str(info.value)
    assert "\n" not in text
    assert "hedge mode" in text
    assert "POST /fapi/v1/positionSide/dual dualSidePosition=false" in text
    assert "One-way Mode" in text
    assert "no order or position open" in text
    writes = [(m, p) for m, p in hedged.requests if m in ("POST", "PUT", "DELETE")]
    # Not even leverage or margin type were touched, let alone an order.
    assert writes == [], writes
    assert ("GET", "/fapi/v1/positionSide/dual") in hedged.requests


async def test_live_venue_refuses_a_hedge_mode_coinm_account_naming_dapi() -> None:
    server = coinm_sandbox(still_market())
    server.account.dual_side_position = True
    async with server:
        with pytest.raises(SetupError, match="POST /dapi/v1/positionSide/dual"):
            await open_venue(server, FAST, symbol="BTCUSD_PERP", exchange="binancecoinm")
        assert not [p for m, p in server.requests if p.endswith("/order")]


async def test_live_venue_on_a_one_way_account_reads_the_mode_then_trades(
    live_sandbox: SandboxExchange,
) -> None:
    venue, _ = await open_venue(live_sandbox, FAST)
    await close_venue(venue)

    reads = list(live_sandbox.requests)
    # Read once, before the user stream (the listenKey) and so before any order could go.
    assert reads.count(("GET", "/fapi/v1/positionSide/dual")) == 1
    assert reads.index(("GET", "/fapi/v1/positionSide/dual")) < reads.index(
        ("POST", "/fapi/v1/listenKey")
    )
