"""Paper trading on the live market (market.source live): the sandbox's public websocket feed
and REST snapshot, read by the real ccxt client and BinanceStreamFeed without keys, move the
simulated exchange's book; our orders and fills stay in the simulation."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.conftest import ASK_TICKS, BID_TICKS, KEY, SECRET, ManualFeed
from tests.sandbox.live_harness import WAIT_S, keep_market_moving
from tradetui.config import Settings, settings_from_mapping
from tradetui.core.types import PlaceOrder, Side
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import VenueConnection
from tradetui.engine.summary import format_summary
from tradetui.host import EngineHost
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.session import PaperSession, open_live_paper_session
from tradetui.venues.binance_stream import BinanceStreamFeed
from tradetui.venues.catalog import load_catalog
from tradetui.venues.errors import SetupError, VenueUnavailableError
from tradetui.venues.sim_listing import sim_instrument


def paper_live_settings(url: str, source: str = "live:usdm:BTCUSDT") -> Settings:
    """Paper on the live market at ``url`` (no keys), quoting fast and close."""
    return settings_from_mapping(
        {
            "venue": {
                "rest_url": url,
                "ws_url": url.replace("http://", "ws://"),
                "rate_limit": False,
                "request_timeout_ms": 2000,
            },
            "market": {"source": source},
            # Quotes close to the touch (no fee floor), both sides on spot too (a short allowed).
            "strategy": {"decision_interval_ms": 20.0, "min_spread_ticks": 2, "fee_floor": False},
            "sim": {"spot_short": True},
            "quoting": {"min_age_ms": 0.0},
            "feed": {"reconnect_initial_s": 0.02, "reconnect_max_s": 0.2, "stale_s": 0.0},
            "risk": {"stale_market_s": 0.0},
        },
        {},
    )


@pytest.fixture(autouse=True)
def _own_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The markets a session reads are cached: here, not in the test session's shared cache."""
    monkeypatch.setenv("TRADETUI_CATALOG_DIR", str(tmp_path / "markets"))


async def until(check: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout_s)


@contextlib.asynccontextmanager
async def running_paper(
    sandbox: SandboxExchange, feed: ManualFeed, source: str = "live:usdm:BTCUSDT"
) -> AsyncIterator[tuple[PaperSession, list[Any], EngineHost]]:
    """The paper session on the sandbox's live market, quoting, until the block ends; yields
    it, the bus events it published and its host."""
    mover = asyncio.create_task(keep_market_moving(feed, sandbox))
    session = await open_live_paper_session(paper_live_settings(sandbox.rest_url, source))
    events: list[Any] = []
    session.bus.subscribe(events.append)
    host = EngineHost(session, 1.0)
    host.send(Command(CommandKind.START, reason="test"))
    stop = asyncio.Event()
    runner = asyncio.create_task(host.run(stop.is_set))
    try:
        yield session, events, host
    finally:
        stop.set()
        await asyncio.wait_for(runner, WAIT_S)
        mover.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mover
        await session.close()


