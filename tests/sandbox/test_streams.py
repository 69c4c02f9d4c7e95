"""The sandbox's websockets: raw protocol, and the real ccxt.pro client watching them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import pytest

from tests.sandbox.conftest import ASK_TICKS, BID_TICKS, SYMBOL, ManualFeed
from tradetui.core.types import Side
from tradetui.sandbox.client import LoopbackBinanceUsdmPro
from tradetui.sandbox.exchange import SandboxExchange

WAIT_S = 5.0


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), WAIT_S)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    out: dict[str, Any] = json.loads(msg.data)
    return out


async def subscribed(
    session: aiohttp.ClientSession, server: SandboxExchange, *streams: str
) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(f"ws://127.0.0.1:{server.port}/public/ws/0")
    await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": list(streams), "id": 7}))
    assert await receive(ws) == {"result": None, "id": 7}
    return ws


# ---- raw protocol ------------------------------------------------------------------------


async def test_subscribe_is_answered_and_listed(live_sandbox: SandboxExchange) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await subscribed(session, live_sandbox, "btcusdt@depth@100ms", "btcusdt@trade")
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))

        assert await receive(ws) == {"result": ["btcusdt@depth@100ms", "btcusdt@trade"], "id": 8}
        await ws.close()


async def test_depth_updates_chain_by_previous_final_id(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await subscribed(session, live_sandbox, "btcusdt@depth@100ms")
        feed.delta(bids=((BID_TICKS, 700),))
        feed.delta(asks=((ASK_TICKS, 0), (ASK_TICKS + 2, 50)))
        live_sandbox.advance()
        first, second = await receive(ws), await receive(ws)
        await ws.close()

    assert (first["e"], first["U"], first["u"], first["pu"]) == ("depthUpdate", 43, 43, 42)
    assert (second["U"], second["u"], second["pu"]) == (44, 45, 43)
    assert first["b"] == [["60000.0", "0.700"]]
    assert second["a"] == [["60000.1", "0.000"], ["60000.3", "0.050"]]


@pytest.mark.parametrize(
    ("fault", "expected_u"), [("gap", [45]), ("duplicate", [43, 43, 45]), ("reorder", [45, 43])]
)
async def test_sequence_faults_mistreat_depth_updates(
    live_sandbox: SandboxExchange, feed: ManualFeed, fault: str, expected_u: list[int]
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await subscribed(session, live_sandbox, "btcusdt@depth")
        setattr(live_sandbox.streams.faults, fault, 1)
        feed.delta(bids=((BID_TICKS, 700),))
        feed.delta(asks=((ASK_TICKS, 0), (ASK_TICKS + 2, 50)))
        live_sandbox.advance()
        got = [(await receive(ws))["u"] for _ in expected_u]
        await ws.close()

    assert got == expected_u


async def test_book_ticker_and_trade_streams_carry_their_events(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await subscribed(session, live_sandbox, "btcusdt@bookTicker", "btcusdt@trade")
        feed.bbo((BID_TICKS, 500), (ASK_TICKS, 300))
        feed.trade(ASK_TICKS, 25, Side.BUY)
        live_sandbox.advance()
        bbo, trade = await receive(ws), await receive(ws)
        await ws.close()

    assert (bbo["e"], bbo["b"], bbo["A"]) == ("bookTicker", "60000.0", "0.300")
    assert (trade["e"], trade["p"], trade["q"], trade["m"]) == ("trade", "60000.1", "0.025", False)


async def test_private_stream_refuses_an_unknown_listen_key(
    live_sandbox: SandboxExchange,
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(
            f"ws://127.0.0.1:{live_sandbox.port}/private/ws?listenKey=nope"
        )
        msg = await asyncio.wait_for(ws.receive(), WAIT_S)

    assert msg.type is aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 4001


# ---- ccxt.pro ------------------------------------------------------------------------------


async def test_watch_order_book_applies_diffs_on_the_snapshot(
    pro: LoopbackBinanceUsdmPro, live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    first = await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)
    assert first["bids"][0] == [60000.0, 0.5]

    feed.delta(bids=((BID_TICKS, 900), (BID_TICKS - 1, 0)))
    book = await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)

    assert book["nonce"] == 44
    assert book["bids"][:2] == [[60000.0, 0.9], [59999.0, 2.0]]


async def test_sequence_gap_breaks_the_book_and_watching_again_resyncs(
    pro: LoopbackBinanceUsdmPro, live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)
    live_sandbox.streams.faults.gap = 1
    feed.delta(bids=((BID_TICKS, 700),))
    feed.delta(bids=((BID_TICKS, 800),))

    with pytest.raises(ccxt_async.ChecksumError):
        await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)
    book = await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)

    assert book["nonce"] == feed.last_id
    assert book["bids"][0] == [60000.0, 0.8]


async def test_dropped_websocket_is_a_network_error_then_watch_reconnects(
    pro: LoopbackBinanceUsdmPro, live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)
    pending = asyncio.ensure_future(pro.watch_order_book(SYMBOL))
    await asyncio.sleep(0)
    await live_sandbox.drop_websockets()

    with pytest.raises(ccxt_async.NetworkError):
        await asyncio.wait_for(pending, WAIT_S)
    feed.delta(bids=((BID_TICKS, 650),))
    book = await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)

    assert book["bids"][0][0] == 60000.0
    assert live_sandbox.streams.connection_count >= 1


async def test_watch_trades_and_bids_asks_see_the_public_prints(
    pro: LoopbackBinanceUsdmPro, feed: ManualFeed
) -> None:
    trades_task = asyncio.ensure_future(pro.watch_trades(SYMBOL))
    bbo_task = asyncio.ensure_future(pro.watch_bids_asks([SYMBOL]))
    await asyncio.sleep(0.2)
    feed.trade(BID_TICKS, 30, Side.SELL)
    feed.bbo((BID_TICKS, 470), (ASK_TICKS, 400))

    trades = await asyncio.wait_for(trades_task, WAIT_S)
    bbo = await asyncio.wait_for(bbo_task, WAIT_S)

    assert [(t["side"], t["price"], t["amount"]) for t in trades] == [("sell", 60000.0, 0.03)]
    assert (bbo[SYMBOL]["bid"], bbo[SYMBOL]["bidVolume"]) == (60000.0, 0.47)


async def test_user_stream_reports_the_order_and_its_maker_fill(
    pro: LoopbackBinanceUsdmPro, feed: ManualFeed
) -> None:
    orders_task = asyncio.ensure_future(pro.watch_orders(SYMBOL))
    await asyncio.sleep(0.3)
    placed = await pro.create_order(
        SYMBOL, "limit", "buy", 0.01, 60000.0, params={"postOnly": True}
    )
    opened = [(o["id"], o["status"]) for o in await asyncio.wait_for(orders_task, WAIT_S)]

    trades_task = asyncio.ensure_future(pro.watch_my_trades(SYMBOL))
    await asyncio.sleep(0)
    feed.trade(BID_TICKS - 1, 600, Side.SELL)
    fills = await asyncio.wait_for(trades_task, WAIT_S)

    assert opened == [(placed["id"], "open")]
    assert [(f["order"], f["side"], f["price"], f["amount"], f["takerOrMaker"]) for f in fills] == [
        (placed["id"], "buy", 60000.0, 0.01, "maker")
    ]
    assert [(o["id"], o["status"]) for o in pro.orders] == [(placed["id"], "closed")]


async def test_out_of_order_depth_breaks_the_book_and_watching_again_resyncs(
    pro: LoopbackBinanceUsdmPro, live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)
    live_sandbox.streams.faults.reorder = 1
    feed.delta(bids=((BID_TICKS, 700),))
    feed.delta(bids=((BID_TICKS, 800),))

    with pytest.raises(ccxt_async.ChecksumError):
        await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)
    book = await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)

    assert book["nonce"] == feed.last_id
    assert book["bids"][0] == [60000.0, 0.8]


async def test_duplicated_depth_update_leaves_the_book_right(
    pro: LoopbackBinanceUsdmPro, live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)
    live_sandbox.streams.faults.duplicate = 1
    feed.delta(bids=((BID_TICKS, 700),))
    await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)
    feed.delta(bids=((BID_TICKS, 800),))

    book = await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)
    while book["nonce"] < feed.last_id:
        book = await asyncio.wait_for(pro.watch_order_book(SYMBOL), WAIT_S)

    assert book["bids"][0] == [60000.0, 0.8]


async def test_combined_stream_wraps_subscribed_events_with_their_stream_name(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    url = (
        f"ws://127.0.0.1:{live_sandbox.port}/public/stream?streams=btcusdt@depth@0ms/btcusdt@trade"
    )
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url)
        await asyncio.sleep(0.05)  # the server registers the connection
        feed.bbo((BID_TICKS, 500), (ASK_TICKS, 400))  # not subscribed: never sent
        feed.delta(bids=((BID_TICKS, 700),))
        feed.trade(ASK_TICKS, 5, Side.BUY)
        live_sandbox.advance()
        texts = [(await asyncio.wait_for(ws.receive(), WAIT_S)).data for _ in range(2)]
        await ws.close()

    assert texts[0].startswith('{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate",')
    assert " " not in texts[0]  # compact, as Binance sends it
    depth, trade = json.loads(texts[0]), json.loads(texts[1])
    assert (depth["data"]["U"], depth["data"]["pu"]) == (43, 42)
    assert trade["stream"] == "btcusdt@trade"
    assert (trade["data"]["p"], trade["data"]["q"]) == ("60000.1", "0.005")
