"""Answers that leave an order's outcome unknown, against the engine trading live on the
sandbox: Binance's 5xx bodies (-1000/-1001/-1006/-1007) and answers lost after the request
was carried out. The order is unknown until the exchange, asked by client id, settles it; at
the end the engine holds the exchange's position, SQLite holds each of the exchange's fills
once, nothing is left working and the session never halted.

Rows of the fault table in docs/live.md.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.sandbox.conftest import ManualFeed
from tests.sandbox.live_harness import Live, live_settings, running_live
from tests.sandbox.test_live_faults import quoting, resize
from tradetui.config import Settings
from tradetui.core.types import Side
from tradetui.engine.engine import CommandKind
from tradetui.engine.events import EngineState, OrderStatus, OrderUpdate, StateChanged
from tradetui.sandbox.exchange import SandboxExchange

PLACE = "POST /fapi/v1/order"
CANCEL = "DELETE /fapi/v1/order"


def settings(sandbox: SandboxExchange) -> Settings:
    # A short recvWindow bounds how long an order not found stays unknown; quotes stay put
    # (no age requotes) so only the test's requote and fills move them.
    return live_settings(sandbox, venue={"recv_window_ms": 500}, quoting={"max_age_s": 600.0})


def updates(live: Live, cid: str) -> list[OrderStatus]:
    return [u.status for u in live.of(OrderUpdate) if u.client_id == cid]


def unknown_ids(live: Live) -> list[str]:
    return [u.client_id for u in live.of(OrderUpdate) if u.status is OrderStatus.UNKNOWN]


async def fill(live: Live, feed: ManualFeed, sandbox: SandboxExchange, cid: str) -> None:
    """Trade through our order ``cid`` at the sandbox and wait for the engine to hold the
    position it made."""
    order = next(o for o in sandbox.account.open_orders if o.client_id == cid)
    price = live.engine.orders[cid].price_ticks
    if order.side is Side.BUY:
        feed.trade(price - 1, 5_000, Side.SELL)
    else:
        feed.trade(price + 1, 5_000, Side.BUY)
    sandbox.advance()
    await live.until(lambda: live.engine.ledger.position_lots != 0)
    await live.until(lambda: cid not in live.engine.orders)


async def stop(live: Live) -> None:
    await live.command(CommandKind.STOP, reason="test")
    await live.until(lambda: live.engine.state is EngineState.STOPPED)


def assert_settled(live: Live, sandbox: SandboxExchange) -> None:
    """The engine agrees with the exchange and never halted; nothing is left working."""
    assert live.engine.ledger.position_lots == sandbox.account.ledger.position_lots
    assert live.engine.fills == len(sandbox.account.trades)
    assert sandbox.account.open_orders == []
    assert not live.engine.orders
    assert EngineState.HALTED not in {e.state for e in live.of(StateChanged)}


def assert_stored_once(db: Path, sandbox: SandboxExchange) -> None:
    stored = sqlite3.connect(db).execute("SELECT trade_id FROM fills").fetchall()
    assert sorted(int(t) for (t,) in stored) == sorted(t.trade_id for t in sandbox.account.trades)


@pytest.mark.parametrize(
    ("status", "code"), [(503, -1001), (500, -1000), (503, -1006), (504, -1007)]
)
async def test_a_5xx_on_a_placement_that_was_carried_out_rests_then_fills_once(
    live_sandbox: SandboxExchange, feed: ManualFeed, tmp_path: Path, status: int, code: int
) -> None:
    db = tmp_path / "live.sqlite"
    async with running_live(live_sandbox, feed, settings(live_sandbox), db) as live:
        await quoting(live)
        live_sandbox.faults.lose_next(status, 1, only=PLACE, code=code)
        await resize(live)
        [cid] = unknown_ids(live)
        # Asked by client id, the exchange has it: accepted, one order per id, then it fills.
        assert updates(live, cid)[:3] == [
            OrderStatus.SENT,
            OrderStatus.UNKNOWN,
            OrderStatus.ACCEPTED,
        ]
        await fill(live, feed, live_sandbox, cid)
        await stop(live)

        assert_settled(live, live_sandbox)
        assert len(live_sandbox.account.trades) >= 1
    assert_stored_once(db, live_sandbox)


async def test_a_5xx_on_a_placement_that_was_not_carried_out_is_rejected_after_asking(
    live_sandbox: SandboxExchange, feed: ManualFeed, tmp_path: Path
) -> None:
    db = tmp_path / "live.sqlite"
    async with running_live(live_sandbox, feed, settings(live_sandbox), db) as live:
        await quoting(live)
        live_sandbox.faults.fail_next(503, 1, code=-1001, only=PLACE)
        await resize(live)
        [cid] = unknown_ids(live)
        placed = [o.client_id for o in live_sandbox.account.orders.values()]

        assert updates(live, cid) == [
            OrderStatus.SENT,
            OrderStatus.UNKNOWN,
            OrderStatus.REJECTED,
        ]
        assert cid not in placed
        # Asked at once, then again once recvWindow had passed: never resent.
        assert live_sandbox.requests.count(("GET", "/fapi/v1/order")) >= 2
        await stop(live)

        assert_settled(live, live_sandbox)
    assert_stored_once(db, live_sandbox)


async def test_a_lost_answer_to_a_placement_that_was_carried_out_rests_then_fills_once(
    live_sandbox: SandboxExchange, feed: ManualFeed, tmp_path: Path
) -> None:
    db = tmp_path / "live.sqlite"
    async with running_live(live_sandbox, feed, settings(live_sandbox), db) as live:
        await quoting(live)
        live_sandbox.faults.lose_next(0, 1, only=PLACE)  # connection closed, no answer
        await resize(live)
        [cid] = unknown_ids(live)

        assert OrderStatus.ACCEPTED in updates(live, cid)
        await fill(live, feed, live_sandbox, cid)
        await stop(live)

        assert_settled(live, live_sandbox)
    assert_stored_once(db, live_sandbox)


@pytest.mark.parametrize("carried_out", [True, False])
async def test_a_cancel_with_an_unknown_outcome_keeps_the_order_live_until_the_exchange_says(
    live_sandbox: SandboxExchange, feed: ManualFeed, tmp_path: Path, carried_out: bool
) -> None:
    db = tmp_path / "live.sqlite"
    async with running_live(live_sandbox, feed, settings(live_sandbox), db) as live:
        await quoting(live)
        old = set(live.engine.orders)
        asked = live_sandbox.requests.count(("GET", "/fapi/v1/order"))
        if carried_out:
            live_sandbox.faults.lose_next(503, 1, only=CANCEL, code=-1006)
        else:
            live_sandbox.faults.fail_next(503, 1, code=-1001, only=CANCEL)
        await resize(live)
        await live.until(lambda: not old & set(live.engine.orders))
        await live.until(lambda: live_sandbox.requests.count(("GET", "/fapi/v1/order")) > asked)

        # Carried out, the exchange's own cancel report may end the order before the lost
        # answer is noticed; not carried out, only the answer to the query ends it.
        unknown = unknown_ids(live)
        assert len(unknown) == 1 if not carried_out else len(unknown) <= 1
        for cid in unknown:
            assert updates(live, cid)[-2:] == [OrderStatus.UNKNOWN, OrderStatus.CANCELLED]
        assert all(updates(live, cid)[-1] is OrderStatus.CANCELLED for cid in old)
        await stop(live)

        assert_settled(live, live_sandbox)
    assert_stored_once(db, live_sandbox)


async def test_a_cancel_whose_answer_is_lost_after_its_order_filled_books_the_fill_once(
    live_sandbox: SandboxExchange, feed: ManualFeed, tmp_path: Path
) -> None:
    db = tmp_path / "live.sqlite"
    async with running_live(live_sandbox, feed, settings(live_sandbox), db) as live:
        await quoting(live)
        # The fill report is held back on the user stream, so the stop's cancel meets a
        # filled order, and every cancel's answer is lost: the venue asks about each order.
        live_sandbox.streams.faults.user_reorder = 1
        live_sandbox.faults.lose_next(0, -1, only=CANCEL)
        bid = live.quotes()[int(Side.BUY)]
        feed.trade(bid - 1, 5_000, Side.SELL)
        live_sandbox.advance()
        asked = live_sandbox.requests.count(("GET", "/fapi/v1/order"))
        await stop(live)
        # The stream may end both orders first; the venue still asks about each.
        await live.until(
            lambda: live_sandbox.requests.count(("GET", "/fapi/v1/order")) >= asked + 2
        )
        live_sandbox.faults.clear()

        assert_settled(live, live_sandbox)
    assert_stored_once(db, live_sandbox)


async def test_an_unknown_placement_is_asked_about_until_the_exchange_answers(
    live_sandbox: SandboxExchange, feed: ManualFeed, tmp_path: Path
) -> None:
    db = tmp_path / "live.sqlite"
    async with running_live(live_sandbox, feed, settings(live_sandbox), db) as live:
        await quoting(live)
        # The answer is lost and the next queries fail too (more than one read's retries).
        live_sandbox.faults.lose_next(503, 1, only=PLACE)
        live_sandbox.faults.fail_next(503, 6, code=-1001, only="GET /fapi/v1/order")
        await resize(live)
        [cid] = unknown_ids(live)

        assert live_sandbox.requests.count(("GET", "/fapi/v1/order")) >= 7
        assert OrderStatus.ACCEPTED in updates(live, cid)
        await fill(live, feed, live_sandbox, cid)
        await stop(live)

        assert_settled(live, live_sandbox)
    assert_stored_once(db, live_sandbox)
