"""The live Binance feed against the loopback sandbox: in sync, resyncs, reconnects, faults."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import ASK_TICKS, BID_TICKS, KEY, SECRET, ManualFeed
from tradetui.core.book import OrderBook
from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent, Side, Trade
from tradetui.market.feed import ReplayFeed
from tradetui.market.instruments import infer_instrument
from tradetui.market.synthetic import SyntheticMarket
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.binance_stream import (
    BinanceStreamFeed,
    FeedState,
    FeedStatus,
    ReconnectPolicy,
    feed_hosts,
    stream_url,
    usdm_category,
)
from tradetui.venues.sim_listing import sim_instrument

INST = btcusdt_perpetual()
USDM_FILE = Path(__file__).parents[2] / "../shared/data/binance-usdm/btcusdt_20240808.gz"
WAIT_S = 10.0
# Levels compared per side: well inside the 1000 of the REST snapshot.
TOP = 200


class Probe:
    """A running feed and everything it told: events, statuses, issues."""

    def __init__(
        self, server: SandboxExchange, market: ManualFeed | None = None, **options: object
    ) -> None:
        self.server = server
        self.market = market
        self.events: list[MarketEvent] = []
        self.statuses: list[FeedStatus] = []
        self.issues: list[str] = []
        self.raw: list[tuple[int, bytes, int]] = []  # with the number of events sunk by then
        self.received_book = OrderBook()  # rebuilt by the test from the sink's events alone
        options.setdefault("stale_s", 0.0)
        self.feed = BinanceStreamFeed(
            server.instrument,
            ws_url=f"ws://127.0.0.1:{server.port}",
            rest_url=server.rest_url,
            on_status=self.statuses.append,
            on_issue=self.issues.append,
            on_raw=lambda ns, body: self.raw.append((ns, body, len(self.events))),
            seed=1,
            **options,  # type: ignore[arg-type]
        )
        self.task: asyncio.Task[None] | None = None

    def sink(self, ev: MarketEvent) -> None:
        self.events.append(ev)
        if type(ev) is BookSnapshot:
            self.received_book.apply_snapshot(ev.bids, ev.asks)
        elif type(ev) is BookDelta:
            self.received_book.apply_delta(ev)

    def start(self) -> None:
        self.task = asyncio.create_task(self.feed.run(self.sink))

    async def until(self, cond: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.005)

    async def live(self, connects: int = 1) -> None:
        """Wait until LIVE on connection ``connects``; on a still market, diffs are pushed so
        the snapshot gets the straddling diff that proves it."""

        def is_live() -> bool:
            feed = self.feed
            if feed.state is FeedState.LIVE and feed.stats.connects >= connects:
                return True
            if self.market is not None and feed.state is FeedState.SYNCING:
                self.market.delta(bids=((BID_TICKS - 20, 7),))
                self.server.advance()
            return False

        await self.until(is_live, f"LIVE on connection {connects}")

    async def in_sync(self) -> None:
        """Wait until the feed has applied everything the sandbox published."""

        def caught_up() -> bool:
            book = self.feed.book
            return (
                self.feed.state is FeedState.LIVE
                and book is not None
                and book.last_id == self.server.account.update_id
            )

        await self.until(caught_up, "the feed's book to reach the sandbox's update id")

    def assert_books_equal(self) -> None:
        theirs = self.server.account.depth
        book = self.feed.book
        assert book is not None
        for side in (Side.BUY, Side.SELL):
            assert book.book.levels(side, TOP) == theirs.levels(side, TOP)
            assert self.received_book.levels(side, TOP) == theirs.levels(side, TOP)

    def states(self) -> list[FeedState]:
        return [s.state for s in self.statuses]

    async def close(self) -> None:
        await asyncio.wait_for(self.feed.close(), WAIT_S)
        assert self.task is not None
        await asyncio.wait_for(self.task, WAIT_S)


@pytest.fixture
async def manual() -> AsyncIterator[tuple[SandboxExchange, ManualFeed]]:
    market = ManualFeed()
    server = SandboxExchange(INST, market, api_key=KEY, api_secret=SECRET)
    async with server:
        yield server, market


async def live_probe(manual: tuple[SandboxExchange, ManualFeed], **options: object) -> Probe:
    """A feed on the manual market, started and LIVE."""
    server, market = manual
    probe = Probe(server, market, **options)
    probe.start()
    await probe.live()
    return probe


def synthetic_server(inst: Instrument = INST) -> SandboxExchange:
    events = SyntheticMarket(inst, seed=5, start_ns=time.time_ns()).events()
    return SandboxExchange(inst, events, api_key=KEY, api_secret=SECRET)


async def push(server: SandboxExchange, market: ManualFeed, n: int) -> None:
    """Publish ``n`` depth changes near the touch plus a bookTicker and a trade."""
    for i in range(n):
        market.delta(bids=((BID_TICKS - 2 - i % 3, 100 + i),), asks=((ASK_TICKS + 3, 50 + i),))
    market.bbo((BID_TICKS, 500), (ASK_TICKS, 400))
    market.trade(ASK_TICKS, 3, Side.BUY)
    server.advance()
    await asyncio.sleep(0)


# ---- in sync ---------------------------------------------------------------------------------


async def test_feed_book_stays_the_sandbox_book_on_a_synthetic_market() -> None:
    async with synthetic_server() as server:
        probe = Probe(server)
        probe.start()
        for _ in range(3):
            await asyncio.sleep(0.3)
            await probe.in_sync()
            probe.assert_books_equal()
        await probe.close()
    kinds = {type(e) for e in probe.events}
    assert kinds == {BookSnapshot, BookDelta, BestBidOffer, Trade}
    assert probe.feed.stats.issues == 0
    assert probe.states()[:3] == [FeedState.CONNECTING, FeedState.SYNCING, FeedState.LIVE]
    assert probe.states()[-1] is FeedState.CLOSED


@pytest.mark.skipif(not USDM_FILE.is_file(), reason="../shared/data is not checked out beside us")
async def test_feed_book_stays_the_sandbox_book_on_a_replay_of_recorded_data() -> None:
    feed = ReplayFeed([USDM_FILE], INST, time.time_ns())
    async with SandboxExchange(INST, feed, api_key=KEY, api_secret=SECRET) as server:
        probe = Probe(server)
        # The file's snapshot comes after some early lines: wait until the sandbox has a book.
        await probe.until(lambda: server.account.update_id > 0, "the replayed snapshot")
        probe.start()
        for _ in range(3):
            await asyncio.sleep(0.2)
            await probe.in_sync()
            probe.assert_books_equal()
        await probe.close()
    assert probe.feed.stats.gaps == 0


async def test_events_carry_exchange_time_and_receive_time(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    server, market = manual
    probe = await live_probe(manual)
    before = time.time_ns()
    await push(server, market, 1)
    await probe.until(lambda: any(type(e) is Trade for e in probe.events), "the trade")
    await probe.close()
    trade = next(e for e in probe.events if type(e) is Trade)
    assert trade.local_ns >= before
    assert trade.exch_ns // 1_000_000 == trade.exch_ns / 1_000_000  # whole ms, from ``E``
    assert abs(trade.local_ns - trade.exch_ns) < 1_000_000_000


# ---- sequence faults -------------------------------------------------------------------------


async def test_gap_sends_an_empty_snapshot_then_resyncs(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    server, market = manual
    probe = await live_probe(manual)
    await push(server, market, 2)
    await probe.in_sync()
    server.streams.faults.gap = 1
    await push(server, market, 3)
    await probe.until(lambda: probe.feed.stats.gaps == 1, "the gap")
    await push(server, market, 1)
    await probe.in_sync()
    probe.assert_books_equal()
    await probe.close()

    snaps = [e for e in probe.events if type(e) is BookSnapshot]
    assert [bool(s.bids) for s in snaps] == [True, False, True, False]  # last: closed
    syncing = [s.detail for s in probe.statuses if s.state is FeedState.SYNCING]
    assert any("sequence gap" in d and "resyncing" in d for d in syncing)
    assert probe.feed.stats.snapshots == 2


async def test_duplicated_diff_is_skipped_and_the_book_stays_live(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    server, market = manual
    probe = await live_probe(manual)
    server.streams.faults.duplicate = 1
    await push(server, market, 3)
    await probe.in_sync()
    probe.assert_books_equal()
    await probe.close()
    assert probe.feed.stats.gaps == 0
    assert any("older than the book" in i for i in probe.issues)
    assert FeedState.SYNCING not in probe.states()[3:-1]


async def test_reordered_diffs_resync_to_a_verified_book(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    server, market = manual
    probe = await live_probe(manual)
    server.streams.faults.reorder = 1
    await push(server, market, 3)
    await probe.until(lambda: probe.feed.stats.gaps == 1, "the gap")
    await push(server, market, 1)
    await probe.in_sync()
    probe.assert_books_equal()
    await probe.close()


async def test_garbage_and_unknown_messages_are_reported_not_fatal(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    server, market = manual
    probe = await live_probe(manual)
    server.streams.inject("this is not json")
    server.streams.inject('{"stream":"btcusdt@markPrice","data":{"e":"markPriceUpdate"}}')
    server.streams.inject('{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate"}}')
    server.streams.inject('{"result":null,"id":1}')
    await push(server, market, 2)
    await probe.in_sync()
    probe.assert_books_equal()
    await probe.close()
    assert len(probe.issues) == 4
    assert sum("unreadable message skipped" in i for i in probe.issues) == 3
    assert any("unexpected stream 'btcusdt@markPrice'" in i for i in probe.issues)
    assert probe.feed.stats.gaps == 0


async def test_snapshot_errors_are_retried_until_the_book_syncs(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    server, market = manual
    server.faults.fail_next(503, 2)
    probe = Probe(server, market, reconnect=ReconnectPolicy(initial_s=0.01))
    probe.start()
    await probe.live()
    await probe.close()
    failed = [s.detail for s in probe.statuses if "snapshot failed" in s.detail]
    assert len(failed) == 2
    assert "HTTP 503" in failed[0]
    assert probe.feed.stats.snapshots == 1


# ---- connection faults -----------------------------------------------------------------------


async def test_dropped_connection_reconnects_with_a_verified_book(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    server, market = manual
    probe = await live_probe(manual, reconnect=ReconnectPolicy(initial_s=0.01))
    await push(server, market, 2)
    await probe.in_sync()
    await server.drop_websockets()
    await probe.until(lambda: FeedState.DISCONNECTED in probe.states(), "the disconnect")
    await push(server, market, 2)  # missed by the feed: the new snapshot must carry it
    await probe.live(connects=2)
    await push(server, market, 1)
    await probe.in_sync()
    probe.assert_books_equal()
    await probe.close()

    snaps = [e for e in probe.events if type(e) is BookSnapshot]
    assert [bool(s.bids) for s in snaps] == [True, False, True, False]
    dropped = next(s for s in probe.statuses if s.state is FeedState.DISCONNECTED)
    assert "websocket closed 1001" in dropped.detail


async def test_stale_stream_is_dropped_and_reconnected() -> None:
    async with synthetic_server() as server:
        probe = Probe(server, None, stale_s=0.2, reconnect=ReconnectPolicy(initial_s=0.01))
        probe.start()
        await probe.live()
        server.streams.faults.stalled = True
        await probe.until(lambda: FeedState.DISCONNECTED in probe.states(), "the stale drop")
        server.streams.faults.stalled = False
        await probe.live(connects=2)
        await probe.in_sync()
        probe.assert_books_equal()
        await probe.close()
    dropped = next(s for s in probe.statuses if s.state is FeedState.DISCONNECTED)
    assert "no message for 0.2 s" in dropped.detail


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def delays(statuses: list[FeedStatus]) -> list[float]:
    out = []
    for s in statuses:
        m = re.search(r"reconnecting in ([0-9.]+) s", s.detail)
        if m:
            out.append(float(m.group(1)))
    return out


async def test_reconnects_back_off_exponentially_and_reset_after_a_healthy_connection() -> None:
    port = free_port()
    market = ManualFeed()
    server = SandboxExchange(INST, market, api_key=KEY, api_secret=SECRET, port=port)
    policy = ReconnectPolicy(initial_s=0.01, factor=2, max_s=0.04, jitter=0, healthy_s=0.05)
    probe = Probe(server, market, reconnect=policy)
    probe.start()  # nothing listens yet: every connect fails
    await probe.until(lambda: len(delays(probe.statuses)) >= 4, "four failed connects")
    assert delays(probe.statuses)[:4] == [0.01, 0.02, 0.04, 0.04]
    async with server:
        await probe.live()
        await asyncio.sleep(0.1)  # healthy for longer than healthy_s
        n = len(delays(probe.statuses))
        await server.drop_websockets()
        await probe.until(lambda: len(delays(probe.statuses)) > n, "the reconnect delay")
        assert delays(probe.statuses)[n] == 0.01
        await probe.live(connects=2)
        await probe.close()
    assert all("connect failed" in s.detail for s in probe.statuses[1:8:2])


def test_reconnect_delays_are_capped_and_jittered_within_their_step() -> None:
    policy = ReconnectPolicy(initial_s=0.5, factor=2, max_s=4, jitter=0.5)
    rng = random.Random(3)
    for attempt, step in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 4.0), (500, 4.0)]:
        got = [policy.delay_s(attempt, rng) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in got)
        assert max(got) - min(got) > step / 4  # actually random


def test_bad_policies_and_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="initial_s"):
        ReconnectPolicy(initial_s=0)
    with pytest.raises(ValueError, match="ws or wss"):
        BinanceStreamFeed(INST, ws_url="http://x", rest_url="http://x")
    with pytest.raises(ValueError, match="depth_limit"):
        BinanceStreamFeed(INST, ws_url="ws://x", rest_url="http://x", depth_limit=1)


def test_combined_stream_url_names_depth_book_ticker_and_trade_on_the_public_base() -> None:
    feed = BinanceStreamFeed(INST, ws_url="wss://fstream.binance.com/", rest_url="https://fapi.x")
    assert feed.url == (
        "wss://fstream.binance.com/public/stream?streams=btcusdt@depth@0ms/btcusdt@bookTicker/"
        "btcusdt@trade"
    )
    assert feed.snapshot_url == "https://fapi.x/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    assert stream_url("ws://h:1", ["a@x", "b@y"]) == "ws://h:1/stream?streams=a@x/b@y"


def test_stream_url_routes_by_category_and_legacy_keeps_the_single_base(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert usdm_category("btcusdt@depth5@100ms") == usdm_category("btcusdt@bookTicker") == "public"
    assert usdm_category("btcusdt@trade") == "public"
    assert usdm_category("btcusdt@aggTrade") == usdm_category("btcusdt@kline_1m") == "market"
    market = stream_url("ws://h", ["btcusdt@aggTrade", "btcusdt@markPrice"], routed=True)
    assert market == "ws://h/market/stream?streams=btcusdt@aggTrade/btcusdt@markPrice"
    with pytest.raises(ValueError, match="/public and /market"):
        stream_url("ws://h", ["btcusdt@depth", "btcusdt@markPrice"], routed=True)
    legacy = BinanceStreamFeed(INST, ws_url="ws://h", rest_url="http://h", ws_routing="legacy")
    assert legacy.url.startswith("ws://h/stream?streams=btcusdt@depth@0ms/")
    assert "retired" in caplog.text
    assert "'split'" in caplog.text
    with pytest.raises(ValueError, match="ws_routing"):
        BinanceStreamFeed(INST, ws_url="ws://h", rest_url="http://h", ws_routing="public")
    # COIN-M and spot have one base each (no routed paths): the same URL either way.
    coinm = sim_instrument("BTCUSD_PERP", "binancecoinm")
    assert coinm is not None
    feed = BinanceStreamFeed(coinm, ws_url="ws://h", rest_url="http://h")
    assert feed.url.startswith("ws://h/stream?streams=btcusd_perp@depth@0ms/")


# ---- close -----------------------------------------------------------------------------------


async def test_close_is_prompt_while_waiting_to_reconnect() -> None:
    port = free_port()
    server = SandboxExchange(INST, ManualFeed(), api_key=KEY, api_secret=SECRET, port=port)
    probe = Probe(server, reconnect=ReconnectPolicy(initial_s=60, max_s=60))
    probe.start()
    await probe.until(lambda: FeedState.DISCONNECTED in probe.states(), "a failed connect")
    await probe.close()  # the 60 s backoff must not hold it
    assert probe.feed.state is FeedState.CLOSED


async def test_close_is_prompt_while_live_and_run_returns(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    server, _ = manual
    probe = await live_probe(manual)
    await probe.close()
    assert probe.task is not None
    assert probe.task.done()
    assert probe.feed.state is FeedState.CLOSED
    await probe.until(lambda: server.streams.connection_count == 0, "the server to see it close")


async def test_every_message_reaches_on_raw_after_its_events(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    server, market = manual
    probe = await live_probe(manual)
    await push(server, market, 1)
    await probe.until(lambda: any(b'"trade"' in r[1] for r in probe.raw), "the trade message")
    await probe.close()
    stats = probe.feed.stats
    assert len(probe.raw) == stats.messages + stats.snapshots
    assert sum(r[1].startswith(b'{"lastUpdateId"') for r in probe.raw) == stats.snapshots == 1
    _, _, sunk = next(r for r in probe.raw if b'"trade"' in r[1])
    trade_at = next(i for i, e in enumerate(probe.events) if type(e) is Trade)
    assert trade_at < sunk
    assert [r[0] for r in probe.raw] == sorted(r[0] for r in probe.raw)


SPOT_FILE = USDM_FILE.parents[1] / "binance-spot/btcusdt_20240808.gz"


@pytest.mark.skipif(not SPOT_FILE.is_file(), reason="../shared/data is not checked out beside us")
@pytest.mark.usefixtures("simulated_catalogs")
async def test_spot_feed_chains_by_first_id_and_stays_the_sandbox_book() -> None:
    inst = infer_instrument([SPOT_FILE]).instrument
    feed = ReplayFeed([SPOT_FILE], inst, time.time_ns())
    async with SandboxExchange(inst, feed, api_key=KEY, api_secret=SECRET) as server:
        probe = Probe(server)
        await probe.until(lambda: server.account.update_id > 0, "the replayed snapshot")
        probe.start()
        assert probe.feed.snapshot_url.endswith("/api/v3/depth?symbol=BTCUSDT&limit=1000")
        assert probe.feed.names[0] == "btcusdt@depth@100ms"
        for _ in range(2):
            await asyncio.sleep(0.3)
            await probe.in_sync()
            probe.assert_books_equal()
        await probe.close()
    book = probe.feed.book
    assert book is not None
    assert book.spot
    assert probe.feed.stats.gaps == 0
    assert sum(type(e) is BookDelta for e in probe.events) > 2


async def test_coinm_feed_syncs_from_the_dapi_snapshot_and_stays_the_sandbox_book() -> None:
    inst = sim_instrument("BTCUSD_PERP", "binancecoinm")
    assert inst is not None
    async with synthetic_server(inst) as server:
        probe = Probe(server)
        probe.start()
        assert probe.feed.snapshot_url.endswith("/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000")
        assert probe.feed.names[0] == "btcusd_perp@depth@0ms"
        for _ in range(2):
            await asyncio.sleep(0.3)
            await probe.in_sync()
            probe.assert_books_equal()
        await probe.close()
    assert probe.feed.stats.issues == 0
    # COIN-M's messages name the pair, as the recorded COIN-M capture's do.
    diff = next(json.loads(r[1]) for r in probe.raw if b"depthUpdate" in r[1])
    snapshot = next(json.loads(r[1]) for r in probe.raw if r[1].startswith(b'{"lastUpdateId"'))
    assert (diff["data"]["s"], diff["data"]["ps"]) == ("BTCUSD_PERP", "BTCUSD")
    assert (snapshot["symbol"], snapshot["pair"]) == ("BTCUSD_PERP", "BTCUSD")


def test_feed_hosts_are_binance_usdm_and_coinm_only() -> None:
    assert feed_hosts("binancecoinm") == ("wss://dstream.binance.com", "https://dapi.binance.com")
    assert feed_hosts("binanceusdm") == ("wss://fstream.binance.com", "https://fapi.binance.com")
    assert feed_hosts("okx") is None


class LoopbackProxy:
    """A tiny HTTP proxy: CONNECT tunnels (websockets) and absolute-URI requests (aiohttp)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, version = head.split(b"\r\n", 1)[0].decode().split(" ")
        self.requests.append(f"{method} {target}")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_r, up_w = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = urlsplit(target)
            up_r, up_w = await asyncio.open_connection(url.hostname, url.port)
            rest = head.split(b"\r\n", 1)[1]
            path = url.path + (f"?{url.query}" if url.query else "")
            up_w.write(f"{method} {path} {version}\r\n".encode() + rest)
        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer), return_exceptions=True)


