"""What a person reads about an inverse position (short 1 BTCUSD_PERP at 61,827.4): the
Telegram answers, the fill digest and the console panes name contracts, BTC and USD."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.coinm import coinm
from tests.engine.test_engine import Harness
from tests.telegram.test_notifier import FakeClock, Outbox
from tradetui.alerts import views
from tradetui.alerts.notifier import Notifier, NotifierConfig
from tradetui.core.types import Fill, PlaceOrder, Side
from tradetui.engine.events import FillRecorded
from tradetui.engine.snapshot import EngineSnapshot, take_snapshot
from tradetui.tui.widgets.pnl import PnlPane
from tradetui.tui.widgets.position import PositionPane
from tradetui.tui.widgets.quotes import QuotesPane

INST = coinm("BTCUSD_PERP")


@pytest.fixture
def short_one() -> tuple[Harness, FillRecorded]:
    """Engine short one contract, sold at 61,827.4 with a 0.00000016 BTC fee; mid 61,700.05."""
    h = Harness(instrument=INST)
    got: list[FillRecorded] = []
    h.bus.subscribe(lambda ev: got.append(ev) if isinstance(ev, FillRecorded) else None)
    h.start()
    h.ack_all()
    ask: PlaceOrder = next(p for p in h.venue.places() if p.side is Side.SELL)
    h.engine.on_event(
        Fill(
            exch_ns=h.now(),
            local_ns=h.now(),
            client_id=ask.client_id,
            trade_id="1",
            side=Side.SELL,
            price_ticks=618_274,
            qty_lots=1,
            leaves_lots=0,
            fee=0.00000016,
            is_maker=True,
        )
    )
    return h, got[-1]


@pytest.fixture
def snap(short_one: tuple[Harness, FillRecorded]) -> EngineSnapshot:
    return take_snapshot(short_one[0].engine, 5)


def test_telegram_position_names_contracts_and_btc(snap: EngineSnapshot) -> None:
    # Short 1 at 61,827.4 marked at 61,700.05 gains 100 × (1/61700.05 − 1/61827.4) BTC.
    unrealized = 100 * (1 / 61_700.05 - 1 / 61_827.4)
    assert views.position_text(snap).splitlines()[:2] == [
        "position -1 contracts",
        f"entry 61,827.40, mark 61,700.05, unrealized {unrealized:+,.8f} BTC",
    ]
    assert "position -1 contracts (" in views.status_text(snap, "paper")
    assert f"PnL {snap.pnl.total:+,.8f} BTC" in views.heartbeat_text(snap)


def test_telegram_pnl_is_in_btc_and_usd_at_the_mark(snap: EngineSnapshot) -> None:
    lines = views.pnl_text(snap).splitlines()
    total = snap.pnl.total
    usd = total * Decimal("61700.05")
    assert lines[0] == f"PnL total {total:+,.8f} BTC ({usd:+,.2f} USD at 61,700.05)"
    assert lines[3] == "fees paid 0.00000016 BTC, rebates received 0.00000000 BTC"
    assert lines[4].startswith("volume 100.00 USD, ")
    assert lines[5] == "markout none yet"
    assert " contracts @ " in views.orders_text(snap)


def test_fill_digest_counts_contracts_usd_face_and_btc_fees(
    short_one: tuple[Harness, FillRecorded],
) -> None:
    clock = FakeClock()
    n = Notifier(Outbox(), NotifierConfig(chats=[1]), INST, heartbeat_text=lambda: "", clock=clock)
    n.on_event(short_one[1])
    n.flush_digest()
    assert n.queue[0].details == (
        "1 fills (0 buy, 1 sell), 1 contracts = 100.00 USD, fees paid 0.00000016 BTC\n"
        f"position -1 contracts, PnL {short_one[1].pnl.total:+,.8f} BTC"
    )


def test_console_panes_name_the_coin_and_contracts(snap: EngineSnapshot) -> None:
    pane = PnlPane()
    pnl = pane.render_snapshot(snap).plain.splitlines()
    assert pane.border_title == "PnL (BTC)"
    assert pnl[2] == "fees paid     0.00000016  rebates 0.00000000"
    assert pnl[3] == f"total        {snap.pnl.total:+,.8f} BTC"
    assert pnl[4].startswith("volume            100.00 USD  cost/10k ")
    capture, inventory = snap.pnl.spread_capture, snap.pnl.inventory_pnl
    assert pnl[6] == f"capture      {capture:+,.8f}  inv {inventory:+,.8f}"
    position = PositionPane().render_snapshot(snap).plain.splitlines()
    assert position[0] == "size                  -1 contracts"
    assert position[3].endswith(" BTC")
    quotes = QuotesPane()
    quotes.render_snapshot(snap)
    assert quotes.border_title == "Quotes (sizes in contracts)"
