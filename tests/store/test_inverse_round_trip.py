"""The inverse round trip worked by hand (sell 1 BTCUSD_PERP at 61,827.4, buy 1 at 61,838.8:
100 × (1/61838.8 − 1/61827.4) = −0.000000298169 BTC before fees) read back from the engine's
session summary, the report rebuilt from the stored fills and the fills listing."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from tests.coinm import coinm
from tests.engine.test_engine import Harness
from tradetui.config import Settings
from tradetui.core.types import Fill, PlaceOrder, Side
from tradetui.engine.summary import format_summary, session_summary
from tradetui.host import EngineHost, store_options
from tradetui.session import PaperSession
from tradetui.store.format import format_report
from tradetui.store.queries import list_fills, list_sessions, session_report

HAND_WORKED_BTC = -0.000000298169


def _fill(h: Harness, p: PlaceOrder, price_ticks: int) -> None:
    h.trade_seq += 1
    h.engine.on_event(
        Fill(
            exch_ns=h.now(),
            local_ns=h.now(),
            client_id=p.client_id,
            trade_id=str(h.trade_seq),
            side=p.side,
            price_ticks=price_ticks,
            qty_lots=1,
            leaves_lots=0,
            fee=0.0,
            is_maker=True,
        )
    )


async def test_round_trip_reads_the_same_in_the_summary_and_the_stored_report(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    h = Harness(instrument=coinm("BTCUSD_PERP"))
    # Stored as every session is: the host's store (the scripted venue stands in for the sim).
    session = PaperSession(h.engine, h.venue, h.clock, h.bus, h.now())  # type: ignore[arg-type]
    host = EngineHost(session, None)
    host.open_store(store_options(Settings(), db, "backtest"))
    await host.start_store()
    h.start()
    h.ack_all()
    places = h.venue.places()
    ask = next(p for p in places if p.side is Side.SELL)
    bid = next(p for p in places if p.side is Side.BUY)
    assert (ask.qty_lots, bid.qty_lots) == (1, 1)  # one contract of 100 USD
    _fill(h, ask, 618_274)
    _fill(h, bid, 618_388)
    summary = session_summary(h.engine, 1.0)
    session = (await host.close_store(summary))["session_id"]
    conn = sqlite3.connect(db)
    report = session_report(conn, session)

    for r in (summary, report):
        assert r["pnl_realized"] == Decimal(repr(HAND_WORKED_BTC))
        assert r["pnl_total"] == r["pnl_realized"]
        assert (r["settle_asset"], r["quote_asset"], r["size_unit"]) == ("BTC", "USD", "contracts")
        assert r["volume_quote"] == 200.0  # two contracts of 100 USD face value
        assert r["position_size"] == 0.0
        assert "position_base" not in r
    assert report["pnl_realized"] == summary["pnl_realized"]
    assert report["in_quote"] == summary["in_quote"]
    # Exact to 1e-12 USD: -0.000000298169 BTC × 61,700.05 = -0.01839703...
    usd = summary["pnl_realized"] * Decimal("61700.05")
    assert summary["in_quote"]["pnl_realized"] == usd.quantize(Decimal("1e-12"))

    text = format_summary(summary)
    assert "PnL total         -0.00000030 BTC  (-0.02 USD)" in text
    assert "in USD          valued at the final mark 61,700.05" in text
    assert "-0.00000030 BTC  (-0.02 USD)" in format_report(report)

    fills = list_fills(conn, session, None)
    assert [(f["side"], f["price"], f["qty"], f["size_unit"]) for f in fills] == [
        ("sell", "61827.4", "1", "contracts"),
        ("buy", "61838.8", "1", "contracts"),
    ]
    assert {f["fee_asset"] for f in fills} == {"BTC"}
    listed = list_sessions(conn)
    assert (listed[0]["volume_quote"], listed[0]["quote_asset"]) == (200.0, "USD")
