"""The sandbox serving many symbols: a listing ccxt parses, and every symbol's public streams
at rates falling down the list, as Binance publishes them."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from tests.sandbox.conftest import KEY, SECRET, rest_client, still_market
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent, Side, Trade
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.sandbox.universe import Universe, UniverseSpec, universe_entries
from tradetui.venues.binance_stream import BinanceStreamFeed, FeedState
from tradetui.venues.catalog import catalog_from_markets
from tradetui.venues.sim_listing import listed_instrument, listing_entries

BTC = listed_instrument("BTCUSDT")


async def test_exchange_info_lists_every_symbol_with_filters_ccxt_reads() -> None:
    server = SandboxExchange(
        BTC, still_market(), api_key=KEY, api_secret=SECRET, universe=UniverseSpec(230)
    )
    async with server, rest_client(server) as client:
        markets = await client.load_markets()
        catalog = catalog_from_markets("binanceusdm", markets, client.precisionMode, "sandbox")
    assert len(markets) == 230
    assert catalog.skipped == {}
    assert len(catalog.instruments) == 230
    for inst in catalog.instruments.values():
        tick_bps = float(inst.tick_size) / float(inst.max_price or 1) * 1e4
        assert tick_bps < 10
        assert inst.min_notional in (5, 20, 100)  # synthetic ones 5 USDT, as Binance's alts
    # Orders on a symbol other than the traded one are refused, as before.
    assert server.universe.symbols[0] in server.listing


def test_listing_is_repeatable_and_grows_only_the_synthetic_part() -> None:
    listed = listing_entries("binanceusdm")
    a = universe_entries(listed, UniverseSpec(50, seed=3), inverse=False)
    b = universe_entries(listed, UniverseSpec(50, seed=3), inverse=False)
    assert [e["symbol"] for e in a] == [e["symbol"] for e in b]
    assert len(a) == 50 - len(listed)
    assert universe_entries(listed, UniverseSpec(0), inverse=False) == []
    names = [e["symbol"] for e in a]
    assert len(set(names)) == len(names)
    assert not set(names) & {e["symbol"] for e in listed}


class _Recorder:
    """A hub stand-in that records what the universe sends."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = frozenset(wanted)
        self.sent: list[tuple[str, tuple[str, ...], str]] = []

    def send(self, text: str, names: tuple[str, ...], category: str) -> None:
        self.sent.append((text, tuple(names), category))


def _universe(wanted: set[str], n: int = 40, **spec: float) -> tuple[Universe, _Recorder]:
    entries = listing_entries("binanceusdm")
    entries = entries + universe_entries(entries, UniverseSpec(n), inverse=False)
    hub = _Recorder(wanted)
    u = Universe(BTC, entries, UniverseSpec(n, **spec), hub, 0)  # type: ignore[arg-type]
    return u, hub


def test_rates_fall_down_the_list_and_only_wanted_streams_are_built() -> None:
    u0, _ = _universe(set())
    first, last = u0.symbols[0].lower(), u0.symbols[-1].lower()
    u, hub = _universe({f"{first}@bookTicker", f"{last}@bookTicker", f"{first}@aggTrade"})
    for step in range(1, 601):  # 60 s in 100 ms steps
        u.advance(step * 100_000_000, 0)
    by_name: dict[str, int] = {}
    for _, names, _ in hub.sent:
        by_name[names[0]] = by_name.get(names[0], 0) + 1
    # Rank 2 runs at 190/2 = 95 updates/s, rank 40 at 190/40 = 4.75/s.
    assert 85 * 60 < by_name[f"{first}@bookTicker"] < 105 * 60
    assert 3.5 * 60 < by_name[f"{last}@bookTicker"] < 6 * 60
    assert set(by_name) == {f"{first}@bookTicker", f"{last}@bookTicker", f"{first}@aggTrade"}
    categories = {names[0]: cat for _, names, cat in hub.sent}
    assert categories[f"{first}@aggTrade"] == "market"
    assert categories[f"{first}@bookTicker"] == "public"


def test_all_market_streams_push_on_binance_periods() -> None:
    u, hub = _universe({"!bookTicker", "!ticker@arr"}, n=10)
    for step in range(1, 101):  # 10 s
        u.advance(step * 100_000_000, 0)
    all_bbo = [t for t, names, _ in hub.sent if names == ("!bookTicker",)]
    tickers = [t for t, names, _ in hub.sent if names == ("!ticker@arr",)]
    assert len(tickers) == 10  # every 1000 ms
    # Every 5 s, each symbol whose touch changed: two pushes of the 9 untraded symbols.
    assert len(all_bbo) == 2 * 9
    arr = json.loads(tickers[-1])
    assert {t["e"] for t in arr} == {"24hrTicker"}
    assert all(float(t["q"]) > 0 and t["n"] > 0 for t in arr)