async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    finally:
        dst.close()


async def test_websocket_and_snapshot_go_through_the_configured_proxy(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    proxy = LoopbackProxy()
    async with proxy as proxy_url:
        probe = await live_probe(manual, proxy=proxy_url)
        await probe.close()
    port = manual[0].port
    assert f"CONNECT 127.0.0.1:{port}" in proxy.requests
    assert any(r.startswith(f"GET http://127.0.0.1:{port}/fapi/v1/depth") for r in proxy.requests)


@pytest.mark.parametrize("on", [BookSnapshot, BestBidOffer])
async def test_a_sink_that_raises_ends_run_with_its_exception(
    manual: tuple[SandboxExchange, ManualFeed], on: type
) -> None:
    server, market = manual
    feed = BinanceStreamFeed(
        INST, ws_url=f"ws://127.0.0.1:{server.port}", rest_url=server.rest_url, stale_s=0
    )

    def sink(ev: MarketEvent) -> None:
        if type(ev) is on:
            raise RuntimeError("sink broke")

    task = asyncio.create_task(feed.run(sink))
    await asyncio.sleep(0.2)
    market.bbo((BID_TICKS, 500), (ASK_TICKS, 400))
    server.advance()
    with pytest.raises(RuntimeError, match="sink broke"):
        await asyncio.wait_for(task, WAIT_S)
    assert feed.state is FeedState.CLOSED


class BareWebsocketServer:
    """A websocket server that pings the client once and never answers the client's pings
    (nor sends data): the heartbeat's two duties, seen from the server."""

    def __init__(self) -> None:
        self.pong_payloads: list[bytes] = []
        self.client_pings = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        key = re.search(r"(?i)sec-websocket-key: *(\S+)", head)
        assert key is not None
        magic = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        accept = base64.b64encode(hashlib.sha1(key.group(1).encode() + magic).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        writer.write(b"\x89\x04beat")  # a server ping, as Binance sends every few minutes
        try:
            while True:
                b0, b1 = await reader.readexactly(2)
                size = b1 & 0x7F
                if size == 126:
                    size = int.from_bytes(await reader.readexactly(2))
                mask = await reader.readexactly(4)
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(await reader.readexactly(size)))
                if b0 & 0x0F == 0xA:
                    self.pong_payloads.append(data)
                elif b0 & 0x0F == 0x9:
                    self.client_pings += 1  # never answered
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def test_heartbeat_answers_server_pings_and_drops_a_peer_that_never_pongs(
    manual: tuple[SandboxExchange, ManualFeed],
) -> None:
    server, _ = manual
    statuses: list[FeedStatus] = []
    bare = BareWebsocketServer()
    async with bare as ws_url:
        feed = BinanceStreamFeed(
            INST,
            ws_url=ws_url,
            rest_url=server.rest_url,
            on_status=statuses.append,
            ping_interval_s=0.05,
            ping_timeout_s=0.1,
            stale_s=0,
            reconnect=ReconnectPolicy(initial_s=5),
        )
        task = asyncio.create_task(feed.run(lambda _ev: None))
        deadline = time.monotonic() + WAIT_S
        while not any(s.state is FeedState.DISCONNECTED for s in statuses):
            assert time.monotonic() < deadline, "the feed never dropped the silent peer"
            await asyncio.sleep(0.01)
        await feed.close()
        await task
    assert bare.pong_payloads[:1] == [b"beat"]
    assert bare.client_pings >= 1
    dropped = next(s for s in statuses if s.state is FeedState.DISCONNECTED)
    assert "1011" in dropped.detail
