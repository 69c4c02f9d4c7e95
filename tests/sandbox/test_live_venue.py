"""LiveVenue (REST) end to end: the real ccxt client against the sandbox exchange."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import ASK_TICKS, BID_TICKS, KEY, SECRET, SYMBOL, ManualFeed
from tradetui.core.types import (
    AccountEvent,
    AccountSnapshot,
    CancelOrder,
    CancelRejected,
    Fill,
    OpenOrderInfo,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    OrderUnknown,
    PlaceOrder,
    RejectCode,
    RequestAccount,
    Side,
)
from tradetui.sandbox.client import loopback_client
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.base import Venue
from tradetui.venues.live import LiveOptions, LiveVenue

WAIT_S = 10.0


@pytest.fixture(params=[True, False], ids=["native-orders", "unified-orders"])
async def venue(
    live_sandbox: SandboxExchange, request: pytest.FixtureRequest
) -> AsyncIterator[LiveVenue]:
    # recvWindow leaves 1.1 s of slack over the 0.4 s delays below, so a loaded machine
    # cannot turn a late-but-valid order into an expired one.
    client = loopback_client(live_sandbox.rest_url, KEY, SECRET, recvWindow=1500)
    client.timeout = 250
    await client.load_markets()
    live = LiveVenue(
        client,
        SYMBOL,
        options=LiveOptions(fill_poll_s=0.0, user_stream=False, native_orders=request.param),
        secrets=(KEY, SECRET),
        instrument=btcusdt_perpetual(),
    )
    try:
        yield live
    finally:
        await live.close()
        await client.close()


async def outcome(venue: LiveVenue) -> AccountEvent:
    """The next account event (waits for the running intents)."""
    await asyncio.wait_for(venue.idle(), WAIT_S)
    ev = venue.pop()
    assert ev is not None
    return ev


def bid(client_id: str, price_ticks: int = BID_TICKS - 100, lots: int = 10) -> PlaceOrder:
    return PlaceOrder(client_id=client_id, side=Side.BUY, price_ticks=price_ticks, qty_lots=lots)


async def test_live_venue_is_a_venue(venue: LiveVenue) -> None:
    as_venue: Venue = venue

    assert as_venue.name == "live:binanceusdm"
    assert as_venue.instrument.symbol == "BTCUSDT"


async def test_post_only_order_is_accepted_and_listed_in_the_account(venue: LiveVenue) -> None:
    venue.submit(bid("q-1"))
    accepted = await outcome(venue)
    venue.submit(RequestAccount())
    snapshot = await outcome(venue)

    assert isinstance(accepted, OrderAccepted)
    assert accepted.client_id == "q-1"
    assert isinstance(snapshot, AccountSnapshot)
    assert snapshot.position_lots == 0
    assert snapshot.open_orders == (
        OpenOrderInfo(client_id="q-1", side=Side.BUY, price_ticks=BID_TICKS - 100, leaves_lots=10),
    )


async def test_post_only_that_would_cross_is_rejected_as_such(venue: LiveVenue) -> None:
    venue.submit(bid("q-2", price_ticks=ASK_TICKS))

    rejected = await outcome(venue)

    assert isinstance(rejected, OrderRejected)
    assert rejected.code is RejectCode.POST_ONLY_WOULD_CROSS


async def test_below_min_notional_is_rejected_as_such(venue: LiveVenue) -> None:
    venue.submit(bid("q-3", lots=1))

    rejected = await outcome(venue)

    assert isinstance(rejected, OrderRejected)
    assert rejected.code is RejectCode.BELOW_MIN_NOTIONAL


async def test_an_account_read_lets_orders_submitted_after_it_go_out_first(
    venue: LiveVenue,
) -> None:
    client = venue._client
    fetch = client.fetch
    sent: list[tuple[str, str]] = []

    async def record(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        sent.append((method, urlsplit(url).path))
        return await fetch(url, method, headers, body)

    client.fetch = record
    venue.submit(RequestAccount())  # the engine's periodic check, early in a decision
    venue.submit(bid("r-1"))
    await asyncio.wait_for(venue.idle(), WAIT_S)

    assert sent[0] == ("POST", "/fapi/v1/order")
    assert len(sent) > 1


async def test_cancel_confirms_then_a_second_cancel_is_unknown_order(venue: LiveVenue) -> None:
    venue.submit(bid("q-4"))
    await outcome(venue)
    venue.submit(CancelOrder(client_id="q-4"))
    cancelled = await outcome(venue)
    venue.submit(CancelOrder(client_id="q-4"))
    refused = await outcome(venue)

    assert isinstance(cancelled, OrderCancelled)
    assert isinstance(refused, CancelRejected)
    assert refused.code is RejectCode.UNKNOWN_ORDER


async def test_resting_bid_filled_by_a_print_arrives_as_a_maker_fill(
    venue: LiveVenue, live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    venue.submit(bid("q-5", price_ticks=BID_TICKS))
    await outcome(venue)
    feed.trade(BID_TICKS - 1, 600, Side.SELL)
    live_sandbox.advance()

    assert await venue.poll_fills() == 1
    fill = venue.pop()
    assert isinstance(fill, Fill)
    assert (fill.client_id, fill.price_ticks, fill.qty_lots, fill.leaves_lots) == (
        "q-5",
        BID_TICKS,
        10,
        0,
    )
    assert fill.is_maker
    assert fill.fee == pytest.approx(600.0 * 0.0002)
    assert not venue.working


async def test_fill_polling_stays_within_its_budget(
    venue: LiveVenue, live_sandbox: SandboxExchange
) -> None:
    budgeted = LiveVenue(
        venue._client,
        SYMBOL,
        options=LiveOptions(fill_poll_s=60.0, user_stream=False),
        instrument=btcusdt_perpetual(),
    )
    await budgeted.poll_fills()
    idle_polls = live_sandbox.requests.count(("GET", "/fapi/v1/userTrades"))
    budgeted.submit(bid("q-6"))
    await outcome(budgeted)
    await budgeted.poll_fills()
    await budgeted.poll_fills()
    await budgeted.close()

    assert idle_polls == 0
    assert live_sandbox.requests.count(("GET", "/fapi/v1/userTrades")) == 1


async def test_market_order_position_shows_in_the_account(venue: LiveVenue) -> None:
    venue.submit(
        PlaceOrder(
            client_id="m-1",
            side=Side.SELL,
            price_ticks=0,
            qty_lots=20,
            order_type=OrderType.MARKET,
            post_only=False,
        )
    )
    await outcome(venue)
    venue.submit(RequestAccount())

    snapshot = await outcome(venue)

    assert isinstance(snapshot, AccountSnapshot)
    assert snapshot.position_lots == -20


async def test_timed_out_place_that_landed_is_reconciled_not_resent(
    venue: LiveVenue, live_sandbox: SandboxExchange
) -> None:
    live_sandbox.faults.delay_next(0.4)
    venue.submit(bid("t-1"))

    unknown = await outcome(venue)
    accepted = await outcome(venue)

    assert isinstance(unknown, OrderUnknown)
    assert not unknown.cancel
    assert isinstance(accepted, OrderAccepted)
    assert [o.client_id for o in live_sandbox.account.open_orders] == ["t-1"]
    assert live_sandbox.requests.count(("POST", "/fapi/v1/order")) == 1


async def test_timed_out_place_that_arrived_too_late_is_rejected(
    venue: LiveVenue, live_sandbox: SandboxExchange
) -> None:
    live_sandbox.faults.delay_next(2.2)  # arrives after timestamp + recvWindow
    venue.submit(bid("t-2"))

    assert isinstance(await outcome(venue), OrderUnknown)
    rejected = await outcome(venue)

    assert isinstance(rejected, OrderRejected)
    assert "not at the venue" in rejected.reason
    await asyncio.sleep(1.0)
    assert live_sandbox.account.open_orders == []


async def test_keys_and_signatures_stay_out_of_the_venue_log(
    venue: LiveVenue, live_sandbox: SandboxExchange, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    live_sandbox.faults.delay_next(0.4)
    venue.submit(bid("t-3"))
    await outcome(venue)

    assert "outcome unknown" in caplog.text
    assert SECRET not in caplog.text
    assert KEY not in caplog.text
    assert "signature=<redacted>" in caplog.text


async def test_clock_skew_resyncs_time_and_places_the_order_once(
    venue: LiveVenue, live_sandbox: SandboxExchange
) -> None:
    live_sandbox.faults.skew_ms = 30_000
    venue.submit(bid("s-1"))

    accepted = await outcome(venue)

    assert isinstance(accepted, OrderAccepted)
    assert ("GET", "/fapi/v1/time") in live_sandbox.requests
    assert [o.client_id for o in live_sandbox.account.open_orders] == ["s-1"]


async def test_ip_ban_on_place_is_rejected_as_rate_limited(
    venue: LiveVenue, live_sandbox: SandboxExchange
) -> None:
    live_sandbox.faults.fail_next(418)
    venue.submit(bid("b-1"))

    rejected = await outcome(venue)

    assert isinstance(rejected, OrderRejected)
    assert rejected.code is RejectCode.RATE_LIMITED
    assert live_sandbox.account.open_orders == []


async def test_account_read_is_retried_after_a_server_error(
    venue: LiveVenue, live_sandbox: SandboxExchange
) -> None:
    live_sandbox.faults.fail_next(502)
    venue.submit(RequestAccount())

    snapshot = await outcome(venue)

    assert isinstance(snapshot, AccountSnapshot)
    assert snapshot.position_lots == 0