async def test_a_connection_over_the_request_rate_is_closed() -> None:
    server = SandboxExchange(BTC, still_market(), api_key=KEY, api_secret=SECRET)
    async with server, aiohttp.ClientSession() as http:
        url = f"ws://127.0.0.1:{server.port}/public/stream"
        async with http.ws_connect(url) as ws:
            for i in range(11):  # Binance USD-M allows 10 a second
                await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            answers = 0
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                msg = await ws.receive(timeout=5)
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                answers += 1
            assert ws.closed
            assert ws.close_code == 1008
        assert answers <= 10  # answers still queued may be lost with the connection
        async with http.ws_connect(url) as ws:  # paced requests are fine
            for i in range(3):
                await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
                assert json.loads((await ws.receive(timeout=5)).data)["id"] == i
                await asyncio.sleep(0.05)


def test_the_traded_symbol_gets_aggtrades_and_a_24h_ticker() -> None:
    u, hub = _universe({"btcusdt@aggTrade", "!ticker@arr"}, n=2)
    sell = Trade(
        exch_ns=200_000_000,
        local_ns=200_000_000,
        trade_id=77,
        price_ticks=617_001,
        qty_lots=250,
        aggressor=Side.SELL,
    )
    u.on_traded([sell], 0)
    u.advance(1_100_000_000, 0)
    agg = [json.loads(t) for t, names, _ in hub.sent if names == ("btcusdt@aggTrade",)]
    assert agg == [
        {
            "e": "aggTrade",
            "E": 200,
            "s": "BTCUSDT",
            "a": 1,
            "p": "61700.1",
            "q": "0.250",
            "f": 77,
            "l": 77,
            "T": 200,
            "m": True,
        }
    ]
    tickers = [json.loads(t) for t, names, _ in hub.sent if names == ("!ticker@arr",)]
    btc = next(t for t in tickers[0] if t["s"] == "BTCUSDT")
    assert btc["c"] == "61700.1"
    assert btc["Q"] == "0.250"


async def test_a_synthetic_symbols_book_syncs_from_its_snapshot_and_diff_stream() -> None:
    """Every listed symbol has a book: the feed syncs ETHUSDT's (a light model's touch) from
    the REST snapshot and the @depth diffs as it does the traded symbol's, and keeps it."""
    eth = listed_instrument("ETHUSDT")
    assert eth is not None
    server = SandboxExchange(BTC, still_market(), api_key=KEY, api_secret=SECRET)
    events: list[MarketEvent] = []
    async with server:
        feed = BinanceStreamFeed(
            eth,
            ws_url=server.rest_url.replace("http://", "ws://"),
            rest_url=server.rest_url,
            stale_s=0.0,
        )
        task = asyncio.create_task(feed.run(events.append))
        try:

            async def synced_and_moved() -> None:
                while feed.state is not FeedState.LIVE:
                    await asyncio.sleep(0.02)
                at = len(events)
                while sum(type(e) is BookDelta for e in events[at:]) < 20:
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(synced_and_moved(), 10.0)
            book = feed.book
            assert book is not None
            assert feed.state is FeedState.LIVE  # no gap in 20 diffs and more
            assert feed.stats.gaps == 0
            top = server.universe.book("ETHUSDT")
        finally:
            await feed.close()
            await task
    assert top is not None
    _, bids, asks = top
    assert float(bids[0][0]) < float(asks[0][0])
    snapshot = next(e for e in events if type(e) is BookSnapshot and e.bids)
    assert len(snapshot.bids) == len(snapshot.asks) == 1  # the touch, one level a side
    assert any(type(e) is BestBidOffer for e in events)
    assert any(type(e) is Trade for e in events)


def test_coinm_symbols_messages_name_their_pair() -> None:
    # COIN-M's bookTicker and depth diffs carry "ps" (the contract's pair), USD-M's do not.
    traded = listed_instrument("BTCUSD_PERP", "binancecoinm")
    hub = _Recorder({"ethusd_perp@bookTicker", "ethusd_perp@depth@0ms"})
    u = Universe(traded, listing_entries("binancecoinm"), UniverseSpec(2), hub, 0)  # type: ignore[arg-type]
    for step in range(1, 51):  # 5 s
        u.advance(step * 100_000_000, 0)
    kinds = {json.loads(text)["e"]: json.loads(text) for text, _, _ in hub.sent}
    assert set(kinds) == {"bookTicker", "depthUpdate"}
    assert all(m["s"] == "ETHUSD_PERP" and m["ps"] == "ETHUSD" for m in kinds.values())
    usdm, usdm_hub = _universe({f"{s.lower()}@bookTicker" for s in _universe(set())[0].symbols})
    usdm.advance(1_000_000_000, 0)
    assert usdm_hub.sent
    assert all("ps" not in json.loads(t) for t, _, _ in usdm_hub.sent)
