"""Each exchange fault against the engine trading live on the sandbox, with what it must do.

The fault table in docs/live.md (what the engine does on each fault) is these tests.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import KEY, SECRET, SYMBOL, ManualFeed
from tests.sandbox.live_harness import Live, live_settings, running_live
from tradetui.alerts.notifier import Notifier, NotifierConfig
from tradetui.core.types import RejectCode, Side
from tradetui.engine.engine import CommandKind
from tradetui.engine.events import (
    EngineState,
    OrderStatus,
    OrderUpdate,
    StateChanged,
    VenueConnection,
)
from tradetui.sandbox.client import loopback_client
from tradetui.sandbox.exchange import SandboxExchange


async def quoting(live: Live) -> None:
    """Start and wait for both quotes to rest at the venue."""
    await live.until(lambda: live.engine.book.valid)
    ok, why = await live.command(CommandKind.START, reason="test")
    assert ok, why
    await live.until(lambda: len(live.quotes()) == 2)


async def resize(live: Live, timeout_s: float = 8.0) -> None:
    """Change the quote size to 0.02 (a requote of both sides) and wait until both quotes of
    that size (20 lots) rest at the venue."""
    ok, why = await live.command(
        CommandKind.SET_PARAMS, section="strategy", changes=(("order_size", 0.02),)
    )
    assert ok, why

    def resized() -> bool:
        sizes = sorted(o.qty_lots for o in live.engine.orders.values())
        return sizes == [20, 20] and len(live.quotes()) == 2

    await live.until(resized, timeout_s)


def resting(sandbox: SandboxExchange) -> list[str]:
    return [o.client_id for o in sandbox.account.open_orders]


def placed_ids(sandbox: SandboxExchange) -> list[str]:
    return [o.client_id for o in sandbox.account.orders.values()]


def notifier(live: Live) -> Notifier:
    async def send(chat: int, text: str, silent: bool) -> None:
        return None

    n = Notifier(send, NotifierConfig(chats=[1], mode="LIVE"), btcusdt_perpetual())
    live.session.bus.subscribe(n.on_event)
    return n


async def test_clock_skew_is_synced_at_start_and_resynced_on_minus_1021(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    live_sandbox.faults.skew_ms = 20_000
    async with running_live(live_sandbox, feed, live_settings(live_sandbox)) as live:
        await quoting(live)
        live_sandbox.faults.skew_ms = -20_000  # the exchange clock jumps: signed requests -1021
        await resize(live)

        assert live.engine.state is EngineState.RUNNING
        assert live_sandbox.requests.count(("GET", "/fapi/v1/time")) >= 2
        assert live.engine.orders_rejected == 0


async def test_rate_limit_pauses_quoting_then_it_resumes_without_a_halt(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with running_live(live_sandbox, feed, live_settings(live_sandbox)) as live:
        await quoting(live)
        live_sandbox.faults.fail_next(429, 2)
        await resize(live, timeout_s=5.0)
        assert live.engine.orders_rejected >= 1

        assert live.engine.state is EngineState.RUNNING
        rejected = [u for u in live.of(OrderUpdate) if u.status is OrderStatus.REJECTED]
        assert all(RejectCode.RATE_LIMITED in u.reason for u in rejected)


async def test_ip_ban_halts_alerts_and_stops_every_request(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with running_live(live_sandbox, feed, live_settings(live_sandbox)) as live:
        alerts = notifier(live)
        await quoting(live)
        live_sandbox.faults.fail_next(418, -1)
        # Any request now meets the ban: the next account read does.
        await live.until(lambda: live.engine.state is EngineState.HALTED)
        sent = len(live_sandbox.requests)
        await live.command(CommandKind.STOP, reason="test")
        await asyncio.sleep(0.2)

        halts = [e for e in live.of(StateChanged) if e.state is EngineState.HALTED]
        assert "418" in halts[0].reason
        assert any(a.title == "HALTED" and "418" in a.details for a in alerts.queue)
        # No request reaches the exchange after the ban (order requests are refused here).
        assert not [r for r in list(live_sandbox.requests)[sent:] if r[1] == "/fapi/v1/order"]
        live_sandbox.faults.clear()


async def test_server_errors_are_retried_and_no_order_is_doubled(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    settings = live_settings(live_sandbox, venue={"recv_window_ms": 500})
    async with running_live(live_sandbox, feed, settings) as live:
        await live.until(lambda: live.engine.book.valid)
        live_sandbox.faults.fail_next(503, 3)
        await live.command(CommandKind.START, reason="test")
        await live.until(lambda: len(live.quotes()) == 2)

        assert live.engine.state is EngineState.RUNNING
        ids = placed_ids(live_sandbox)
        assert len(ids) == len(set(ids))


async def test_slow_order_answer_is_reconciled_by_client_id_not_resent(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    settings = live_settings(live_sandbox, venue={"recv_window_ms": 500, "request_timeout_ms": 250})
    async with running_live(live_sandbox, feed, settings) as live:
        await quoting(live)
        before = live_sandbox.requests.count(("POST", "/fapi/v1/order"))
        live_sandbox.faults.delay_next(0.4, 1, only="POST /fapi/v1/order")
        await resize(live)

        ids = placed_ids(live_sandbox)
        assert len(ids) == len(set(ids))
        assert live_sandbox.requests.count(("POST", "/fapi/v1/order")) == before + 2
        assert ("GET", "/fapi/v1/order") in live_sandbox.requests
        assert live.engine.state is EngineState.RUNNING


async def test_dropped_websockets_pull_quotes_reconnect_both_streams_and_requote(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with running_live(live_sandbox, feed, live_settings(live_sandbox)) as live:
        alerts = notifier(live)
        await quoting(live)
        first = set(live.engine.orders)
        await live_sandbox.drop_websockets()
        await live.until(lambda: bool(live.quotes()) and not set(live.engine.orders) & first)
        await live.until(lambda: len(live.quotes()) == 2)
        # The market feed is LIVE again once a diff chains onto the fresh snapshot; this
        # still market sends none by itself.
        feed.delta(bids=((600_000, 5),))

        def back(stream: str) -> bool:
            states = [e.connected for e in live.of(VenueConnection) if e.stream == stream]
            return False in states and states[-1]

        # Quotes may return before the user stream does (fills are polled meanwhile).
        await live.until(lambda: back("market") and back("account"))

        changes = {(e.stream, e.connected) for e in live.of(VenueConnection)}
        assert {
            ("market", False),
            ("market", True),
            ("account", False),
            ("account", True),
        } <= changes
        titles = {a.title for a in alerts.queue}
        assert {"DISCONNECTED market", "RECONNECTED market", "DISCONNECTED account"} <= titles
        assert live.engine.state is EngineState.RUNNING
        assert sorted(resting(live_sandbox)) == sorted(live.engine.orders)


async def test_sequence_gap_pulls_quotes_until_the_book_is_resynced(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with running_live(live_sandbox, feed, live_settings(live_sandbox)) as live:
        await quoting(live)
        live_sandbox.streams.faults.gap = 1
        await live.until(lambda: any("book unknown" in u.reason for u in live.of(OrderUpdate)))
        await live.until(lambda: len(live.quotes()) == 2 and live.engine.book.valid)

        assert live.engine.state is EngineState.RUNNING
        assert (live.engine.bid_ticks, live.engine.ask_ticks) == (
            live_sandbox.account.engine.book.bid_ticks,
            live_sandbox.account.engine.book.ask_ticks,
        )


async def test_duplicated_and_reordered_depth_messages_never_corrupt_the_book(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with running_live(live_sandbox, feed, live_settings(live_sandbox)) as live:
        await quoting(live)
        live_sandbox.streams.faults.duplicate = 3
        live_sandbox.streams.faults.reorder = 1
        feed.delta(bids=((600_000, 777),))
        await asyncio.sleep(0.3)
        await live.until(lambda: live.engine.book.valid and len(live.quotes()) == 2)

        book = live.engine.book
        venue_book = live_sandbox.account.engine.book
        assert (book.bid_ticks, book.ask_ticks) == (venue_book.bid_ticks, venue_book.ask_ticks)
        assert live.engine.state is EngineState.RUNNING


async def test_duplicated_and_reordered_user_stream_messages_count_each_fill_once(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with running_live(live_sandbox, feed, live_settings(live_sandbox)) as live:
        await quoting(live)
        live_sandbox.streams.faults.user_duplicate = 4
        live_sandbox.streams.faults.user_reorder = 1
        bid = live.quotes()[int(Side.BUY)]
        feed.trade(bid - 1, 5_000, Side.SELL)
        live_sandbox.advance()
        await live.until(lambda: live.engine.ledger.position_lots != 0)
        await asyncio.sleep(0.3)

        assert live.engine.ledger.position_lots == live_sandbox.account.ledger.position_lots
        assert live.engine.fills == len(live_sandbox.account.trades)


async def test_margin_rejects_halt_as_a_reject_burst(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    settings = live_settings(live_sandbox, risk={"reject_burst": 4, "reject_window_s": 10.0})
    async with running_live(live_sandbox, feed, settings) as live:
        await live.until(lambda: live.engine.book.valid)
        live_sandbox.faults.reject_next(-2019, -1)
        await live.command(CommandKind.START, reason="test")
        await live.until(lambda: live.engine.state is EngineState.HALTED)

        halts = [e for e in live.of(StateChanged) if e.state is EngineState.HALTED]
        assert "reject" in halts[0].reason
        rejected = [u for u in live.of(OrderUpdate) if u.status is OrderStatus.REJECTED]
        assert all(RejectCode.INSUFFICIENT_MARGIN in u.reason for u in rejected)
        assert resting(live_sandbox) == []
        live_sandbox.faults.clear()


async def test_post_only_rejects_are_normal_and_quoting_goes_on(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    async with running_live(live_sandbox, feed, live_settings(live_sandbox)) as live:
        await live.until(lambda: live.engine.book.valid)
        live_sandbox.faults.reject_next(-5022, 6)
        await live.command(CommandKind.START, reason="test")
        await live.until(lambda: len(live.quotes()) == 2)

        assert live.engine.post_only_rejects == 6
        assert live.engine.state is EngineState.RUNNING


async def test_cancel_of_an_already_filled_order_keeps_the_fill(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    settings = live_settings(live_sandbox, quoting={"max_age_s": 600.0})
    async with running_live(live_sandbox, feed, settings) as live:
        await quoting(live)
        # The user stream holds the fill report back, so the cancel meets a filled order.
        live_sandbox.streams.faults.user_reorder = 1
        bid = live.quotes()[int(Side.BUY)]
        (bid_id,) = [o.client_id for o in live.engine.orders.values() if o.side is Side.BUY]
        feed.trade(bid - 1, 5_000, Side.SELL)
        live_sandbox.advance()
        await live.command(CommandKind.STOP, reason="test")
        await live.until(lambda: live.engine.state is EngineState.STOPPED)

        # The cancel met "unknown order"; the venue asked how much the order filled and
        # delivered that fill before the order's end, so the engine stopped already knowing it.
        assert live.engine.ledger.position_lots != 0
        assert live.engine.ledger.position_lots == live_sandbox.account.ledger.position_lots
        ends = [u.status for u in live.of(OrderUpdate) if u.client_id == bid_id]
        assert ends[-1] is OrderStatus.FILLED
        assert resting(live_sandbox) == []


async def place_directly(sandbox: SandboxExchange, calls: list[tuple[Any, ...]]) -> None:
    """Orders sent by another client (a previous run of ours, or a person)."""
    client = loopback_client(sandbox.rest_url, KEY, SECRET)
    try:
        for args in calls:
            await client.create_order(SYMBOL, *args)
    finally:
        await client.close()


@pytest.mark.parametrize("orders_on_start", ["cancel", "adopt"])
async def test_restart_reconciles_our_orders_leaves_foreign_ones_and_adopts_the_position(
    live_sandbox: SandboxExchange,
    feed: ManualFeed,
    caplog: pytest.LogCaptureFixture,
    orders_on_start: str,
) -> None:
    await place_directly(
        live_sandbox,
        [
            ("market", "buy", 0.02, None, {}),
            ("limit", "buy", 0.01, 59_000.0, {"clientOrderId": "tt0000-1", "postOnly": True}),
            ("limit", "sell", 0.01, 61_000.0, {"clientOrderId": "manual-1"}),
        ],
    )
    entry_ticks = live_sandbox.account.trades[0].price_ticks
    caplog.set_level(logging.INFO)
    settings = live_settings(live_sandbox, engine={"orders_on_start": orders_on_start})
    async with running_live(live_sandbox, feed, settings) as live:
        await quoting(live)

        assert live.engine.ledger.position_lots == 20
        assert live.engine.ledger.avg_entry_ticks == entry_ticks
        assert "manual-1" in resting(live_sandbox)
        assert "manual-1" not in live.engine.orders
        cancelled_on_start = [
            u
            for u in live.of(OrderUpdate)
            if u.client_id == "tt0000-1" and u.reason == "found open on start"
        ]
        assert bool(cancelled_on_start) is (orders_on_start == "cancel")
        assert "not placed by tradetui left alone: manual-1" in caplog.text
        running = [e for e in live.of(StateChanged) if e.state is EngineState.RUNNING]
        assert "adopted a venue position of 0.020 BTC" in running[0].reason
