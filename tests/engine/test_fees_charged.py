"""Fees charged in another asset (BNB) in the engine's PnL and the session summary: valued
ones count at their value, unvalued ones count 0 and are listed so PnL is never silently
wrong."""

from __future__ import annotations

from decimal import Decimal

from tests.engine.test_engine import Harness
from tradetui.core.types import Fill
from tradetui.engine.summary import format_summary, session_summary


def bnb_fill(h: Harness, n: int, charged: str, rate: float) -> Fill:
    p = h.venue.places()[0]
    return Fill(
        exch_ns=h.now(),
        local_ns=h.now(),
        client_id=p.client_id,
        trade_id=f"bnb-{n}",
        side=p.side,
        price_ticks=p.price_ticks,
        qty_lots=1,
        leaves_lots=p.qty_lots - n,
        fee=float(charged) * rate,
        is_maker=True,
        fee_asset="BNB",
        fee_charged=charged,
        fee_rate=rate,
    )


def test_summary_lists_bnb_fees_as_charged_and_those_no_rate_valued() -> None:
    h = Harness()
    h.start()
    h.engine.on_event(bnb_fill(h, 1, "0.00018000", 600.0))
    h.engine.on_event(bnb_fill(h, 2, "0.00020000", 0.0))

    s = session_summary(h.engine, 60.0)
    assert s["fees"] == Decimal("0.108")
    assert s["fees_charged"] == {"BNB": Decimal("0.00038")}
    assert s["fees_unvalued"] == {"BNB": Decimal("0.0002")}
    text = format_summary(s)
    assert "fees in BNB" in text
    assert "0.00038000 BNB charged (0.00020000 BNB unvalued: PnL leaves it out)" in text


def test_summary_has_no_charged_fees_when_every_fee_was_in_the_settlement_asset() -> None:
    h = Harness()
    h.start()
    h.fill(h.venue.places()[0], qty_lots=1)
    s = session_summary(h.engine, 60.0)
    assert "fees_charged" not in s
    assert "fees in" not in format_summary(s)
