"""LiveVenue with the user stream: the real ccxt.pro client against the sandbox exchange."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from tests.sandbox.conftest import BID_TICKS, KEY, SECRET, SYMBOL, ManualFeed
from tradetui.core.types import (
    AccountEvent,
    CancelOrder,
    CancelRejected,
    Fill,
    OrderAccepted,
    OrderRejected,
    PlaceOrder,
    RejectCode,
    Side,
)
from tradetui.sandbox.client import loopback_pro_client
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.binance_stream import ReconnectPolicy
from tradetui.venues.errors import SetupError
from tradetui.venues.live import LiveOptions, LiveVenue

E = TypeVar("E")
WAIT_S = 5.0
FAST = LiveOptions(
    fill_poll_s=0.05,
    backoff=ReconnectPolicy(0.01, max_s=0.05),
    reconnect=ReconnectPolicy(0.02, max_s=0.1),
    connect_timeout_s=5.0,
)


class Recorder:
    """Account events and connection changes as the venue delivers them."""

    def __init__(self) -> None:
        self.events: list[AccountEvent] = []
        self.connections: list[tuple[bool, str]] = []
        self.halts: list[str] = []

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def until(self, check: Callable[[], bool]) -> None:
        async def poll() -> None:
            while not check():
                await asyncio.sleep(0.005)

        await asyncio.wait_for(poll(), WAIT_S)


async def open_venue(
    sandbox: SandboxExchange,
    options: LiveOptions = FAST,
    symbol: str = "BTCUSDT",
    **client_options: Any,
) -> tuple[LiveVenue, Recorder]:
    client = loopback_pro_client(sandbox.rest_url, KEY, SECRET, **client_options)
    client.timeout = 1_000
    venue = LiveVenue(client, symbol, options=options, secrets=(KEY, SECRET))
    rec = Recorder()
    venue.on_event = rec.events.append
    venue.on_connection = lambda up, stream, detail: rec.connections.append((up, stream))
    venue.on_halt = rec.halts.append
    try:
        await venue.connect()
    except BaseException:
        await venue.close()
        await client.close()
        raise
    return venue, rec


async def close_venue(venue: LiveVenue) -> None:
    """Close ``venue`` and the ccxt client ``open_venue`` made for it."""
    client = venue._client
    await venue.close()
    await client.close()


@pytest.fixture
async def opened(live_sandbox: SandboxExchange) -> AsyncIterator[tuple[LiveVenue, Recorder]]:
    venue, rec = await open_venue(live_sandbox)
    try:
        yield venue, rec
    finally:
        await close_venue(venue)


def bid(cid: str, price_ticks: int = BID_TICKS, lots: int = 10) -> PlaceOrder:
    return PlaceOrder(client_id=cid, side=Side.BUY, price_ticks=price_ticks, qty_lots=lots)


async def place(venue: LiveVenue, rec: Recorder, intent: PlaceOrder) -> None:
    venue.submit(intent)
    await rec.until(
        lambda: any(getattr(e, "client_id", "") == intent.client_id for e in rec.events)
    )


def fills(rec: Recorder) -> list[Fill]:
    return [e for e in rec.events if isinstance(e, Fill)]


async def test_connect_reads_the_instrument_syncs_the_clock_and_configures_the_account(
    live_sandbox: SandboxExchange,
) -> None:
    options = LiveOptions(leverage=5, margin_mode="isolated", connect_timeout_s=5.0)
    venue, _ = await open_venue(live_sandbox, options)
    try:
        inst = venue.instrument
        assert (inst.symbol, inst.tick_size, inst.lot_size) == (
            "BTCUSDT",
            Decimal("0.1"),
            Decimal("0.001"),
        )
        assert (inst.min_qty, inst.min_notional) == (Decimal("0.001"), Decimal("100"))
        assert venue.symbol == SYMBOL
        assert ("GET", "/fapi/v1/time") in live_sandbox.requests
        assert live_sandbox.account.leverage == 5
        assert live_sandbox.account.margin_type == "ISOLATED"
        assert venue.equity_margin == pytest.approx(10_000.0)
        assert venue.stream_up
    finally:
        await close_venue(venue)


async def test_unknown_symbol_is_refused_with_the_symbol_named(
    live_sandbox: SandboxExchange,
) -> None:
    client = loopback_pro_client(live_sandbox.rest_url, KEY, SECRET)
    venue = LiveVenue(client, "SOLUSDT", options=FAST)
    try:
        with pytest.raises(SetupError, match="no market 'SOLUSDT'"):
            await venue.connect()
    finally:
        await venue.close()
        await client.close()


async def test_exchange_without_a_user_stream_is_refused_naming_what_is_missing(
    live_sandbox: SandboxExchange,
) -> None:
    client = loopback_pro_client(live_sandbox.rest_url, KEY, SECRET)
    client.has = {**client.has, "watchOrders": False, "fetchPositions": False}
    venue = LiveVenue(client, "BTCUSDT", options=FAST)
    try:
        with pytest.raises(SetupError, match=r"lacks .*watchOrders .*fetchPositions"):
            await venue.connect()
    finally:
        await venue.close()
        await client.close()


async def test_fill_arrives_by_the_user_stream_without_polling(
    opened: tuple[LiveVenue, Recorder], live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    venue, rec = opened
    await place(venue, rec, bid("f-1"))
    feed.trade(BID_TICKS - 1, 600, Side.SELL)
    live_sandbox.advance()

    await rec.until(lambda: len(fills(rec)) == 1)
    fill = fills(rec)[0]
    assert (fill.client_id, fill.price_ticks, fill.qty_lots, fill.leaves_lots) == (
        "f-1",
        BID_TICKS,
        10,
        0,
    )
    assert fill.is_maker
    assert fill.fee == pytest.approx(600.0 * 0.0002)
    assert ("GET", "/fapi/v1/userTrades") not in live_sandbox.requests


async def test_duplicated_user_stream_messages_give_one_fill(
    opened: tuple[LiveVenue, Recorder], live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    venue, rec = opened
    await place(venue, rec, bid("d-1"))
    live_sandbox.streams.faults.user_duplicate = 5
    feed.trade(BID_TICKS - 1, 600, Side.SELL)
    live_sandbox.advance()
    await rec.until(lambda: len(fills(rec)) >= 1)
    await asyncio.sleep(0.1)

    assert [f.trade_id for f in fills(rec)] == [str(live_sandbox.account.trades[0].trade_id)]


async def test_partial_fills_out_of_order_still_add_up(
    opened: tuple[LiveVenue, Recorder], live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    venue, rec = opened
    # Nothing rests at this price, so the first print fills 4 lots of ours, the next the rest.
    await place(venue, rec, bid("o-1", price_ticks=BID_TICKS - 5, lots=10))
    live_sandbox.streams.faults.user_reorder = 1
    feed.trade(BID_TICKS - 5, 4, Side.SELL)
    live_sandbox.advance()
    feed.trade(BID_TICKS - 6, 900, Side.SELL)
    live_sandbox.advance()
    await rec.until(lambda: sum(f.qty_lots for f in fills(rec)) == 10)

    assert sorted(f.leaves_lots for f in fills(rec)) in ([0, 4], [0, 6])
    assert not venue.working


async def test_dropped_user_stream_reconnects_and_fetches_the_fills_it_missed(
    opened: tuple[LiveVenue, Recorder], live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    venue, rec = opened
    await place(venue, rec, bid("r-1"))
    await live_sandbox.drop_websockets(private_only=True)
    await rec.until(lambda: (False, "account") in rec.connections)
    # Filled while the stream is down: only REST can tell.
    feed.trade(BID_TICKS - 1, 600, Side.SELL)
    live_sandbox.advance()
    await rec.until(lambda: (True, "account") in rec.connections and len(fills(rec)) == 1)
    await asyncio.sleep(0.1)

    assert len(fills(rec)) == 1
    assert rec.connections[-1] == (True, "account")
    assert venue.stream_up


async def test_listen_key_is_kept_alive(live_sandbox: SandboxExchange) -> None:
    venue, _ = await open_venue(live_sandbox, FAST, listenKeyRefreshRate=100)
    try:
        await asyncio.sleep(0.35)
        assert ("PUT", "/fapi/v1/listenKey") in live_sandbox.requests
    finally:
        client = venue._client
        await venue.close()
        await client.close()


async def test_ip_ban_asks_for_a_halt_and_stops_sending(
    opened: tuple[LiveVenue, Recorder], live_sandbox: SandboxExchange
) -> None:
    venue, rec = opened
    live_sandbox.faults.fail_next(418)
    await place(venue, rec, bid("b-1", price_ticks=BID_TICKS - 100))
    sent = live_sandbox.requests.count(("POST", "/fapi/v1/order"))
    await place(venue, rec, bid("b-2", price_ticks=BID_TICKS - 100))

    assert rec.halts
    assert "418" in rec.halts[0]
    rejected = rec.of(OrderRejected)
    assert [r.code for r in rejected] == [RejectCode.RATE_LIMITED] * 2
    assert live_sandbox.requests.count(("POST", "/fapi/v1/order")) == sent
    assert venue.banned


async def test_rate_limit_pauses_placements_for_the_retry_after(
    opened: tuple[LiveVenue, Recorder], live_sandbox: SandboxExchange
) -> None:
    venue, rec = opened
    live_sandbox.faults.fail_next(429)
    await place(venue, rec, bid("l-1", price_ticks=BID_TICKS - 100))
    sent = live_sandbox.requests.count(("POST", "/fapi/v1/order"))
    await place(venue, rec, bid("l-2", price_ticks=BID_TICKS - 100))

    assert live_sandbox.requests.count(("POST", "/fapi/v1/order")) == sent
    second = rec.of(OrderRejected)[-1]
    assert second.code is RejectCode.RATE_LIMITED
    assert "cooling down" in second.reason
    assert rec.halts == []


async def test_cancel_of_a_filled_order_is_unknown_and_the_fill_still_counts(
    opened: tuple[LiveVenue, Recorder], live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    venue, rec = opened
    await place(venue, rec, bid("c-1"))
    feed.trade(BID_TICKS - 1, 600, Side.SELL)
    live_sandbox.advance()
    venue.submit(CancelOrder(client_id="c-1"))
    await rec.until(lambda: bool(rec.of(CancelRejected)) and len(fills(rec)) == 1)

    refused = rec.of(CancelRejected)[0]
    assert isinstance(refused, CancelRejected)
    assert refused.code is RejectCode.UNKNOWN_ORDER


async def test_cancel_all_ours_leaves_foreign_orders(
    opened: tuple[LiveVenue, Recorder], live_sandbox: SandboxExchange
) -> None:
    venue, rec = opened
    await place(venue, rec, bid("tt1-1", price_ticks=BID_TICKS - 100))
    await place(venue, rec, bid("manual-1", price_ticks=BID_TICKS - 100))

    assert await venue.cancel_all_ours("tt") == 1
    assert [o.client_id for o in live_sandbox.account.open_orders] == ["manual-1"]
    assert isinstance(rec.events[0], OrderAccepted)
