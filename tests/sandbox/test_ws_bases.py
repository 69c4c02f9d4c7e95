"""Binance USD-M's routed websocket bases (issue 18 item 2): the feed and ccxt's user stream
on /public and /private, the sandbox serving them (and the legacy bases as Binance does now,
or fully with ``legacy_ws``), and ``feed.ws_routing = "legacy"`` for endpoints that still
serve the old bases."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import ASK_TICKS, BID_TICKS, KEY, SECRET, ManualFeed
from tests.sandbox.test_live_stream import bid, close_venue, fills, open_venue, place
from tradetui.config import ConfigError, settings_from_mapping
from tradetui.core.types import BookDelta, MarketEvent, Side, Trade
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.binance_stream import BinanceStreamFeed, FeedState
from tradetui.venues.errors import SetupError
from tradetui.venues.redact import REDACTED, RedactSecrets

WAIT_S = 5.0


@pytest.fixture
async def legacy_sandbox(feed: ManualFeed) -> AsyncIterator[SandboxExchange]:
    """Binance before 2026-04-23: the legacy bases carry every stream and the user stream."""
    server = SandboxExchange(
        btcusdt_perpetual(), feed, api_key=KEY, api_secret=SECRET, legacy_ws=True
    )
    async with server:
        yield server


def ws_paths(server: SandboxExchange) -> set[str]:
    """The websocket paths clients opened on ``server`` (REST paths left out)."""
    return {p for m, p in server.requests if m == "GET" and not p.startswith(server.api)}


async def feed_events(
    server: SandboxExchange, market: ManualFeed, routing: str
) -> tuple[list[MarketEvent], BinanceStreamFeed]:
    """Run a feed with ``routing`` on ``server`` until it is live and a diff and a trade the
    test pushed came through."""
    events: list[MarketEvent] = []
    feed = BinanceStreamFeed(
        server.instrument,
        ws_url=server.rest_url.replace("http://", "ws://"),
        rest_url=server.rest_url,
        stale_s=0.0,
        ws_routing=routing,
    )
    task = asyncio.create_task(feed.run(events.append))
    try:

        async def until_done() -> None:
            while feed.state is not FeedState.LIVE:
                market.delta(bids=((BID_TICKS - 3, 7),))
                server.advance()
                await asyncio.sleep(0.02)
            market.trade(ASK_TICKS, 5, Side.BUY)
            server.advance()
            while not any(type(e) is Trade for e in events):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(until_done(), WAIT_S)
    finally:
        await feed.close()
        with contextlib.suppress(Exception):
            await task
    return events, feed


async def test_feed_on_a_sandbox_of_the_new_bases_gets_book_and_trades_on_public(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    live_sandbox.faults.legacy_ws_404 = True  # nothing of the legacy bases is served
    events, _ = await feed_events(live_sandbox, feed, "split")

    assert any(type(e) is BookDelta for e in events)
    assert [e.price_ticks for e in events if type(e) is Trade] == [ASK_TICKS]
    assert ws_paths(live_sandbox) == {"/public/stream"}


async def test_legacy_routing_on_a_legacy_sandbox_gets_book_and_trades(
    legacy_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    events, _ = await feed_events(legacy_sandbox, feed, "legacy")

    assert any(type(e) is BookDelta for e in events)
    assert any(type(e) is Trade for e in events)
    assert ws_paths(legacy_sandbox) == {"/stream"}


async def test_legacy_routing_where_the_legacy_base_is_not_served_stops_with_one_line(
    live_sandbox: SandboxExchange,
) -> None:
    live_sandbox.faults.legacy_ws_404 = True
    feed = BinanceStreamFeed(
        live_sandbox.instrument,
        ws_url=live_sandbox.rest_url.replace("http://", "ws://"),
        rest_url=live_sandbox.rest_url,
        ws_routing="legacy",
    )

    with pytest.raises(SetupError) as caught:
        await asyncio.wait_for(feed.run(lambda _ev: None), WAIT_S)

    message = str(caught.value)
    assert "/stream answered HTTP 404" in message
    assert "feed.ws_routing = 'split'" in message
    assert "\n" not in message
    assert feed.state is FeedState.CLOSED


async def receive_or_none(ws: aiohttp.ClientWebSocketResponse, timeout_s: float) -> str | None:
    try:
        msg = await asyncio.wait_for(ws.receive(), timeout_s)
    except TimeoutError:
        return None
    return str(msg.data)


async def test_each_base_carries_only_its_category_and_the_legacy_one_serves_as_public(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    base = f"ws://127.0.0.1:{live_sandbox.port}"
    trade = "btcusdt@trade"
    async with aiohttp.ClientSession() as http:
        public = await http.ws_connect(f"{base}/public/stream?streams={trade}")
        market = await http.ws_connect(f"{base}/market/stream?streams={trade}")
        raw = await http.ws_connect(f"{base}/public/ws/{trade}")  # ws mode: names in the path
        legacy = await http.ws_connect(f"{base}/stream?streams={trade}")
        await asyncio.sleep(0.05)  # the server registers the connections
        feed.trade(ASK_TICKS, 5, Side.BUY)
        live_sandbox.advance()

        wrapped = json.loads(await asyncio.wait_for(public.receive_str(), WAIT_S))
        plain = json.loads(await asyncio.wait_for(raw.receive_str(), WAIT_S))
        served_as_public = json.loads(await asyncio.wait_for(legacy.receive_str(), WAIT_S))
        # Binance sends a /public stream asked for on /market nothing, and no error either.
        nothing = await receive_or_none(market, 0.3)
        for ws in (public, market, raw, legacy):
            await ws.close()

    assert wrapped["stream"] == trade
    assert plain["e"] == "trade"
    assert served_as_public["stream"] == trade
    assert nothing is None


async def listen_key(server: SandboxExchange) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.rest_url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r,
    ):
        return str((await r.json())["listenKey"])


async def test_legacy_user_stream_path_is_no_user_stream_on_the_new_bases(
    live_sandbox: SandboxExchange, legacy_sandbox: SandboxExchange
) -> None:
    async with aiohttp.ClientSession() as http:
        for server, private in ((live_sandbox, 0), (legacy_sandbox, 1)):
            key = await listen_key(server)
            ws = await http.ws_connect(f"ws://127.0.0.1:{server.port}/ws/{key}")
            await asyncio.sleep(0.05)
            assert server.streams.private_count == private, server.legacy_ws
            await ws.close()


async def test_user_stream_fills_arrive_on_private(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    live_sandbox.faults.legacy_ws_404 = True
    venue, rec = await open_venue(live_sandbox)
    try:
        await place(venue, rec, bid("p-1"))
        feed.trade(BID_TICKS - 1, 600, Side.SELL)
        live_sandbox.advance()
        await rec.until(lambda: len(fills(rec)) == 1)
    finally:
        await close_venue(venue)

    assert fills(rec)[0].client_id == "p-1"
    assert ("GET", "/fapi/v1/userTrades") not in live_sandbox.requests  # not by polling
    assert "/private/ws" in ws_paths(live_sandbox)
    assert not any(p.startswith("/ws") for p in ws_paths(live_sandbox))


async def test_legacy_user_stream_fills_arrive_on_the_legacy_base(
    legacy_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    venue, rec = await open_venue(legacy_sandbox, ws_routing="legacy")
    try:
        await place(venue, rec, bid("l-1"))
        feed.trade(BID_TICKS - 1, 600, Side.SELL)
        legacy_sandbox.advance()
        await rec.until(lambda: len(fills(rec)) == 1)
    finally:
        await close_venue(venue)

    assert ("GET", "/fapi/v1/userTrades") not in legacy_sandbox.requests
    paths = ws_paths(legacy_sandbox)
    assert "/private/ws" not in paths
    assert any(p.startswith("/ws/") and len(p) > 40 for p in paths)  # /ws/<listenKey>


def test_a_listen_key_in_a_legacy_user_stream_path_stays_out_of_the_logs() -> None:
    key = "Ab3" * 21  # Binance's listenKeys are 64 letters and digits
    text = f"404, message='Invalid response status', url='ws://127.0.0.1:1/ws/{key}'"

    redacted = RedactSecrets().redact(text)

    assert key not in redacted
    assert redacted.endswith(f"/ws/{REDACTED}'")
    assert RedactSecrets().redact("ws://h/ws/btcusdt@depth@0ms") == "ws://h/ws/btcusdt@depth@0ms"


def test_ws_routing_setting_is_split_by_default_and_checked() -> None:
    assert settings_from_mapping({}, {}).feed.ws_routing == "split"
    assert settings_from_mapping({"feed": {"ws_routing": "legacy"}}, {}).feed.ws_routing == "legacy"
    with pytest.raises(ConfigError, match=r"feed\.ws_routing: must be one of 'split', 'legacy'"):
        settings_from_mapping({"feed": {"ws_routing": "public"}}, {})