async def test_paper_quotes_and_fills_on_the_live_book_with_no_order_at_the_exchange(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with running_paper(live_sandbox, feed) as (session, _, host):
        engine, venue = session.engine, session.venue
        await until(lambda: venue.open_order_count == 2)
        bid = max(o.price_ticks for o in engine.orders.values() if o.side is Side.BUY)
        # The book is the exchange's (the sandbox's still book), and we quote on it.
        assert (engine.book.bid_ticks, engine.book.ask_ticks) == (BID_TICKS, ASK_TICKS)
        assert bid <= BID_TICKS
        # A public sell sweeping through our bid: the queue model fills us in the sim.
        feed.trade(bid, 100_000, Side.SELL)
        live_sandbox.advance()
        await until(lambda: engine.fills > 0)
        summary = host.summary()

    assert (summary["mode"], summary["market_source"]) == ("paper", "live")
    assert summary["market_venue"] == "binanceusdm"
    text = format_summary(summary)
    assert "market            paper, BTCUSDT on the live market of binanceusdm" in text
    assert session.venue.fills > 0
    assert engine.ledger.position_lots > 0  # bought
    # Paper: the exchange never saw an order of ours.
    assert live_sandbox.account.orders == {}
    assert live_sandbox.account.trades == []
    # The markets read without keys refreshed the catalog cache, as a live session's do.
    cached = load_catalog("binanceusdm")
    assert cached is not None
    assert cached.get("BTCUSDT") is not None


@pytest.mark.parametrize(
    ("source", "exchange", "symbol"),
    [
        ("live:coinm:BTCUSD_PERP", "binancecoinm", "BTCUSD_PERP"),
        ("live:spot:BTCUSDT", "binance", "BTCUSDT"),
    ],
)
async def test_coinm_and_spot_markets_feed_the_paper_session_too(
    feed: ManualFeed, source: str, exchange: str, symbol: str
) -> None:
    inst = sim_instrument(symbol, exchange)
    assert inst is not None
    async with (
        SandboxExchange(inst, feed, api_key=KEY, api_secret=SECRET) as sandbox,
        running_paper(sandbox, feed, source) as (session, _, _),
    ):
        engine = session.engine
        await until(lambda: session.venue.open_order_count == 2)
        assert (engine.book.bid_ticks, engine.book.ask_ticks) == (BID_TICKS, ASK_TICKS)
        bid = max(o.price_ticks for o in engine.orders.values() if o.side is Side.BUY)
        feed.trade(bid, 100_000, Side.SELL)
        sandbox.advance()
        await until(lambda: engine.fills > 0)

    assert engine.instrument.symbol == symbol
    assert engine.instrument.venue == exchange
    assert (sandbox.account.orders, sandbox.account.trades) == ({}, [])


async def test_a_dropped_market_socket_resyncs_the_book(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with running_paper(live_sandbox, feed) as (session, events, _):
        assert session.live is not None
        stream = session.live.feed
        assert isinstance(stream, BinanceStreamFeed)
        await until(lambda: session.engine.book.valid and stream.stats.snapshots == 1)
        await live_sandbox.drop_websockets()
        # The engine hears the book is lost, then a fresh REST snapshot brings it back.
        await until(lambda: stream.stats.snapshots == 2 and session.engine.book.valid)
        await until(lambda: session.venue.open_order_count == 2)

    market = [e.connected for e in events if isinstance(e, VenueConnection)]
    assert market == [False, True]
    assert stream.stats.connects == 2


async def test_an_unreachable_exchange_is_one_line() -> None:
    settings = paper_live_settings("http://127.0.0.1:9")

    with pytest.raises(VenueUnavailableError) as refused:
        await open_live_paper_session(settings)

    text = str(refused.value)
    assert "\n" not in text
    assert text.startswith("market.source: binanceusdm's markets could not be read")


async def test_a_symbol_the_exchange_does_not_list_is_refused(
    live_sandbox: SandboxExchange,
) -> None:
    settings = paper_live_settings(live_sandbox.rest_url, "live:usdm:NOPEUSDT")

    with pytest.raises(SetupError, match=r"^market\.source: binanceusdm has no market 'NOPEUSDT'"):
        await open_live_paper_session(settings)


async def test_the_simulated_exchange_draws_its_latencies_from_the_session_seed(
    live_sandbox: SandboxExchange,
) -> None:
    """A backtest of the session's recording seeds its venue with the stored seed; the session's
    venue must draw the same lognormal latencies (it once drew from seed 0 whatever the seed)."""
    settings = paper_live_settings(live_sandbox.rest_url)
    settings = settings.replace("sim", order_latency="lognormal").replace("market", seed=7)
    session = await open_live_paper_session(settings)
    try:
        now = session.clock.now_ns()
        session.venue.submit(PlaceOrder(client_id="b1", side=Side.BUY, price_ticks=1, qty_lots=1))
        sim = settings.sim
        draw = random.Random(7).gauss(0.0, sim.order_latency_sigma)
        expected = now + int(int(sim.entry_latency_ms * 1e6) * math.exp(draw))
        assert session.venue.next_request_ns == expected
    finally:
        await session.close()
