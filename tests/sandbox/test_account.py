"""SandboxAccount: orders, fills, wallet and the user-stream updates on a scripted market."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.instruments import btcusdt_perpetual
from tradetui.core.types import BookSnapshot, MarketEvent, OrderType, Side, Trade
from tradetui.sandbox.account import ExchangeError, SandboxAccount

MS = 1_000_000


def scripted() -> Iterator[MarketEvent]:
    """A book at 60000.0/60000.1, then at 2 s a 0.3 BTC sell print at 59999.0."""
    yield BookSnapshot(
        exch_ns=1_000 * MS,
        local_ns=1_000 * MS,
        update_id=7,
        bids=((600_000, 100), (599_990, 200)),
        asks=((600_001, 100),),
    )
    yield Trade(
        exch_ns=2_000 * MS,
        local_ns=2_000 * MS,
        trade_id=1,
        price_ticks=599_990,
        qty_lots=300,
        aggressor=Side.SELL,
    )


def account() -> SandboxAccount:
    acct = SandboxAccount(btcusdt_perpetual(), scripted())
    acct.advance(1_500 * MS)
    return acct


def bid(acct: SandboxAccount, price: str, qty: str, client_id: str = "c1") -> None:
    acct.place(
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force="GTX",
        price=Decimal(price),
        qty=Decimal(qty),
        reduce_only=False,
        client_id=client_id,
    )


def test_market_events_apply_only_up_to_the_time_asked() -> None:
    acct = account()

    assert acct.update_id == 7
    assert acct.trades == []
    assert len(acct.advance(2_000 * MS)) == 1


def test_a_print_through_a_resting_bid_fills_it_as_maker() -> None:
    acct = account()
    bid(acct, "60000.0", "0.01")

    acct.advance(3_000 * MS)

    (trade,) = acct.trades
    assert (trade.price_ticks, trade.qty_lots, trade.is_maker) == (600_000, 10, True)
    assert trade.order.status == "FILLED"
    assert acct.open_orders == []
    assert acct.ledger.position_lots == 10


def test_user_stream_updates_follow_new_then_trade() -> None:
    acct = account()
    bid(acct, "60000.0", "0.01")
    acct.advance(3_000 * MS)

    assert [(u.execution, u.status, u.executed_lots) for u in acct.take_updates()] == [
        ("NEW", "NEW", 0),
        ("TRADE", "FILLED", 10),
    ]
    assert acct.take_updates() == []


def test_maker_fee_is_taken_from_the_wallet() -> None:
    acct = account()
    bid(acct, "60000.0", "0.01")
    acct.advance(3_000 * MS)

    assert acct.wallet_settle() == pytest.approx(10_000 - 600.0 * 0.0002)


def test_open_orders_hold_margin_at_their_price_over_the_leverage() -> None:
    acct = account()
    bid(acct, "59000.0", "0.1")

    assert acct.order_margin_settle() == pytest.approx(5900.0 / 20)
    assert acct.available_settle() == pytest.approx(10_000 - 295.0)


def test_cancel_of_a_filled_order_is_unknown_order() -> None:
    acct = account()
    bid(acct, "60000.0", "0.01")
    acct.advance(3_000 * MS)

    with pytest.raises(ExchangeError) as err:
        acct.cancel(None, "c1")
    assert err.value.code == -2011


def test_duplicate_client_id_of_an_open_order_is_refused() -> None:
    acct = account()
    bid(acct, "59000.0", "0.01")

    with pytest.raises(ExchangeError) as err:
        bid(acct, "58000.0", "0.01")
    assert err.value.code == -4116


def test_reduce_only_without_a_position_is_refused() -> None:
    acct = account()

    with pytest.raises(ExchangeError) as err:
        acct.place(
            side=Side.SELL,
            order_type=OrderType.LIMIT,
            time_in_force="GTX",
            price=Decimal("60010.0"),
            qty=Decimal("0.01"),
            reduce_only=True,
            client_id="r1",
        )
    assert err.value.code == -2022
