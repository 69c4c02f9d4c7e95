"""listenKey expiry: the sandbox as Binance documents it (a key lives its TTL unless kept
alive, a keepalive without one is -1125, the stream gets listenKeyExpired and then nothing),
and the live venue renewing its user stream on each way a stream dies, every fill arriving
exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import aiohttp
import ccxt.async_support as ccxt_async
import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import (
    BID_TICKS,
    KEY,
    SECRET,
    ManualFeed,
    coinm_sandbox,
    rest_client,
)
from tests.sandbox.test_command import start
from tests.sandbox.test_live_stream import (
    FAST,
    Recorder,
    bid,
    close_venue,
    fills,
    open_venue,
    place,
)
from tradetui.core.types import Side
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.live import LiveOptions, LiveVenue

LISTEN_KEY = "POST /fapi/v1/listenKey"


def short_lived(feed: ManualFeed, ttl_s: float) -> SandboxExchange:
    return SandboxExchange(
        btcusdt_perpetual(), feed, api_key=KEY, api_secret=SECRET, listen_key_ttl_s=ttl_s
    )


@pytest.fixture
async def brief(feed: ManualFeed) -> AsyncIterator[SandboxExchange]:
    """A sandbox whose listenKeys live 1 s without keepalive."""
    async with short_lived(feed, 1.0) as server:
        yield server


async def test_a_key_lives_its_ttl_unless_kept_alive_and_a_keepalive_after_is_1125(
    feed: ManualFeed,
) -> None:
    async with short_lived(feed, 0.4) as server, rest_client(server) as client:
        key = (await client.fapiPrivatePostListenKey())["listenKey"]
        # POST on an account with an active key returns that key.
        assert (await client.fapiPrivatePostListenKey())["listenKey"] == key
        for _ in range(3):
            await asyncio.sleep(0.25)
            assert (await client.fapiPrivatePutListenKey())["listenKey"] == key
        await asyncio.sleep(0.6)
        with pytest.raises(ccxt_async.ExchangeError, match="-1125"):
            await client.fapiPrivatePutListenKey()
        renewed = (await client.fapiPrivatePostListenKey())["listenKey"]

    assert renewed != key
    assert server.listen_key == renewed


async def test_an_expired_key_streams_listen_key_expired_then_nothing_on_an_open_socket(
    feed: ManualFeed,
) -> None:
    async with (
        short_lived(feed, 0.5) as server,
        rest_client(server) as client,
        aiohttp.ClientSession() as http,
    ):
        ws_url = server.rest_url.replace("http://", "ws://") + "/private/ws?listenKey="
        key = (await client.fapiPrivatePostListenKey())["listenKey"]
        async with http.ws_connect(ws_url + key) as old:
            expired = await old.receive_json(timeout=3)
            assert set(expired) == {"e", "E", "listenKey"}
            assert (expired["e"], expired["listenKey"]) == ("listenKeyExpired", key)
            assert int(expired["E"]) > 0
            new = (await client.fapiPrivatePostListenKey())["listenKey"]
            async with http.ws_connect(ws_url + new) as fresh:
                await client.create_order(
                    "BTC/USDT:USDT", "limit", "buy", 0.01, 59_000.0, {"postOnly": True}
                )
                update = await fresh.receive_json(timeout=3)
                assert update["e"] == "ORDER_TRADE_UPDATE"
                with pytest.raises(asyncio.TimeoutError):
                    await old.receive(timeout=0.5)
                assert not old.closed
            async with http.ws_connect(ws_url + key) as stale:
                refused = await stale.receive(timeout=3)
        assert refused.type is aiohttp.WSMsgType.CLOSE


def _down_then_up(rec: Recorder) -> bool:
    seen = rec.connections
    return (False, "account") in seen and seen[-1] == (True, "account")


async def _fill_during_silence(
    venue: LiveVenue, rec: Recorder, server: SandboxExchange, feed: ManualFeed
) -> None:
    """Once the stream is marked down: a fill at the exchange; then it must come back up and
    the fill arrive exactly once."""
    await rec.until(lambda: (False, "account") in rec.connections)
    feed.trade(BID_TICKS - 1, 600, Side.SELL)
    server.advance()
    await rec.until(lambda: _down_then_up(rec) and len(fills(rec)) == 1)
    await asyncio.sleep(0.2)
    assert [f.trade_id for f in fills(rec)] == [str(server.account.trades[0].trade_id)]
    assert venue.stream_up


async def _next_fill_by_stream(
    venue: LiveVenue, rec: Recorder, server: SandboxExchange, feed: ManualFeed
) -> None:
    """The renewed stream carries fills again (no REST poll in between)."""
    await place(venue, rec, bid("n-1"))
    polls = server.requests.count(("GET", "/fapi/v1/userTrades"))
    feed.trade(BID_TICKS - 1, 600, Side.SELL)
    server.advance()
    await rec.until(lambda: len(fills(rec)) == 2)
    assert server.requests.count(("GET", "/fapi/v1/userTrades")) == polls


async def test_listen_key_expired_renews_the_stream_and_the_silences_fill_arrives_once(
    brief: SandboxExchange, feed: ManualFeed
) -> None:
    venue, rec = await open_venue(brief)
    try:
        first_key = brief.listen_key
        await place(venue, rec, bid("e-1"))
        # The renewal's POST takes a while: the fill falls in the silence.
        brief.faults.delay_next(1.0, 1, LISTEN_KEY)
        brief.listen_key_ttl_s = 3600.0  # the next key lives
        await _fill_during_silence(venue, rec, brief, feed)

        assert brief.listen_key not in ("", first_key)
        assert ("POST", "/fapi/v1/listenKey") in brief.requests
        await _next_fill_by_stream(venue, rec, brief, feed)
    finally:
        await close_venue(venue)


async def test_a_gaps_fill_fetched_after_the_reconnect_is_not_taken_for_a_deaf_stream(
    brief: SandboxExchange, feed: ManualFeed
) -> None:
    options = dataclasses.replace(FAST, fill_reconcile_s=0.3)
    venue, rec = await open_venue(brief, options)
    try:
        await place(venue, rec, bid("g-1"))
        await place(venue, rec, bid("g-2", price_ticks=BID_TICKS - 100))  # keeps one working
        brief.faults.delay_next(1.0, 1, LISTEN_KEY)
        brief.listen_key_ttl_s = 3600.0
        # REST fails through the silence and the reconnect: only a later reconcile, with the
        # stream up, finds the silence's fill, which the new stream can never send.
        brief.faults.fail_next(503, -1, 0, "GET /fapi/v1/userTrades")
        await rec.until(lambda: (False, "account") in rec.connections)
        feed.trade(BID_TICKS - 1, 600, Side.SELL)
        brief.advance()
        await rec.until(lambda: _down_then_up(rec))
        brief.faults.fail_next(0, 0)
        await rec.until(lambda: len(fills(rec)) == 1)
        await asyncio.sleep(1.0)

        assert rec.connections.count((False, "account")) == 1
        assert venue.stream_up
    finally:
        await close_venue(venue)


async def test_keepalive_answered_1125_renews_the_stream(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    # ccxt.pro keeps the key alive every 0.2 s here; the key is invalidated behind its back
    # (no listenKeyExpired), so its keepalive meets -1125.
    venue, rec = await open_venue(live_sandbox, FAST, listenKeyRefreshRate=200)
    try:
        first_key = live_sandbox.listen_key
        await place(venue, rec, bid("k-1"))
        async with rest_client(live_sandbox) as other:
            await other.fapiPrivateDeleteListenKey()
        await _fill_during_silence(venue, rec, live_sandbox, feed)

        assert live_sandbox.listen_key not in ("", first_key)
        await _next_fill_by_stream(venue, rec, live_sandbox, feed)
    finally:
        await close_venue(venue)


async def test_silence_with_orders_working_probes_the_key_and_renews_it_on_1125(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    options = LiveOptions(
        fill_poll_s=FAST.fill_poll_s,
        backoff=FAST.backoff,
        reconnect=FAST.reconnect,
        connect_timeout_s=FAST.connect_timeout_s,
        stream_silence_s=0.3,
    )
    venue, rec = await open_venue(live_sandbox, options)
    try:
        await place(venue, rec, bid("s-1"))
        async with rest_client(live_sandbox) as other:
            await other.fapiPrivateDeleteListenKey()
        await _fill_during_silence(venue, rec, live_sandbox, feed)

        assert ("PUT", "/fapi/v1/listenKey") in live_sandbox.requests
        assert live_sandbox.listen_key
    finally:
        await close_venue(venue)


async def test_a_deaf_stream_is_caught_by_the_fill_reconcile_and_renewed(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    options = LiveOptions(
        fill_poll_s=FAST.fill_poll_s,
        backoff=FAST.backoff,
        reconnect=FAST.reconnect,
        connect_timeout_s=FAST.connect_timeout_s,
        fill_reconcile_s=0.3,
    )
    venue, rec = await open_venue(live_sandbox, options)
    try:
        await place(venue, rec, bid("m-1", price_ticks=BID_TICKS - 100))
        await place(venue, rec, bid("m-2"))
        key = live_sandbox.listen_key
        # Fills within a second of the stream's connection are not held against it (they may
        # belong to the gap before it).
        await asyncio.sleep(1.1)
        # The socket stays open and the key alive, but nothing more comes: only REST can tell.
        live_sandbox.streams.mute_user_streams()
        feed.trade(BID_TICKS - 1, 600, Side.SELL)
        live_sandbox.advance()
        await rec.until(lambda: len(fills(rec)) == 1)
        assert venue.stream_up  # found by the reconcile; the stream is not yet known deaf
        await rec.until(lambda: _down_then_up(rec))
        await asyncio.sleep(0.2)

        assert len(fills(rec)) == 1
        assert live_sandbox.listen_key == key  # still alive: POST gave it back
        # The new socket hears: the next fill comes and no reconcile finds the stream deaf.
        renewals = rec.connections.count((False, "account"))
        await place(venue, rec, bid("m-3"))
        feed.trade(BID_TICKS - 1, 600, Side.SELL)
        live_sandbox.advance()
        await rec.until(lambda: len(fills(rec)) == 2)
        await asyncio.sleep(1.0)
        assert rec.connections.count((False, "account")) == renewals
    finally:
        await close_venue(venue)


async def test_coinm_expiry_renews_its_stream_and_its_keys_are_redacted_from_our_logs(
    feed: ManualFeed, caplog: pytest.LogCaptureFixture
) -> None:
    # COIN-M's user stream is /ws/<listenKey>: the key sits bare in the URL, where no
    # ``listenKey=`` pattern can find it; each key ccxt holds is redacted literally.
    server = coinm_sandbox(feed)
    server.listen_key_ttl_s = 1.0
    async with server:
        venue, rec = await open_venue(server, symbol="BTCUSD_PERP", exchange="binancecoinm")
        try:
            keys = [server.listen_key]
            await place(venue, rec, bid("c-1", lots=10))
            server.faults.delay_next(1.0, 1, "POST /dapi/v1/listenKey")
            server.listen_key_ttl_s = 3600.0
            await _fill_during_silence(venue, rec, server, feed)
            keys.append(server.listen_key)
            # What a ccxt error about the socket would quote: its URL.
            urls = sorted(venue._client.clients)
            logging.getLogger("tradetui.venues.live").warning("user stream at %s", urls)
        finally:
            await close_venue(venue)

    assert keys[1] not in ("", keys[0])
    assert any(keys[1] in url for url in urls)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "user stream at" in logged
    assert "<redacted>" in logged
    for key in keys:
        assert key not in logged


async def test_sandbox_refuses_a_listen_key_lifetime_that_is_not_positive() -> None:
    proc = await start("--listen-key-ttl-s", "0")
    _, err = await asyncio.wait_for(proc.communicate(), 30)

    assert proc.returncode == 2
    assert err.decode().strip().splitlines() == [
        "error: --listen-key-ttl-s 0: must be more than 0 seconds, e.g. 5"
    ]
